// Package p2p builds the node's libp2p host from its configuration: TCP
// and QUIC transports, Noise and TLS security, yamux, identify and ping, a
// connection manager and the default resource limits; it connects to the
// bootstrap peers and, when enabled, discovers peers on the local network
// with mDNS.
package p2p
