package client

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multihash"

	"node/bitswap/message"
	"node/bitswap/network"
	"node/blockstore"
)

// Integration tests: our client and a test server on real libp2p hosts
// over loopback.

func TestFetchFileFromServer(t *testing.T) {
	srv := newTestServer(t, serveNormally)
	data, root := importFile(t, srv.store, 10<<20)
	n := newNode(t, nil, Options{})
	connect(t, n.h, srv.h)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	got, err := readFile(ctx, n.c, root)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("file differs")
	}
	blocks := sameBlocks(t, srv.store, n.store)
	st := n.c.Stats()
	if st.BlocksReceived != uint64(blocks) || st.Unrequested != 0 || st.Invalid != 0 || st.Wants != 0 {
		t.Fatalf("%d blocks, stats %+v", blocks, st)
	}
	ps := st.Peers[srv.h.ID()]
	if ps.BlocksReceived != uint64(blocks) || !ps.Connected {
		t.Fatalf("server's counters %+v", ps)
	}
	if len(n.c.Wantlist()) != 0 {
		t.Fatalf("wantlist left: %v", n.c.Wantlist())
	}
}

// Sixteen concurrent GetBlock calls in one session (what the reader does)
// must all be on the wire at once: this server answers only once it holds
// sixteen want-blocks.
func TestWantsInFlightTogether(t *testing.T) {
	srv := newTestServer(t, serveHeld)
	srv.hold = 16
	var cids []cid.Cid
	for i := range 16 {
		b := blk(i)
		srv.store.Put(context.Background(), b)
		cids = append(cids, b.CID)
	}
	n := newNode(t, nil, Options{})
	connect(t, n.h, srv.h)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := n.c.NewSession(ctx)
	var wg sync.WaitGroup
	errs := make(chan error, len(cids))
	for _, c := range cids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.GetBlock(ctx, c); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// And the same with GetBlocks.
	var more []cid.Cid
	for i := 100; i < 116; i++ {
		b := blk(i)
		srv.store.Put(context.Background(), b)
		more = append(more, b.CID)
	}
	got := 0
	for b := range s.GetBlocks(ctx, more) {
		if err := blockstore.VerifyBlock(b.CID, b.Data); err != nil {
			t.Fatal(err)
		}
		got++
	}
	if got != 16 {
		t.Fatalf("GetBlocks gave %d blocks, want 16 (ctx: %v)", got, ctx.Err())
	}
}

func TestCorruptBlockIgnoredAndCounted(t *testing.T) {
	srv := newTestServer(t, serveCorrupt)
	b := blk(1)
	srv.store.Put(context.Background(), b)
	n := newNode(t, nil, Options{})
	connect(t, n.h, srv.h)

	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := n.c.GetBlock(ctx, b.CID)
		errc <- err
	}()
	eventually(t, "the bad block to be counted", func() bool {
		return n.c.Stats().Peers[srv.h.ID()].Unrequested > 0
	})
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("GetBlock: %v, want context.Canceled", err)
	}
	if ok, _ := n.store.Has(context.Background(), b.CID); ok {
		t.Fatal("a wrong block was stored")
	}
	if n.store.Keys(context.Background(), func(multihash.Multihash) error { return errors.New("something stored") }) != nil {
		t.Fatal("the client stored something")
	}

	// A message whose block does not hash to its CID (not from our
	// decoder, which computes CIDs) is dropped and counted as invalid.
	b2 := blk(2)
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	done := make(chan error, 1)
	go func() { _, err := n.c.GetBlock(ctx2, b2.CID); done <- err }()
	eventually(t, "the want", func() bool { return len(n.c.Wantlist()) == 1 })
	n.c.ReceiveMessage(context.Background(), srv.h.ID(), &message.Message{
		Blocks: []blockstore.Block{{CID: b2.CID, Data: []byte("forged")}}})
	if got := n.c.Stats().Peers[srv.h.ID()].Invalid; got != 1 {
		t.Fatalf("invalid %d", got)
	}
	// The right bytes still complete the want.
	n.c.ReceiveMessage(context.Background(), srv.h.ID(), &message.Message{Blocks: []blockstore.Block{b2}})
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestSilentServerTimesOutWithTheContext(t *testing.T) {
	srv := newTestServer(t, serveNothing)
	b := blk(1)
	srv.store.Put(context.Background(), b)
	n := newNode(t, nil, Options{WantTimeout: 50 * time.Millisecond, SearchDelay: 50 * time.Millisecond, TickInterval: 10 * time.Millisecond})
	connect(t, n.h, srv.h)

	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() { _, err := n.c.GetBlock(ctx, b.CID); done <- err }()
	select {
	case err := <-done:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("GetBlock: %v, want a deadline error", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("GetBlock hung past its context")
	}
	// The want is withdrawn and cancelled at the server.
	eventually(t, "the wantlist to empty", func() bool { return len(n.c.Wantlist()) == 0 })
	eventually(t, "the server to see a cancel", func() bool { return srv.sawCancel(b.CID) })
	// It timed out at the server and was asked again when the search widened.
	wants := 0
	for _, e := range srv.received() {
		if !e.Cancel && e.WantType == message.WantBlock {
			wants++
		}
	}
	if wants < 2 || n.c.Stats().Peers[srv.h.ID()].Timeouts == 0 {
		t.Fatalf("%d want-blocks, stats %+v", wants, n.c.Stats().Peers[srv.h.ID()])
	}
}

func TestProviderFromRouting(t *testing.T) {
	srv := newTestServer(t, serveNormally)
	data, root := importFile(t, srv.store, 1<<20)
	r := &routingDouble{providers: []peer.AddrInfo{srv.addrInfo()}}
	n := newNode(t, r, Options{})
	if len(n.h.Network().Peers()) != 0 {
		t.Fatal("connected before the test")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	got, err := readFile(ctx, n.c, root)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("file differs")
	}
	if s := r.searches(); len(s) == 0 || !s[0].Equals(root) {
		t.Fatalf("searches %v, want the root first", s)
	}
}

// Two servers: one has nothing (DONT_HAVE), one has the file. The file
// comes whole; wants reach both; cancels reach the one that did not send.
func TestTwoServers(t *testing.T) {
	empty := newTestServer(t, serveNormally)
	full := newTestServer(t, serveNormally)
	data, root := importFile(t, full.store, 2<<20)
	n := newNode(t, nil, Options{})
	connect(t, n.h, empty.h)
	connect(t, n.h, full.h)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	got, err := readFile(ctx, n.c, root)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("file differs")
	}
	st := n.c.Stats()
	if st.Peers[empty.h.ID()].DontHaves == 0 {
		t.Fatalf("the empty server said no DONT_HAVE: %+v", st.Peers[empty.h.ID()])
	}
	eventually(t, "a cancel of the root at the empty server", func() bool { return empty.sawCancel(root) })
	if st.Peers[full.h.ID()].BlocksReceived != st.BlocksReceived {
		t.Fatalf("stats %+v", st)
	}
}

func TestClosedClient(t *testing.T) {
	n := newNode(t, nil, Options{})
	s := n.c.NewSession(context.Background())
	n.c.Close()
	if _, err := s.GetBlock(context.Background(), blk(1).CID); !errors.Is(err, ErrClosed) {
		t.Fatalf("GetBlock after Close: %v", err)
	}
	if _, err := n.c.GetBlock(context.Background(), blk(1).CID); !errors.Is(err, ErrClosed) {
		t.Fatalf("GetBlock after Close: %v", err)
	}
}

// The client is what the network's Receiver needs.
var _ network.Receiver = (*Client)(nil)

func TestCloseWhileWaiting(t *testing.T) {
	n := newNode(t, nil, Options{})
	done := make(chan error, 1)
	go func() { _, err := n.c.GetBlock(context.Background(), blk(1).CID); done <- err }()
	eventually(t, "the want", func() bool { return len(n.c.Wantlist()) == 1 })
	n.c.Close()
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Fatalf("GetBlock: %v, want ErrClosed", err)
	}
}

// Two callers want one block: the one whose context ends withdraws only
// its own interest; the other still gets the block.
func TestCallersShareAWant(t *testing.T) {
	n := newNode(t, nil, Options{})
	b := blk(1)
	ctxA, cancelA := context.WithCancel(context.Background())
	errA, errB := make(chan error, 1), make(chan error, 1)
	var gotB []byte
	go func() { _, err := n.c.GetBlock(ctxA, b.CID); errA <- err }()
	s := n.c.NewSession(context.Background())
	go func() {
		v1 := cid.NewCidV1(cid.DagProtobuf, b.CID.Hash()) // the same multihash under another CID
		data, err := s.GetBlock(context.Background(), v1)
		gotB = data
		errB <- err
	}()
	eventually(t, "both callers", func() bool {
		st := n.c.Stats()
		return st.Wants == 1 && len(n.c.Wantlist()) == 1 && n.c.refs(b.CID) == 2
	})
	cancelA()
	if err := <-errA; !errors.Is(err, context.Canceled) {
		t.Fatalf("A: %v", err)
	}
	eventually(t, "A's interest to go", func() bool { return n.c.refs(b.CID) == 1 })
	if len(n.c.Wantlist()) != 1 {
		t.Fatal("the want went with A")
	}
	n.c.ReceiveMessage(context.Background(), "some-peer", &message.Message{Blocks: []blockstore.Block{b}})
	if err := <-errB; err != nil || !bytes.Equal(gotB, b.Data) {
		t.Fatalf("B: %v", err)
	}
	if ok, _ := n.store.Has(context.Background(), b.CID); !ok {
		t.Fatal("the block was not stored")
	}
}

func TestIdentityCID(t *testing.T) {
	n := newNode(t, nil, Options{})
	mh, _ := multihash.Sum([]byte("inline"), multihash.IDENTITY, -1)
	data, err := n.c.GetBlock(context.Background(), cid.NewCidV1(cid.Raw, mh))
	if err != nil || string(data) != "inline" {
		t.Fatalf("%q, %v", data, err)
	}
	if _, err := n.c.GetBlock(context.Background(), cid.Undef); err == nil {
		t.Fatal("an undefined CID was accepted")
	}
}
