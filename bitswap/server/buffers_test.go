package server

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multihash"

	"node/bitswap/decision"
	"node/bitswap/message"
	"node/bitswap/network"
	"node/blockstore"
)

// openPacks is a real pack store on disk, wrapped as the daemon wraps it.
func openPacks(t *testing.T) blockstore.Store {
	t.Helper()
	packs, err := blockstore.OpenPackStore(t.TempDir(), blockstore.PackOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { packs.Close() })
	return blockstore.WithIdentity(packs)
}

func randomBlock(t *testing.T, r *rand.ChaCha8, size int) blockstore.Block {
	data := make([]byte, size)
	r.Read(data)
	return block(t, data)
}

func identityBlock(t *testing.T, data []byte) blockstore.Block {
	mh, err := multihash.Sum(data, multihash.IDENTITY, -1)
	if err != nil {
		t.Fatal(err)
	}
	return blockstore.Block{CID: cid.NewCidV1(cid.Raw, mh), Data: data}
}

// watchedStore records the buffers the server reads blocks into and
// counts the reads.
type watchedStore struct {
	blockstore.Store
	mu     sync.Mutex // guards arrays and reads
	arrays map[*byte]bool
	reads  int
	read   chan struct{} // a signal per read
}

func (w *watchedStore) GetBuffer(ctx context.Context, c cid.Cid, buf []byte) ([]byte, error) {
	data, err := w.Store.(blockstore.BufferGetter).GetBuffer(ctx, c, buf)
	w.mu.Lock()
	if cap(buf) > 0 {
		w.arrays[&buf[:1][0]] = true
	}
	w.reads++
	w.mu.Unlock()
	select {
	case w.read <- struct{}{}:
	default:
	}
	return data, err
}

func (w *watchedStore) count() (reads, arrays int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.reads, len(w.arrays)
}

// checkingNet is an in-memory Net: while "writing" a message it lets the
// server read further blocks (as it does while a real write is under way)
// and checks the message's blocks before and after.
type checkingNet struct {
	t     *testing.T
	store *watchedStore
	total int // blocks the peer wants
	sent  int // blocks in the messages sent so far (one sender: no lock)

	mu  sync.Mutex // guards got
	got map[string][]byte
	out chan struct{} // a signal per message
}

func (n *checkingNet) SendMessage(_ context.Context, _ peer.ID, m *message.Message) error {
	check := func(when string) {
		for _, b := range m.Blocks {
			if err := blockstore.VerifyBlock(b.CID, b.Data); err != nil {
				n.t.Errorf("block %s changed %s: %v", b.CID, when, err)
			}
		}
	}
	check("before it was sent")
	// The server reads the peer's blocks in the order it sends them: wait
	// until it has read a block of a later message.
	n.sent += len(m.Blocks)
	deadline := time.After(5 * time.Second)
	for reads, _ := n.store.count(); reads <= n.sent && reads < n.total; reads, _ = n.store.count() {
		select {
		case <-n.store.read:
		case <-deadline:
			n.t.Errorf("the server read no further block while a message was being sent (%d of %d read)", reads, n.total)
			reads = n.total
		}
	}
	check("while it was being sent")
	n.mu.Lock()
	for _, b := range m.Blocks {
		n.got[b.CID.KeyString()] = append([]byte(nil), b.Data...)
	}
	n.mu.Unlock()
	n.out <- struct{}{}
	return nil
}

// TestBufferReuse: large blocks are read into pooled buffers, which are
// reused, and a buffer is not reused while its message is being sent.
func TestBufferReuse(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := rand.NewChaCha8([32]byte{1})
	store := &watchedStore{Store: openPacks(t), arrays: map[*byte]bool{}, read: make(chan struct{}, 1)}
	var blocks []blockstore.Block
	for range 100 {
		blocks = append(blocks, randomBlock(t, r, 100<<10))
	}
	// Larger than the first class, and the largest block there can be.
	blocks = append(blocks, randomBlock(t, r, 300<<10), randomBlock(t, r, blockstore.MaxBlockSize))
	if err := store.PutMany(ctx, blocks); err != nil {
		t.Fatal(err)
	}
	n := &checkingNet{t: t, store: store, total: len(blocks), got: map[string][]byte{}, out: make(chan struct{}, len(blocks))}
	srv, err := New(n, store, decision.Config{Strategy: decision.Fair, TargetMessageSize: 256 << 10, MaxOutstandingBytesPerPeer: 16 << 20}, nil)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Run(ctx)
	p := peer.ID("peer")
	srv.PeerConnected(p)
	var wants []message.Entry
	for _, b := range blocks {
		wants = append(wants, message.Entry{CID: b.CID, WantType: message.WantBlock})
	}
	srv.ReceiveWants(ctx, p, &message.Message{Wantlist: wants})
	deadline := time.After(20 * time.Second)
	for {
		n.mu.Lock()
		done := len(n.got) == len(blocks)
		n.mu.Unlock()
		if done {
			break
		}
		select {
		case <-n.out:
		case <-deadline:
			t.Fatal("timed out waiting for the blocks")
		}
	}
	for _, b := range blocks {
		if !bytes.Equal(n.got[b.CID.KeyString()], b.Data) {
			t.Fatalf("block %s arrived wrong", b.CID)
		}
	}
	reads, arrays := store.count()
	if reads != len(blocks) {
		t.Fatalf("%d blocks read through GetBuffer, want %d", reads, len(blocks))
	}
	// Without reuse every read has its own buffer. (sync.Pool drops some
	// buffers, more so under -race, so a few new ones are expected.)
	if arrays > len(blocks)/2 {
		t.Fatalf("%d blocks were read into %d buffers: buffers are not reused", reads, arrays)
	}
	t.Logf("%d blocks read into %d buffers", reads, arrays)
}

// TestManyPeersGetTheirBlocks: many peers fetching the same blocks at once
// over real hosts, from a real pack store, all get the right bytes (run
// with -race).
func TestManyPeersGetTheirBlocks(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := rand.NewChaCha8([32]byte{2})
	store := openPacks(t)
	var blocks []blockstore.Block
	for i := range 24 {
		size := []int{1 << 10, 100 << 10, 256 << 10, 300 << 10, 1<<20 + 5}[i%5]
		blocks = append(blocks, randomBlock(t, r, size))
	}
	blocks = append(blocks, identityBlock(t, []byte("inline block")))
	if err := store.PutMany(ctx, blocks); err != nil {
		t.Fatal(err)
	}
	hs := newHost(t)
	ns := network.New(hs, nil)
	srv, err := New(ns, store, decision.Config{Strategy: decision.Fair, TargetMessageSize: 512 << 10}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ns.Start(srv)
	go srv.Run(ctx)

	const peers = 8
	cols := make([]*collector, peers)
	var wg sync.WaitGroup
	for i := range peers {
		h := newHost(t)
		n := network.New(h, nil)
		cols[i] = newCollector()
		n.Start(cols[i])
		if err := h.Connect(ctx, peer.AddrInfo{ID: hs.ID(), Addrs: hs.Addrs()}); err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			var wants []message.Entry
			for _, j := range rand.Perm(len(blocks)) { // each peer in its own order
				wants = append(wants, message.Entry{CID: blocks[j].CID, WantType: message.WantBlock})
			}
			if err := n.SendMessage(ctx, hs.ID(), &message.Message{Wantlist: wants}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	for i, col := range cols {
		col.waitFor(t, fmt.Sprintf("peer %d's blocks", i), func() bool { return len(col.blocks) == len(blocks) })
		col.mu.Lock()
		for _, b := range blocks {
			if !bytes.Equal(col.blocks[string(b.CID.Hash())], b.Data) {
				t.Errorf("peer %d got block %s wrong", i, b.CID)
			}
		}
		col.mu.Unlock()
	}
}
