package unixfs_test

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"

	"node/blockstore"
	"node/dagpb"
	"node/unixfs"
)

// sameCIDs reports whether got and want hold the same CIDs, each as often,
// in any order.
func sameCIDs(got, want []cid.Cid) bool {
	if len(got) != len(want) {
		return false
	}
	count := map[cid.Cid]int{}
	for _, c := range want {
		count[c]++
	}
	for _, c := range got {
		count[c]--
		if count[c] < 0 {
			return false
		}
	}
	return true
}

func randomBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// putPB stores a hand-made dag-pb node under its CIDv0.
func putPB(t testing.TB, store *blockstore.Memory, n *dagpb.Node) cid.Cid {
	t.Helper()
	return putBlock(t, store, cid.DagProtobuf, dagpb.Encode(n))
}

// putRaw stores a raw block under its CIDv1.
func putRaw(t testing.TB, store *blockstore.Memory, data []byte) cid.Cid {
	t.Helper()
	return putBlock(t, store, cid.Raw, data)
}

func putBlock(t testing.TB, store *blockstore.Memory, codec uint64, data []byte) cid.Cid {
	t.Helper()
	mh, err := multihash.Sum(data, multihash.SHA2_256, -1)
	if err != nil {
		t.Fatal(err)
	}
	c := cid.NewCidV1(codec, mh)
	if codec == cid.DagProtobuf {
		c = cid.NewCidV0(mh)
	}
	if err := store.Put(context.Background(), blockstore.Block{CID: c, Data: data}); err != nil {
		t.Fatal(err)
	}
	return c
}

// fileNode is a hand-made UnixFS file node.
func fileNode(data []byte, fileSize *uint64, children []cid.Cid, sizes []uint64) *dagpb.Node {
	fsd := unixfs.Data{Type: unixfs.TFile, Data: data, BlockSizes: sizes}
	if fileSize != nil {
		fsd.FileSize, fsd.HasFileSize = *fileSize, true
	}
	n := &dagpb.Node{Data: fsd.Encode()}
	for _, c := range children {
		n.Links = append(n.Links, dagpb.Link{Hash: c})
	}
	return n
}

func u64(v uint64) *uint64 { return &v }

// dirNode is a hand-made plain UnixFS directory, links in the order given.
func dirNode(links ...dagpb.Link) *dagpb.Node {
	fsd := unixfs.Data{Type: unixfs.TDirectory}
	return &dagpb.Node{Links: links, Data: fsd.Encode()}
}

func symlinkNode(target string) *dagpb.Node {
	fsd := unixfs.Data{Type: unixfs.TSymlink, Data: []byte(target)}
	return &dagpb.Node{Data: fsd.Encode()}
}

func mustGet(t testing.TB, g unixfs.Getter, c cid.Cid) *unixfs.Node {
	t.Helper()
	n, err := unixfs.Get(context.Background(), g, c)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
