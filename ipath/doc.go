// Package ipath parses the content paths users type: /ipfs/CID[/sub/path],
// a bare CID[/sub/path], or /ipns/NAME[/sub/path].
package ipath
