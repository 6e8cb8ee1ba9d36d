package bitswap

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"node/bitswap/decision"
	"node/bitswap/message"
	"node/bitswap/network"
	"node/blockstore"
	"node/internal/testutil"
	"node/unixfs"
	"node/unixfs/importer"
)

// bystander is a connected peer that has no blocks: it answers DONT_HAVE
// when asked for one, and records which CIDs it was asked for.
type bystander struct {
	net *network.Network

	mu    sync.Mutex
	asked map[string]bool // multihashes
}

func newBystander(t *testing.T, h host.Host) *bystander {
	b := &bystander{net: network.New(h, nil), asked: map[string]bool{}}
	b.net.Start(b)
	t.Cleanup(b.net.Stop)
	return b
}

func (b *bystander) ReceiveMessage(ctx context.Context, from peer.ID, m *message.Message) {
	defer m.Release()
	var answer message.Message
	b.mu.Lock()
	for _, e := range m.Wantlist {
		// A cancel counts too: the client replaces a want it has not
		// sent yet by its cancel, so the want was still meant for us.
		b.asked[string(e.CID.Hash())] = true
		if e.Cancel {
			continue
		}
		if e.SendDontHave {
			answer.Presences = append(answer.Presences, message.Presence{CID: e.CID, Type: message.DontHave})
		}
	}
	b.mu.Unlock()
	if !answer.Empty() {
		b.net.SendMessage(ctx, from, &answer)
	}
}

func (b *bystander) ReceiveError(peer.ID, error) {}
func (b *bystander) PeerConnected(peer.ID)       {}
func (b *bystander) PeerDisconnected(peer.ID)    {}

// askedOf counts the CIDs of blocks the bystander was asked for.
func (b *bystander) askedOf(blocks []cid.Cid) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, c := range blocks {
		if b.asked[string(c.Hash())] {
			n++
		}
	}
	return n
}

// TestSessionAsksThePeersThatHadTheBlocks: the node reads a file through
// blockstore.InSession (as `node cat` does), while connected to the peer
// that has the file and to a bystander that has nothing. Only the first
// block is asked of the bystander: the session then asks the peer that
// sent it. Read without a session, each block is a session of its own,
// and every block of another file is asked of the bystander too.
func TestSessionAsksThePeersThatHadTheBlocks(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	providerStore := blockstore.NewMemory()
	opts := importer.DefaultOptions()
	opts.ChunkSize = 4 << 10
	type file struct {
		data   []byte
		root   cid.Cid
		blocks []cid.Cid
	}
	var files [2]file
	for i := range files {
		data := testutil.RandomBytes(uint64(i+1), 40*opts.ChunkSize)
		n := testutil.ImportFile(t, providerStore, opts, data)
		files[i] = file{data: data, root: n.CID}
	}
	providerHost := newHost(t)
	provider, err := New(providerHost, providerStore, nil, decision.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	provider.Start(ctx)

	h := newHost(t)
	fetcherStore := blockstore.NewMemory()
	fetcher, err := New(h, fetcherStore, nil, decision.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	fetcher.Start(ctx)
	bystanderHost := newHost(t)
	by := newBystander(t, bystanderHost)
	for _, other := range []host.Host{providerHost, bystanderHost} {
		if err := h.Connect(ctx, peer.AddrInfo{ID: other.ID(), Addrs: other.Addrs()}); err != nil {
			t.Fatal(err)
		}
	}
	// Both peers must be candidates before the reads start.
	deadline := time.Now().Add(10 * time.Second)
	for len(fetcher.Client.Stats().Peers) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("the client knows %d of its 2 peers", len(fetcher.Client.Stats().Peers))
		}
		time.Sleep(5 * time.Millisecond) // polling interval
	}

	read := func(g unixfs.Getter, f *file) {
		t.Helper()
		counting := testutil.NewCountingGetter(g)
		n, err := unixfs.Get(ctx, counting, f.root)
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		if err := unixfs.WriteRange(ctx, counting, n, 0, n.FileSize(), &out); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out.Bytes(), f.data) {
			t.Fatalf("read %d bytes, not the file's %d", out.Len(), len(f.data))
		}
		f.blocks = counting.Take()
	}

	read(blockstore.InSession(ctx, fetcher.Store(fetcherStore)), &files[0])
	if len(files[0].blocks) < 41 {
		t.Fatalf("the read fetched %d blocks, want the root and 40 leaves", len(files[0].blocks))
	}

	read(fetcher.Store(fetcherStore), &files[1])
	// Wants and cancels to one peer leave in order: once the bystander
	// has heard of every block of the second file, everything the first
	// read sent it has arrived too.
	deadline = time.Now().Add(10 * time.Second)
	for by.askedOf(files[1].blocks) < len(files[1].blocks) {
		if time.Now().After(deadline) {
			t.Fatalf("without a session, %d of the file's %d blocks were asked of the bystander; want all",
				by.askedOf(files[1].blocks), len(files[1].blocks))
		}
		time.Sleep(5 * time.Millisecond) // polling interval
	}
	if n := by.askedOf(files[0].blocks); n > 2 {
		t.Errorf("in a session, %d of the file's %d blocks were asked of the bystander; want at most 2 (the first ones, before a peer had proved useful)", n, len(files[0].blocks))
	}
}
