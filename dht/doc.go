// Package dht runs the node's Kademlia DHT: go-libp2p-kad-dht with the
// public /ipfs protocol, so the node joins the public IPFS network, in
// auto, server or client mode. It validates /pk records with libp2p's
// public key validator and /ipns records with the node's own validator
// (package ipns), the two namespaces the public DHT accepts.
//
// The Provider announces content: the root of each add at once, the rest
// by a strategy (all blocks, pinned blocks, or pin roots), and everything
// again every 22 hours, before provider records (48 h) expire.
package dht
