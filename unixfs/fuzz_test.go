package unixfs_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"

	"node/blockstore"
	"node/dagpb"
	"node/internal/testutil"
	"node/unixfs"
	"node/unixfs/importer"
)

// fuzzSeeds are real blocks from the importer: leaves, a file node, a
// directory, a HAMT shard and a symlink.
func fuzzSeeds(f testing.TB) [][]byte {
	ctx := context.Background()
	store := blockstore.NewMemory()
	o := importer.DefaultOptions()
	o.ChunkSize, o.HAMTThreshold = 10, 100
	im, err := importer.New(ctx, o, store)
	if err != nil {
		f.Fatal(err)
	}
	var entries []importer.Entry
	for i, s := range []string{"", "short", "a bit more than ten bytes of text"} {
		n, err := im.AddFile(ctx, bytes.NewReader([]byte(s)))
		if err != nil {
			f.Fatal(err)
		}
		entries = append(entries, importer.Entry{Name: string(rune('a' + i)), Node: n})
	}
	small, err := im.AddDirectory(entries[:2])
	if err != nil {
		f.Fatal(err)
	}
	for i := range 8 {
		entries = append(entries, importer.Entry{Name: "entry with a long name " + string(rune('A'+i)), Node: small})
	}
	if _, err := im.AddDirectory(entries); err != nil {
		f.Fatal(err)
	}
	if _, err := im.AddSymlink("../target"); err != nil {
		f.Fatal(err)
	}
	if err := im.Close(); err != nil {
		f.Fatal(err)
	}
	var seeds [][]byte
	store.Keys(ctx, func(mh multihash.Multihash) error {
		b, err := store.Get(ctx, blockstore.CIDOf(mh))
		seeds = append(seeds, b)
		return err
	})
	return seeds
}

// FuzzNode decodes arbitrary bytes as a dag-pb UnixFS block and uses it
// with a store holding only that block: reading a file or listing a
// directory must not panic, must fetch each link at most once, and what a
// read returns must agree with the node's own size.
func FuzzNode(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s, uint32(3), uint32(20))
	}
	f.Fuzz(func(t *testing.T, block []byte, start, length uint32) {
		ctx := context.Background()
		mh, _ := multihash.Sum(block, multihash.SHA2_256, -1)
		c := cid.NewCidV0(mh)
		n, err := unixfs.Decode(c, block)
		if err != nil {
			if !errors.Is(err, dagpb.ErrInvalid) && !errors.Is(err, unixfs.ErrInvalid) {
				t.Fatalf("decode error %v wraps neither ErrInvalid", err)
			}
			return
		}
		store := blockstore.NewMemory()
		if err := store.Put(ctx, blockstore.Block{CID: c, Data: block}); err != nil {
			return // too large for a block
		}
		cg := testutil.NewCountingGetter(store)

		switch {
		case n.IsFile():
			var full []byte
			err := unixfs.ReadRange(ctx, cg, n, 0, n.FileSize(), func(b []byte) error {
				full = append(full, b...)
				return nil
			})
			if fetched := len(cg.Take()); fetched > len(n.Links) {
				t.Fatalf("read fetched %d blocks for %d links", fetched, len(n.Links))
			}
			if err != nil {
				return
			}
			if uint64(len(full)) != n.FileSize() {
				t.Fatalf("read %d bytes of a file that says it holds %d", len(full), n.FileSize())
			}
			lo, hi := uint64(start), uint64(start)+uint64(length)
			var part []byte
			if err := unixfs.ReadRange(ctx, cg, n, lo, hi, func(b []byte) error {
				part = append(part, b...)
				return nil
			}); err != nil {
				t.Fatalf("a range failed where the whole file read: %v", err)
			}
			want := full[min(lo, uint64(len(full))):min(hi, uint64(len(full)))]
			if !bytes.Equal(part, want) {
				t.Fatalf("range [%d,%d) = %q, want %q", lo, hi, part, want)
			}
			file, err := unixfs.NewFile(ctx, cg, n)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(file)
			file.Close()
			if err != nil || !bytes.Equal(got, full) {
				t.Fatalf("File read %q, %v; want %q", got, err, full)
			}
		case n.IsDir():
			list, err := unixfs.List(ctx, cg, n)
			if fetched := len(cg.Take()); fetched > len(n.Links) {
				t.Fatalf("List fetched %d blocks for %d links", fetched, len(n.Links))
			}
			if n.FS.Type == unixfs.TDirectory {
				if err != nil || len(list) != len(n.Links) {
					t.Fatalf("List of a plain directory = %d entries, %v; want %d", len(list), err, len(n.Links))
				}
				for i, e := range list {
					if e.Name != n.Links[i].Name || !e.CID.Equals(n.Links[i].Hash) {
						t.Fatalf("entry %d = %+v, want link %+v", i, e, n.Links[i])
					}
				}
			}
			for _, e := range list {
				unixfs.Lookup(ctx, cg, n, e.Name)
				if fetched := len(cg.Take()); fetched > len(n.Links) {
					t.Fatalf("Lookup fetched %d blocks for %d links", fetched, len(n.Links))
				}
			}
			if n.FS.Type == unixfs.TDirectory && len(list) > 0 {
				e, err := unixfs.Lookup(ctx, cg, n, list[0].Name)
				if err != nil || !e.CID.Equals(list[0].CID) {
					t.Fatalf("Lookup(%q) = %+v, %v; want the first entry %+v", list[0].Name, e, err, list[0])
				}
			}
		}
	})
}
