package unixfs_test

import (
	"bytes"
	"context"
	"sync"
	"testing"

	"github.com/ipfs/go-cid"

	"node/blockstore"
	"node/internal/testutil"
	"node/unixfs"
	"node/unixfs/importer"
)

// bufferCounter is a store read through GetBuffer that counts the blocks
// returned inside the buffer they were read into.
type bufferCounter struct {
	blockstore.Store

	mu       sync.Mutex // guards inBuffer and arrays
	inBuffer int
	arrays   map[*byte]bool // distinct buffers blocks were read into
}

func (b *bufferCounter) GetBuffer(ctx context.Context, c cid.Cid, buf []byte) ([]byte, error) {
	data, err := b.Store.(blockstore.BufferGetter).GetBuffer(ctx, c, buf)
	if err == nil && testutil.Within(buf, data) {
		b.mu.Lock()
		b.inBuffer++
		b.arrays[&buf[:1][0]] = true
		b.mu.Unlock()
	}
	return data, err
}

// WriteRange writes what ReadRange emits; over a store that reads into
// buffers, large leaves come in reused buffers.
func TestWriteRange(t *testing.T) {
	ctx := context.Background()
	packs, err := blockstore.OpenPackStore(t.TempDir(), blockstore.PackOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer packs.Close()
	store := blockstore.WithIdentity(packs)

	raw1M := importer.DefaultOptions()
	raw1M.CIDVersion, raw1M.RawLeaves, raw1M.ChunkSize = 1, true, 1<<20
	small := importer.DefaultOptions()
	small.ChunkSize = 1000
	for _, tc := range []struct {
		name   string
		opts   importer.Options
		size   int
		pooled int // blocks read into buffers: at least this many (large leaves), or at most (small leaves)
	}{
		{"dag-pb leaves of 256 KiB", importer.DefaultOptions(), 40<<20 + 12345, 160},
		{"raw leaves of 1 MiB", raw1M, 9<<20 + 7, 9},
		// Only the two nodes above the 300 leaves hold large subtrees: two
		// blocks per range read, five ranges.
		{"small leaves (not pooled)", small, 300_000, -2 * 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := randomBytes(uint64(tc.size), tc.size)
			root := testutil.ImportFile(t, store, tc.opts, data)
			g := &bufferCounter{Store: store, arrays: map[*byte]bool{}}
			n := mustGet(t, g, root.CID)
			size := uint64(len(data))
			for _, r := range [][2]uint64{{0, size}, {1, size - 1}, {size / 3, size/3 + 300_001}, {size - 5, size + 100}, {size, size}} {
				var out bytes.Buffer
				if err := unixfs.WriteRange(ctx, g, n, r[0], r[1], &out); err != nil {
					t.Fatal(err)
				}
				want := data[min(r[0], size):min(r[1], size)]
				if !bytes.Equal(out.Bytes(), want) {
					t.Fatalf("range %v: %d bytes differ from the file's %d", r, out.Len(), len(want))
				}
			}
			if (tc.pooled > 0 && g.inBuffer < tc.pooled) || (tc.pooled < 0 && g.inBuffer > -tc.pooled) {
				t.Fatalf("%d blocks came back in pooled buffers, want %d (negative: at most)", g.inBuffer, tc.pooled)
			}
			// The buffers are reused: far fewer than the leaves read. (A
			// read keeps up to 128 leaves ahead; sync.Pool drops some.)
			if tc.pooled > 0 && len(g.arrays) >= g.inBuffer {
				t.Fatalf("%d leaves read into %d distinct buffers: none reused", g.inBuffer, len(g.arrays))
			}
			t.Logf("%d blocks in %d buffers", g.inBuffer, len(g.arrays))
		})
	}
	// A getter without GetBuffer works the same.
	data := randomBytes(5, 3<<20)
	mem := blockstore.NewMemory()
	root := testutil.ImportFile(t, mem, importer.DefaultOptions(), data)
	var out bytes.Buffer
	if err := unixfs.WriteRange(ctx, mem, mustGet(t, mem, root.CID), 0, 1<<62, &out); err != nil || !bytes.Equal(out.Bytes(), data) {
		t.Fatalf("WriteRange over a plain getter: %v", err)
	}
}

// capCounter serves a memory store through GetBuffer and records the
// largest buffer it was given.
type capCounter struct {
	*blockstore.Memory

	mu      sync.Mutex // guards largest
	largest int
}

func (c *capCounter) GetBuffer(ctx context.Context, k cid.Cid, buf []byte) ([]byte, error) {
	c.mu.Lock()
	c.largest = max(c.largest, cap(buf))
	c.mu.Unlock()
	data, err := c.Memory.Get(ctx, k)
	if err != nil || cap(buf) < len(data) {
		return data, err
	}
	return append(buf[:0], data...), nil
}

// Links that claim a huge Tsize over tiny leaves do not make WriteRange
// hold a large buffer per block read ahead: buffers follow the bytes the
// children hold.
func TestWriteRangeIgnoresInflatedTsize(t *testing.T) {
	mem := blockstore.NewMemory()
	var leaves []cid.Cid
	var sizes []uint64
	var data []byte
	for i := range 200 {
		leaf := randomBytes(uint64(i), 1000)
		leaves = append(leaves, putRaw(t, mem, leaf))
		sizes = append(sizes, 1000)
		data = append(data, leaf...)
	}
	n := fileNode(nil, u64(uint64(len(data))), leaves, sizes)
	for i := range n.Links {
		n.Links[i].Tsize = blockstore.MaxBlockSize // a lie
	}
	root := putPB(t, mem, n)
	g := &capCounter{Memory: mem}
	var out bytes.Buffer
	if err := unixfs.WriteRange(context.Background(), g, mustGet(t, g, root), 0, uint64(len(data)), &out); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), data) {
		t.Fatal("the file differs")
	}
	if g.largest > 0 {
		t.Fatalf("a buffer of %d bytes was taken for a leaf of 1000", g.largest)
	}
}
