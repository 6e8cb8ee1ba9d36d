package client

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"node/bitswap/message"
	"node/bitswap/network"
	"node/blockstore"
	"node/internal/testutil"
	"node/unixfs"
)

// bufferSessionGetter reads through a session into the caller's buffers,
// as the node's block getter does for unixfs.WriteRange, and counts the
// blocks that came back in the buffer they were given.
type bufferSessionGetter struct {
	s *Session

	mu       sync.Mutex // guards inBuffer
	inBuffer int
}

func (g *bufferSessionGetter) Get(ctx context.Context, c cid.Cid) ([]byte, error) {
	return g.s.GetBlock(ctx, c)
}

func (g *bufferSessionGetter) GetBuffer(ctx context.Context, c cid.Cid, buf []byte) ([]byte, error) {
	data, err := g.s.GetBlockBuffer(ctx, c, buf)
	if err == nil && testutil.Within(buf, data) {
		g.mu.Lock()
		g.inBuffer++
		g.mu.Unlock()
	}
	return data, err
}

// Blocks fetched into callers' buffers let the messages they came in be
// reused for the next ones, while a caller handed the received bytes
// themselves keeps them intact however many messages follow. The node
// stores into a real pack store, which copies what it is given (without
// that, no message is ever reused).
func TestFetchIntoBuffersAndSharedBlocksStayIntact(t *testing.T) {
	srv := newTestServer(t, serveNormally)
	data1, root1 := importFile(t, srv.store, 8<<20)
	data2, root2 := importFile(t, srv.store, 8<<20)

	packs, err := blockstore.OpenPackStore(t.TempDir(), blockstore.PackOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { packs.Close() })
	h := newHost(t)
	net := network.New(h, nil)
	c := New(net, blockstore.WithIdentity(packs), nil, Options{})
	net.Start(c)
	t.Cleanup(func() {
		net.Stop()
		c.Close()
	})
	connect(t, h, srv.h)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// Two readers of the first file at once: one into buffers, one
	// holding on to the slices it is handed.
	buffered := &bufferSessionGetter{s: c.NewSession(ctx)}
	plain := sessionGetter{c.NewSession(ctx)}
	var held [][]byte
	var got1 bytes.Buffer
	errs := make(chan error, 2)
	go func() {
		n, err := unixfs.Get(ctx, buffered, root1)
		if err == nil {
			err = unixfs.WriteRange(ctx, buffered, n, 0, n.FileSize(), &got1)
		}
		errs <- err
	}()
	go func() {
		n, err := unixfs.Get(ctx, plain, root1)
		if err == nil {
			err = unixfs.ReadRange(ctx, plain, n, 0, n.FileSize(), func(b []byte) error {
				held = append(held, b) // kept, as ReadRange allows
				return nil
			})
		}
		errs <- err
	}()
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(got1.Bytes(), data1) {
		t.Fatal("the file read into buffers differs")
	}
	if !bytes.Equal(bytes.Join(held, nil), data1) {
		t.Fatal("the file read by the other caller differs")
	}

	// The second file, into buffers only: its messages reuse the memory
	// of earlier ones wherever that was allowed.
	second := &bufferSessionGetter{s: c.NewSession(ctx)}
	n, err := unixfs.Get(ctx, second, root2)
	if err != nil {
		t.Fatal(err)
	}
	var got2 bytes.Buffer
	if err := unixfs.WriteRange(ctx, second, n, 0, n.FileSize(), &got2); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got2.Bytes(), data2) {
		t.Fatal("the second file differs")
	}
	if leaves := len(data2) / (256 << 10); second.inBuffer < leaves {
		t.Fatalf("%d of the second file's %d leaves came back in the buffers given", second.inBuffer, leaves)
	}
	// What the plain caller was handed is still the first file.
	if !bytes.Equal(bytes.Join(held, nil), data1) {
		t.Fatal("blocks handed to a caller were overwritten by later messages")
	}
	if n := sameBlocks(t, srv.store, packs); n == 0 {
		t.Fatal("nothing stored")
	}
}

// Once GetBlockBuffer has returned, even for a cancelled context, nothing
// writes into the buffer: the caller may already be using it again.
func TestCancelledGetLeavesTheBufferAlone(t *testing.T) {
	n := newNode(t, nil, Options{})
	b := blk(7)
	buf := bytes.Repeat([]byte{0xAA}, 4096)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := n.c.GetBlockBuffer(ctx, b.CID, buf[:0])
		done <- err
	}()
	eventually(t, "the want", func() bool { return n.c.refs(b.CID) == 1 })
	cancel()
	if err := <-done; err == nil {
		t.Fatal("a cancelled get succeeded")
	}
	n.c.ReceiveMessage(context.Background(), "some-peer", &message.Message{Blocks: []blockstore.Block{b}})
	if !bytes.Equal(buf, bytes.Repeat([]byte{0xAA}, 4096)) {
		t.Fatal("a block was copied into the buffer of a get that had returned")
	}
}
