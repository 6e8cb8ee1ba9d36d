package fuse

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"
	"golang.org/x/sys/unix"

	"node/blockstore"
	"node/dagpb"
	"node/unixfs"
	"node/unixfs/importer"
)

func sampleTree() []treeEntry {
	return []treeEntry{
		{path: "empty.txt"},
		{path: "hello.txt", content: []byte("hello, world\n")},
		{path: "big.bin", content: randomBytes(1, 3<<20+12345)},
		{path: "docs/readme.md", content: []byte("a needle-7f3a in a haystack\n")},
		{path: "docs/.hidden", content: []byte("dot file\n")},
		{path: "docs/deep/a/b/c.txt", content: randomBytes(2, 5000)},
		{path: "emptydir", dir: true},
		{path: "space name.txt", content: []byte("spaces\n")},
		{path: "link-rel", link: "docs/readme.md"},
		{path: "link-abs", link: "/etc/hostname"},
		{path: "docs/link-up", link: "../hello.txt"},
	}
}

func TestIPFSReadsTrees(t *testing.T) {
	requireFUSE(t)
	src := filepath.Join(t.TempDir(), "src")
	writeTree(t, src, sampleTree())
	store := openStore(t, t.TempDir())

	deep := importer.DefaultOptions()
	deep.CIDVersion, deep.RawLeaves, deep.ChunkSize, deep.MaxLinks = 1, true, 4096, 8
	for _, tc := range []struct {
		name string
		opts importer.Options
	}{
		{"defaults", importer.DefaultOptions()},
		{"cidv1-raw-deep", deep},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root, cids := importPath(t, store, src, tc.opts)
			_, mnt := mountIPFS(t, Config{Blocks: store})
			top := filepath.Join(mnt, root.String())

			compareTrees(t, src, top)

			// The bytes equal what unixfs reads from the store.
			n, err := unixfs.Get(ctx, store, cids["big.bin"])
			if err != nil {
				t.Fatal(err)
			}
			var want bytes.Buffer
			unixfs.ReadRange(ctx, store, n, 0, n.FileSize(), func(b []byte) error { want.Write(b); return nil })
			got, err := os.ReadFile(filepath.Join(top, "big.bin"))
			if err != nil || !bytes.Equal(got, want.Bytes()) {
				t.Fatalf("big.bin through the mount differs from unixfs (%v)", err)
			}

			// Modes: no UnixFS mode here, so read-only defaults.
			for path, want := range map[string]os.FileMode{
				"hello.txt": 0o444, "docs": os.ModeDir | 0o555, ".": os.ModeDir | 0o555, "link-rel": os.ModeSymlink | 0o777,
			} {
				fi, err := os.Lstat(filepath.Join(top, path))
				if err != nil {
					t.Fatal(err)
				}
				if fi.Mode() != want {
					t.Errorf("%s: mode %s, want %s", path, fi.Mode(), want)
				}
			}

			// Every file and directory carries its CID.
			for _, path := range []string{".", "hello.txt", "empty.txt", "docs", "docs/deep/a", "big.bin", "emptydir"} {
				if got := xattrCIDOf(t, filepath.Join(top, path)); got != cids[path].String() {
					t.Errorf("%s: %s is %q, want %s", path, xattrCID, got, cids[path])
				}
			}
			if names := listXattrs(t, filepath.Join(top, "hello.txt")); !slices.Equal(names, []string{xattrCID}) {
				t.Errorf("xattrs listed: %q", names)
			}

			// fsync of what cannot change succeeds.
			rf, err := os.Open(filepath.Join(top, "hello.txt"))
			if err != nil {
				t.Fatal(err)
			}
			closeAtEnd(t, rf)
			if err := rf.Sync(); err != nil {
				t.Errorf("fsync of a read-only file: %v", err)
			}
			rf.Close()

			// Writes are refused.
			if err := os.WriteFile(filepath.Join(top, "new"), nil, 0o644); !isErrno(err, syscall.EROFS) {
				t.Errorf("creating a file: %v, want EROFS", err)
			}
			if err := os.Remove(filepath.Join(top, "hello.txt")); !isErrno(err, syscall.EROFS) {
				t.Errorf("removing a file: %v, want EROFS", err)
			}

			// Tools work on the mount: cp -r, tar, grep -r, find.
			out := filepath.Join(t.TempDir(), "copy")
			run(t, "cp", "-r", top, out)
			compareTrees(t, src, out)

			tarFile := filepath.Join(t.TempDir(), "t.tar")
			run(t, "tar", "cf", tarFile, "-C", mnt, root.String())
			untar := t.TempDir()
			run(t, "tar", "xf", tarFile, "-C", untar)
			compareTrees(t, src, filepath.Join(untar, root.String()))

			if got := run(t, "grep", "-rl", "needle-7f3a", top); strings.TrimSpace(got) != filepath.Join(top, "docs/readme.md") {
				t.Errorf("grep -rl found %q", got)
			}
			if got, want := findNames(t, top), findNames(t, src); !slices.Equal(got, want) {
				t.Errorf("find lists %q, want %q", got, want)
			}
		})
	}
}

func TestIPFSRoot(t *testing.T) {
	requireFUSE(t)
	store := openStore(t, t.TempDir())
	src := filepath.Join(t.TempDir(), "f")
	os.WriteFile(src, []byte("content"), 0o644)
	root, _ := importPath(t, store, src, importer.DefaultOptions())
	m, mnt := mountIPFS(t, Config{Blocks: store})

	if names := dirNames(t, mnt); len(names) != 0 {
		t.Fatalf("a new /ipfs lists %q, want nothing", names)
	}
	for _, name := range []string{"not-a-cid", "Qm", ".Trash", "autorun.inf"} {
		if _, err := os.Stat(filepath.Join(mnt, name)); !isErrno(err, syscall.ENOENT) {
			t.Errorf("%s: %v, want ENOENT", name, err)
		}
	}
	// CIDv0 and its CIDv1 form both work.
	v1 := cid.NewCidV1(cid.DagProtobuf, root.Hash())
	for _, c := range []cid.Cid{root, v1} {
		b, err := os.ReadFile(filepath.Join(mnt, c.String()))
		if err != nil || string(b) != "content" {
			t.Fatalf("%s: %q, %v", c, b, err)
		}
	}
	if names := dirNames(t, mnt); !slices.Contains(names, root.String()) {
		t.Errorf("after a visit /ipfs lists %q, want it to include %s", names, root)
	}

	// Inode numbers are stable: the same on another mount of the same content.
	ino := func(p string) uint64 {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Sys().(*syscall.Stat_t).Ino
	}
	first := ino(filepath.Join(mnt, root.String()))
	if again := ino(filepath.Join(mnt, root.String())); again != first {
		t.Fatalf("inode %d then %d", first, again)
	}
	if err := m.Unmount(); err != nil {
		t.Fatal(err)
	}
	_, mnt2 := mountIPFS(t, Config{Blocks: store})
	if again := ino(filepath.Join(mnt2, root.String())); again != first {
		t.Errorf("inode %d on a new mount, %d before", again, first)
	}
}

func TestIPFSLargeDirectories(t *testing.T) {
	requireFUSE(t)
	store := openStore(t, t.TempDir())
	src := filepath.Join(t.TempDir(), "many")
	var entries []treeEntry
	for i := range 400 {
		entries = append(entries, treeEntry{path: "file-" + strings.Repeat("x", i%7) + itoa(i), content: []byte(itoa(i * i))})
	}
	entries = append(entries, treeEntry{path: "sub/inner.txt", content: []byte("inner")})
	writeTree(t, src, entries)
	sharded := importer.DefaultOptions()
	sharded.HAMTThreshold = 1000
	for _, tc := range []struct {
		name string
		opts importer.Options
		typ  unixfs.Type
	}{
		{"hamt", sharded, unixfs.THAMTShard},
		{"plain", importer.DefaultOptions(), unixfs.TDirectory}, // looked up through an index
	} {
		t.Run(tc.name, func(t *testing.T) {
			root, _ := importPath(t, store, src, tc.opts)
			n, err := unixfs.Get(ctx, store, root)
			if err != nil || n.FS.Type != tc.typ {
				t.Fatalf("the test directory is a %v (%v), want a %v", n.FS.Type, err, tc.typ)
			}
			_, mnt := mountIPFS(t, Config{Blocks: store})
			compareTrees(t, src, filepath.Join(mnt, root.String()))
			if _, err := os.Stat(filepath.Join(mnt, root.String(), "file-absent")); !isErrno(err, syscall.ENOENT) {
				t.Errorf("a missing name: %v, want ENOENT", err)
			}
		})
	}
}

// A DAG may name entries in ways no file system can show: they are
// hidden, never used as path components.
func TestIPFSHostileNames(t *testing.T) {
	requireFUSE(t)
	store := openStore(t, t.TempDir())
	file := func(s string) cid.Cid {
		p := filepath.Join(t.TempDir(), "f")
		os.WriteFile(p, []byte(s), 0o644)
		c, _ := importPath(t, store, p, importer.DefaultOptions())
		return c
	}
	ok, evil, dup2 := file("fine"), file("evil"), file("second")
	sub := putDir(t, store, []dagpb.Link{{Name: "inner", Hash: ok}})
	links := []dagpb.Link{
		{Name: "ok", Hash: ok},
		{Name: "a/b", Hash: evil},
		{Name: "..", Hash: sub},
		{Name: ".", Hash: sub},
		{Name: "", Hash: evil},
		{Name: "nul\x00x", Hash: evil},
		{Name: "/etc", Hash: sub},
		{Name: strings.Repeat("n", 300), Hash: evil},
		{Name: "dup", Hash: ok},
		{Name: "dup", Hash: dup2},
		{Name: "sub", Hash: sub},
	}
	root := putDir(t, store, links)
	_, mnt := mountIPFS(t, Config{Blocks: store})
	top := filepath.Join(mnt, root.String())
	if got := dirNames(t, top); !slices.Equal(got, []string{"dup", "ok", "sub"}) {
		t.Fatalf("listing shows %q, want [dup ok sub]", got)
	}
	if b, err := os.ReadFile(filepath.Join(top, "dup")); err != nil || string(b) != "fine" {
		t.Errorf("dup reads %q, %v: want the first entry of that name", b, err)
	}
	// ".." is the parent, never the DAG's entry of that name.
	fi, err := os.Stat(filepath.Join(top, ".."))
	if err != nil || fi.Sys().(*syscall.Stat_t).Ino != rootIno {
		t.Errorf("%s/.. is not the mount's root: %v", top, err)
	}
	if _, err := os.Stat(filepath.Join(top, "a")); !isErrno(err, syscall.ENOENT) {
		t.Errorf("a (from \"a/b\"): %v, want ENOENT", err)
	}
	// Tools walking the tree see only the shown names.
	if got := findNames(t, top); !slices.Equal(got, []string{".", "dup", "ok", "sub", "sub/inner"}) {
		t.Errorf("find lists %q", got)
	}
}

// putDir stores a hand-made dag-pb directory.
func putDir(t testing.TB, store blockstore.Store, links []dagpb.Link) cid.Cid {
	t.Helper()
	block := dagpb.Encode(&dagpb.Node{Links: links, Data: (&unixfs.Data{Type: unixfs.TDirectory}).Encode()})
	mh, err := multihash.Sum(block, multihash.SHA2_256, -1)
	if err != nil {
		t.Fatal(err)
	}
	c := cid.NewCidV0(mh)
	if err := store.Put(ctx, blockstore.Block{CID: c, Data: block}); err != nil {
		t.Fatal(err)
	}
	return c
}

// Content nobody serves fails with EIO after ReadTimeout, for lookups
// and reads alike.
func TestIPFSUnreachableTimesOut(t *testing.T) {
	requireFUSE(t)
	store := openStore(t, t.TempDir())
	src := filepath.Join(t.TempDir(), "d")
	writeTree(t, src, []treeEntry{
		{path: "big", content: randomBytes(3, 1<<20)},
		{path: "small", content: []byte("small")},
		{path: "gone", content: []byte("this block will not be served")},
	})
	root, cids := importPath(t, store, src, importer.DefaultOptions())
	big, err := unixfs.Get(ctx, store, cids["big"])
	if err != nil || len(big.Links) < 3 {
		t.Fatalf("big has %d leaves: %v", len(big.Links), err)
	}
	missingDir := putDir(t, blockstore.NewMemory(), nil) // a CID nobody has
	g := newBlockingGetter(store, big.Links[2].Hash, cids["gone"], missingDir)
	_, mnt := mountIPFS(t, Config{Blocks: g, ReadTimeout: 300 * time.Millisecond})
	top := filepath.Join(mnt, root.String())

	if _, err := os.ReadFile(filepath.Join(top, "big")); !isErrno(err, syscall.EIO) {
		t.Errorf("reading a file with an unreachable block: %v, want EIO", err)
	}
	// The blocks before it are served: a read of the first leaf works.
	f, err := os.Open(filepath.Join(top, "big"))
	if err != nil {
		t.Fatal(err)
	}
	closeAtEnd(t, f)
	buf := make([]byte, 1000)
	if _, err := f.ReadAt(buf, 10); err != nil {
		t.Errorf("reading a reachable part: %v", err)
	}
	f.Close()
	if _, err := os.Stat(filepath.Join(top, "gone")); !isErrno(err, syscall.EIO) {
		t.Errorf("stat of an unreachable entry: %v, want EIO", err)
	}
	// The directory still lists, with the unreachable entry in it.
	if got := dirNames(t, top); !slices.Equal(got, []string{"big", "gone", "small"}) {
		t.Errorf("listing %q", got)
	}
	if _, err := os.Stat(filepath.Join(mnt, missingDir.String())); !isErrno(err, syscall.EIO) {
		t.Errorf("lookup of an unreachable CID: %v, want EIO", err)
	}
	eventually(t, 10*time.Second, "timed-out fetches end", func() bool { return g.waits() == 0 })
}

// Ctrl-C on a reader cancels its fetches long before ReadTimeout.
func TestIPFSInterruptCancelsFetch(t *testing.T) {
	requireFUSE(t)
	store := openStore(t, t.TempDir())
	src := filepath.Join(t.TempDir(), "f")
	os.WriteFile(src, randomBytes(4, 3<<20), 0o644)
	root, _ := importPath(t, store, src, importer.DefaultOptions())
	n, err := unixfs.Get(ctx, store, root)
	if err != nil {
		t.Fatal(err)
	}
	for _, leaf := range []int{1, 6} { // in the first read; in a streamed one
		t.Run(itoa(leaf), func(t *testing.T) {
			g := newBlockingGetter(store, n.Links[leaf].Hash)
			_, mnt := mountIPFS(t, Config{Blocks: g, ReadTimeout: time.Hour})
			cmd := exec.Command("cat", filepath.Join(mnt, root.String()))
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			select {
			case <-g.started:
			case <-time.After(30 * time.Second):
				cmd.Process.Kill()
				t.Fatal("the read never reached the unreachable block")
			}
			cmd.Process.Signal(syscall.SIGINT)
			cmd.Wait()
			eventually(t, 10*time.Second, "the fetch is cancelled", func() bool { return g.waits() == 0 })
		})
	}
}

// Large files are read with direct I/O; programs still map and run them.
func TestIPFSMapAndExec(t *testing.T) {
	requireFUSE(t)
	store := openStore(t, t.TempDir())
	src := filepath.Join(t.TempDir(), "d")
	big := randomBytes(7, 3<<20)
	truePath, err := exec.LookPath("true")
	if err != nil {
		t.Skip("no true(1) to run")
	}
	trueBin, err := os.ReadFile(truePath)
	if err != nil {
		t.Fatal(err)
	}
	writeTree(t, src, []treeEntry{{path: "big", content: big}, {path: "small", content: []byte("0123456789")}})
	// The program padded past directIOMinSize (the loader ignores what
	// follows the ELF image), stored with UnixFS mode 0755.
	prog := filepath.Join(t.TempDir(), "prog")
	os.WriteFile(prog, append(trueBin, make([]byte, 2<<20)...), 0o755)
	progCID, _ := importPath(t, store, prog, importer.DefaultOptions())
	progCID = withMode(t, store, progCID, 0o755)
	dirCID, _ := importPath(t, store, src, importer.DefaultOptions())
	d, err := unixfs.Get(ctx, store, dirCID)
	if err != nil {
		t.Fatal(err)
	}
	root := putDir(t, store, append(slices.Clone(d.Links), dagpb.Link{Name: "prog", Hash: progCID}))
	m, mnt := mountIPFS(t, Config{Blocks: store})
	if !m.fsys.directIO.Load() {
		t.Log("this kernel cannot map direct-I/O files: large files use the page cache")
	}
	top := filepath.Join(mnt, root.String())
	// A mapping, from another process (a process mapping a file it
	// serves itself could deadlock).
	script := `import mmap, sys, hashlib
f = open(sys.argv[1], "rb")
m = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)
print(hashlib.sha256(m[:]).hexdigest(), m[len(m)//2:len(m)//2+4].hex())`
	for _, name := range []string{"big", "small"} {
		out, err := exec.Command("python3", "-c", script, filepath.Join(top, name)).CombinedOutput()
		if err != nil {
			if _, lookErr := exec.LookPath("python3"); lookErr != nil {
				t.Skip("no python3 to map files with")
			}
			t.Fatalf("mapping %s: %v\n%s", name, err, out)
		}
		want, _ := os.ReadFile(filepath.Join(src, name))
		sum := sha256.Sum256(want)
		if got := strings.Fields(string(out)); len(got) != 2 || got[0] != hex.EncodeToString(sum[:]) || got[1] != hex.EncodeToString(want[len(want)/2:len(want)/2+4]) {
			t.Errorf("mapped %s reads %q", name, out)
		}
	}
	// The UnixFS mode shows, and the program runs (from sh: a child this
	// process forked could deadlock executing a file it serves).
	fi, err := os.Stat(filepath.Join(top, "prog"))
	if err != nil || fi.Mode() != 0o755 {
		t.Fatalf("prog: mode %v, %v; want the stored 0755", fi.Mode(), err)
	}
	if out, err := exec.Command("sh", "-c", filepath.Join(top, "prog")).CombinedOutput(); err != nil {
		t.Errorf("running a program stored in IPFS: %v %s", err, out)
	}
}

// withMode stores file c again with a UnixFS mode on its root node.
func withMode(t testing.TB, store blockstore.Store, c cid.Cid, mode uint32) cid.Cid {
	t.Helper()
	b, err := store.Get(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	pb, err := dagpb.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	d, err := unixfs.DecodeData(pb.Data)
	if err != nil {
		t.Fatal(err)
	}
	d.Mode, d.HasMode = mode, true
	pb.Data = d.Encode()
	block := dagpb.Encode(pb)
	mh, _ := multihash.Sum(block, multihash.SHA2_256, -1)
	nc := cid.NewCidV0(mh)
	if err := store.Put(ctx, blockstore.Block{CID: nc, Data: block}); err != nil {
		t.Fatal(err)
	}
	return nc
}

func xattrCIDOf(t testing.TB, path string) string {
	t.Helper()
	buf := make([]byte, 256)
	n, err := unix.Getxattr(path, xattrCID, buf)
	if err != nil {
		t.Fatalf("getxattr %s: %v", path, err)
	}
	return string(buf[:n])
}

func listXattrs(t testing.TB, path string) []string {
	t.Helper()
	buf := make([]byte, 256)
	n, err := unix.Listxattr(path, buf)
	if err != nil {
		t.Fatalf("listxattr %s: %v", path, err)
	}
	return strings.Split(strings.TrimSuffix(string(buf[:n]), "\x00"), "\x00")
}

// run runs a command (never inside the mount: a chdir into it from the
// forked child could deadlock the test's own FUSE server).
func run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %q: %v\n%s", name, args, err, out)
	}
	return string(out)
}

// findNames lists a tree with find(1), relative and sorted.
func findNames(t testing.TB, dir string) []string {
	t.Helper()
	out := run(t, "find", dir, "-printf", "%P\n")
	names := []string{"."}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l != "" {
			names = append(names, l)
		}
	}
	slices.Sort(names)
	return names
}

func itoa(i int) string { return strconv.Itoa(i) }
