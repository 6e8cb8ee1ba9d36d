package network

import (
	"context"
	"errors"
	"node/internal/testnet"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multihash"

	"node/bitswap/message"
	"node/blockstore"
)

// newHost is a real libp2p host on loopback.
var newHost = testnet.NewHost

type event struct {
	from peer.ID
	msg  *message.Message
	err  error
}

type recorder struct {
	events chan event
	mu     sync.Mutex // guards connected
	conn   map[peer.ID]bool
}

func newRecorder() *recorder {
	return &recorder{events: make(chan event, 100), conn: map[peer.ID]bool{}}
}

func (r *recorder) ReceiveMessage(_ context.Context, from peer.ID, m *message.Message) {
	r.events <- event{from: from, msg: m}
}
func (r *recorder) ReceiveError(from peer.ID, err error) { r.events <- event{from: from, err: err} }
func (r *recorder) PeerConnected(p peer.ID) {
	r.mu.Lock()
	r.conn[p] = true
	r.mu.Unlock()
}
func (r *recorder) PeerDisconnected(p peer.ID) {
	r.mu.Lock()
	delete(r.conn, p)
	r.mu.Unlock()
}

func (r *recorder) next(t *testing.T) event {
	t.Helper()
	select {
	case e := <-r.events:
		return e
	case <-time.After(10 * time.Second):
		t.Fatal("timed out waiting for a message")
		return event{}
	}
}

func pair(t *testing.T) (a, b host.Host, nb *Network, rb *recorder) {
	a, b = newHost(t), newHost(t)
	nb = New(b, nil)
	rb = newRecorder()
	nb.Start(rb)
	t.Cleanup(nb.Stop)
	if err := a.Connect(context.Background(), peer.AddrInfo{ID: b.ID(), Addrs: b.Addrs()}); err != nil {
		t.Fatal(err)
	}
	return a, b, nb, rb
}

func TestSendAndReceive(t *testing.T) {
	a, b, _, rb := pair(t)
	na := New(a, nil)
	na.Start(newRecorder())
	data := []byte("a block")
	mh, _ := multihash.Sum(data, multihash.SHA2_256, -1)
	c := cid.NewCidV1(cid.Raw, mh)
	for i := range 3 { // the stream is reused across messages
		m := &message.Message{Wantlist: []message.Entry{{CID: c, Priority: int32(i)}}, Blocks: []blockstore.Block{{CID: c, Data: data}}}
		if err := na.SendMessage(context.Background(), b.ID(), m); err != nil {
			t.Fatal(err)
		}
		e := rb.next(t)
		if e.err != nil || e.from != a.ID() || len(e.msg.Wantlist) != 1 || e.msg.Wantlist[0].Priority != int32(i) || len(e.msg.Blocks) != 1 {
			t.Fatalf("message %d arrived as %+v", i, e)
		}
	}
}

// TestHostileStreams: garbage, an oversized length and a block that is
// not what its prefix says get the stream reset and reach the receiver
// only as an error.
func TestHostileStreams(t *testing.T) {
	a, b, _, rb := pair(t)
	cases := map[string][]byte{
		"bad varint":          {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
		"over 4 MiB":          {0x81, 0x80, 0x80, 0x02},
		"garbage body":        {0x05, 0xde, 0xad, 0xbe, 0xef, 0x00},
		"bad CID in wantlist": {0x08, 0x0a, 0x06, 0x0a, 0x04, 0x0a, 0x02, 0x01, 0x02},
	}
	for name, raw := range cases {
		s, err := a.NewStream(context.Background(), b.ID(), message.ProtocolBitswap)
		if err != nil {
			t.Fatal(err)
		}
		s.Write(raw)
		e := rb.next(t)
		if e.err == nil || !errors.Is(e.err, message.ErrInvalid) || e.msg != nil {
			t.Fatalf("%s: receiver got %+v, want an ErrInvalid error and no message", name, e)
		}
		// The stream was reset: reading from it fails.
		s.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := s.Read(make([]byte, 1)); err == nil {
			t.Fatalf("%s: the stream is still open", name)
		}
		s.Close()
	}
}

func (r *recorder) connected(p peer.ID) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.conn[p]
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(5 * time.Millisecond) // polling a condition with a deadline
	}
}

// TestStaleConnectionNotifications: libp2p may deliver a Connected after
// the Disconnected that followed it (or the other way round); the
// receiver must end with the live state, not the last event.
func TestStaleConnectionNotifications(t *testing.T) {
	a, b, nb, rb := pair(t)
	waitFor(t, "the receiver sees the peer", func() bool { return rb.connected(a.ID()) })
	old := b.Network().ConnsToPeer(a.ID())[0]

	b.Network().ClosePeer(a.ID())
	waitFor(t, "the receiver sees the disconnect", func() bool { return !rb.connected(a.ID()) })
	nb.notifiee.ConnectedF(b.Network(), old) // late event of the closed connection
	if rb.connected(a.ID()) {
		t.Fatal("a stale Connected made a disconnected peer look connected")
	}

	if err := a.Connect(context.Background(), peer.AddrInfo{ID: b.ID(), Addrs: b.Addrs()}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the receiver sees the reconnect", func() bool { return rb.connected(a.ID()) })
	nb.notifiee.DisconnectedF(b.Network(), old)
	if !rb.connected(a.ID()) {
		t.Fatal("a stale Disconnected made a connected peer look gone")
	}
}

// gatedRecorder holds each message in ReceiveMessage until released.
type gatedRecorder struct {
	*recorder
	entered, release chan struct{}
}

func (g *gatedRecorder) ReceiveMessage(ctx context.Context, from peer.ID, m *message.Message) {
	g.entered <- struct{}{}
	<-g.release
	g.recorder.ReceiveMessage(ctx, from, m)
}

// TestMessageMemoryReserved: a message's bytes are reserved with libp2p's
// resource manager while Bitswap holds it, and released once handled.
func TestMessageMemoryReserved(t *testing.T) {
	a, b := newHost(t), newHost(t)
	nb := New(b, nil)
	g := &gatedRecorder{recorder: newRecorder(), entered: make(chan struct{}), release: make(chan struct{})}
	nb.Start(g)
	t.Cleanup(nb.Stop)
	na := New(a, nil)
	na.Start(newRecorder())
	t.Cleanup(na.Stop)
	if err := a.Connect(context.Background(), peer.AddrInfo{ID: b.ID(), Addrs: b.Addrs()}); err != nil {
		t.Fatal(err)
	}
	bitswapMemory := func() int64 {
		var total int64
		for _, id := range message.Protocols {
			b.Network().ResourceManager().ViewProtocol(id, func(s network.ProtocolScope) error {
				total += s.Stat().Memory
				return nil
			})
		}
		return total
	}

	data := make([]byte, 1<<20)
	data[0] = 1
	mh, _ := multihash.Sum(data, multihash.SHA2_256, -1)
	c := cid.NewCidV1(cid.Raw, mh)
	m := &message.Message{Blocks: []blockstore.Block{{CID: c, Data: data}}}
	go na.SendMessage(context.Background(), b.ID(), m)
	<-g.entered
	if got := bitswapMemory(); got < int64(len(data)) {
		t.Fatalf("while the message is held, %d bytes are reserved for bitswap; want at least %d", got, len(data))
	}
	close(g.release)
	if e := g.next(t); e.msg == nil || len(e.msg.Blocks) != 1 {
		t.Fatalf("got %+v, want the message", e)
	}
	waitFor(t, "the reservation is released", func() bool { return bitswapMemory() == 0 })
}

// TestRepliesOnOurStreamReset: a peer that writes on the stream we send
// on (peers answer on streams of their own) gets that stream reset, so it
// cannot park unread bytes in our memory; our next message goes out on a
// new stream.
func TestRepliesOnOurStreamReset(t *testing.T) {
	a, b := newHost(t), newHost(t)
	na := New(a, nil)
	na.Start(newRecorder())
	t.Cleanup(na.Stop)
	streams := make(chan network.Stream, 2)
	for _, id := range message.Protocols {
		b.SetStreamHandler(id, func(s network.Stream) { streams <- s })
	}
	if err := a.Connect(context.Background(), peer.AddrInfo{ID: b.ID(), Addrs: b.Addrs()}); err != nil {
		t.Fatal(err)
	}
	data := []byte("a block")
	mh, _ := multihash.Sum(data, multihash.SHA2_256, -1)
	m := &message.Message{Blocks: []blockstore.Block{{CID: cid.NewCidV1(cid.Raw, mh), Data: data}}}
	next := func() network.Stream {
		t.Helper()
		if err := na.SendMessage(context.Background(), b.ID(), m); err != nil {
			t.Fatal(err)
		}
		select {
		case s := <-streams:
			return s
		case <-time.After(10 * time.Second):
			t.Fatal("no stream arrived")
			return nil
		}
	}
	s := next()
	if _, err := s.Write([]byte("a reply on the wrong stream")); err != nil {
		t.Fatal(err)
	}
	s.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 64<<10)
	for {
		_, err := s.Read(buf) // the message, then the reset
		if errors.Is(err, network.ErrReset) {
			break
		}
		if err != nil {
			t.Fatalf("the stream ended with %v, want a reset", err)
		}
	}
	s.Close()
	if s2 := next(); s2 == nil {
		t.Fatal("no new stream after the reset")
	}
}
