package unixfs_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"

	"node/blockstore"
	"node/dagpb"
	"node/internal/testutil"
	"node/unixfs"
	"node/unixfs/importer"
)

const (
	emptyDirCID  = "QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn"
	emptyFileCID = "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH"
)

// treeEntry is one thing makeTree creates: a file (content), a symlink
// (target) or a directory.
type treeEntry struct {
	path    string // slash-separated, relative
	content []byte
	target  string
	dir     bool
}

func (e treeEntry) hidden() bool {
	for _, seg := range strings.Split(e.path, "/") {
		if strings.HasPrefix(seg, ".") {
			return true
		}
	}
	return false
}

// makeTree writes a directory tree on disk and returns its root and what it holds.
func makeTree(t *testing.T) (string, []treeEntry) {
	t.Helper()
	root := filepath.Join(t.TempDir(), "tree")
	entries := []treeEntry{
		{path: "a.txt", content: []byte("hello\n")},
		{path: "with space.txt", content: randomBytes(1, 5000)},
		{path: "ünïcødé 文件.bin", content: randomBytes(2, 300_000)}, // two default chunks
		{path: "empty.txt", content: []byte{}},
		{path: "emptydir", dir: true},
		{path: "sub", dir: true},
		{path: "sub/nested", dir: true},
		{path: "sub/nested/deep.bin", content: randomBytes(3, 1000)},
		{path: "sub/file", content: []byte("x")},
		{path: "sub/abs-link", target: "/nonexistent/target"},
		{path: "sub/.dotfile", content: []byte("dot")},
		{path: "link", target: "a.txt"},
		{path: ".hidden", content: []byte("h")},
		{path: ".hiddendir", dir: true},
		{path: ".hiddendir/inside.txt", content: []byte("i")},
	}
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		p := filepath.Join(root, filepath.FromSlash(e.path))
		var err error
		switch {
		case e.dir:
			err = os.Mkdir(p, 0o755)
		case e.target != "":
			err = os.Symlink(e.target, p)
		default:
			err = os.WriteFile(p, e.content, 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return root, entries
}

func addPath(t *testing.T, store *blockstore.Memory, path string, wo importer.WalkOptions) cid.Cid {
	t.Helper()
	im, err := importer.New(context.Background(), importer.DefaultOptions(), store)
	if err != nil {
		t.Fatal(err)
	}
	n, err := im.AddPath(context.Background(), path, wo)
	if err != nil {
		t.Fatal(err)
	}
	if err := im.Close(); err != nil {
		t.Fatal(err)
	}
	return n.CID
}

func fileContent(t *testing.T, g unixfs.Getter, n *unixfs.Node) []byte {
	t.Helper()
	f, err := unixfs.NewFile(context.Background(), g, n)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// dagBytes sums the block sizes of a DAG, independently of the importer's Tsize.
func dagBytes(t *testing.T, store *blockstore.Memory, c cid.Cid) uint64 {
	b, err := store.Get(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	total := uint64(len(b))
	if c.Type() == cid.Raw {
		return total
	}
	n, err := dagpb.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range n.Links {
		total += dagBytes(t, store, l.Hash)
	}
	return total
}

func TestImportedTree(t *testing.T) {
	ctx := context.Background()
	dir, entries := makeTree(t)
	for _, hidden := range []bool{false, true} {
		t.Run(fmt.Sprintf("hidden=%v", hidden), func(t *testing.T) {
			store := blockstore.NewMemory()
			root := addPath(t, store, dir, importer.WalkOptions{Recursive: true, Hidden: hidden})

			// Every directory lists exactly the entries on disk, sorted.
			want := map[string][]string{"": nil}
			for _, e := range entries {
				if e.hidden() && !hidden {
					continue
				}
				parent, name := "", e.path
				if i := strings.LastIndex(e.path, "/"); i >= 0 {
					parent, name = e.path[:i], e.path[i+1:]
				}
				want[parent] = append(want[parent], name)
				if e.dir {
					want[e.path] = append(want[e.path], []string{}...)
				}
			}
			for d, names := range want {
				n, err := unixfs.Resolve(ctx, store, root, splitPath(d))
				if err != nil {
					t.Fatalf("Resolve(%q): %v", d, err)
				}
				list, err := unixfs.List(ctx, store, n)
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, e := range list {
					got = append(got, e.Name)
				}
				slices.Sort(names)
				if !slices.Equal(got, names) {
					t.Errorf("List(%q) = %q, want %q", d, got, names)
				}
			}

			for _, e := range entries {
				n, err := unixfs.Resolve(ctx, store, root, splitPath(e.path))
				if e.hidden() && !hidden {
					if !errors.Is(err, unixfs.ErrNoLink) {
						t.Errorf("Resolve(%q) of a skipped hidden entry: %v, want ErrNoLink", e.path, err)
					}
					continue
				}
				if err != nil {
					t.Fatalf("Resolve(%q): %v", e.path, err)
				}
				switch {
				case e.dir:
					if !n.IsDir() || n.FS.Type != unixfs.TDirectory {
						t.Errorf("%s is a %s, want a directory", e.path, n.FS.Type)
					}
				case e.target != "":
					if n.FS.Type != unixfs.TSymlink || string(n.FS.Data) != e.target {
						t.Errorf("%s: %s to %q, want a symlink to %q", e.path, n.FS.Type, n.FS.Data, e.target)
					}
				default:
					if !n.IsFile() {
						t.Fatalf("%s is a %s", e.path, n.FS.Type)
					}
					if got := fileContent(t, store, n); !bytes.Equal(got, e.content) {
						t.Errorf("%s: read %d bytes differing from the %d on disk", e.path, len(got), len(e.content))
					}
				}
			}

			// The well-known empty nodes.
			if n, _ := unixfs.Resolve(ctx, store, root, []string{"emptydir"}); n.CID.String() != emptyDirCID {
				t.Errorf("empty directory is %s, want %s", n.CID, emptyDirCID)
			}
			if n, _ := unixfs.Resolve(ctx, store, root, []string{"empty.txt"}); n.CID.String() != emptyFileCID {
				t.Errorf("empty file is %s, want %s", n.CID, emptyFileCID)
			}

			// Tsize of each entry is the bytes of the DAG under it.
			rn := mustGet(t, store, root)
			for _, name := range []string{"a.txt", "ünïcødé 文件.bin", "sub"} {
				e, err := unixfs.Lookup(ctx, store, rn, name)
				if err != nil {
					t.Fatal(err)
				}
				if want := dagBytes(t, store, e.CID); e.Tsize != want {
					t.Errorf("%s: Tsize %d, want %d", name, e.Tsize, want)
				}
			}

			// Errors a caller can act on.
			if _, err := unixfs.Resolve(ctx, store, root, []string{"nope"}); !errors.Is(err, unixfs.ErrNoLink) {
				t.Errorf("Resolve(nope): %v, want ErrNoLink", err)
			}
			if _, err := unixfs.Resolve(ctx, store, root, []string{"sub", "nested", "nope"}); !errors.Is(err, unixfs.ErrNoLink) {
				t.Errorf("Resolve(sub/nested/nope): %v, want ErrNoLink", err)
			}
			if _, err := unixfs.Resolve(ctx, store, root, []string{"a.txt", "x"}); !errors.Is(err, unixfs.ErrNotDir) {
				t.Errorf("Resolve(a.txt/x): %v, want ErrNotDir", err)
			}
			file, _ := unixfs.Resolve(ctx, store, root, []string{"a.txt"})
			if _, err := unixfs.List(ctx, store, file); !errors.Is(err, unixfs.ErrNotDir) {
				t.Errorf("List(a.txt): %v, want ErrNotDir", err)
			}
			if _, err := unixfs.Lookup(ctx, store, file, "x"); !errors.Is(err, unixfs.ErrNotDir) {
				t.Errorf("Lookup in a.txt: %v, want ErrNotDir", err)
			}
		})
	}
}

func splitPath(p string) []string {
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

// hamtInfo is what an independent walk of a HAMT finds.
type hamtInfo struct {
	path     map[string][]cid.Cid // entry name -> the shards below the root on its way
	entries  map[string]cid.Cid
	count    map[string]int
	shards   map[cid.Cid]bool
	maxDepth int // shard levels, the root counting as 1
}

// walkHAMT decodes a HAMT with dagpb alone: a link named by its two hex
// digits only is a child shard (fanout 256).
func walkHAMT(t *testing.T, store *blockstore.Memory, c cid.Cid, above []cid.Cid, info *hamtInfo) {
	n := decodePB(t, store, c)
	info.shards[c] = true
	info.maxDepth = max(info.maxDepth, len(above)+1)
	for _, l := range n.Links {
		if len(l.Name) == 2 {
			walkHAMT(t, store, l.Hash, append(slices.Clone(above), l.Hash), info)
			continue
		}
		name := l.Name[2:]
		info.path[name] = above
		info.entries[name] = l.Hash
		info.count[name]++
	}
}

func TestHAMTDirectory(t *testing.T) {
	ctx := context.Background()
	store := blockstore.NewMemory()
	im, err := importer.New(ctx, importer.DefaultOptions(), store)
	if err != nil {
		t.Fatal(err)
	}
	var files []importer.Node
	for i := range 3 {
		n, err := im.AddFile(ctx, bytes.NewReader([]byte(fmt.Sprintf("file %d\n", i))))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, n)
	}
	const count = 12000
	entries := make([]importer.Entry, count)
	want := map[string]cid.Cid{}
	for i := range entries {
		name := fmt.Sprintf("entry-%05d", i)
		if i%7 == 0 {
			name += " ✓ ü"
		}
		entries[i] = importer.Entry{Name: name, Node: files[i%3]}
		want[name] = files[i%3].CID
	}
	dir, err := im.AddDirectory(entries)
	if err != nil {
		t.Fatal(err)
	}
	if err := im.Close(); err != nil {
		t.Fatal(err)
	}

	root := mustGet(t, store, dir.CID)
	if root.FS.Type != unixfs.THAMTShard {
		t.Fatalf("a %d-entry directory is a %s, want a HAMT shard", count, root.FS.Type)
	}
	info := &hamtInfo{path: map[string][]cid.Cid{}, entries: map[string]cid.Cid{}, count: map[string]int{}, shards: map[cid.Cid]bool{}}
	walkHAMT(t, store, dir.CID, nil, info)
	if info.maxDepth < 3 {
		t.Fatalf("the HAMT has %d levels, want nested shards (at least 3)", info.maxDepth)
	}
	if len(info.entries) != count {
		t.Fatalf("the independent walk found %d entries, want %d", len(info.entries), count)
	}

	// List: every name once, with its CID.
	list, err := unixfs.List(ctx, store, root)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != count {
		t.Fatalf("List returned %d entries, want %d", len(list), count)
	}
	seen := map[string]bool{}
	for _, e := range list {
		if seen[e.Name] {
			t.Fatalf("List returned %q twice", e.Name)
		}
		seen[e.Name] = true
		if c, ok := want[e.Name]; !ok || !c.Equals(e.CID) {
			t.Fatalf("List returned %q -> %s, want %s (present %v)", e.Name, e.CID, c, ok)
		}
	}

	// Lookup: finds names, fetching only the shards on their path.
	cg := testutil.NewCountingGetter(store)
	r := rand.New(rand.NewPCG(1, 2))
	for range 300 {
		name := entries[r.IntN(count)].Name
		e, err := unixfs.Lookup(ctx, cg, root, name)
		if err != nil {
			t.Fatalf("Lookup(%q): %v", name, err)
		}
		if e.Name != name || !e.CID.Equals(want[name]) {
			t.Fatalf("Lookup(%q) = %+v, want CID %s", name, e, want[name])
		}
		if fetched := cg.Take(); !slices.EqualFunc(fetched, info.path[name], cid.Cid.Equals) {
			t.Fatalf("Lookup(%q) fetched %v, want exactly its path %v", name, fetched, info.path[name])
		}
	}
	for _, name := range []string{"missing", "entry-99999", "", "entry-00001/x"} {
		_, err := unixfs.Lookup(ctx, cg, root, name)
		if !errors.Is(err, unixfs.ErrNoLink) {
			t.Fatalf("Lookup(%q): %v, want ErrNoLink", name, err)
		}
		fetched := cg.Take()
		if len(fetched) >= info.maxDepth {
			t.Fatalf("Lookup(%q) fetched %d blocks in a %d-level HAMT", name, len(fetched), info.maxDepth)
		}
		for _, c := range fetched {
			if !info.shards[c] {
				t.Fatalf("Lookup(%q) fetched %s, which is not a shard", name, c)
			}
		}
	}

	// Resolve goes through the HAMT to the file.
	n, err := unixfs.Resolve(ctx, store, dir.CID, []string{"entry-00007 ✓ ü"})
	if err != nil {
		t.Fatal(err)
	}
	if got := fileContent(t, store, n); string(got) != "file 1\n" {
		t.Fatalf("entry-00007 holds %q", got)
	}
}

// hamtNode is a hand-made HAMT shard.
func hamtNode(fanout uint64, links ...dagpb.Link) *dagpb.Node {
	fsd := unixfs.Data{
		Type: unixfs.THAMTShard, Data: []byte{0xff},
		HashType: unixfs.HashMurmur3, HasHashType: true,
		Fanout: fanout, HasFanout: true,
	}
	return &dagpb.Node{Links: links, Data: fsd.Encode()}
}

// TestHAMTSharedShards: a hostile HAMT linking one shard from two slots at
// each of 20 levels (2^20 paths) is refused after a few fetches instead of
// being listed a million times.
func TestHAMTSharedShards(t *testing.T) {
	ctx := context.Background()
	store := blockstore.NewMemory()
	file := leafOf(t, store, "f")
	level := putPB(t, store, hamtNode(2, dagpb.Link{Hash: file, Name: "0name"}))
	for range 20 {
		level = putPB(t, store, hamtNode(2, dagpb.Link{Hash: level, Name: "0"}, dagpb.Link{Hash: level, Name: "1"}))
	}
	cg := testutil.NewCountingGetter(store)
	root := mustGet(t, cg, level)
	listed := 0
	err := unixfs.Each(ctx, cg, root, func(unixfs.DirEntry) error { listed++; return nil })
	if !errors.Is(err, unixfs.ErrInvalid) {
		t.Fatalf("Each: %v after %d entries, want ErrInvalid", err, listed)
	}
	if n := len(cg.Take()); n > 25 {
		t.Fatalf("fetched %d blocks, want at most 25", n)
	}

	// The same name in two distinct shards is listed twice: Extract and
	// other consumers must catch it (see TestExtractHostile).
	a := putPB(t, store, hamtNode(256, dagpb.Link{Hash: file, Name: "00dup"}))
	b := putPB(t, store, hamtNode(256, dagpb.Link{Hash: file, Name: "01dup"}))
	two := mustGet(t, store, putPB(t, store, hamtNode(256, dagpb.Link{Hash: a, Name: "00"}, dagpb.Link{Hash: b, Name: "01"})))
	list, err := unixfs.List(ctx, store, two)
	if err != nil || len(list) != 2 || list[0].Name != "dup" || list[1].Name != "dup" {
		t.Fatalf("List = %+v, %v", list, err)
	}
}

func TestHAMTMalformed(t *testing.T) {
	ctx := context.Background()
	store := blockstore.NewMemory()
	file := leafOf(t, store, "f")
	for _, tc := range []struct {
		name string
		node *dagpb.Node
	}{
		{"link name shorter than the prefix", hamtNode(256, dagpb.Link{Hash: file, Name: "0"})},
		{"child shard is a file", hamtNode(256, dagpb.Link{Hash: file, Name: "00"})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := mustGet(t, store, putPB(t, store, tc.node))
			if _, err := unixfs.List(ctx, store, n); !errors.Is(err, unixfs.ErrInvalid) {
				t.Fatalf("List: %v, want ErrInvalid", err)
			}
		})
	}
	for _, tc := range []struct {
		name string
		fsd  unixfs.Data
	}{
		{"fanout not a power of two", unixfs.Data{Type: unixfs.THAMTShard, HashType: unixfs.HashMurmur3, HasHashType: true, Fanout: 100, HasFanout: true}},
		{"fanout missing", unixfs.Data{Type: unixfs.THAMTShard, HashType: unixfs.HashMurmur3, HasHashType: true}},
		{"hash not murmur3", unixfs.Data{Type: unixfs.THAMTShard, HashType: 0x12, HasHashType: true, Fanout: 256, HasFanout: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := putPB(t, store, &dagpb.Node{Data: tc.fsd.Encode()})
			if _, err := unixfs.Get(ctx, store, c); !errors.Is(err, unixfs.ErrInvalid) {
				t.Fatalf("Get: %v, want ErrInvalid", err)
			}
		})
	}
}
