package car_test

// These tests check this package against github.com/ipld/go-car/v2, the
// reference Go implementation, used here only as an independent oracle.

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/ipfs/go-cid"
	carv2 "github.com/ipld/go-car/v2"
	"github.com/ipld/go-car/v2/storage"

	"node/blockstore"
	"node/car"
)

var update = flag.Bool("update", false, "rewrite testdata/golden.car with the reference writer")

// referenceCAR writes blocks with go-car's CARv1 writer, keeping
// duplicates and identity blocks as our Writer does.
func referenceCAR(t *testing.T, roots []cid.Cid, blocks []blockstore.Block) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := storage.NewWritable(&buf, roots, carv2.WriteAsCarV1(true), carv2.StoreIdentityCIDs(true), carv2.AllowDuplicatePuts(true))
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range blocks {
		if err := w.Put(context.Background(), b.CID.KeyString(), b.Data); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Finalize(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// fixtureBlocks is a fixed set of blocks: CIDv0 and CIDv1 dag-pb, raw,
// dag-cbor, identity, an empty block, a duplicate, and two roots.
func fixtureBlocks(t *testing.T) ([]cid.Cid, []blockstore.Block) {
	r := rand.New(rand.NewPCG(42, 42))
	leaf1 := rawBlock(t, randBytes(r, 1000))
	leaf2 := pbBlock(t, false, randBytes(r, 300))
	empty := rawBlock(t, nil)
	id := identityBlock(t, []byte("identity"))
	mid := pbBlock(t, true, nil, leaf1.CID, leaf2.CID, empty.CID)
	cb := cborBlock(t, mid.CID, id.CID)
	root := pbBlock(t, false, []byte{0x08, 0x01}, mid.CID, cb.CID)
	return []cid.Cid{root.CID, cb.CID}, []blockstore.Block{root, mid, leaf1, leaf2, empty, cb, id, leaf1}
}

func TestGoldenFixture(t *testing.T) {
	roots, blocks := fixtureBlocks(t)
	path := filepath.Join("testdata", "golden.car")
	if *update {
		if err := os.WriteFile(path, referenceCAR(t, roots, blocks), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	golden, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := writeCAR(t, roots, blocks...); !bytes.Equal(got, golden) {
		t.Fatalf("writer output differs from %s\n got %x\nwant %x", path, got, golden)
	}
	gotRoots, got, err := readAll(golden)
	if err != nil {
		t.Fatal(err)
	}
	if len(gotRoots) != 2 || !gotRoots[0].Equals(roots[0]) || !gotRoots[1].Equals(roots[1]) {
		t.Fatalf("roots = %v", gotRoots)
	}
	sameBlocks(t, got, blocks)
}

func TestWriterMatchesReference(t *testing.T) {
	for seed := range uint64(4) {
		r := rand.New(rand.NewPCG(seed, 99))
		store := blockstore.NewMemory()
		root := randomDAG(t, r, store, 300<<10, seed == 1)
		roots := []cid.Cid{root}
		var exp bytes.Buffer
		if err := car.Export(context.Background(), store.Get, roots, &exp); err != nil {
			t.Fatal(err)
		}
		_, want, err := readAll(exp.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		// The reference writer, fed the same blocks, writes the same bytes
		// as our Writer and as Export.
		ours := writeCAR(t, roots, want...)
		ref := referenceCAR(t, roots, want)
		if !bytes.Equal(ours, ref) || !bytes.Equal(exp.Bytes(), ref) {
			t.Fatalf("seed %d: %d bytes from Writer, %d from Export, %d from the reference; they differ", seed, len(ours), exp.Len(), len(ref))
		}

		// The reference reads our Export, block for block.
		br, err := carv2.NewBlockReader(bytes.NewReader(exp.Bytes()))
		if err != nil {
			t.Fatal(err)
		}
		if len(br.Roots) != 1 || !br.Roots[0].Equals(root) {
			t.Fatalf("reference reads roots %v", br.Roots)
		}
		for i := 0; ; i++ {
			b, err := br.Next()
			if errors.Is(err, io.EOF) {
				if i != len(want) {
					t.Fatalf("reference read %d blocks, we read %d", i, len(want))
				}
				break
			}
			if err != nil {
				t.Fatalf("reference reader: %v", err)
			}
			if !b.Cid().Equals(want[i].CID) || !bytes.Equal(b.RawData(), want[i].Data) {
				t.Fatalf("block %d differs", i)
			}
		}
	}
}

// TestReadCARv2 reads CARv2 files made by the reference: one wrapping our
// CARv1 and one written with padding before the payload.
func TestReadCARv2(t *testing.T) {
	roots, blocks := fixtureBlocks(t)
	v1 := writeCAR(t, roots, blocks...)

	var wrapped bytes.Buffer
	if err := carv2.WrapV1(bytes.NewReader(v1), &wrapped); err != nil {
		t.Fatal(err)
	}

	f, err := os.Create(filepath.Join(t.TempDir(), "padded.car"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, err := storage.NewWritable(f, roots, carv2.UseDataPadding(1000), carv2.StoreIdentityCIDs(true), carv2.AllowDuplicatePuts(true))
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range blocks {
		if err := w.Put(context.Background(), b.CID.KeyString(), b.Data); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Finalize(); err != nil {
		t.Fatal(err)
	}
	padded, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}

	for name, data := range map[string][]byte{"wrapped": wrapped.Bytes(), "padded": padded} {
		t.Run(name, func(t *testing.T) {
			r, err := car.NewReader(bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			if r.Version() != 2 || len(r.Roots()) != 2 {
				t.Fatalf("version %d, roots %v", r.Version(), r.Roots())
			}
			_, got, err := readAll(data)
			if err != nil {
				t.Fatal(err)
			}
			sameBlocks(t, got, blocks)

			// The v2 header gives the payload's size, so a cut at a
			// section boundary inside the payload is detected.
			dataOffset := binary.LittleEndian.Uint64(data[11+16:])
			dataSize := binary.LittleEndian.Uint64(data[11+24:])
			sec := section(blocks[len(blocks)-1].CID, blocks[len(blocks)-1].Data)
			cut := int(dataOffset+dataSize) - len(sec)
			_, _, err = readAll(data[:cut])
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("CARv2 cut at a section boundary: err = %v", err)
			}
			// The index after the payload is not read as sections.
			if len(data) <= int(dataOffset+dataSize) {
				t.Fatal("test expects an index after the payload")
			}
		})
	}
}
