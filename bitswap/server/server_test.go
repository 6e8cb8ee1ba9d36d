package server

import (
	"bytes"
	"context"
	"errors"
	"node/internal/testnet"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/host"
	corenet "github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multihash"

	"node/bitswap/decision"
	"node/bitswap/message"
	"node/bitswap/network"
	"node/blockstore"
)

// newHost is a real libp2p host on loopback.
var newHost = testnet.NewHost

func block(t *testing.T, data []byte) blockstore.Block {
	mh, err := multihash.Sum(data, multihash.SHA2_256, -1)
	if err != nil {
		t.Fatal(err)
	}
	return blockstore.Block{CID: cid.NewCidV1(cid.Raw, mh), Data: data}
}

// collector is a client-side Receiver gathering what the server sends.
type collector struct {
	mu        sync.Mutex // guards blocks and presences
	blocks    map[string][]byte
	presences map[string]message.PresenceType
	changed   chan struct{}
}

func newCollector() *collector {
	return &collector{blocks: map[string][]byte{}, presences: map[string]message.PresenceType{}, changed: make(chan struct{}, 1000)}
}

func (c *collector) ReceiveMessage(_ context.Context, _ peer.ID, m *message.Message) {
	c.mu.Lock()
	for _, b := range m.Blocks {
		c.blocks[string(b.CID.Hash())] = append([]byte(nil), b.Data...)
	}
	for _, p := range m.Presences {
		c.presences[string(p.CID.Hash())] = p.Type
	}
	c.mu.Unlock()
	c.changed <- struct{}{}
}
func (c *collector) ReceiveError(peer.ID, error) {}
func (c *collector) PeerConnected(peer.ID)       {}
func (c *collector) PeerDisconnected(peer.ID)    {}

// waitFor waits until cond holds over the collected state.
func (c *collector) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		c.mu.Lock()
		ok := cond()
		c.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-c.changed:
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func TestServerAnswersWants(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	store := blockstore.NewMemory()
	big := block(t, bytes.Repeat([]byte("big block "), 30000))
	small := block(t, []byte("small"))
	missing := block(t, []byte("not stored"))
	late := block(t, []byte("stored later"))
	store.PutMany(ctx, []blockstore.Block{big, small})

	hs, hc := newHost(t), newHost(t)
	ns := network.New(hs, nil)
	srv, err := New(ns, store, decision.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ns.Start(srv)
	go srv.Run(ctx)

	nc := network.New(hc, nil)
	col := newCollector()
	nc.Start(col)
	if err := hc.Connect(ctx, peer.AddrInfo{ID: hs.ID(), Addrs: hs.Addrs()}); err != nil {
		t.Fatal(err)
	}
	err = nc.SendMessage(ctx, hs.ID(), &message.Message{Wantlist: []message.Entry{
		{CID: big.CID, WantType: message.WantBlock},
		{CID: small.CID, WantType: message.WantHave, SendDontHave: true},
		{CID: missing.CID, WantType: message.WantBlock, SendDontHave: true},
		{CID: late.CID, WantType: message.WantBlock},
	}})
	if err != nil {
		t.Fatal(err)
	}
	key := func(b blockstore.Block) string { return string(b.CID.Hash()) }
	col.waitFor(t, "the big block, the small block for a want-have, and DONT_HAVE", func() bool {
		return bytes.Equal(col.blocks[key(big)], big.Data) &&
			bytes.Equal(col.blocks[key(small)], small.Data) &&
			col.presences[key(missing)] == message.DontHave
	})
	// A block stored later reaches the peer that waits for it.
	store.Put(ctx, late)
	srv.BlockAdded(late.CID, len(late.Data))
	col.waitFor(t, "the block stored later", func() bool { return bytes.Equal(col.blocks[key(late)], late.Data) })

	l, err := srv.Ledger(ctx, hc.ID())
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(len(big.Data) + len(small.Data) + len(late.Data)); l.BytesSent != want || l.BlocksSent != 3 {
		t.Fatalf("ledger: sent %d bytes in %d blocks, want %d in 3", l.BytesSent, l.BlocksSent, want)
	}
}

// TestWantFloodResetsStream: a peer that queues more wants than allowed
// has its stream reset.
func TestWantFloodResetsStream(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	hs, hc := newHost(t), newHost(t)
	ns := network.New(hs, nil)
	srv, err := New(ns, blockstore.NewMemory(), decision.Config{MaxWantsPerPeer: 100}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ns.Start(srv)
	go srv.Run(ctx)
	if err := hc.Connect(ctx, peer.AddrInfo{ID: hs.ID(), Addrs: hs.Addrs()}); err != nil {
		t.Fatal(err)
	}
	s, err := hc.NewStream(ctx, hs.ID(), message.ProtocolBitswap)
	if err != nil {
		t.Fatal(err)
	}
	var wants []message.Entry
	for i := range 150 {
		wants = append(wants, message.Entry{CID: block(t, []byte{byte(i), byte(i >> 8), 'w'}).CID})
	}
	if err := message.WriteMsg(s, &message.Message{Wantlist: wants}, message.V120); err != nil {
		t.Fatal(err)
	}
	s.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := s.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("the flooding peer's stream was not reset: %v", err)
	}
	if w, err := srv.WantlistOf(ctx, hc.ID()); err != nil || len(w) != 100 {
		t.Fatalf("kept %d wants (%v), want the limit of 100", len(w), err)
	}
}

// TestStalledPeerDoesNotBlockOthers: a peer that never reads what it asked
// for holds up only its own answers.
func TestStalledPeerDoesNotBlockOthers(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	store := blockstore.NewMemory()
	var big []blockstore.Block
	for i := range 40 { // 10 MiB: enough to fill every sender of a shared pool
		b := block(t, bytes.Repeat([]byte{byte(i), 's'}, 128<<10))
		big = append(big, b)
	}
	good := block(t, []byte("for the good peer"))
	store.PutMany(ctx, append(big, good))

	hs := newHost(t)
	ns := network.New(hs, nil)
	srv, err := New(ns, store, decision.Config{MaxOutstandingBytesPerPeer: 8 << 20}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ns.Start(srv)
	go srv.Run(ctx)

	// The stalled peer accepts the server's stream and never reads it.
	hStall := newHost(t)
	for _, id := range message.Protocols {
		hStall.SetStreamHandler(id, func(s corenet.Stream) { <-ctx.Done(); s.Reset() })
	}
	if err := hStall.Connect(ctx, peer.AddrInfo{ID: hs.ID(), Addrs: hs.Addrs()}); err != nil {
		t.Fatal(err)
	}
	nStall := network.New(hStall, nil)
	var wants []message.Entry
	for _, b := range big {
		wants = append(wants, message.Entry{CID: b.CID})
	}
	if err := nStall.SendMessage(ctx, hs.ID(), &message.Message{Wantlist: wants}); err != nil {
		t.Fatal(err)
	}

	hGood := newHost(t)
	nGood := network.New(hGood, nil)
	col := newCollector()
	nGood.Start(col)
	if err := hGood.Connect(ctx, peer.AddrInfo{ID: hs.ID(), Addrs: hs.Addrs()}); err != nil {
		t.Fatal(err)
	}
	// Let the stalled peer's answers start first.
	deadline := time.Now().Add(10 * time.Second)
	for {
		l, err := srv.Ledger(ctx, hStall.ID())
		if err == nil && l.OutstandingBytes > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the server never started answering the stalled peer")
		}
		time.Sleep(5 * time.Millisecond) // polling interval
	}
	if err := nGood.SendMessage(ctx, hs.ID(), &message.Message{Wantlist: []message.Entry{{CID: good.CID}}}); err != nil {
		t.Fatal(err)
	}
	col.waitFor(t, "the good peer's block while another peer stalls", func() bool {
		return bytes.Equal(col.blocks[string(good.CID.Hash())], good.Data)
	})
}

// denyPeer keeps some blocks from one peer.
type denyPeer struct {
	p      peer.ID
	hidden map[string]bool
}

func (d denyPeer) MayFetch(p peer.ID, c cid.Cid) bool { return p != d.p || !d.hidden[c.KeyString()] }

// TestAccessPolicy: a peer the policy refuses gets DONT_HAVE for the block
// (asked for before or after it was stored) while others get it.
func TestAccessPolicy(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	store := blockstore.NewMemory()
	secret := block(t, []byte("channel block"))
	later := block(t, []byte("channel block stored later"))
	open := block(t, []byte("public block"))
	store.PutMany(ctx, []blockstore.Block{secret, open})

	hs := newHost(t)
	ns := network.New(hs, nil)
	srv, err := New(ns, store, decision.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ns.Start(srv)
	go srv.Run(ctx)

	member, outsider := newHost(t), newHost(t)
	srv.SetAccess(denyPeer{p: outsider.ID(), hidden: map[string]bool{secret.CID.KeyString(): true, later.CID.KeyString(): true}})
	key := func(b blockstore.Block) string { return string(b.CID.Hash()) }
	ask := func(h host.Host) *collector {
		n := network.New(h, nil)
		col := newCollector()
		n.Start(col)
		if err := h.Connect(ctx, peer.AddrInfo{ID: hs.ID(), Addrs: hs.Addrs()}); err != nil {
			t.Fatal(err)
		}
		err := n.SendMessage(ctx, hs.ID(), &message.Message{Wantlist: []message.Entry{
			{CID: secret.CID, WantType: message.WantBlock, SendDontHave: true},
			{CID: open.CID, WantType: message.WantBlock, SendDontHave: true},
			{CID: later.CID, WantType: message.WantBlock},
		}})
		if err != nil {
			t.Fatal(err)
		}
		return col
	}
	out, in := ask(outsider), ask(member)
	out.waitFor(t, "the outsider gets the public block and DONT_HAVE for the channel block", func() bool {
		return bytes.Equal(out.blocks[key(open)], open.Data) && out.presences[key(secret)] == message.DontHave
	})
	in.waitFor(t, "the member gets both", func() bool {
		return bytes.Equal(in.blocks[key(open)], open.Data) && bytes.Equal(in.blocks[key(secret)], secret.Data)
	})
	store.Put(ctx, later)
	srv.BlockAdded(later.CID, len(later.Data))
	in.waitFor(t, "the member gets the block stored later", func() bool { return bytes.Equal(in.blocks[key(later)], later.Data) })
	out.waitFor(t, "the outsider is told DONT_HAVE for the block stored later", func() bool { return out.presences[key(later)] == message.DontHave })
	out.mu.Lock()
	defer out.mu.Unlock()
	if out.blocks[key(secret)] != nil || out.blocks[key(later)] != nil {
		t.Fatal("the outsider received a channel block")
	}
}
