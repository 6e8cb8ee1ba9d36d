package service

import (
	"testing"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// streamsTo counts the open streams of protocol proto that n opened to p.
func streamsTo(n *node, p peer.ID, proto protocol.ID) int {
	count := 0
	for _, c := range n.m.opts.Host.Network().ConnsToPeer(p) {
		for _, s := range c.GetStreams() {
			if s.Protocol() == proto && s.Stat().Direction == network.DirOutbound {
				count++
			}
		}
	}
	return count
}

// Requests in turn to one peer go over one stream (protocol 1.1.0); a
// peer that speaks only 1.0.0 is still answered, one stream a request;
// a reused stream the peer closed is replaced without an error.
func TestStreamsAreReused(t *testing.T) {
	a, b, d := newNode(t, "A"), newNode(t, "B"), newNode(t, "D")
	if _, err := a.m.Create(ctx, "cars", carsConfig(t, a, b, d)); err != nil {
		t.Fatal(err)
	}
	if err := b.m.opts.Host.Connect(ctx, a.addrInfo()); err != nil {
		t.Fatal(err)
	}
	info := func() {
		t.Helper()
		data, err := b.m.call(ctx, a.peer(), &Request{Op: OpInfo, Channel: "cars"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := DecodeInfo(data); err != nil {
			t.Fatal(err)
		}
	}
	for range 20 {
		info()
	}
	if n := streamsTo(b, a.peer(), ProtocolReuse); n != 1 {
		t.Fatalf("%d streams of %s open to A after 20 requests in turn, want 1", n, ProtocolReuse)
	}

	// A peer that closed the idle stream: the next request opens another.
	for _, c := range b.m.opts.Host.Network().ConnsToPeer(a.peer()) {
		for _, s := range c.GetStreams() {
			if s.Protocol() == ProtocolReuse && s.Stat().Direction == network.DirOutbound {
				s.Reset()
			}
		}
	}
	info()

	// A peer that speaks only 1.0.0.
	a.m.opts.Host.RemoveStreamHandler(ProtocolReuse)
	b.m.streams.closeAll()
	for range 3 {
		info()
	}
	if n := streamsTo(b, a.peer(), ProtocolReuse); n != 0 {
		t.Fatalf("%d streams of %s to a peer that does not speak it", n, ProtocolReuse)
	}
}
