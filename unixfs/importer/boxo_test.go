package importer

// These tests prove that our importer gives exactly the CIDs of the
// reference implementation, using boxo's importer as an independent
// reference (boxo is imported only by tests).

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	chunker "github.com/ipfs/boxo/chunker"
	"github.com/ipfs/boxo/ipld/merkledag"
	mdtest "github.com/ipfs/boxo/ipld/merkledag/test"
	ft "github.com/ipfs/boxo/ipld/unixfs"
	"github.com/ipfs/boxo/ipld/unixfs/importer/balanced"
	"github.com/ipfs/boxo/ipld/unixfs/importer/helpers"
	uio "github.com/ipfs/boxo/ipld/unixfs/io"
	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"
	"github.com/multiformats/go-multihash"

	"node/blockstore"
)

// variants are the option sets the CLI can produce.
func variants() map[string]Options {
	v0 := DefaultOptions()
	v0raw := DefaultOptions()
	v0raw.RawLeaves = true
	v1 := DefaultOptions()
	v1.CIDVersion, v1.RawLeaves = 1, true
	v1pb := DefaultOptions()
	v1pb.CIDVersion = 1
	b3 := v1
	b3.HashFunction = multihash.BLAKE3
	return map[string]Options{"v0": v0, "v0-raw": v0raw, "v1": v1, "v1-pbleaves": v1pb, "v1-blake3": b3}
}

func boxoPrefix(t testing.TB, o Options) cid.Prefix {
	p, err := merkledag.PrefixForCidVersion(o.CIDVersion)
	if err != nil {
		t.Fatal(err)
	}
	p.MhType = o.HashFunction
	p.MhLength = -1
	return p
}

func boxoFile(t testing.TB, ds ipld.DAGService, data []byte, o Options) ipld.Node {
	t.Helper()
	params := helpers.DagBuilderParams{
		Dagserv:    ds,
		Maxlinks:   o.MaxLinks,
		RawLeaves:  o.RawLeaves,
		CidBuilder: boxoPrefix(t, o),
	}
	db, err := params.New(chunker.NewSizeSplitter(bytes.NewReader(data), int64(o.ChunkSize)))
	if err != nil {
		t.Fatal(err)
	}
	nd, err := balanced.Layout(db)
	if err != nil {
		t.Fatal(err)
	}
	return nd
}

func ourFile(t testing.TB, store *blockstore.Memory, data []byte, o Options) Node {
	t.Helper()
	im, err := New(context.Background(), o, store)
	if err != nil {
		t.Fatal(err)
	}
	n, err := im.AddFile(context.Background(), bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if err := im.Close(); err != nil {
		t.Fatal(err)
	}
	return n
}

func randomBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 0))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// TestFilesMatchReference covers sizes around the chunk boundary and the
// 174-link boundaries of the first two tree levels, with a small chunk
// size so that three-level trees stay cheap, plus random sizes.
func TestFilesMatchReference(t *testing.T) {
	const chunk = 64
	sizes := []int{0, 1, 63, 64, 65, 128, 174 * 64, 174*64 - 1, 174*64 + 1, 175 * 64, 174 * 174 * 64, 174*174*64 + 1, 174*174*64 + 65}
	r := rand.New(rand.NewPCG(1, 2))
	for range 6 {
		sizes = append(sizes, r.IntN(200*174*64))
	}
	for name, o := range variants() {
		o.ChunkSize = chunk
		for _, size := range sizes {
			t.Run(fmt.Sprintf("%s/%d", name, size), func(t *testing.T) {
				data := randomBytes(uint64(size), size)
				want := boxoFile(t, mdtest.Mock(), data, o)
				got := ourFile(t, blockstore.NewMemory(), data, o)
				if got.CID != want.Cid() {
					t.Fatalf("CID %s, reference %s", got.CID, want.Cid())
				}
				wantSize, err := want.Size()
				if err != nil {
					t.Fatal(err)
				}
				if got.Tsize != wantSize {
					t.Fatalf("Tsize %d, reference %d", got.Tsize, wantSize)
				}
			})
		}
	}
}

// TestDefaultChunkSize checks the real default sizes around 256 KiB.
func TestDefaultChunkSize(t *testing.T) {
	for name, o := range variants() {
		for _, size := range []int{DefaultChunkSize - 1, DefaultChunkSize, DefaultChunkSize + 1, 3*DefaultChunkSize + 7} {
			t.Run(fmt.Sprintf("%s/%d", name, size), func(t *testing.T) {
				data := randomBytes(uint64(size)+7, size)
				want := boxoFile(t, mdtest.Mock(), data, o)
				if got := ourFile(t, blockstore.NewMemory(), data, o); got.CID != want.Cid() {
					t.Fatalf("CID %s, reference %s", got.CID, want.Cid())
				}
			})
		}
	}
}

// dirSpec is a directory of small files named by the given names.
func buildBoth(t *testing.T, o Options, names []string) (ours, ref cid.Cid) {
	t.Helper()
	ctx := context.Background()
	ds := mdtest.Mock()
	dir, err := uio.NewDirectory(ds)
	if err != nil {
		t.Fatal(err)
	}
	dir.SetCidBuilder(boxoPrefix(t, o))

	store := blockstore.NewMemory()
	im, err := New(ctx, o, store)
	if err != nil {
		t.Fatal(err)
	}
	var entries []Entry
	for i, name := range names {
		data := []byte(fmt.Sprintf("content of %d", i))
		nd := boxoFile(t, ds, data, o)
		if err := ds.Add(ctx, nd); err != nil {
			t.Fatal(err)
		}
		if err := dir.AddChild(ctx, name, nd); err != nil {
			t.Fatal(err)
		}
		n, err := im.AddFile(ctx, bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, Entry{Name: name, Node: n})
	}
	root, err := im.AddDirectory(entries)
	if err != nil {
		t.Fatal(err)
	}
	if err := im.Close(); err != nil {
		t.Fatal(err)
	}
	refNode, err := dir.GetNode()
	if err != nil {
		t.Fatal(err)
	}
	return root.CID, refNode.Cid()
}

func TestDirectoriesMatchReference(t *testing.T) {
	cases := map[string][]string{
		"empty":     nil,
		"names":     {"b.txt", "a file with spaces", "ünïcödé ☃.md", "Z", "a", "0", "~tilde", "日本語"},
		"unsorted":  {"zz", "aa", "mm", "a", "zzz"},
		"one-entry": {"only"},
	}
	for name, o := range variants() {
		for cname, names := range cases {
			t.Run(name+"/"+cname, func(t *testing.T) {
				ours, ref := buildBoth(t, o, names)
				if ours != ref {
					t.Fatalf("CID %s, reference %s", ours, ref)
				}
			})
		}
	}
}

// TestHAMTThreshold builds directories just under, at and over the
// sharding threshold, and a large one whose shards nest.
func TestHAMTThreshold(t *testing.T) {
	for _, o := range []Options{variants()["v0"], variants()["v1"]} {
		// Every file CID has the same byte length within one variant.
		store := blockstore.NewMemory()
		cidLen := ourFile(t, store, []byte("x"), o).CID.ByteLen()
		// names of 30 bytes: each link is estimated at 30+cidLen.
		per := 30 + cidLen
		full := DefaultHAMTThreshold / per
		for _, extra := range []int{-1, 0, 1, 2, 3000} {
			count := full + extra
			names := make([]string, count)
			for i := range names {
				names[i] = fmt.Sprintf("entry-%024d", i)
			}
			// Pad the last name so that the estimate lands exactly on the
			// threshold for extra == 0.
			if extra == 0 {
				rest := DefaultHAMTThreshold - (count-1)*per - cidLen
				names[count-1] = fmt.Sprintf("%0*d", rest, 1)
			}
			t.Run(fmt.Sprintf("v%d/%+d", o.CIDVersion, extra), func(t *testing.T) {
				ours, ref := buildBoth(t, o, names)
				if ours != ref {
					t.Fatalf("CID %s, reference %s", ours, ref)
				}
			})
		}
	}
}

func TestSymlinkMatchesReference(t *testing.T) {
	for name, o := range variants() {
		t.Run(name, func(t *testing.T) {
			data, err := ft.SymlinkData("../target/ü file")
			if err != nil {
				t.Fatal(err)
			}
			nd := merkledag.NodeWithData(data)
			nd.SetCidBuilder(boxoPrefix(t, o))
			im, err := New(context.Background(), o, blockstore.NewMemory())
			if err != nil {
				t.Fatal(err)
			}
			n, err := im.AddSymlink("../target/ü file")
			if err != nil {
				t.Fatal(err)
			}
			if n.CID != nd.Cid() {
				t.Fatalf("CID %s, reference %s", n.CID, nd.Cid())
			}
		})
	}
}
