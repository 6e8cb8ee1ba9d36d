package fuse

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"node/blockstore"
	"node/ipns"
	"node/unixfs/importer"
)

// fakeNames resolves names from a map.
type fakeNames struct {
	mu    sync.Mutex // guards paths and calls
	paths map[string]string
	calls int
	ttl   time.Duration
}

func (f *fakeNames) set(name, path string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.paths[name] = path
}

func (f *fakeNames) ResolvePath(ctx context.Context, p string) (string, time.Duration, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	rest := strings.TrimPrefix(p, "/ipns/")
	name, sub, _ := strings.Cut(rest, "/")
	v, ok := f.paths[name]
	if !ok {
		return "", 0, ipns.ErrNotFound
	}
	if sub != "" {
		v += "/" + sub
	}
	return v, f.ttl, nil
}

func (f *fakeNames) callCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

func TestIPNSNames(t *testing.T) {
	requireFUSE(t)
	store := openStore(t, t.TempDir())
	a := filepath.Join(t.TempDir(), "a")
	writeTree(t, a, []treeEntry{{path: "hello.txt", content: []byte("version one")}, {path: "docs/readme.md", content: []byte("read me")}})
	b := filepath.Join(t.TempDir(), "b")
	writeTree(t, b, []treeEntry{{path: "hello.txt", content: []byte("version two")}})
	v1, _ := importPath(t, store, a, importer.DefaultOptions())
	v2, _ := importPath(t, store, b, importer.DefaultOptions())

	names := &fakeNames{paths: map[string]string{}, ttl: 0}
	names.set("site.example", "/ipfs/"+v1.String())
	names.set("docs.example", "/ipfs/"+v1.String()+"/docs")
	_, mnt := mountIPNS(t, Config{Blocks: store, Names: names})

	read := func(p string) string {
		b, err := os.ReadFile(filepath.Join(mnt, p))
		if err != nil {
			return "error: " + err.Error()
		}
		return string(b)
	}
	if got := read("site.example/hello.txt"); got != "version one" {
		t.Fatalf("site.example/hello.txt: %q", got)
	}
	if got := read("docs.example/readme.md"); got != "read me" {
		t.Fatalf("a name resolving to a path: %q", got)
	}
	if got := xattrCIDOf(t, filepath.Join(mnt, "site.example")); got != v1.String() {
		t.Errorf("%s of a name: %s, want %s", xattrCID, got, v1)
	}
	if err := os.WriteFile(filepath.Join(mnt, "site.example", "new"), nil, 0o644); !isErrno(err, syscall.EROFS) {
		t.Errorf("writing under a name: %v, want EROFS", err)
	}
	if _, err := os.Stat(filepath.Join(mnt, "unknown.example")); !isErrno(err, syscall.ENOENT) {
		t.Errorf("an unknown name: %v, want ENOENT", err)
	}
	before := names.callCount()
	for _, junk := range []string{".Trash", "autorun.inf.", "-x.example", "not a name"} {
		if _, err := os.Stat(filepath.Join(mnt, junk)); !isErrno(err, syscall.ENOENT) {
			t.Errorf("%q: %v, want ENOENT", junk, err)
		}
	}
	if names.callCount() != before {
		t.Errorf("names that cannot resolve were sent to the resolver")
	}

	// The name moves: within its TTL (floored at a second) the mount follows.
	names.set("site.example", "/ipfs/"+v2.String())
	eventually(t, 10*time.Second, "the new version shows", func() bool { return read("site.example/hello.txt") == "version two" })
	if _, err := os.Stat(filepath.Join(mnt, "site.example", "docs")); !isErrno(err, syscall.ENOENT) {
		t.Errorf("docs of the old version: %v, want ENOENT", err)
	}
	if got := dirNames(t, mnt); !slices.Contains(got, "site.example") || slices.Contains(got, "local") {
		t.Errorf("/ipns lists %q", got)
	}
}

func localConfig(store blockstore.Store, rec *recorder) Config {
	return Config{
		Blocks: store, Store: store, Local: rec, LocalName: "k51qzi5uqu5dtestname",
		PublishDelay: time.Hour, // only fsync and unmount publish
	}
}

func TestIPNSLocalWrites(t *testing.T) {
	requireFUSE(t)
	store := openStore(t, t.TempDir())
	rec := &recorder{}
	cfg := localConfig(store, rec)
	m, mnt := mountIPNS(t, cfg)
	local := filepath.Join(mnt, "local")
	p := func(name string) string { return filepath.Join(local, name) }
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}

	if got := dirNames(t, mnt); !slices.Equal(got, []string{"k51qzi5uqu5dtestname", "local"}) {
		t.Fatalf("/ipns lists %q", got)
	}
	if target, err := os.Readlink(filepath.Join(mnt, cfg.LocalName)); err != nil || target != "local" {
		t.Fatalf("own name links to %q, %v", target, err)
	}
	if got := dirNames(t, local); len(got) != 0 {
		t.Fatalf("a new local lists %q", got)
	}

	big := randomBytes(5, 3<<20+777)
	must(os.WriteFile(p("a.txt"), []byte("alpha"), 0o644))
	appendTo(t, p("a.txt"), "+more")
	must(os.WriteFile(p("b.txt"), []byte("bravo-long-content"), 0o644))
	must(os.Truncate(p("b.txt"), 5))
	must(os.Mkdir(p("d"), 0o755))
	must(os.WriteFile(p("d/e.txt"), []byte("echo"), 0o644))
	must(os.Mkdir(p("d/sub"), 0o755))
	must(os.WriteFile(p("c.txt"), []byte("charlie"), 0o644))
	if b, _ := os.ReadFile(p("a.txt")); string(b) != "alpha+more" {
		t.Fatalf("after append: %q", b)
	}
	must(os.Rename(p("c.txt"), p("a.txt"))) // over an existing file
	must(os.WriteFile(p("x.txt"), []byte("doomed"), 0o644))
	must(os.Remove(p("x.txt")))
	must(os.Mkdir(p("gone"), 0o755))
	must(os.Remove(p("gone")))
	must(os.Symlink("a.txt", p("ln")))
	must(os.Rename(p("d"), p("dd")))
	writeInPieces(t, p("big.bin"), big, 100000)
	if err := os.Remove(p("dd")); !isErrno(err, syscall.ENOTEMPTY) {
		t.Errorf("rmdir of a full directory: %v, want ENOTEMPTY", err)
	}
	if err := os.Rename(p("dd"), p("dd/sub/inside")); !isErrno(err, syscall.EINVAL) {
		t.Errorf("moving a directory into itself: %v, want EINVAL", err)
	}
	if err := os.Link(p("a.txt"), p("hard")); err == nil {
		t.Errorf("a hard link was made")
	}

	// fsync publishes at once.
	f, err := os.Create(p("n.txt"))
	must(err)
	closeAtEnd(t, f)
	f.WriteString("november")
	must(f.Sync())
	want := map[string]string{
		"a.txt": "charlie", "b.txt": "bravo", "dd": "dir/", "dd/e.txt": "echo", "dd/sub": "dir/",
		"ln": "-> a.txt", "big.bin": string(big), "n.txt": "november",
	}
	checkPublished(t, store, rec, want)
	f.Close()

	// The mount shows the same, and user.ipfs.cid is the published CID.
	for name, content := range want {
		switch {
		case content == "dir/":
		case strings.HasPrefix(content, "-> "):
			if l, _ := os.Readlink(p(name)); l != content[3:] {
				t.Errorf("%s links to %q", name, l)
			}
		default:
			if b, err := os.ReadFile(p(name)); err != nil || string(b) != content {
				t.Errorf("%s reads %d bytes, %v", name, len(b), err)
			}
		}
	}
	if got := xattrCIDOf(t, local); got != rec.last(t).String() {
		t.Errorf("%s of local: %s, want the published %s", xattrCID, got, rec.last(t))
	}
	if got := xattrCIDOf(t, p("dd/e.txt")); got != dagCID(t, store, rec.last(t), "dd/e.txt").String() {
		t.Errorf("%s of a file: %s", xattrCID, got)
	}
	st, err := os.Stat(p("dd"))
	must(err)
	if n := st.Sys().(*syscall.Stat_t).Nlink; n != 3 {
		t.Errorf("dd has %d links, want 3 (2 + one subdirectory)", n)
	}

	// Unmount publishes what is left.
	must(os.WriteFile(p("late.txt"), []byte("lima"), 0o644))
	must(m.Unmount())
	want["late.txt"] = "lima"
	checkPublished(t, store, rec, want)

	// A new mount starts from the published root, loads directories as
	// they are looked into, and keeps what it does not touch.
	published := rec.last(t)
	cfg.LocalRoot = func(context.Context) (cid.Cid, error) { return published, nil }
	m2, mnt2 := mountIPNS(t, cfg)
	local = filepath.Join(mnt2, "local")
	if b, err := os.ReadFile(p("dd/e.txt")); err != nil || string(b) != "echo" {
		t.Fatalf("after remount dd/e.txt: %q, %v", b, err)
	}
	appendTo(t, p("dd/e.txt"), "-again")
	appendTo(t, p("big.bin"), "tail")
	must(os.Remove(p("b.txt")))
	must(m2.Unmount())
	want["dd/e.txt"] = "echo-again"
	want["big.bin"] = string(big) + "tail"
	delete(want, "b.txt")
	checkPublished(t, store, rec, want)
}

// Debounced publishing: after writes stop for PublishDelay.
func TestIPNSLocalPublishesAfterDelay(t *testing.T) {
	requireFUSE(t)
	store := openStore(t, t.TempDir())
	rec := &recorder{}
	cfg := localConfig(store, rec)
	cfg.PublishDelay = 20 * time.Millisecond
	_, mnt := mountIPNS(t, cfg)
	if err := os.WriteFile(filepath.Join(mnt, "local", "f"), []byte("debounced"), 0o644); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "a publication", func() bool { return rec.count() > 0 })
	checkPublished(t, store, rec, map[string]string{"f": "debounced"})

	// A failing publisher is retried.
	rec.mu.Lock()
	rec.fail = errors.New("no peers")
	rec.mu.Unlock()
	os.WriteFile(filepath.Join(mnt, "local", "g"), []byte("retried"), 0o644)
	eventually(t, 10*time.Second, "a failed publication", func() bool {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		return rec.failures > 0
	})
	rec.mu.Lock()
	rec.fail = nil
	rec.mu.Unlock()
	eventually(t, 10*time.Second, "the retried publication", func() bool {
		return rec.count() > 1
	})
	checkPublished(t, store, rec, map[string]string{"f": "debounced", "g": "retried"})
}

// Files open for writing are published only as they were when last
// closed or fsynced: never half-written.
func TestIPNSLocalPublishesOnlyWholeFiles(t *testing.T) {
	requireFUSE(t)
	store := openStore(t, t.TempDir())
	rec := &recorder{}
	m, mnt := mountIPNS(t, localConfig(store, rec))
	p := func(name string) string { return filepath.Join(mnt, "local", name) }
	if err := os.WriteFile(p("e.txt"), []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	e, err := os.OpenFile(p("e.txt"), os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	closeAtEnd(t, e)
	e.WriteString("new-partial")
	w, err := os.Create(p("w.txt"))
	if err != nil {
		t.Fatal(err)
	}
	closeAtEnd(t, w)
	w.WriteString("partial")
	syncFile(t, p("s.txt"), "s")
	checkPublished(t, store, rec, map[string]string{"e.txt": "old", "s.txt": "s"})

	if err := w.Sync(); err != nil {
		t.Fatal(err)
	}
	checkPublished(t, store, rec, map[string]string{"e.txt": "old", "s.txt": "s", "w.txt": "partial"})
	// Until then a new file's CID is not known; after fsync it is.
	if got := xattrCIDOf(t, p("w.txt")); got != dagCID(t, store, rec.last(t), "w.txt").String() {
		t.Errorf("%s of an fsynced file: %s", xattrCID, got)
	}

	w.WriteString("+rest")
	w.Close()
	e.Close()
	if err := m.Unmount(); err != nil {
		t.Fatal(err)
	}
	checkPublished(t, store, rec, map[string]string{"e.txt": "new-partial", "s.txt": "s", "w.txt": "partial+rest"})
}

func TestIPNSMountedTwice(t *testing.T) {
	requireFUSE(t)
	store := openStore(t, t.TempDir())
	m, mnt := mountIPNS(t, Config{Blocks: store})
	if _, err := MountIPNS(mnt, Config{Blocks: store}); !errors.Is(err, ErrMounted) {
		t.Errorf("second mount: %v, want ErrMounted", err)
	}
	if err := m.Unmount(); err != nil {
		t.Fatal(err)
	}
	if err := Unmount(mnt); !errors.Is(err, ErrNotMounted) {
		t.Errorf("unmounting again: %v, want ErrNotMounted", err)
	}
}

// Unmount returns while files are open (the mount is detached) and
// publishes what was fsynced.
func TestUnmountWithOpenFiles(t *testing.T) {
	requireFUSE(t)
	store := openStore(t, t.TempDir())
	src := filepath.Join(t.TempDir(), "f")
	os.WriteFile(src, randomBytes(6, 1<<20), 0o644)
	root, _ := importPath(t, store, src, importer.DefaultOptions())
	rec := &recorder{}
	ipfsM, ipfsDir := mountIPFS(t, Config{Blocks: store})
	ipnsM, ipnsDir := mountIPNS(t, localConfig(store, rec))

	r, err := os.Open(filepath.Join(ipfsDir, root.String()))
	if err != nil {
		t.Fatal(err)
	}
	closeAtEnd(t, r)
	buf := make([]byte, 4096)
	if _, err := r.Read(buf); err != nil {
		t.Fatal(err)
	}
	w, err := os.Create(filepath.Join(ipnsDir, "local", "open.txt"))
	if err != nil {
		t.Fatal(err)
	}
	closeAtEnd(t, w)
	w.WriteString("synced")
	if err := w.Sync(); err != nil {
		t.Fatal(err)
	}
	w.WriteString("+unsynced")

	for _, m := range []*Mount{ipfsM, ipnsM} {
		if err := m.Unmount(); err != nil {
			t.Errorf("unmount %s: %v", m.Dir(), err)
		}
		if mounted, _ := isMountPoint(m.Dir()); mounted {
			t.Errorf("%s is still mounted", m.Dir())
		}
	}
	checkPublished(t, store, rec, map[string]string{"open.txt": "synced"})

	// The open files are still served until closed; then the mounts end.
	if _, err := r.Read(buf); err != nil {
		t.Errorf("reading an open file after unmount: %v", err)
	}
	r.Close()
	w.Close()
	for _, m := range []*Mount{ipfsM, ipnsM} {
		done := make(chan struct{})
		go func() { m.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Fatalf("%s: Wait did not return after the files were closed", m.Dir())
		}
	}
}

// closeAtEnd closes f when the test ends, before its mount is unmounted:
// a test process exiting with files open on its own mount cannot end.
func closeAtEnd(t testing.TB, f *os.File) { t.Cleanup(func() { f.Close() }) }

func appendTo(t testing.TB, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func writeInPieces(t testing.TB, path string, data []byte, piece int) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	for len(data) > 0 {
		n := min(piece, len(data))
		if _, err := f.Write(data[:n]); err != nil {
			t.Fatal(err)
		}
		data = data[n:]
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func syncFile(t testing.TB, path, content string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.WriteString(content)
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
}

// checkPublished reads the last published root from the store and
// compares it with want.
func checkPublished(t testing.TB, store blockstore.Store, rec *recorder, want map[string]string) {
	t.Helper()
	root := rec.last(t)
	if !root.Defined() {
		t.Fatal("nothing was published")
	}
	got := dagTree(t, store, root)
	if !maps.Equal(got, want) {
		t.Fatalf("published %s holds %v, want %v", root, summary(got), summary(want))
	}
}

func summary(m map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		if len(v) > 40 {
			v = v[:20] + "...(" + itoa(len(v)) + " bytes)"
		}
		out[k] = v
	}
	return out
}

// dagCID returns the CID of path under root.
func dagCID(t testing.TB, store blockstore.Store, root cid.Cid, path string) cid.Cid {
	t.Helper()
	m := newMountFS(Config{Blocks: store}.withDefaults())
	cur, err := m.fetchMeta(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	for _, seg := range strings.Split(path, "/") {
		e, err := cur.lookup(ctx, store, seg)
		if err != nil {
			t.Fatal(err)
		}
		if cur, err = m.fetchMeta(ctx, e.CID); err != nil {
			t.Fatal(err)
		}
	}
	return cur.cid
}

// Files written in order from empty are imported as they are written
// (nothing staged); whatever breaks the order moves them to a stage.
func TestIPNSLocalPipedWrites(t *testing.T) {
	requireFUSE(t)
	store := openStore(t, t.TempDir())
	rec := &recorder{}
	m, mnt := mountIPNS(t, localConfig(store, rec))
	p := func(name string) string { return filepath.Join(mnt, "local", name) }
	open := func(name string) *os.File {
		t.Helper()
		f, err := os.OpenFile(p(name), os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		closeAtEnd(t, f)
		return f
	}
	write := func(f *os.File, b []byte, off int64) {
		t.Helper()
		if _, err := f.WriteAt(b, off); err != nil {
			t.Fatal(err)
		}
	}
	data := randomBytes(9, 3<<20)
	want := map[string]string{}

	// Read back while being written.
	a := open("a")
	write(a, data[:1<<20], 0)
	buf := make([]byte, 1000)
	if _, err := a.ReadAt(buf, 100); err != nil || !bytes.Equal(buf, data[100:1100]) {
		t.Fatalf("reading back a file being written: %v", err)
	}
	write(a, data[1<<20:], 1<<20)
	want["a"] = string(data)

	// A write out of order.
	b := open("b")
	write(b, data[:1<<20], 0)
	write(b, []byte("patch"), 10)
	write(b, data[1<<20:2<<20], 1<<20)
	want["b"] = string(data[:10]) + "patch" + string(data[15:2<<20])

	// Truncated while being written, then written on.
	c := open("c")
	write(c, data[:1<<20], 0)
	if err := c.Truncate(500); err != nil {
		t.Fatal(err)
	}
	write(c, []byte("more"), 500)
	want["c"] = string(data[:500]) + "more"

	// Emptied and written again.
	d := open("d")
	write(d, data[:1<<20], 0)
	if err := d.Truncate(0); err != nil {
		t.Fatal(err)
	}
	write(d, []byte("fresh"), 0)
	want["d"] = "fresh"

	// Removed while being written.
	e := open("e")
	write(e, data[:1<<20], 0)
	if err := os.Remove(p("e")); err != nil {
		t.Fatal(err)
	}
	write(e, data[:10], 1<<20)

	// fsynced in the middle, then appended to.
	f := open("f")
	write(f, data[:1<<20], 0)
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	write(f, data[1<<20:], 1<<20)
	want["f"] = string(data)

	// More files written at once than are imported as written.
	var many []*os.File
	for i := range maxPipes + 3 {
		many = append(many, open("g"+itoa(i)))
	}
	for off := 0; off < 300<<10; off += 100 << 10 {
		for i, g := range many {
			write(g, data[off+i:off+i+100<<10], int64(off))
		}
	}
	for i, g := range many {
		want["g"+itoa(i)] = string(data[i : i+300<<10])
		g.Close()
	}

	for _, f := range []*os.File{a, b, c, d, e, f} {
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	for name, content := range want {
		if got, err := os.ReadFile(p(name)); err != nil || string(got) != content {
			t.Errorf("%s reads %d bytes (%v), want %d", name, len(got), err, len(content))
		}
	}
	if err := m.Unmount(); err != nil {
		t.Fatal(err)
	}
	checkPublished(t, store, rec, want)
}
