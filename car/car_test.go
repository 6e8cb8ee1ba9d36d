package car_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"

	"node/blockstore"
	"node/car"
	"node/dag"
)

// The header bytes for one CIDv0 root, built by hand from the CARv1 spec:
// varint 56, map(2), "roots", array(1), tag 42, bytes(35), 0x00, CID,
// "version", 1.
func TestHeaderBytesFromSpec(t *testing.T) {
	b := rawBlock(t, []byte("hello"))
	root := pbBlock(t, false, nil, b.CID)
	want := []byte{0x38, 0xa2, 0x65, 'r', 'o', 'o', 't', 's', 0x81, 0xd8, 0x2a, 0x58, 0x23, 0x00}
	want = append(want, root.CID.Bytes()...)
	want = append(want, 0x67, 'v', 'e', 'r', 's', 'i', 'o', 'n', 0x01)
	if len(want) != 1+0x38 {
		t.Fatalf("test bug: header is %d bytes", len(want)-1)
	}
	want = append(want, section(root.CID, root.Data)...)
	want = append(want, section(b.CID, b.Data)...)

	got := writeCAR(t, []cid.Cid{root.CID}, root, b)
	if !bytes.Equal(got, want) {
		t.Fatalf("writer output\n got %x\nwant %x", got, want)
	}
	roots, blocks, err := readAll(want)
	if err != nil {
		t.Fatal(err)
	}
	if len(roots) != 1 || !roots[0].Equals(root.CID) {
		t.Fatalf("roots = %v", roots)
	}
	sameBlocks(t, blocks, []blockstore.Block{root, b})
}

func TestRoundTripRandomDAGs(t *testing.T) {
	ctx := context.Background()
	for seed := range uint64(6) {
		r := rand.New(rand.NewPCG(seed, 1))
		src := blockstore.NewMemory()
		root := randomDAG(t, r, src, 64<<10, seed == 0)

		var buf bytes.Buffer
		if err := car.Export(ctx, src.Get, []cid.Cid{root}, &buf); err != nil {
			t.Fatal(err)
		}
		dst := blockstore.NewMemory()
		roots, n, err := car.Import(ctx, bytes.NewReader(buf.Bytes()), dst.PutMany)
		if err != nil {
			t.Fatal(err)
		}
		if len(roots) != 1 || !roots[0].Equals(root) {
			t.Fatalf("roots = %v, want %s", roots, root)
		}
		// Every block reachable from the root arrives intact, and the
		// CAR holds exactly the reachable CIDs, each once.
		want := walk(t, src, root)
		if n != len(want) {
			t.Fatalf("seed %d: imported %d blocks, DAG has %d distinct CIDs", seed, n, len(want))
		}
		_, blocks, err := readAll(buf.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		for i, b := range blocks {
			if !b.CID.Equals(want[i]) {
				t.Fatalf("seed %d: block %d is %s, pre-order walk says %s", seed, i, b.CID, want[i])
			}
			d, err := dst.Get(ctx, b.CID)
			if err != nil || !bytes.Equal(d, b.Data) {
				t.Fatalf("block %s not imported intact: %v", b.CID, err)
			}
		}
	}
}

// walk is an independent recursive pre-order walk, deduplicating by CID.
func walk(t *testing.T, s blockstore.Store, root cid.Cid) []cid.Cid {
	seen := map[cid.Cid]bool{}
	var out []cid.Cid
	var visit func(c cid.Cid)
	visit = func(c cid.Cid) {
		if seen[c] {
			return
		}
		seen[c] = true
		out = append(out, c)
		data, err := s.Get(context.Background(), c)
		if err != nil {
			t.Fatal(err)
		}
		links, err := dag.Links(c, data)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range links {
			visit(l)
		}
	}
	visit(root)
	return out
}

// TestExportOrder pins the order and dedup rules on a small DAG:
//
//	root(pb v0) -> A(pb v1) -> C(raw), D(raw), X as CIDv1 dag-pb
//	            -> B(cbor)  -> C(raw, again), X as CIDv0, E(identity)
//	second root: A (already written)
func TestExportOrder(t *testing.T) {
	ctx := context.Background()
	c := rawBlock(t, []byte("c"))
	d := rawBlock(t, []byte("d"))
	e := identityBlock(t, []byte("inline"))
	x0 := pbBlock(t, false, []byte("x"))
	x1 := pbBlock(t, true, []byte("x"))
	if string(x0.CID.Hash()) != string(x1.CID.Hash()) {
		t.Fatal("test bug: x0 and x1 should share a multihash")
	}
	a := pbBlock(t, true, nil, c.CID, d.CID, x1.CID)
	b := cborBlock(t, c.CID, x0.CID, e.CID)
	root := pbBlock(t, false, nil, a.CID, b.CID)

	store := blockstore.NewMemory()
	for _, blk := range []blockstore.Block{c, d, x0, a, b, root} {
		if err := store.Put(ctx, blk); err != nil {
			t.Fatal(err)
		}
	}
	var gets []cid.Cid
	get := func(ctx context.Context, k cid.Cid) ([]byte, error) {
		gets = append(gets, k)
		return store.Get(ctx, k)
	}
	var buf bytes.Buffer
	if err := car.Export(ctx, get, []cid.Cid{root.CID, a.CID}, &buf); err != nil {
		t.Fatal(err)
	}
	roots, blocks, err := readAll(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if len(roots) != 2 || !roots[0].Equals(root.CID) || !roots[1].Equals(a.CID) {
		t.Fatalf("roots = %v", roots)
	}
	sameBlocks(t, blocks, []blockstore.Block{root, a, c, d, x1, b, x0, e})
	for _, k := range gets {
		if k.Equals(e.CID) {
			t.Fatal("get was called for an identity CID")
		}
	}
}

func TestExportMissingBlock(t *testing.T) {
	ctx := context.Background()
	leaf := rawBlock(t, []byte("gone"))
	root := pbBlock(t, false, nil, leaf.CID)
	store := blockstore.NewMemory()
	if err := store.Put(ctx, root); err != nil {
		t.Fatal(err)
	}
	err := car.Export(ctx, store.Get, []cid.Cid{root.CID}, io.Discard)
	if !errors.Is(err, blockstore.ErrNotFound) || !strings.Contains(err.Error(), leaf.CID.String()) {
		t.Fatalf("err = %v, want ErrNotFound naming %s", err, leaf.CID)
	}
	if err := car.Export(ctx, store.Get, nil, io.Discard); err == nil {
		t.Fatal("export with no roots succeeded")
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := car.Export(cctx, store.Get, []cid.Cid{root.CID}, io.Discard); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled export: err = %v", err)
	}
}

func TestImportBatchesAndErrors(t *testing.T) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(7, 7))
	var blocks []blockstore.Block
	for i := range 200 {
		n := 10
		if i%5 == 0 {
			n = 1 << 20 // big blocks, so that the 8 MiB limit closes batches
		}
		blocks = append(blocks, rawBlock(t, randBytes(r, n)))
	}
	data := writeCAR(t, []cid.Cid{blocks[0].CID}, blocks...)

	var got []blockstore.Block
	var sizes []int
	put := func(_ context.Context, bs []blockstore.Block) error {
		sizes = append(sizes, len(bs))
		size := 0
		for _, b := range bs[:len(bs)-1] {
			size += len(b.Data)
		}
		if len(bs) > 64 || size >= 8<<20 {
			t.Errorf("batch of %d blocks, %d bytes before its last block", len(bs), size)
		}
		got = append(got, bs...)
		return nil
	}
	roots, n, err := car.Import(ctx, bytes.NewReader(data), put)
	if err != nil || n != len(blocks) || len(roots) != 1 {
		t.Fatalf("Import = %v, %d, %v", roots, n, err)
	}
	// Blocks 0, 5, ..., 35 are the first 8 MiB: the byte limit closes the
	// first batch after 36 blocks, before the 64-block limit.
	if len(sizes) < 4 || sizes[0] != 36 {
		t.Fatalf("batch sizes %v: want batches closed at 8 MiB (36 blocks)", sizes)
	}
	sameBlocks(t, got, blocks)

	// A put error stops the import and is returned wrapped.
	errFull := errors.New("disk full")
	_, n, err = car.Import(ctx, bytes.NewReader(data), func(context.Context, []blockstore.Block) error { return errFull })
	if !errors.Is(err, errFull) || n != 0 {
		t.Fatalf("put error: n=%d err=%v", n, err)
	}

	// A corrupt block late in the CAR: put only ever sees verified blocks.
	bad := bytes.Clone(data)
	bad[len(bad)-1] ^= 1
	got = got[:0]
	_, n, err = car.Import(ctx, bytes.NewReader(bad), func(_ context.Context, bs []blockstore.Block) error {
		for _, b := range bs {
			if err := blockstore.VerifyBlock(b.CID, b.Data); err != nil {
				t.Errorf("put got an unverified block: %v", err)
			}
		}
		got = append(got, bs...)
		return nil
	})
	if !errors.Is(err, blockstore.ErrCorrupt) || !strings.Contains(err.Error(), "section 200") {
		t.Fatalf("corrupt import: err = %v", err)
	}
	if n != len(got) || n >= len(blocks) {
		t.Fatalf("n = %d, put saw %d blocks", n, len(got))
	}
}

// TestTruncatedEverywhere cuts a small CAR at every byte offset: a cut at
// a section boundary reads as a clean, shorter CAR; anywhere else it is an
// error wrapping io.ErrUnexpectedEOF. Never a panic.
func TestTruncatedEverywhere(t *testing.T) {
	leaves := []blockstore.Block{rawBlock(t, []byte("one")), rawBlock(t, nil), pbBlock(t, false, []byte("three"))}
	root := pbBlock(t, true, nil, leaves[0].CID, leaves[1].CID, leaves[2].CID)
	all := append([]blockstore.Block{root}, leaves...)
	data := writeCAR(t, []cid.Cid{root.CID}, all...)

	// Section boundaries: end of header, then end of each section.
	hdr, err := car.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	boundaries := map[int]int{int(hdr.Offset()): 0}
	end := int(hdr.Offset())
	for i, b := range all {
		end += len(section(b.CID, b.Data))
		boundaries[end] = i + 1
	}
	if end != len(data) {
		t.Fatalf("test bug: sections end at %d, CAR is %d bytes", end, len(data))
	}
	for cut := 0; cut <= len(data); cut++ {
		_, blocks, err := readAll(data[:cut])
		if k, ok := boundaries[cut]; ok {
			if err != nil {
				t.Fatalf("cut at boundary %d: %v", cut, err)
			}
			sameBlocks(t, blocks, all[:k])
			continue
		}
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("cut at %d: err = %v, want io.ErrUnexpectedEOF", cut, err)
		}
	}
}

func TestCorruptBlock(t *testing.T) {
	a := rawBlock(t, []byte("first"))
	b := rawBlock(t, []byte("second block"))
	data := writeCAR(t, []cid.Cid{a.CID}, a, b)
	data[len(data)-1] ^= 0x80
	_, blocks, err := readAll(data)
	if !errors.Is(err, blockstore.ErrCorrupt) {
		t.Fatalf("err = %v, want ErrCorrupt", err)
	}
	for _, want := range []string{"section 2", b.CID.String()} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	sameBlocks(t, blocks, []blockstore.Block{a})

	// The error is sticky.
	r, _ := car.NewReader(bytes.NewReader(data))
	r.Next()
	_, err1 := r.Next()
	_, err2 := r.Next()
	if err1 == nil || err1 != err2 {
		t.Fatalf("errors not sticky: %v then %v", err1, err2)
	}
}

func TestSectionLimits(t *testing.T) {
	root := rawBlock(t, []byte("root"))
	head := writeCAR(t, []cid.Cid{root.CID})

	// A block of exactly MaxBlockSize is fine.
	max := rawBlock(t, bytes.Repeat([]byte{7}, blockstore.MaxBlockSize))
	_, blocks, err := readAll(append(bytes.Clone(head), section(max.CID, max.Data)...))
	if err != nil || len(blocks) != 1 {
		t.Fatalf("max-size block: %d blocks, %v", len(blocks), err)
	}

	over := rawBlock(t, bytes.Repeat([]byte{7}, blockstore.MaxBlockSize+1))
	var w bytes.Buffer
	cw, _ := car.NewWriter(&w, []cid.Cid{root.CID})
	if err := cw.Put(over.CID, over.Data); !errors.Is(err, blockstore.ErrTooLarge) {
		t.Fatalf("writer accepted an oversized block: %v", err)
	}

	cases := []struct {
		name string
		sec  []byte
		want error
	}{
		{"block one byte over", section(over.CID, over.Data), blockstore.ErrTooLarge},
		{"length claims 2^62, no body", uvarint(1 << 62), blockstore.ErrTooLarge},
		{"length just over limit", uvarint(car.MaxSectionSize + 1), blockstore.ErrTooLarge},
		{"zero length", []byte{0}, car.ErrInvalidSection},
		{"varint overflow", bytes.Repeat([]byte{0xff}, 10), car.ErrInvalidSection},
		{"non-minimal varint", []byte{0x85, 0x00}, car.ErrInvalidSection},
		{"bad CID version", append(uvarint(5), 0x02, 0x55, 0x12, 0x01, 0x00), car.ErrInvalidSection},
		{"CID longer than section", append(uvarint(3), 0x01, 0x55, 0x12), car.ErrInvalidSection},
		{"unknown hash function", section(cid.NewCidV1(cid.Raw, []byte{0x99, 0x04, 0x01, 0x01, 1, 2, 3}), []byte("x")), blockstore.ErrUnsupportedHash},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := readAll(append(bytes.Clone(head), tc.sec...))
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), "section 1 at byte ") {
				t.Errorf("error %q does not say where", err)
			}
		})
	}
}

func TestHostileHeaders(t *testing.T) {
	c := rawBlock(t, []byte("x")).CID
	cidBytes := append([]byte{0x58, byte(c.ByteLen() + 1), 0}, c.Bytes()...)
	tagged := append([]byte{0xd8, 0x2a}, cidBytes...)
	withLen := func(h ...[]byte) []byte {
		b := bytes.Join(h, nil)
		return append(uvarint(uint64(len(b))), b...)
	}
	rootsKey := []byte("\x65roots")
	versionKey := []byte("\x67version")
	cases := []struct {
		name string
		data []byte
		want error
	}{
		{"empty input", nil, io.ErrUnexpectedEOF},
		{"header length only", uvarint(10), io.ErrUnexpectedEOF},
		{"huge header length", uvarint(1 << 40), car.ErrInvalidHeader},
		{"header length over 1 MiB", uvarint(car.MaxHeaderSize + 1), car.ErrInvalidHeader},
		{"varint overflow", bytes.Repeat([]byte{0x80}, 12), car.ErrInvalidHeader},
		{"zero header length", []byte{0}, car.ErrInvalidHeader},
		{"not a map", withLen([]byte{0x82, 0x01, 0x02}), car.ErrInvalidHeader},
		{"wrong version", withLen([]byte{0xa2}, rootsKey, []byte{0x81}, tagged, versionKey, []byte{0x03}), car.ErrUnsupportedVersion},
		{"version 0", withLen([]byte{0xa2}, rootsKey, []byte{0x81}, tagged, versionKey, []byte{0x00}), car.ErrUnsupportedVersion},
		{"version not an int", withLen([]byte{0xa2}, rootsKey, []byte{0x81}, tagged, versionKey, []byte{0x61, '1'}), car.ErrInvalidHeader},
		{"no version", withLen([]byte{0xa1}, rootsKey, []byte{0x81}, tagged), car.ErrInvalidHeader},
		{"no roots", withLen([]byte{0xa1}, versionKey, []byte{0x01}), car.ErrInvalidHeader},
		{"roots not CIDs", withLen([]byte{0xa2}, rootsKey, []byte{0x82, 0x01, 0x02}, versionKey, []byte{0x01}), car.ErrInvalidHeader},
		{"roots untagged bytes", withLen([]byte{0xa2}, rootsKey, []byte{0x81}, cidBytes, versionKey, []byte{0x01}), car.ErrInvalidHeader},
		{"roots not an array", withLen([]byte{0xa2}, rootsKey, tagged, versionKey, []byte{0x01}), car.ErrInvalidHeader},
		{"root without 0x00", withLen([]byte{0xa2}, rootsKey, []byte{0x81, 0xd8, 0x2a, 0x58, byte(c.ByteLen())}, c.Bytes(), versionKey, []byte{0x01}), car.ErrInvalidHeader},
		{"root garbage CID", withLen([]byte{0xa2}, rootsKey, []byte{0x81, 0xd8, 0x2a, 0x44, 0x00, 0x01, 0x55, 0x12}, versionKey, []byte{0x01}), car.ErrInvalidHeader},
		{"roots count huge", withLen([]byte{0xa2}, rootsKey, []byte{0x9b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, versionKey, []byte{0x01}), car.ErrInvalidHeader},
		{"string length huge", withLen([]byte{0xa2, 0x7b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}), car.ErrInvalidHeader},
		{"unknown key", withLen([]byte{0xa3}, rootsKey, []byte{0x81}, tagged, versionKey, []byte{0x01, 0x61, 'x', 0x01}), car.ErrInvalidHeader},
		{"duplicate key", withLen([]byte{0xa2}, versionKey, []byte{0x01}, versionKey, []byte{0x01}), car.ErrInvalidHeader},
		{"indefinite map", withLen([]byte{0xbf}, versionKey, []byte{0x01, 0xff}), car.ErrInvalidHeader},
		{"trailing bytes", withLen([]byte{0xa2}, rootsKey, []byte{0x81}, tagged, versionKey, []byte{0x01, 0x00}), car.ErrInvalidHeader},
		{"truncated map", withLen([]byte{0xa2}, rootsKey, []byte{0x81}), car.ErrInvalidHeader},
		{"CARv2 pragma only", []byte{0x0a, 0xa1, 0x67, 'v', 'e', 'r', 's', 'i', 'o', 'n', 0x02}, io.ErrUnexpectedEOF},
		{"version 2 not the pragma", withLen([]byte{0xa2}, rootsKey, []byte{0x80}, versionKey, []byte{0x02}), car.ErrInvalidHeader},
		{"CARv2 header cut short", append(pragma(), make([]byte, 39)...), io.ErrUnexpectedEOF},
		{"CARv2 data offset inside its header", v2(10, 100), car.ErrInvalidHeader},
		{"CARv2 data offset huge", v2(1<<62, 100), car.ErrInvalidHeader},
		{"CARv2 data offset past the end", v2(1<<40, 100), io.ErrUnexpectedEOF},
		{"CARv2 data size 0", v2(51, 0), io.ErrUnexpectedEOF},
		{"CARv2 payload is not v1", append(v2(51, 11), pragma()...), car.ErrUnsupportedVersion},
		{"CARv2 payload header past data size", append(v2(51, 5), withLen([]byte{0xa2}, rootsKey, []byte{0x80}, versionKey, []byte{0x01})...), io.ErrUnexpectedEOF},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := car.NewReader(bytes.NewReader(tc.data))
			if !errors.Is(err, tc.want) {
				t.Fatalf("NewReader(%x) = %v, %v; want %v", tc.data, r, err, tc.want)
			}
		})
	}

	// Accepted: keys in either order, and an empty roots list.
	for _, h := range [][]byte{
		withLen([]byte{0xa2}, versionKey, []byte{0x01}, rootsKey, []byte{0x81}, tagged),
		withLen([]byte{0xa2}, rootsKey, []byte{0x80}, versionKey, []byte{0x01}),
	} {
		if _, err := car.NewReader(bytes.NewReader(h)); err != nil {
			t.Errorf("NewReader(%x): %v", h, err)
		}
	}
}

func TestWriterRejects(t *testing.T) {
	if _, err := car.NewWriter(io.Discard, nil); err == nil {
		t.Error("NewWriter accepted no roots")
	}
	if _, err := car.NewWriter(io.Discard, []cid.Cid{cid.Undef}); err == nil {
		t.Error("NewWriter accepted an undefined root")
	}
	many := make([]cid.Cid, 40000)
	for i := range many {
		many[i] = rawBlock(t, []byte{byte(i), byte(i >> 8)}).CID
	}
	if _, err := car.NewWriter(io.Discard, many); err == nil {
		t.Error("NewWriter accepted a header over MaxHeaderSize")
	}
	w, _ := car.NewWriter(io.Discard, many[:1])
	if err := w.Put(cid.Undef, nil); err == nil {
		t.Error("Put accepted an undefined CID")
	}
	// A write error is sticky and reported.
	w, _ = car.NewWriter(failWriter{}, many[:1])
	blk := rawBlock(t, make([]byte, 300<<10))
	if err := w.Put(blk.CID, blk.Data); err == nil {
		t.Error("Put past a failing writer succeeded")
	}
	if err := w.Flush(); err == nil {
		t.Error("Flush after a write error succeeded")
	}
}

func pragma() []byte { return []byte{0x0a, 0xa1, 0x67, 'v', 'e', 'r', 's', 'i', 'o', 'n', 0x02} }

// v2 returns a CARv2 pragma and header with the given data offset and size.
func v2(offset, size uint64) []byte {
	h := make([]byte, 40)
	binary.LittleEndian.PutUint64(h[16:], offset)
	binary.LittleEndian.PutUint64(h[24:], size)
	return append(pragma(), h...)
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("broken pipe") }

func TestEmptyBlockAndHexDump(t *testing.T) {
	// An empty block is a valid section: varint(len(CID)) | CID.
	e := rawBlock(t, nil)
	data := writeCAR(t, []cid.Cid{e.CID}, e)
	_, blocks, err := readAll(data)
	if err != nil || len(blocks) != 1 || len(blocks[0].Data) != 0 {
		t.Fatalf("empty block: %v %v", blocks, err)
	}
	want := "24" + hex.EncodeToString(e.CID.Bytes())
	if got := hex.EncodeToString(data[len(data)-37:]); got != want {
		t.Fatalf("section = %s, want %s", got, want)
	}
}
