package fuse

import (
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"

	"node/blockstore"
	"node/dagpb"
	"node/unixfs"
)

// FuzzDirectoryListing feeds arbitrary blocks, as a directory the network
// sent, to what the mount shows: whatever the block, every name shown is
// a valid, unique path component, and nothing panics.
func FuzzDirectoryListing(f *testing.F) {
	file := cid.NewCidV1(cid.Raw, mustHash([]byte("x")))
	dir := (&unixfs.Data{Type: unixfs.TDirectory}).Encode()
	shard := (&unixfs.Data{Type: unixfs.THAMTShard, Fanout: 256, HasFanout: true, HashType: unixfs.HashMurmur3, HasHashType: true}).Encode()
	f.Add(dagpb.Encode(&dagpb.Node{Data: dir, Links: []dagpb.Link{{Name: "a", Hash: file}, {Name: "..", Hash: file}, {Name: "a/b", Hash: file}}}))
	f.Add(dagpb.Encode(&dagpb.Node{Data: dir, Links: []dagpb.Link{{Name: "", Hash: file}, {Name: "a", Hash: file}, {Name: "a", Hash: file}}}))
	f.Add(dagpb.Encode(&dagpb.Node{Data: shard, Links: []dagpb.Link{{Name: "00a", Hash: file}, {Name: "FF..", Hash: file}, {Name: "01", Hash: file}}}))
	f.Add(dagpb.Encode(&dagpb.Node{Data: (&unixfs.Data{Type: unixfs.TSymlink, Data: []byte("../../etc")}).Encode()}))
	f.Add([]byte{})
	store := blockstore.NewMemory()
	fsys := newMountFS(Config{Blocks: store}.withDefaults())
	f.Fuzz(func(t *testing.T, block []byte) {
		c := cid.NewCidV0(mustHash(block))
		n, err := unixfs.Decode(c, block)
		if err != nil {
			return
		}
		m, err := metaOf(n, len(block))
		if err != nil || m.kind != kindDir {
			return
		}
		entries, _, err := visibleEntries(ctx, fsys.g, m.dir)
		if err != nil {
			return // a HAMT whose shards are not here
		}
		seen := map[string]bool{}
		for _, e := range entries {
			if !validName(e.Name) || seen[e.Name] {
				t.Fatalf("shown name %q", e.Name)
			}
			seen[e.Name] = true
			if _, err := m.lookup(ctx, fsys.g, e.Name); err != nil && m.dir.FS.Type == unixfs.TDirectory {
				t.Fatalf("%q is listed but not found: %v", e.Name, err)
			}
		}
	})
}

// FuzzDecodeMtime: any bytes decode to a valid time or are refused.
func FuzzDecodeMtime(f *testing.F) {
	f.Add(encodeMtime(1700000000, 5, true))
	f.Add(encodeMtime(-1, 0, false))
	f.Add([]byte{0x15, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		tm, ok := decodeMtime(b)
		if ok && tm.Nanosecond() >= 1e9 {
			t.Fatalf("decoded %v", tm)
		}
		if !ok && !tm.IsZero() {
			t.Fatalf("refused but returned %v", tm)
		}
	})
}

func mustHash(b []byte) multihash.Multihash {
	mh, err := multihash.Sum(b, multihash.SHA2_256, -1)
	if err != nil {
		panic(err)
	}
	return mh
}
