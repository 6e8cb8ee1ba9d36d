// Package bitswap is the node's block exchange: the Bitswap protocol,
// our own implementation, wire-compatible with other IPFS nodes. It joins
// the parts in its sub-packages: message (the wire format), network
// (libp2p streams), decision and server (who gets which blocks when), and
// client (fetching blocks: want-lists, sessions, providers from the DHT).
//
// Bitswap receives every message once and hands it to both the client
// (blocks and presences it asked for) and the server (want-lists, and the
// blocks a peer gave us, for its ledger). Store wraps the node's block
// store so that reads fetch missing blocks from the network and writes
// tell the server about new blocks.
package bitswap
