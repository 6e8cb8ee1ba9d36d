// Package daemon runs the node as a long-lived process: it holds the
// repository (a core.Node), starts the libp2p host, the DHT and the
// provider (unless offline), and serves the HTTP API on Addresses.API:
// the handlers it is given (the CLI's commands), Prometheus metrics at
// /debug/metrics/prometheus and Go's pprof under /debug/pprof/.
//
// It writes the API's actual address (the config may ask for port 0) to
// $NODE_PATH/api so that CLI commands find it, and removes it on Close.
package daemon
