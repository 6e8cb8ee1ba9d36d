package unixfs_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"
	"testing/iotest"

	"github.com/ipfs/go-cid"

	"node/blockstore"
	"node/dagpb"
	"node/internal/testutil"
	"node/unixfs"
	"node/unixfs/importer"
)

type readCase struct {
	name  string
	opts  importer.Options
	large int
	// depth is the number of levels of file nodes above the leaves of the
	// large file, to prove the options give the trees we mean to test.
	depth int
}

func readCases() []readCase {
	def := importer.DefaultOptions()

	v1raw := importer.DefaultOptions()
	v1raw.CIDVersion, v1raw.RawLeaves, v1raw.ChunkSize = 1, true, 1000

	small := importer.DefaultOptions()
	small.ChunkSize = 100

	deep := importer.DefaultOptions()
	deep.ChunkSize, deep.MaxLinks = 10, 3

	deepRaw := deep
	deepRaw.CIDVersion, deepRaw.RawLeaves = 1, true

	return []readCase{
		{"v0-default", def, 3*def.ChunkSize + 12345, 1},
		{"v1-raw-1000", v1raw, 174*1000*2 + 777, 2},
		{"v0-100-3levels", small, 174*174*100 + 4321, 3},
		{"v0-maxlinks3", deep, 10*243 + 7, 6},
		{"v1-raw-maxlinks3", deepRaw, 10*243*3 + 1, 7},
	}
}

// depthOf counts the file nodes from root to the first leaf.
func depthOf(t *testing.T, g unixfs.Getter, c cid.Cid) int {
	d := 0
	for {
		n := mustGet(t, g, c)
		if len(n.Links) == 0 {
			return d
		}
		d++
		c = n.Links[0].Hash
	}
}

func TestReadFile(t *testing.T) {
	ctx := context.Background()
	for _, rc := range readCases() {
		t.Run(rc.name, func(t *testing.T) {
			chunk := rc.opts.ChunkSize
			store := blockstore.NewMemory()
			sizes := []int{0, 1, chunk - 1, chunk, chunk + 1, rc.large}
			for i, size := range sizes {
				data := randomBytes(uint64(1000*i+size), size)
				root := testutil.ImportFile(t, store, rc.opts, data)
				if root.FileSize != uint64(size) {
					t.Fatalf("importer says %d bytes, want %d", root.FileSize, size)
				}
				if size == rc.large {
					if d := depthOf(t, store, root.CID); d != rc.depth {
						t.Fatalf("the large file's tree has %d levels above the leaves, want %d", d, rc.depth)
					}
				}
				t.Run(fmt.Sprint(size), func(t *testing.T) {
					checkFile(t, ctx, store, root.CID, data)
				})
			}
		})
	}
}

func checkFile(t *testing.T, ctx context.Context, g unixfs.Getter, c cid.Cid, data []byte) {
	n := mustGet(t, g, c)
	if !n.IsFile() || n.IsDir() {
		t.Fatalf("node is a %s", n.FS.Type)
	}
	if n.FileSize() != uint64(len(data)) {
		t.Fatalf("FileSize = %d, want %d", n.FileSize(), len(data))
	}
	open := func() *unixfs.File {
		f, err := unixfs.NewFile(ctx, g, n)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}

	// Sequential read.
	f := open()
	if f.Size() != int64(len(data)) {
		t.Fatalf("Size = %d, want %d", f.Size(), len(data))
	}
	got, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("ReadAll: %d bytes differing from the %d imported", len(got), len(data))
	}
	if k, err := f.Read(make([]byte, 1)); k != 0 || err != io.EOF {
		t.Fatalf("Read at the end = %d, %v; want 0, EOF", k, err)
	}

	// Small reads, to cross block boundaries inside one stream.
	f = open()
	got, err = io.ReadAll(iotest.OneByteReader(io.LimitReader(f, 3000)))
	if err != nil {
		t.Fatal(err)
	}
	if want := data[:min(3000, len(data))]; !bytes.Equal(got, want) {
		t.Fatal("one-byte reads differ from the input")
	}

	// Random ReadAt, including reads that run past the end.
	r := rand.New(rand.NewPCG(uint64(len(data)), 1))
	f = open()
	size := len(data)
	for range 40 {
		off := r.IntN(size + 1)
		length := r.IntN(3000) + 1
		if r.IntN(4) == 0 {
			length = r.IntN(size+1) + 1
		}
		p := make([]byte, length)
		k, err := f.ReadAt(p, int64(off))
		want := data[off:min(off+length, size)]
		if k != len(want) || !bytes.Equal(p[:k], want) {
			t.Fatalf("ReadAt(%d bytes, %d) = %d bytes, want %d matching the input", length, off, k, len(want))
		}
		switch {
		case len(want) < length && err != io.EOF:
			t.Fatalf("ReadAt(%d bytes, %d) past the end: err = %v, want EOF", length, off, err)
		case len(want) == length && err != nil && err != io.EOF:
			t.Fatalf("ReadAt(%d bytes, %d): %v", length, off, err)
		}
	}
	for _, off := range []int64{int64(size), int64(size) + 1, int64(size) + 1<<40} {
		if k, err := f.ReadAt(make([]byte, 5), off); k != 0 || err != io.EOF {
			t.Fatalf("ReadAt at %d of a %d-byte file = %d, %v; want 0, EOF", off, size, k, err)
		}
	}
	if _, err := f.ReadAt(make([]byte, 1), -1); err == nil {
		t.Fatal("ReadAt at a negative offset succeeded")
	}

	// Seek then Read, from each whence.
	f = open()
	for range 10 {
		off := r.IntN(size + 1)
		var pos int64
		var err error
		switch r.IntN(3) {
		case 0:
			pos, err = f.Seek(int64(off), io.SeekStart)
		case 1:
			cur, _ := f.Seek(0, io.SeekCurrent)
			pos, err = f.Seek(int64(off)-cur, io.SeekCurrent)
		case 2:
			pos, err = f.Seek(int64(off-size), io.SeekEnd)
		}
		if err != nil || pos != int64(off) {
			t.Fatalf("Seek to %d = %d, %v", off, pos, err)
		}
		p := make([]byte, r.IntN(2000)+1)
		k, err := io.ReadFull(f, p)
		want := data[off:min(off+len(p), size)]
		if k != len(want) || !bytes.Equal(p[:k], want) {
			t.Fatalf("Read after Seek(%d) = %d bytes, want %d matching", off, k, len(want))
		}
		if len(want) < len(p) && err != io.ErrUnexpectedEOF && err != io.EOF {
			t.Fatalf("short read after Seek(%d): %v", off, err)
		}
	}
	if _, err := f.Seek(-1, io.SeekStart); err == nil {
		t.Fatal("Seek to -1 succeeded")
	}
	if _, err := f.Seek(0, 7); err == nil {
		t.Fatal("Seek with whence 7 succeeded")
	}
	if pos, _ := f.Seek(int64(size)+10, io.SeekStart); pos != int64(size)+10 {
		t.Fatalf("Seek past the end = %d", pos)
	}
	if k, err := f.Read(make([]byte, 4)); k != 0 || err != io.EOF {
		t.Fatalf("Read past the end = %d, %v; want 0, EOF", k, err)
	}

	// WriteTo from a random offset, after a partial Read.
	f = open()
	half := size / 2
	if _, err := io.ReadFull(f, make([]byte, min(half, 10))); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Seek(int64(half), io.SeekStart); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	k, err := f.WriteTo(&buf)
	if err != nil || k != int64(size-half) || !bytes.Equal(buf.Bytes(), data[half:]) {
		t.Fatalf("WriteTo from %d = %d, %v; want %d bytes matching", half, k, err, size-half)
	}
	if pos, _ := f.Seek(0, io.SeekCurrent); pos != int64(size) {
		t.Fatalf("offset after WriteTo = %d, want %d", pos, size)
	}

	// The standard library's own reader conformance checks (Read, ReadAt,
	// Seek) on files small enough for its byte-by-byte passes.
	if size <= 1<<16 {
		if err := iotest.TestReader(open(), data); err != nil {
			t.Fatal(err)
		}
	}
}

// TestReadOnlyNeededBlocks: a read at an offset fetches the path from the
// root to the leaves holding the range, and nothing else.
func TestReadOnlyNeededBlocks(t *testing.T) {
	ctx := context.Background()
	store := blockstore.NewMemory()
	o := importer.DefaultOptions()
	o.ChunkSize = 1000
	const size = 174*1000*3 + 500 // four internal nodes under the root
	data := randomBytes(42, size)
	root := testutil.ImportFile(t, store, o, data)

	// The tree, decoded independently of the reader.
	rootPB := decodePB(t, store, root.CID)
	if len(rootPB.Links) != 4 {
		t.Fatalf("root has %d links, want 4", len(rootPB.Links))
	}
	internal := make([]*dagpb.Node, len(rootPB.Links))
	for i, l := range rootPB.Links {
		internal[i] = decodePB(t, store, l.Hash)
	}
	leafAt := func(off int) (mid, leaf cid.Cid) {
		i := off / 1000
		return rootPB.Links[i/174].Hash, internal[i/174].Links[i%174].Hash
	}

	cg := testutil.NewCountingGetter(store)
	for _, tc := range []struct {
		name       string
		start, end int
		want       func() []cid.Cid
	}{
		{"10 bytes inside one leaf", 200_123, 200_133, func() []cid.Cid {
			mid, leaf := leafAt(200_123)
			return []cid.Cid{mid, leaf}
		}},
		{"across two leaves", 200_995, 201_005, func() []cid.Cid {
			mid, a := leafAt(200_995)
			_, b := leafAt(201_005)
			return []cid.Cid{mid, a, b}
		}},
		{"across two internal nodes", 174_000 - 3, 174_000 + 3, func() []cid.Cid {
			m1, a := leafAt(174_000 - 3)
			m2, b := leafAt(174_000 + 3)
			return []cid.Cid{m1, a, m2, b}
		}},
		{"the last bytes", size - 10, size + 100, func() []cid.Cid {
			mid, leaf := leafAt(size - 10)
			return []cid.Cid{mid, leaf}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rn, err := unixfs.Get(ctx, cg, root.CID)
			if err != nil {
				t.Fatal(err)
			}
			var got []byte
			if err := unixfs.ReadRange(ctx, cg, rn, uint64(tc.start), uint64(tc.end), func(b []byte) error {
				got = append(got, b...)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, data[tc.start:min(tc.end, size)]) {
				t.Fatal("wrong bytes")
			}
			want := append([]cid.Cid{root.CID}, tc.want()...)
			if fetched := cg.Take(); !sameCIDs(fetched, want) {
				t.Fatalf("fetched %d blocks %v, want exactly %v", len(fetched), fetched, want)
			}
		})
	}

	// ReadAt through a File fetches the same path (the root is already held).
	rn := mustGet(t, store, root.CID)
	f, err := unixfs.NewFile(ctx, cg, rn)
	if err != nil {
		t.Fatal(err)
	}
	p := make([]byte, 10)
	if _, err := f.ReadAt(p, 300_000); err != nil || !bytes.Equal(p, data[300_000:300_010]) {
		t.Fatalf("ReadAt: %v", err)
	}
	mid, leaf := leafAt(300_000)
	if fetched := cg.Take(); !sameCIDs(fetched, []cid.Cid{mid, leaf}) {
		t.Fatalf("ReadAt fetched %v, want %v and %v", fetched, mid, leaf)
	}
}

func decodePB(t *testing.T, store *blockstore.Memory, c cid.Cid) *dagpb.Node {
	t.Helper()
	b, err := store.Get(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	n, err := dagpb.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// readAll reads a whole file node through ReadRange.
func readAll(ctx context.Context, g unixfs.Getter, c cid.Cid) ([]byte, error) {
	n, err := unixfs.Get(ctx, g, c)
	if err != nil {
		return nil, err
	}
	var out []byte
	err = unixfs.ReadRange(ctx, g, n, 0, n.FileSize(), func(b []byte) error {
		out = append(out, b...)
		return nil
	})
	return out, err
}

// TestCorruptFiles: a file DAG that disagrees with itself is an error
// wrapping ErrInvalid, never wrong bytes.
func TestCorruptFiles(t *testing.T) {
	ctx := context.Background()
	store := blockstore.NewMemory()
	ten := []byte("0123456789")
	leaf10 := putPB(t, store, fileNode(ten, u64(10), nil, nil))
	leaf5 := putPB(t, store, fileNode(ten[:5], u64(5), nil, nil))
	raw5 := putRaw(t, store, ten[:5])
	liar := putPB(t, store, fileNode(ten[:5], u64(10), nil, nil)) // says 10, holds 5
	dir := putPB(t, store, dirNode())
	twoLinksOneSize := fileNode(nil, u64(10), []cid.Cid{leaf10, leaf10}, []uint64{10})
	twoLinksOneSizeCID := putPB(t, store, twoLinksOneSize)

	// A well-formed pair reads back, so the cases below fail for the
	// reason they name.
	good := putPB(t, store, fileNode(nil, u64(20), []cid.Cid{leaf10, leaf10}, []uint64{10, 10}))
	if got, err := readAll(ctx, store, good); err != nil || string(got) != "01234567890123456789" {
		t.Fatalf("well-formed file: %q, %v", got, err)
	}

	for _, tc := range []struct {
		name string
		root cid.Cid
	}{
		{"root has more links than block sizes", twoLinksOneSizeCID},
		{"root has more block sizes than links", putPB(t, store, fileNode(nil, u64(20), []cid.Cid{leaf10}, []uint64{10, 10}))},
		{"an inner node has more links than block sizes", putPB(t, store, fileNode(nil, u64(20), []cid.Cid{leaf10, twoLinksOneSizeCID}, []uint64{10, 10}))},
		{"child holds fewer bytes than declared", putPB(t, store, fileNode(nil, u64(20), []cid.Cid{leaf5, leaf10}, []uint64{10, 10}))},
		{"child holds more bytes than declared", putPB(t, store, fileNode(nil, u64(15), []cid.Cid{leaf10, leaf5}, []uint64{5, 10}))},
		{"raw child holds fewer bytes than declared", putPB(t, store, fileNode(nil, u64(20), []cid.Cid{raw5, leaf10}, []uint64{10, 10}))},
		{"child's filesize says more than its data", putPB(t, store, fileNode(nil, u64(20), []cid.Cid{liar, leaf10}, []uint64{10, 10}))},
		{"leaf's filesize says more than its data", liar},
		{"filesize is not the sum of the block sizes", putPB(t, store, fileNode(nil, u64(100), []cid.Cid{leaf10, leaf10}, []uint64{10, 10}))},
		{"block sizes overflow", putPB(t, store, fileNode(nil, u64(9), []cid.Cid{leaf10, leaf10}, []uint64{10, 1<<64 - 1}))},
		{"child is a directory", putPB(t, store, fileNode(nil, u64(10), []cid.Cid{dir}, []uint64{10}))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readAll(ctx, store, tc.root)
			if !errors.Is(err, unixfs.ErrInvalid) {
				t.Fatalf("read %q, %v; want an error wrapping ErrInvalid", got, err)
			}
			// The reader must not hand out the misplaced bytes either.
			n, gerr := unixfs.Get(ctx, store, tc.root)
			if gerr != nil {
				return // rejected when decoded: nothing to read
			}
			f, _ := unixfs.NewFile(ctx, store, n)
			defer f.Close()
			if b, err := io.ReadAll(f); err == nil {
				t.Fatalf("File read %q without an error", b)
			}
			p := make([]byte, 10)
			if k, err := f.ReadAt(p, 3); err == nil || err == io.EOF {
				t.Fatalf("ReadAt gave %q, %v; want an error other than EOF", p[:k], err)
			}
		})
	}
}

// TestZeroSizeChildrenNotFetched: children that hold no bytes of the range
// (here none at all) are not fetched, so a DAG of empty children shared
// many times over costs nothing to read.
func TestZeroSizeChildrenNotFetched(t *testing.T) {
	ctx := context.Background()
	store := blockstore.NewMemory()
	empty := putPB(t, store, fileNode(nil, u64(0), nil, nil))
	// Each level links 100 times to the level below: 100^5 empty leaves.
	level := empty
	for range 5 {
		links := make([]cid.Cid, 100)
		sizes := make([]uint64, 100)
		for i := range links {
			links[i] = level
		}
		level = putPB(t, store, fileNode(nil, u64(0), links, sizes))
	}
	// A root with a byte of its own before and after the empty subtrees.
	root := putPB(t, store, fileNode([]byte("x"), u64(2), []cid.Cid{level, level, leafOf(t, store, "y")}, []uint64{0, 0, 1}))
	cg := testutil.NewCountingGetter(store)
	got, err := readAll(ctx, cg, root)
	if err != nil || string(got) != "xy" {
		t.Fatalf("read %q, %v; want \"xy\"", got, err)
	}
	if fetched := cg.Take(); len(fetched) != 2 { // the root and the "y" leaf
		t.Fatalf("fetched %d blocks, want 2", len(fetched))
	}
}

func leafOf(t *testing.T, store *blockstore.Memory, s string) cid.Cid {
	return putPB(t, store, fileNode([]byte(s), u64(uint64(len(s))), nil, nil))
}

func TestNotAFile(t *testing.T) {
	ctx := context.Background()
	store := blockstore.NewMemory()
	n := mustGet(t, store, putPB(t, store, dirNode()))
	if _, err := unixfs.NewFile(ctx, store, n); !errors.Is(err, unixfs.ErrNotFile) {
		t.Fatalf("NewFile of a directory: %v, want ErrNotFile", err)
	}
	if err := unixfs.ReadRange(ctx, store, n, 0, 1, func([]byte) error { return nil }); !errors.Is(err, unixfs.ErrNotFile) {
		t.Fatalf("ReadRange of a directory: %v, want ErrNotFile", err)
	}
}

// TestMissingBlock: a file whose leaf is absent reports the store's error.
func TestMissingBlock(t *testing.T) {
	ctx := context.Background()
	store := blockstore.NewMemory()
	o := importer.DefaultOptions()
	o.ChunkSize = 100
	data := randomBytes(7, 1000)
	root := testutil.ImportFile(t, store, o, data)
	rootPB := decodePB(t, store, root.CID)
	if err := store.Delete(ctx, rootPB.Links[5].Hash); err != nil {
		t.Fatal(err)
	}
	n := mustGet(t, store, root.CID)
	f, _ := unixfs.NewFile(ctx, store, n)
	defer f.Close()
	got, err := io.ReadAll(f)
	if !errors.Is(err, blockstore.ErrNotFound) {
		t.Fatalf("ReadAll: %v, want ErrNotFound", err)
	}
	if len(got) != 500 || !bytes.Equal(got, data[:500]) {
		t.Fatalf("read %d bytes before the missing block at 500", len(got))
	}
	// Reads that avoid the missing block still work.
	p := make([]byte, 100)
	if _, err := f.ReadAt(p, 600); err != nil || !bytes.Equal(p, data[600:700]) {
		t.Fatalf("ReadAt beyond the hole: %v", err)
	}
}
