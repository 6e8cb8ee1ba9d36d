package fuse

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ipfs/go-cid"

	"node/blockstore"
	"node/unixfs"
	"node/unixfs/importer"
)

// localTree is the writable tree of /ipns/local: a tree in memory whose
// unchanged parts are still CIDs, loaded a directory at a time when first
// looked into, and whose changed files are staged in temporary files until
// they are imported.
//
// What a snapshot (a published root) holds of each file is its committed
// content: the whole file as it was when last closed by its last writer
// (the close of a file's only writer imports it before close(2) returns),
// or when last fsynced. A file open for writing that has not been fsynced
// since it was opened shows its previous committed content (a new file:
// none, it is left out), so a snapshot never holds a half-written file.
//
// Locks: fileData.mu (one file's content) may be taken before tree.mu,
// never after it. Nothing slow (fetching, importing) runs under tree.mu,
// except writing directory nodes during a build.
type localTree struct {
	fsys     *mountFS
	store    blockstore.Store
	stageDir string
	pipes    atomic.Int32 // files being imported as they are written

	pipeMu  sync.Mutex // guards running
	running map[*importPipe]struct{}

	mu      sync.Mutex // guards every mnode's parent, name, perm, mtime, children, base, cached, committed and target; pending; nextIno
	root    *mnode
	nextIno uint64
	pending map[*mnode]struct{} // files whose content changed since it was committed

	flusher *flusher
	gc      *gcHold // keeps GC off written blocks until they are published
}

// mnode is a file, directory or symlink of /ipns/local.
type mnode struct {
	ino  uint64
	kind kind

	// Guarded by tree.mu.
	parent *mnode // nil for the root and for removed nodes
	name   string
	perm   uint32
	mtime  time.Time // directories and symlinks; files keep theirs in f
	// Directories: children is nil until loaded from base.
	base     cid.Cid
	children map[string]*mnode
	subdirs  int // children that are directories
	// Directories and symlinks: the DAG of the current content, CID
	// undefined when it changed since the last build.
	cached importer.Node
	// Files: the committed content (see localTree), CID undefined for a
	// file never committed.
	committed importer.Node
	target    string // symlinks

	f *fileData // files
}

// fileData is the content of a file of /ipns/local. It is in one of
// three states: base (the content is the DAG base, or empty when base is
// undefined), piped (written from empty, in order: every byte so far went
// into an import that runs as the file is written, so nothing is staged
// on disk), or staged (the content is the temporary file stage).
type fileData struct {
	mu       sync.Mutex    // guards the fields below; taken before tree.mu, never after
	stage    *os.File      // staged: the content
	pipe     *importPipe   // piped: the import the content goes into
	base     cid.Cid       // neither: the content (undefined: empty)
	imported importer.Node // the DAG of base when it was imported since the last commit
	dirty    bool          // the content differs from the committed one
	writers  int           // open handles that may write
	opens    int           // open handles

	size  atomic.Int64 // the content's length; written under mu
	mtime atomic.Int64 // unix nanoseconds
}

const localIno = 1 << 63

func newLocalTree(fsys *mountFS, store blockstore.Store, stageDir string, root cid.Cid) *localTree {
	t := &localTree{fsys: fsys, store: store, stageDir: stageDir, nextIno: localIno + 2, pending: map[*mnode]struct{}{}}
	t.gc = &gcHold{hold: fsys.cfg.HoldGC}
	if t.gc.hold != nil {
		t.store = heldStore{Store: store, g: t.gc}
	}
	t.root = &mnode{ino: localIno + 1, kind: kindDir, perm: 0o755, mtime: time.Now()}
	if root.Defined() {
		t.root.base = root
		t.root.cached = importer.Node{CID: root}
	} else {
		t.root.children = map[string]*mnode{}
	}
	return t
}

// newNode makes a node; the caller holds t.mu.
func (t *localTree) newNode(k kind, perm uint32) *mnode {
	m := &mnode{ino: t.nextIno, kind: k, perm: perm, mtime: time.Now()}
	t.nextIno++
	if k == kindFile {
		m.f = &fileData{}
		m.f.mtime.Store(m.mtime.UnixNano())
	}
	return m
}

// invalidate records that directory d (and so every directory above it)
// changed; the caller holds t.mu.
func (t *localTree) invalidate(d *mnode) {
	for ; d != nil; d = d.parent {
		d.cached = importer.Node{}
		d.mtime = time.Now()
	}
}

// changed tells the flusher to publish after the usual delay.
func (t *localTree) changed() {
	if t.flusher != nil {
		t.flusher.kick()
	}
}

// load reads a directory's entries from its DAG, the first time it is
// looked into. Fetching runs without t.mu.
func (t *localTree) load(ctx context.Context, d *mnode) error {
	t.mu.Lock()
	loaded, base := d.children != nil, d.base
	t.mu.Unlock()
	if loaded {
		return nil
	}
	m, err := t.fsys.fetchMeta(ctx, base)
	if err != nil {
		return err
	}
	if m.kind != kindDir {
		if d != t.root {
			return fmt.Errorf("%s is not a directory: %w", base, unixfs.ErrNotDir)
		}
		t.fsys.log.Warn("the published root of /ipns/local is not a directory: starting with an empty one, which the next publication replaces it with",
			"root", base, "is", m.kind.String())
		t.mu.Lock()
		defer t.mu.Unlock()
		if d.children == nil && d.base == base {
			d.children, d.cached = map[string]*mnode{}, importer.Node{}
		}
		return nil
	}
	entries, hidden, err := visibleEntries(ctx, t.fsys.g, m.dir)
	if err != nil {
		return err
	}
	if hidden > 0 {
		t.fsys.log.Warn("a directory of /ipns/local has entries that cannot be file names; they are dropped from the next published root",
			"dir", base, "dropped", hidden)
	}
	metas, errs := t.fsys.fetchMetas(ctx, entries)
	for i, err := range errs {
		if err != nil && !errors.Is(err, errUnsupported) {
			return err
		}
		if err != nil {
			t.fsys.log.Warn("an entry of /ipns/local is not a file, directory or symlink; it is dropped from the next published root",
				"dir", base, "name", entries[i].Name, "err", err)
		}
	}

	t.mu.Lock()
	defer t.mu.Unlock()
	if d.children != nil || d.base != base {
		return nil // loaded meanwhile
	}
	children := make(map[string]*mnode, len(entries))
	for i, e := range entries {
		cm := metas[i]
		if cm == nil {
			continue
		}
		c := t.newNode(cm.kind, cm.perm)
		c.parent, c.name = d, e.Name
		if !cm.mtime.IsZero() {
			c.mtime = cm.mtime
		}
		ref := importer.Node{CID: e.CID, Tsize: e.Tsize}
		switch cm.kind {
		case kindFile:
			ref.FileSize = cm.size
			c.committed = ref
			c.f.base = e.CID
			c.f.size.Store(int64(cm.size))
			c.f.mtime.Store(c.mtime.UnixNano())
		case kindDir:
			c.base, c.cached = e.CID, ref
			d.subdirs++
		case kindSymlink:
			c.target, c.cached = cm.target, ref
		}
		children[e.Name] = c
	}
	d.children = children
	return nil
}

// child returns d's entry name, loading d if needed.
func (t *localTree) child(ctx context.Context, d *mnode, name string) (*mnode, error) {
	if err := t.load(ctx, d); err != nil {
		return nil, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	c := d.children[name]
	if c == nil {
		return nil, syscall.ENOENT
	}
	return c, nil
}

// add makes a new entry in d.
func (t *localTree) add(ctx context.Context, d *mnode, name string, k kind, perm uint32, target string) (*mnode, error) {
	if !validName(name) {
		return nil, syscall.EINVAL
	}
	if err := t.load(ctx, d); err != nil {
		return nil, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if d.parent == nil && d != t.root {
		return nil, syscall.ENOENT // d was removed
	}
	if d.children[name] != nil {
		return nil, syscall.EEXIST
	}
	c := t.newNode(k, perm)
	c.parent, c.name = d, name
	switch k {
	case kindDir:
		c.children = map[string]*mnode{}
		d.subdirs++
	case kindSymlink:
		c.target = target
	case kindFile:
		// A new file counts as changed, so that it is committed (empty,
		// if nothing is written) once closed.
		c.f.dirty = true
		t.pending[c] = struct{}{}
	}
	d.children[name] = c
	t.invalidate(d)
	return c, nil
}

// remove deletes d's entry name: a file or symlink when dir is false, an
// empty directory when it is true.
func (t *localTree) remove(ctx context.Context, d *mnode, name string, dir bool) error {
	c, err := t.child(ctx, d, name)
	if err != nil {
		return err
	}
	if c.kind == kindDir {
		if !dir {
			return syscall.EISDIR
		}
		if err := t.load(ctx, c); err != nil {
			return err
		}
	} else if dir {
		return syscall.ENOTDIR
	}
	t.mu.Lock()
	if d.children[name] != c {
		t.mu.Unlock()
		return syscall.ENOENT // changed meanwhile
	}
	if c.kind == kindDir && len(c.children) > 0 {
		t.mu.Unlock()
		return syscall.ENOTEMPTY
	}
	t.detach(c)
	t.invalidate(d)
	t.mu.Unlock()
	t.released(c)
	return nil
}

// detach takes c out of the tree; the caller holds t.mu.
func (t *localTree) detach(c *mnode) {
	delete(c.parent.children, c.name)
	if c.kind == kindDir {
		c.parent.subdirs--
	}
	c.parent = nil
	delete(t.pending, c)
}

// moveAll makes each of cs the entry names[i] of dirs[i], keeping their
// pending state; the caller holds t.mu.
func (t *localTree) moveAll(cs, dirs []*mnode, names []string) {
	pending := make([]bool, len(cs))
	for i, c := range cs {
		_, pending[i] = t.pending[c]
		t.detach(c)
	}
	for i, c := range cs {
		t.attach(c, dirs[i], names[i])
		if pending[i] {
			t.pending[c] = struct{}{}
		}
	}
}

// attach makes c the entry name of d, which has none; the caller holds
// t.mu.
func (t *localTree) attach(c, d *mnode, name string) {
	d.children[name] = c
	if c.kind == kindDir {
		d.subdirs++
	}
	c.parent, c.name = d, name
}

// released drops the staged content of a removed file nobody has open.
func (t *localTree) released(c *mnode) {
	if c.kind != kindFile {
		return
	}
	t.mu.Lock()
	gone := c.parent == nil
	t.mu.Unlock()
	if !gone {
		return
	}
	f := c.f
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.opens == 0 {
		t.dropContentLocked(f)
	}
}

// dropContentLocked forgets f's staged or piped content; the caller
// holds f.mu.
func (t *localTree) dropContentLocked(f *fileData) {
	if f.stage != nil {
		f.stage.Close()
		f.stage = nil
	}
	if f.pipe != nil {
		f.pipe.abandon()
		f.pipe = nil
		t.pipes.Add(-1)
	}
}

// rename moves d1's entry n1 to d2's entry n2, replacing what is there
// (a file by a file, an empty directory by a directory) unless flags say
// otherwise (RENAME_NOREPLACE, RENAME_EXCHANGE).
func (t *localTree) rename(ctx context.Context, d1 *mnode, n1 string, d2 *mnode, n2 string, flags uint32) error {
	if !validName(n2) {
		return syscall.EINVAL
	}
	src, err := t.child(ctx, d1, n1)
	if err != nil {
		return err
	}
	if err := t.load(ctx, d2); err != nil {
		return err
	}
	// A directory being replaced must be loaded to know it is empty.
	if dst, err := t.child(ctx, d2, n2); err == nil && dst.kind == kindDir {
		if err := t.load(ctx, dst); err != nil {
			return err
		}
	}

	t.mu.Lock()
	if d1.children[n1] != src {
		t.mu.Unlock()
		return syscall.ENOENT
	}
	if d2.parent == nil && d2 != t.root {
		t.mu.Unlock()
		return syscall.ENOENT
	}
	for p := d2; p != nil; p = p.parent {
		if p == src {
			t.mu.Unlock()
			return syscall.EINVAL // into itself
		}
	}
	dst := d2.children[n2]
	switch {
	case dst == src:
		t.mu.Unlock()
		return nil
	case flags&renameExchange != 0:
		if dst == nil {
			t.mu.Unlock()
			return syscall.ENOENT
		}
		for p := d1; p != nil; p = p.parent {
			if p == dst {
				t.mu.Unlock()
				return syscall.EINVAL
			}
		}
		t.moveAll([]*mnode{src, dst}, []*mnode{d2, d1}, []string{n2, n1})
		t.invalidate(d1)
		t.invalidate(d2)
		t.mu.Unlock()
		return nil
	case dst != nil && flags&renameNoReplace != 0:
		t.mu.Unlock()
		return syscall.EEXIST
	case dst != nil && dst.kind == kindDir && src.kind != kindDir:
		t.mu.Unlock()
		return syscall.EISDIR
	case dst != nil && dst.kind != kindDir && src.kind == kindDir:
		t.mu.Unlock()
		return syscall.ENOTDIR
	case dst != nil && dst.kind == kindDir && (dst.children == nil || len(dst.children) > 0):
		t.mu.Unlock()
		return syscall.ENOTEMPTY
	}
	if dst != nil {
		t.detach(dst)
	}
	t.moveAll([]*mnode{src}, []*mnode{d2}, []string{n2})
	t.invalidate(d1)
	t.invalidate(d2)
	t.mu.Unlock()
	if dst != nil {
		t.released(dst)
	}
	return nil
}

// The rename flags of renameat2(2).
const (
	renameNoReplace = 1 << 0
	renameExchange  = 1 << 1
)

// list returns d's entries sorted by name.
func (t *localTree) list(ctx context.Context, d *mnode) ([]*mnode, error) {
	if err := t.load(ctx, d); err != nil {
		return nil, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]*mnode, 0, len(d.children))
	for _, c := range d.children {
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b *mnode) int {
		switch {
		case a.name < b.name:
			return -1
		case a.name > b.name:
			return 1
		}
		return 0
	})
	return out, nil
}

// newStage makes an empty staged file. It is unlinked at once: the open
// file is all that is needed, and a crash leaves nothing behind.
func (t *localTree) newStage() (*os.File, error) {
	st, err := os.CreateTemp(t.stageDir, "stage-")
	if err != nil {
		return nil, fmt.Errorf("cannot stage a file of /ipns/local in %s: %w", t.stageDir, err)
	}
	os.Remove(st.Name())
	return st, nil
}

// stageLocked makes sure f's content is in a staged file, copying the
// first keep bytes of the committed content into it. The caller holds
// f.mu.
func (t *localTree) stageLocked(ctx context.Context, f *fileData, keep int64) error {
	if f.stage != nil {
		return nil
	}
	if err := t.unpipeLocked(f); err != nil {
		return err
	}
	st, err := t.newStage()
	if err != nil {
		return err
	}
	if keep = min(keep, f.size.Load()); keep > 0 && f.base.Defined() {
		node, err := unixfs.Get(ctx, t.fsys.g, f.base)
		if err == nil {
			w := &offsetWriter{f: st}
			err = unixfs.ReadRange(ctx, t.fsys.g, node, 0, uint64(keep), w.write)
		}
		if err != nil {
			st.Close()
			return err
		}
	}
	f.stage = st
	return nil
}

type offsetWriter struct {
	f   *os.File
	off int64
}

func (w *offsetWriter) write(b []byte) error {
	n, err := w.f.WriteAt(b, w.off)
	w.off += int64(n)
	return err
}

// write writes data at off into file m.
func (t *localTree) write(ctx context.Context, m *mnode, data []byte, off int64) (int, error) {
	f := m.f
	f.mu.Lock()
	defer f.mu.Unlock()
	size := f.size.Load()
	if f.pipe == nil && f.stage == nil && size == 0 && off == 0 && t.pipes.Load() < maxPipes {
		// Written from empty, in order (so far): import as it comes.
		t.pipes.Add(1)
		f.pipe = t.startPipe()
		f.base, f.imported = cid.Undef, importer.Node{}
	}
	var n int
	var err error
	if f.pipe != nil && off == size {
		if n, err = f.pipe.pw.Write(data); err != nil {
			t.dropContentLocked(f)
			f.base, f.imported = cid.Undef, importer.Node{}
			f.size.Store(0)
			t.markDirtyLocked(m)
			return 0, fmt.Errorf("importing a file of /ipns/local as it is written (its content is lost): %w", err)
		}
	} else {
		if err := t.stageLocked(ctx, f, size); err != nil {
			return 0, err
		}
		if n, err = f.stage.WriteAt(data, off); err != nil {
			err = fmt.Errorf("writing a staged file of /ipns/local: %w", err)
		}
	}
	if end := off + int64(n); end > size {
		f.size.Store(end)
	}
	f.mtime.Store(time.Now().UnixNano())
	t.markDirtyLocked(m)
	return n, err
}

// maxPipes bounds, loosely, the files imported as they are written at
// once (each holds an importer's buffers); others are staged.
const maxPipes = 8

// importPipe is an import fed by writes.
type importPipe struct {
	pw   *io.PipeWriter
	done chan struct{}
	node importer.Node // set before done is closed
	err  error         // set before done is closed
}

var errAbandoned = errors.New("the file was removed or emptied while being written")

func (t *localTree) startPipe() *importPipe {
	pr, pw := io.Pipe()
	p := &importPipe{pw: pw, done: make(chan struct{})}
	t.pipeMu.Lock()
	if t.running == nil {
		t.running = map[*importPipe]struct{}{}
	}
	t.running[p] = struct{}{}
	t.pipeMu.Unlock()
	go func() {
		defer close(p.done)
		defer func() {
			t.pipeMu.Lock()
			delete(t.running, p)
			t.pipeMu.Unlock()
		}()
		ctx := t.fsys.ctx
		im, err := importer.New(ctx, t.fsys.cfg.Import, t.store)
		if err == nil {
			p.node, err = im.AddFile(ctx, pr)
			if cerr := im.Close(); err == nil {
				err = cerr
			}
		}
		p.err = err
		if err == nil {
			err = io.ErrClosedPipe
		}
		pr.CloseWithError(err) // a writer still blocked returns
	}()
	return p
}

// finish ends the input and returns the imported DAG.
func (p *importPipe) finish() (importer.Node, error) {
	p.pw.Close()
	<-p.done
	return p.node, p.err
}

// abandon stops the import.
func (p *importPipe) abandon() {
	p.pw.CloseWithError(errAbandoned)
	<-p.done
}

// abandonPipes stops the imports of files still open for writing when the
// mount ends: what they held was not committed and is not kept.
func (t *localTree) abandonPipes() {
	t.pipeMu.Lock()
	var ps []*importPipe
	for p := range t.running {
		ps = append(ps, p)
	}
	t.pipeMu.Unlock()
	for _, p := range ps {
		p.pw.CloseWithError(errAbandoned)
	}
}

// unpipeLocked ends f's import as written: its content becomes base.
// The caller holds f.mu.
func (t *localTree) unpipeLocked(f *fileData) error {
	if f.pipe == nil {
		return nil
	}
	n, err := f.pipe.finish()
	f.pipe = nil
	t.pipes.Add(-1)
	if err != nil {
		f.base, f.imported = cid.Undef, importer.Node{}
		f.size.Store(0)
		return fmt.Errorf("importing a file of /ipns/local as it was written (its content is lost): %w", err)
	}
	f.base, f.imported = n.CID, n
	return nil
}

// truncate sets file m's length.
func (t *localTree) truncate(ctx context.Context, m *mnode, size int64) error {
	f := m.f
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case size == f.size.Load() && f.stage == nil && f.pipe == nil:
		return nil // nothing changes
	case size == 0:
		// Nothing to keep.
		t.dropContentLocked(f)
		f.base, f.imported = cid.Undef, importer.Node{}
	case f.pipe != nil && size == f.size.Load():
		return nil
	default:
		if err := t.stageLocked(ctx, f, size); err != nil {
			return err
		}
		if err := f.stage.Truncate(size); err != nil {
			return fmt.Errorf("truncating a staged file of /ipns/local: %w", err)
		}
	}
	f.size.Store(size)
	f.mtime.Store(time.Now().UnixNano())
	t.markDirtyLocked(m)
	return nil
}

// markDirtyLocked records that m's content changed; the caller holds
// m.f.mu.
func (t *localTree) markDirtyLocked(m *mnode) {
	if m.f.dirty {
		return
	}
	m.f.dirty = true
	t.mu.Lock()
	if m.parent != nil {
		t.pending[m] = struct{}{}
	}
	t.mu.Unlock()
}

// readStaged reads file m's staged content. When the content is not
// staged, staged is false and base is the CID the caller reads instead.
func (t *localTree) readStaged(m *mnode, dest []byte, off int64) (n int, base cid.Cid, staged bool, err error) {
	f := m.f
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := t.unpipeLocked(f); err != nil {
		return 0, cid.Undef, false, err
	}
	if f.stage == nil {
		return 0, f.base, false, nil
	}
	size := f.size.Load()
	if off >= size {
		return 0, cid.Undef, true, nil
	}
	dest = dest[:min(int64(len(dest)), size-off)]
	n, err = f.stage.ReadAt(dest, off)
	if err == io.EOF {
		err = nil
	}
	return n, cid.Undef, true, err
}

// open counts a handle of file m; trunc empties the file.
func (t *localTree) open(ctx context.Context, m *mnode, write, trunc bool) error {
	f := m.f
	f.mu.Lock()
	f.opens++
	if write {
		f.writers++
	}
	f.mu.Unlock()
	if trunc {
		if err := t.truncate(ctx, m, 0); err != nil {
			t.release(m, write)
			return err
		}
	}
	return nil
}

// release uncounts a handle of file m. The last writer's close makes the
// content eligible for the next snapshot.
func (t *localTree) release(m *mnode, write bool) {
	f := m.f
	f.mu.Lock()
	f.opens--
	if write {
		f.writers--
	}
	lastWriter := write && f.writers == 0 && f.dirty
	f.mu.Unlock()
	if lastWriter {
		t.changed()
	}
	t.released(m)
}
