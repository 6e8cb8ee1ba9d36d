package fuse

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"node/blockstore"
	"node/unixfs"
	"node/unixfs/importer"
)

var ctx = context.Background()

// requireFUSE skips when the machine has no FUSE device; anything else
// that stops FUSE from working fails the test.
func requireFUSE(t testing.TB) {
	t.Helper()
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Skip("needs FUSE: /dev/fuse is missing")
	}
	if err := Check(); err != nil {
		t.Fatal(err)
	}
}

func openStore(t testing.TB, dir string) *blockstore.PackStore {
	t.Helper()
	s, err := blockstore.OpenPackStore(dir, blockstore.PackOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// mountIPFS mounts /ipfs on a new directory, unmounted at the end of the test.
func mountIPFS(t testing.TB, cfg Config) (*Mount, string) {
	t.Helper()
	dir := t.TempDir()
	m, err := MountIPFS(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Unmount() })
	return m, m.Dir()
}

func mountIPNS(t testing.TB, cfg Config) (*Mount, string) {
	t.Helper()
	dir := t.TempDir()
	m, err := MountIPNS(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Unmount() })
	return m, m.Dir()
}

func randomBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 0xf00d))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// treeEntry describes something to create on disk: a file with content,
// a directory (dir), or a symlink (link).
type treeEntry struct {
	path    string
	content []byte
	dir     bool
	link    string
}

func writeTree(t testing.TB, root string, entries []treeEntry) {
	t.Helper()
	for _, e := range entries {
		p := filepath.Join(root, e.path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		switch {
		case e.dir:
			err = os.MkdirAll(p, 0o755)
		case e.link != "":
			err = os.Symlink(e.link, p)
		default:
			err = os.WriteFile(p, e.content, 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// importPath adds a file or tree to store with the real importer and
// returns its root and the CID of every path under it (relative, "." for
// the root).
func importPath(t testing.TB, store importer.Putter, path string, o importer.Options) (cid.Cid, map[string]cid.Cid) {
	t.Helper()
	im, err := importer.New(ctx, o, store)
	if err != nil {
		t.Fatal(err)
	}
	cids := map[string]cid.Cid{}
	n, err := im.AddPath(ctx, path, importer.WalkOptions{Recursive: true, Hidden: true, OnAdded: func(p string, n importer.Node) {
		rel, _ := filepath.Rel(path, p)
		cids[rel] = n.CID
	}})
	if err != nil {
		t.Fatal(err)
	}
	if err := im.Close(); err != nil {
		t.Fatal(err)
	}
	return n.CID, cids
}

// compareTrees checks that got holds what want holds: the same names,
// types, file contents and symlink targets.
func compareTrees(t testing.TB, want, got string) {
	t.Helper()
	n := 0
	err := filepath.WalkDir(want, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(want, p)
		g := filepath.Join(got, rel)
		gi, err := os.Lstat(g)
		if err != nil {
			t.Errorf("%s: %v", rel, err)
			return nil
		}
		n++
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			wl, _ := os.Readlink(p)
			gl, err := os.Readlink(g)
			if err != nil || gl != wl {
				t.Errorf("%s: symlink to %q (%v), want %q", rel, gl, err, wl)
			}
		case d.IsDir():
			if !gi.IsDir() {
				t.Errorf("%s: %s, want a directory", rel, gi.Mode())
				return nil
			}
			wn, gn := dirNames(t, p), dirNames(t, g)
			if !slices.Equal(wn, gn) {
				t.Errorf("%s: entries %q, want %q", rel, gn, wn)
			}
		default:
			wb, _ := os.ReadFile(p)
			gb, err := os.ReadFile(g)
			if err != nil {
				t.Errorf("%s: %v", rel, err)
			} else if !bytes.Equal(gb, wb) {
				t.Errorf("%s: %d bytes differ from the %d wanted", rel, len(gb), len(wb))
			}
			if gi.Size() != int64(len(wb)) {
				t.Errorf("%s: size %d, want %d", rel, gi.Size(), len(wb))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("compared nothing")
	}
}

func dirNames(t testing.TB, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

// dagTree reads a DAG back from a store: path -> file content, "dir/"
// for directories, "-> target" for symlinks.
func dagTree(t testing.TB, g unixfs.Getter, root cid.Cid) map[string]string {
	t.Helper()
	out := map[string]string{}
	var walk func(c cid.Cid, path string)
	walk = func(c cid.Cid, path string) {
		n, err := unixfs.Get(ctx, g, c)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		switch {
		case n.IsDir():
			if path != "" {
				out[path] = "dir/"
			}
			es, err := unixfs.List(ctx, g, n)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range es {
				walk(e.CID, strings.TrimPrefix(path+"/"+e.Name, "/"))
			}
		case n.IsFile():
			var b bytes.Buffer
			if err := unixfs.ReadRange(ctx, g, n, 0, n.FileSize(), func(p []byte) error {
				b.Write(p)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			out[path] = b.String()
		case n.FS.Type == unixfs.TSymlink:
			out[path] = "-> " + string(n.FS.Data)
		}
	}
	walk(root, "")
	return out
}

// recorder is a Publisher that remembers what it published.
type recorder struct {
	mu       sync.Mutex // guards values, fail and failures
	values   []string
	fail     error
	failures int
}

func (r *recorder) Publish(ctx context.Context, v string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		r.failures++
		return r.fail
	}
	r.values = append(r.values, v)
	return nil
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.values)
}

// last returns the CID last published, or cid.Undef.
func (r *recorder) last(t testing.TB) cid.Cid {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.values) == 0 {
		return cid.Undef
	}
	c, err := cid.Decode(strings.TrimPrefix(r.values[len(r.values)-1], "/ipfs/"))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// blockingGetter serves from g, except the blocks in block, for which Get
// waits until its context ends. It counts the waits under way.
type blockingGetter struct {
	g unixfs.Getter

	mu      sync.Mutex // guards block and waiting
	block   map[cid.Cid]bool
	waiting int
	started chan struct{} // receives once per wait started
}

func newBlockingGetter(g unixfs.Getter, block ...cid.Cid) *blockingGetter {
	b := &blockingGetter{g: g, block: map[cid.Cid]bool{}, started: make(chan struct{}, 100)}
	for _, c := range block {
		b.block[c] = true
	}
	return b
}

func (b *blockingGetter) Get(ctx context.Context, c cid.Cid) ([]byte, error) {
	b.mu.Lock()
	blocked := b.block[c]
	if blocked {
		b.waiting++
	}
	b.mu.Unlock()
	if !blocked {
		return b.g.Get(ctx, c)
	}
	select {
	case b.started <- struct{}{}:
	default:
	}
	<-ctx.Done()
	b.mu.Lock()
	b.waiting--
	b.mu.Unlock()
	return nil, ctx.Err()
}

func (b *blockingGetter) waits() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.waiting
}

func isErrno(err, want error) bool { return errors.Is(err, want) }
