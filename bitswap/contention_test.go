package bitswap

import (
	"context"
	"encoding/binary"
	"node/internal/testnet"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multihash"

	"node/bitswap/decision"
	"node/bitswap/message"
	"node/blockstore"
)

// newHost is a real libp2p host on loopback.
var newHost = testnet.NewHost

func makeBlocks(t *testing.T, seed, n, size int) []blockstore.Block {
	out := make([]blockstore.Block, n)
	for i := range out {
		data := make([]byte, size)
		binary.BigEndian.PutUint64(data, uint64(seed*1_000_000+i))
		mh, err := multihash.Sum(data, multihash.SHA2_256, -1)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = blockstore.Block{CID: cid.NewCidV1(cid.Raw, mh), Data: data}
	}
	return out
}

// TestReciprocatorBeatsFreeloader: a peer that has given the server data
// and a peer that has given nothing fetch the same 48 MiB from it at
// once. The reciprocating peer gets clearly more of the server's
// bandwidth, and the freeloader still finishes.
func TestReciprocatorBeatsFreeloader(t *testing.T) {
	if testing.Short() {
		t.Skip("moves about 150 MiB over loopback")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	content := makeBlocks(t, 1, 192, 256<<10) // 48 MiB
	serverStore := blockstore.NewMemory()
	serverStore.PutMany(ctx, content)

	hs := newHost(t)
	srv, err := New(hs, serverStore, nil, decision.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv.Start(ctx)

	type peerNode struct {
		h     host.Host
		bs    *Bitswap
		store *blockstore.Memory
		got   atomic.Int64
		done  chan time.Time
	}
	newPeer := func() *peerNode {
		h := newHost(t)
		st := blockstore.NewMemory()
		bs, err := New(h, st, nil, decision.Config{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		bs.Start(ctx)
		if err := h.Connect(ctx, peer.AddrInfo{ID: hs.ID(), Addrs: hs.Addrs()}); err != nil {
			t.Fatal(err)
		}
		return &peerNode{h: h, bs: bs, store: st, done: make(chan time.Time, 1)}
	}
	recip, free := newPeer(), newPeer()

	// The reciprocator has given the server 64 MiB: the server fetched it
	// from the reciprocator. Blocks pushed unasked would buy no credit.
	gift := makeBlocks(t, 2, 256, 256<<10)
	pushed := makeBlocks(t, 3, 64, 256<<10)
	if err := free.bs.Net.SendMessage(ctx, hs.ID(), &message.Message{Blocks: pushed[:8]}); err != nil {
		t.Fatal(err)
	}
	recipStore := recip.store
	recipStore.PutMany(ctx, gift)
	giftCIDs := make([]cid.Cid, len(gift))
	for i, b := range gift {
		giftCIDs[i] = b.CID
	}
	n := 0
	for range srv.Client.NewSession(ctx).GetBlocks(ctx, giftCIDs) {
		n++
	}
	if n != len(gift) {
		t.Fatalf("the server fetched %d of the %d gift blocks", n, len(gift))
	}
	// Credits reach the engine through its event loop: poll.
	deadline := time.Now().Add(10 * time.Second)
	for {
		l, err := srv.Server.Ledger(ctx, recip.h.ID())
		if err == nil && l.BytesReceived == int64(len(gift))*(256<<10) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server's ledger with the reciprocator: %+v, %v", l, err)
		}
		time.Sleep(5 * time.Millisecond) // polling interval
	}
	if l, err := srv.Server.Ledger(ctx, free.h.ID()); err == nil && l.BytesReceived != 0 {
		t.Fatalf("unrequested blocks pushed by the freeloader were credited: %+v", l)
	}

	cids := make([]cid.Cid, len(content))
	for i, b := range content {
		cids[i] = b.CID
	}
	var wg sync.WaitGroup
	for _, p := range []*peerNode{recip, free} {
		wg.Go(func() {
			sess := p.bs.Client.NewSession(ctx)
			for b := range sess.GetBlocks(ctx, cids) {
				p.got.Add(int64(len(b.Data)))
			}
			p.done <- time.Now()
		})
	}
	var freeAtRecipDone int64
	select {
	case <-recip.done:
		freeAtRecipDone = free.got.Load()
	case <-free.done:
		t.Fatalf("the freeloader finished first (reciprocator had %d bytes)", recip.got.Load())
	case <-ctx.Done():
		t.Fatal("timed out")
	}
	wg.Wait()
	total := int64(len(content)) * (256 << 10)
	if recip.got.Load() != total || free.got.Load() != total {
		t.Fatalf("not everyone finished: reciprocator %d, freeloader %d of %d bytes", recip.got.Load(), free.got.Load(), total)
	}
	if freeAtRecipDone > total*2/3 {
		t.Fatalf("the freeloader had %d of %d bytes when the reciprocator finished: no clear advantage", freeAtRecipDone, total)
	}
	t.Logf("when the reciprocator finished, the freeloader had %.0f%% of the content", 100*float64(freeAtRecipDone)/float64(total))
}
