package car_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"
	"github.com/multiformats/go-varint"

	"node/blockstore"
	"node/car"
	"node/dagpb"
)

func sum(t testing.TB, data []byte) multihash.Multihash {
	t.Helper()
	mh, err := multihash.Sum(data, multihash.SHA2_256, -1)
	if err != nil {
		t.Fatal(err)
	}
	return mh
}

func rawBlock(t testing.TB, data []byte) blockstore.Block {
	return blockstore.Block{CID: cid.NewCidV1(cid.Raw, sum(t, data)), Data: data}
}

// pbBlock encodes a dag-pb node, as CIDv0 or CIDv1.
func pbBlock(t testing.TB, v1 bool, data []byte, links ...cid.Cid) blockstore.Block {
	n := &dagpb.Node{Data: data}
	for i, l := range links {
		n.Links = append(n.Links, dagpb.Link{Hash: l, Name: string(rune('a' + i%26)), Tsize: uint64(i)})
	}
	b := dagpb.Encode(n)
	if v1 {
		return blockstore.Block{CID: cid.NewCidV1(cid.DagProtobuf, sum(t, b)), Data: b}
	}
	return blockstore.Block{CID: cid.NewCidV0(sum(t, b)), Data: b}
}

// cborBlock is a dag-cbor map {"l": [links...]} with each link as tag 42.
func cborBlock(t testing.TB, links ...cid.Cid) blockstore.Block {
	b := []byte{0xa1, 0x61, 'l', 0x80 | byte(len(links))}
	for _, l := range links {
		raw := append([]byte{0}, l.Bytes()...)
		b = append(b, 0xd8, 42, 0x58, byte(len(raw)))
		b = append(b, raw...)
	}
	return blockstore.Block{CID: cid.NewCidV1(cid.DagCBOR, sum(t, b)), Data: b}
}

func identityBlock(t testing.TB, data []byte) blockstore.Block {
	mh, err := multihash.Sum(data, multihash.IDENTITY, -1)
	if err != nil {
		t.Fatal(err)
	}
	return blockstore.Block{CID: cid.NewCidV1(cid.Raw, mh), Data: data}
}

func randBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// randomDAG builds a random DAG of dag-pb nodes (CIDv0 and CIDv1) over raw
// and dag-pb leaves, with shared subtrees, and stores it. Leaves are up to
// maxLeaf bytes; one leaf of exactly blockstore.MaxBlockSize is included
// when big is set.
func randomDAG(t testing.TB, r *rand.Rand, store blockstore.Store, maxLeaf int, big bool) cid.Cid {
	ctx := context.Background()
	put := func(b blockstore.Block) cid.Cid {
		if err := store.Put(ctx, b); err != nil {
			t.Fatal(err)
		}
		return b.CID
	}
	var pool []cid.Cid // earlier nodes, for sharing
	var build func(depth int) cid.Cid
	build = func(depth int) cid.Cid {
		if len(pool) > 0 && r.IntN(6) == 0 {
			return pool[r.IntN(len(pool))]
		}
		var c cid.Cid
		if depth == 0 || r.IntN(4) == 0 {
			data := randBytes(r, r.IntN(maxLeaf+1))
			if r.IntN(2) == 0 {
				c = put(rawBlock(t, data))
			} else {
				c = put(pbBlock(t, r.IntN(2) == 0, data))
			}
		} else {
			links := make([]cid.Cid, 1+r.IntN(5))
			for i := range links {
				links[i] = build(depth - 1)
			}
			c = put(pbBlock(t, r.IntN(2) == 0, nil, links...))
		}
		pool = append(pool, c)
		return c
	}
	var kids []cid.Cid
	for range 3 {
		kids = append(kids, build(4))
	}
	if big {
		kids = append(kids, put(rawBlock(t, randBytes(r, blockstore.MaxBlockSize))))
	}
	return put(pbBlock(t, false, []byte("root"), kids...))
}

// writeCAR writes blocks with our Writer.
func writeCAR(t testing.TB, roots []cid.Cid, blocks ...blockstore.Block) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := car.NewWriter(&buf, roots)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range blocks {
		if err := w.Put(b.CID, b.Data); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// readAll reads every block; it returns the blocks read before an error.
func readAll(data []byte) (roots []cid.Cid, blocks []blockstore.Block, err error) {
	r, err := car.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, nil, err
	}
	for {
		b, err := r.Next()
		if errors.Is(err, io.EOF) {
			return r.Roots(), blocks, nil
		}
		if err != nil {
			return r.Roots(), blocks, err
		}
		blocks = append(blocks, b)
	}
}

func uvarint(n uint64) []byte { return varint.ToUvarint(n) }

// section builds raw section bytes for c and data.
func section(c cid.Cid, data []byte) []byte {
	b := uvarint(uint64(c.ByteLen() + len(data)))
	b = append(b, c.Bytes()...)
	return append(b, data...)
}

func sameBlocks(t testing.TB, got, want []blockstore.Block) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d blocks, want %d", len(got), len(want))
	}
	for i := range got {
		if !got[i].CID.Equals(want[i].CID) || !bytes.Equal(got[i].Data, want[i].Data) {
			t.Fatalf("block %d: got %s (%d bytes), want %s (%d bytes)", i, got[i].CID, len(got[i].Data), want[i].CID, len(want[i].Data))
		}
	}
}
