// Package core is the node's operations, independent of how they are
// asked for: the CLI calls them on a repository it opened itself, and the
// daemon's HTTP API will call the same functions on the repository it
// holds. Each operation takes the smallest set of parts it needs.
package core
