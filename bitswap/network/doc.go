// Package network carries Bitswap messages over libp2p streams: it
// answers the /ipfs/bitswap protocols (1.2.0, 1.1.0, 1.0.0), reads
// length-prefixed messages from inbound streams and hands them to a
// Receiver, and sends messages to peers over one reused outbound stream per
// peer, encoded for the version the peer negotiated. A peer that sends a
// malformed or oversized message has its stream reset; nothing of that
// message reaches the Receiver.
package network
