package client

import (
	"bytes"
	"context"
	"crypto/rand"
	"node/internal/testnet"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multihash"

	"node/bitswap/message"
	"node/bitswap/network"
	"node/blockstore"
	"node/unixfs"
	"node/unixfs/importer"
)

// newHost starts a libp2p host on loopback TCP.
// newHost is a real libp2p host on loopback.
var newHost = testnet.NewHost

func connect(t testing.TB, a, b host.Host) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Connect(ctx, peer.AddrInfo{ID: b.ID(), Addrs: b.Addrs()}); err != nil {
		t.Fatal(err)
	}
}

// node is a client on a real host.
type node struct {
	h     host.Host
	net   *network.Network
	store *blockstore.Memory
	c     *Client
}

func newNode(t testing.TB, routing Routing, opts Options) *node {
	t.Helper()
	h := newHost(t)
	n := &node{h: h, net: network.New(h, nil), store: blockstore.NewMemory()}
	n.c = New(n.net, n.store, routing, opts)
	n.net.Start(n.c)
	t.Cleanup(func() {
		n.net.Stop()
		n.c.Close()
	})
	return n
}

// serverMode says how the test server misbehaves.
type serverMode int

const (
	serveNormally serverMode = iota
	serveNothing             // reads wants, never answers
	serveCorrupt             // answers a want-block with other bytes
	serveHeld                // answers nothing until it holds `hold` distinct want-blocks
)

// testServer is a minimal Bitswap server for the tests (our network
// package on a real host): it answers want-blocks with blocks, want-haves
// with HAVE, and DONT_HAVE when asked to, from a memory store.
type testServer struct {
	h     host.Host
	net   *network.Network
	store *blockstore.Memory
	mode  serverMode
	hold  int

	mu      sync.Mutex // guards entries and held
	entries []message.Entry
	held    map[string]message.Entry
}

func newTestServer(t testing.TB, mode serverMode) *testServer {
	t.Helper()
	h := newHost(t)
	s := &testServer{h: h, net: network.New(h, nil), store: blockstore.NewMemory(), mode: mode, held: map[string]message.Entry{}}
	s.net.Start(s)
	t.Cleanup(s.net.Stop)
	return s
}

func (s *testServer) addrInfo() peer.AddrInfo { return peer.AddrInfo{ID: s.h.ID(), Addrs: s.h.Addrs()} }

func (s *testServer) ReceiveError(peer.ID, error) {}
func (s *testServer) PeerConnected(peer.ID)       {}
func (s *testServer) PeerDisconnected(p peer.ID)  {}
func (s *testServer) received() []message.Entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]message.Entry(nil), s.entries...)
}

func (s *testServer) ReceiveMessage(ctx context.Context, from peer.ID, m *message.Message) {
	s.mu.Lock()
	s.entries = append(s.entries, m.Wantlist...)
	wants := m.Wantlist
	if s.mode == serveHeld {
		for _, e := range m.Wantlist {
			if !e.Cancel && e.WantType == message.WantBlock {
				s.held[string(e.CID.Hash())] = e
			}
		}
		wants = nil
		if len(s.held) >= s.hold {
			for _, e := range s.held {
				wants = append(wants, e)
			}
			clear(s.held)
		}
	}
	s.mu.Unlock()
	if s.mode == serveNothing {
		return
	}
	out := &message.Message{}
	size := 0
	flush := func() {
		if !out.Empty() {
			s.net.SendMessage(ctx, from, out)
		}
		out, size = &message.Message{}, 0
	}
	for _, e := range wants {
		if e.Cancel {
			continue
		}
		data, err := s.store.Get(ctx, e.CID)
		switch {
		case err != nil:
			if e.SendDontHave {
				out.Presences = append(out.Presences, message.Presence{CID: e.CID, Type: message.DontHave})
			}
		case e.WantType == message.WantHave:
			out.Presences = append(out.Presences, message.Presence{CID: e.CID, Type: message.Have})
		case s.mode == serveCorrupt:
			bad := append([]byte("not the block "), data...)
			out.Blocks = append(out.Blocks, blockstore.Block{CID: e.CID, Data: bad})
		default:
			if size+len(data) > 1<<20 {
				flush()
			}
			out.Blocks = append(out.Blocks, blockstore.Block{CID: e.CID, Data: data})
			size += len(data)
		}
	}
	flush()
}

// sawCancel reports whether the server received a cancel for c.
func (s *testServer) sawCancel(c cid.Cid) bool {
	for _, e := range s.received() {
		if e.Cancel && bytes.Equal(e.CID.Hash(), c.Hash()) {
			return true
		}
	}
	return false
}

// importFile imports size random bytes as a UnixFS file into store.
func importFile(t testing.TB, store importer.Putter, size int) ([]byte, cid.Cid) {
	return importWith(t, store, importer.DefaultOptions(), size)
}

func importWith(t testing.TB, store importer.Putter, opts importer.Options, size int) ([]byte, cid.Cid) {
	t.Helper()
	data := make([]byte, size)
	rand.Read(data)
	ctx := context.Background()
	im, err := importer.New(ctx, opts, store)
	if err != nil {
		t.Fatal(err)
	}
	n, err := im.AddFile(ctx, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if err := im.Close(); err != nil {
		t.Fatal(err)
	}
	return data, n.CID
}

// sessionGetter reads through a session, as the node's block getter will.
type sessionGetter struct{ s *Session }

func (g sessionGetter) Get(ctx context.Context, c cid.Cid) ([]byte, error) {
	return g.s.GetBlock(ctx, c)
}

// readFile reads a UnixFS file through a client session (16 blocks
// fetched ahead per tree level).
func readFile(ctx context.Context, c *Client, root cid.Cid) ([]byte, error) {
	g := sessionGetter{c.NewSession(ctx)}
	n, err := unixfs.Get(ctx, g, root)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	err = unixfs.ReadRange(ctx, g, n, 0, n.FileSize(), func(b []byte) error { out.Write(b); return nil })
	return out.Bytes(), err
}

// sameBlocks checks that every block of from is in to, byte for byte.
func sameBlocks(t testing.TB, from, to blockstore.Store) int {
	t.Helper()
	ctx := context.Background()
	n := 0
	err := from.Keys(ctx, func(mh multihash.Multihash) error {
		c := blockstore.CIDOf(mh)
		want, err := from.Get(ctx, c)
		if err != nil {
			return err
		}
		got, err := to.Get(ctx, c)
		if err != nil {
			t.Errorf("block %s not fetched: %v", c, err)
			return nil
		}
		if !bytes.Equal(got, want) {
			t.Errorf("block %s differs", c)
		}
		if err := blockstore.VerifyBlock(c, got); err != nil {
			t.Error(err)
		}
		n++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	poll := time.NewTicker(5 * time.Millisecond)
	defer poll.Stop()
	for !cond() {
		select {
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		case <-poll.C:
		}
	}
}

// routingDouble answers provider searches with fixed peers.
type routingDouble struct {
	providers []peer.AddrInfo
	mu        sync.Mutex // guards asked
	asked     []cid.Cid
}

func (r *routingDouble) FindProvidersAsync(ctx context.Context, c cid.Cid, count int) <-chan peer.AddrInfo {
	r.mu.Lock()
	r.asked = append(r.asked, c)
	r.mu.Unlock()
	ch := make(chan peer.AddrInfo, len(r.providers))
	for _, p := range r.providers {
		ch <- p
	}
	close(ch)
	return ch
}

func (r *routingDouble) searches() []cid.Cid {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]cid.Cid(nil), r.asked...)
}

// refs is the client's total interest in c (test introspection).
func (c *Client) refs(k cid.Cid) int {
	n := 0
	c.call(func() {
		if w := c.core.wants[string(k.Hash())]; w != nil {
			n = w.total
		}
	})
	return n
}
