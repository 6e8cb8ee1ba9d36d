package fuse

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
	"google.golang.org/protobuf/encoding/protowire"

	"node/blockstore"
	"node/dagpb"
	"node/internal/testutil"
	"node/ipns"
	"node/unixfs"
	"node/unixfs/importer"
)

func encodeMtime(secs int64, nanos uint32, withNanos bool) []byte {
	b := protowire.AppendTag(nil, 1, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(secs))
	if withNanos {
		b = protowire.AppendTag(b, 2, protowire.Fixed32Type)
		b = protowire.AppendFixed32(b, nanos)
	}
	return b
}

func TestDecodeMtime(t *testing.T) {
	for _, tc := range []struct {
		b    []byte
		want time.Time
		ok   bool
	}{
		{encodeMtime(1700000000, 0, false), time.Unix(1700000000, 0), true},
		{encodeMtime(1700000000, 5, true), time.Unix(1700000000, 5), true},
		{encodeMtime(-10, 0, false), time.Unix(-10, 0), true},
		{encodeMtime(1, 1e9, true), time.Time{}, false}, // nanoseconds out of range
		{protowire.AppendTag(nil, 2, protowire.Fixed32Type), time.Time{}, false},
		{nil, time.Time{}, false}, // no seconds
		{[]byte{0x08}, time.Time{}, false},
		{append(encodeMtime(7, 0, false), 0x1a, 0x01, 'x'), time.Unix(7, 0), true}, // unknown field skipped
	} {
		got, ok := decodeMtime(tc.b)
		if ok != tc.ok || !got.Equal(tc.want) {
			t.Errorf("decodeMtime(%x) = %v, %v; want %v, %v", tc.b, got, ok, tc.want, tc.ok)
		}
	}
}

func TestPlausibleName(t *testing.T) {
	_, pk, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	name, err := ipns.NameFromPublicKey(pk)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{name.String(), "example.org", "docs.ipfs.tech", "a_b.example", "xn--bcher-kva.example"} {
		if !plausibleName(s) {
			t.Errorf("%q should be sent to the resolver", s)
		}
	}
	for _, s := range []string{"", ".Trash", "autorun.inf.", "-a.example", "a..b", "space here.org", "local", "k51notaname", "a/b.c"} {
		if plausibleName(s) {
			t.Errorf("%q should not be sent to the resolver", s)
		}
	}
}

func TestChildIno(t *testing.T) {
	a := cid.MustParse("QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn")
	b := cid.MustParse("bafkqaaa")
	seen := map[uint64]bool{}
	for _, parent := range []uint64{1, 2, 12345} {
		for _, name := range []string{"x", "y", "xy"} {
			for _, c := range []cid.Cid{a, b, cid.Undef} {
				ino := childIno(parent, name, c)
				if ino < 2 || ino >= localIno {
					t.Fatalf("inode %d outside the immutable range", ino)
				}
				if ino != childIno(parent, name, c) {
					t.Fatal("not deterministic")
				}
				if seen[ino] {
					t.Fatalf("inode %d given twice", ino)
				}
				seen[ino] = true
			}
		}
	}
}

func TestMetaCacheEvicts(t *testing.T) {
	c := newMetaCache(3 * 300)
	var cids []cid.Cid
	for i := range 5 {
		k := cid.NewCidV1(cid.Raw, mustSum(t, []byte{byte(i)}))
		cids = append(cids, k)
		c.add(&meta{cid: k, kind: kindFile})
		c.get(cids[0]) // keep the first in use
	}
	if c.get(cids[0]) == nil {
		t.Error("the most used entry was evicted")
	}
	if c.get(cids[1]) != nil {
		t.Error("the least recently used entry is still there")
	}
	if c.get(cids[4]) == nil {
		t.Error("the newest entry was evicted")
	}
}

func TestVisibleEntries(t *testing.T) {
	store := blockstore.NewMemory()
	f := cid.NewCidV1(cid.Raw, mustSum(t, []byte("f")))
	dir := &unixfs.Node{
		CID: f,
		FS:  &unixfs.Data{Type: unixfs.TDirectory},
		Links: []dagpb.Link{
			{Name: "ok", Hash: f}, {Name: "", Hash: f}, {Name: ".", Hash: f}, {Name: "..", Hash: f},
			{Name: "a/b", Hash: f}, {Name: "a\x00", Hash: f}, {Name: "ok", Hash: f}, {Name: "z", Hash: f},
			{Name: string(make([]byte, 256)), Hash: f},
		},
	}
	got, hidden, err := visibleEntries(ctx, store, dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range got {
		names = append(names, e.Name)
	}
	if !slices.Equal(names, []string{"ok", "z"}) || hidden != 7 {
		t.Errorf("visible %q, %d hidden", names, hidden)
	}
}

// The tree of /ipns/local, driven without FUSE.
func TestLocalTreeRename(t *testing.T) {
	store := blockstore.NewMemory()
	fsys := newMountFS(Config{Blocks: store, Store: store}.withDefaults())
	tr := newLocalTree(fsys, store, t.TempDir(), cid.Undef)
	r := tr.root
	mk := func(d *mnode, name string, k kind) *mnode {
		t.Helper()
		m, err := tr.add(ctx, d, name, k, 0o644, "")
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	a := mk(r, "a", kindFile)
	b := mk(r, "b", kindFile)
	d := mk(r, "d", kindDir)
	e := mk(r, "e", kindDir)
	mk(e, "inside", kindFile)

	check := func(err, want error) {
		t.Helper()
		if !errors.Is(err, want) {
			t.Errorf("got %v, want %v", err, want)
		}
	}
	check(tr.rename(ctx, r, "a", r, "b", renameNoReplace), syscall.EEXIST)
	check(tr.rename(ctx, r, "a", r, "d", 0), syscall.EISDIR)
	check(tr.rename(ctx, r, "d", r, "a", 0), syscall.ENOTDIR)
	check(tr.rename(ctx, r, "d", r, "e", 0), syscall.ENOTEMPTY)
	check(tr.rename(ctx, r, "e", e, "self", 0), syscall.EINVAL)
	check(tr.rename(ctx, r, "missing", r, "x", 0), syscall.ENOENT)
	check(tr.rename(ctx, r, "a", r, "a/b", 0), syscall.EINVAL)
	check(tr.rename(ctx, r, "a", r, "b", renameExchange), nil)
	if r.children["a"] != b || r.children["b"] != a || a.name != "b" {
		t.Error("exchange did not swap")
	}
	check(tr.rename(ctx, r, "a", r, "b", 0), nil) // over an existing file
	if r.children["b"] != b || r.children["a"] != nil || a.parent != nil {
		t.Error("rename over a file did not replace it")
	}
	check(tr.rename(ctx, r, "d", e, "d", 0), nil)
	if e.children["d"] != d || d.parent != e {
		t.Error("directory not moved")
	}
	check(tr.remove(ctx, r, "e", true), syscall.ENOTEMPTY)
	check(tr.remove(ctx, r, "b", true), syscall.ENOTDIR)
	check(tr.remove(ctx, r, "e", false), syscall.EISDIR)
	check(tr.remove(ctx, e, "d", true), nil)
	if _, err := tr.add(ctx, d, "in-removed", kindFile, 0o644, ""); !errors.Is(err, syscall.ENOENT) {
		t.Errorf("creating in a removed directory: %v", err)
	}
	mk(r, "f", kindDir)
	check(tr.rename(ctx, r, "f", r, "b", renameExchange), nil) // a directory for a file
	checkTree(t, tr)
	if _, ok := tr.pending[b]; !ok || r.children["f"] != b {
		t.Error("the exchanged file is not pending under its new name")
	}
}

// checkTree checks the tree's invariants: parents and names match the
// maps, subdirectory counts are right, and only files in the tree are
// pending.
func checkTree(t *testing.T, tr *localTree) {
	t.Helper()
	tr.mu.Lock()
	defer tr.mu.Unlock()
	inTree := map[*mnode]bool{}
	var walk func(d *mnode)
	walk = func(d *mnode) {
		subdirs := 0
		for name, c := range d.children {
			if c.parent != d || c.name != name {
				t.Errorf("%s: parent or name does not match", name)
			}
			inTree[c] = true
			if c.kind == kindDir {
				subdirs++
				walk(c)
			}
		}
		if d.children != nil && d.subdirs != subdirs {
			t.Errorf("%q counts %d subdirectories, has %d", d.name, d.subdirs, subdirs)
		}
	}
	walk(tr.root)
	for m := range tr.pending {
		if !inTree[m] || m.kind != kindFile {
			t.Errorf("pending %q is not a file in the tree", m.name)
		}
	}
}

// A published root that is not a directory: local starts empty.
func TestLocalTreeRootNotADirectory(t *testing.T) {
	store := blockstore.NewMemory()
	fsys := newMountFS(Config{Blocks: store, Store: store}.withDefaults())
	block := dagpb.Encode(&dagpb.Node{Data: (&unixfs.Data{Type: unixfs.TFile, Data: []byte("x"), FileSize: 1, HasFileSize: true}).Encode()})
	c := cid.NewCidV0(mustSum(t, block))
	store.Put(ctx, blockstore.Block{CID: c, Data: block})
	tr := newLocalTree(fsys, store, t.TempDir(), c)
	if got, err := tr.list(ctx, tr.root); err != nil || len(got) != 0 {
		t.Fatalf("list: %d entries, %v", len(got), err)
	}
	if _, err := tr.add(ctx, tr.root, "new", kindDir, 0o755, ""); err != nil {
		t.Fatal(err)
	}
	root, err := tr.build(ctx, nil)
	if err != nil || root == c {
		t.Fatalf("build: %s, %v", root, err)
	}
	checkTree(t, tr)
}

func mustSum(t testing.TB, b []byte) []byte {
	t.Helper()
	c, err := cid.V1Builder{Codec: cid.Raw, MhType: 0x12}.Sum(b)
	if err != nil {
		t.Fatal(err)
	}
	return c.Hash()
}

// TestStreamReadsInOneSession: a mounted file's sequential stream reads
// its blocks in one session of the mount's getter, keeping the per-block
// timeout, and none outside it.
func TestStreamReadsInOneSession(t *testing.T) {
	ctx := context.Background()
	store := blockstore.NewMemory()
	opts := importer.DefaultOptions()
	opts.ChunkSize = 4 << 10
	data := testutil.RandomBytes(4, 20*opts.ChunkSize)
	root := testutil.ImportFile(t, store, opts, data)
	file, err := unixfs.Get(ctx, store, root.CID)
	if err != nil {
		t.Fatal(err)
	}
	rec := testutil.NewSessionRecorder(store)
	st := newStream(ctx, timeoutGetter{g: rec, d: time.Minute}, file, 0)
	defer st.close()
	parts, err := st.read(ctx, len(data), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := slices.Concat(parts...); !bytes.Equal(got, data) {
		t.Fatalf("read %d bytes, not the file's %d", len(got), len(data))
	}
	if sessions, outside := rec.Counts(); sessions != 1 || outside != 0 {
		t.Fatalf("%d sessions, %d blocks read outside one; want 1 and 0", sessions, outside)
	}
}
