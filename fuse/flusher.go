package fuse

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/ipfs/go-cid"

	"node/unixfs/importer"
)

// publishTimeout bounds one publication of /ipns/local.
const publishTimeout = time.Minute

// errInternal marks a broken invariant (reported, not panicked on: the
// data of other files is still served).
var errInternal = errors.New("internal error")

// errUnmounted answers requests made after the final flush.
var errUnmounted = errors.New("/ipns/local is unmounted")

// flusher is the goroutine that commits changed files, builds the new root
// of /ipns/local and publishes it: after PublishDelay without changes (and
// at the latest 10 delays after the first unpublished change), at once on
// fsync, and a last time at unmount. It alone builds, so snapshots are
// made one at a time; files are committed by it and by the close of their
// only writer.
type flusher struct {
	t     *localTree
	delay time.Duration

	kicks    chan struct{} // buffered 1: something changed
	reqs     chan flushReq
	stopReq  chan struct{}
	stopped  chan struct{}
	stopOnce sync.Once
	stopErr  error // set before stopped is closed

	published cid.Cid // the last root published; owned by the goroutine
}

// flushReq asks for a snapshot now: published (fsync), or only built to
// learn the CID of a node (cidOf set).
type flushReq struct {
	force *mnode // a file committed even though it is open for writing
	cidOf *mnode
	reply chan flushResult
}

type flushResult struct {
	cid cid.Cid
	err error
}

func newFlusher(t *localTree, delay time.Duration, published cid.Cid) *flusher {
	fl := &flusher{
		t: t, delay: delay, published: published,
		kicks: make(chan struct{}, 1), reqs: make(chan flushReq),
		stopReq: make(chan struct{}), stopped: make(chan struct{}),
	}
	t.flusher = fl
	go fl.run()
	return fl
}

func (fl *flusher) kick() {
	select {
	case fl.kicks <- struct{}{}:
	default:
	}
}

func (fl *flusher) run() {
	defer close(fl.stopped)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var first time.Time // the first change not yet published
	var retry time.Duration
	for {
		select {
		case <-fl.kicks:
			now := time.Now()
			if first.IsZero() {
				first = now
			}
			timer.Reset(max(0, min(fl.delay, first.Add(10*fl.delay).Sub(now))))
		case <-timer.C:
			if err := fl.flush(nil); err != nil {
				retry = min(max(2*retry, fl.delay), time.Minute)
				fl.t.fsys.log.Error("publishing /ipns/local failed; retrying", "err", err, "in", retry)
				timer.Reset(retry)
				continue
			}
			first, retry = time.Time{}, 0
		case req := <-fl.reqs:
			var r flushResult
			if req.cidOf != nil {
				r.cid, r.err = fl.cidOf(req.cidOf)
			} else if r.err = fl.flush(req.force); r.err == nil {
				first, retry = time.Time{}, 0
				timer.Stop()
			}
			req.reply <- r
		case <-fl.stopReq:
			timer.Stop()
			fl.stopErr = fl.flush(nil)
			fl.t.gc.published(0, true) // the mount is gone: nothing to protect
			return
		}
	}
}

// request runs req on the flusher goroutine.
func (fl *flusher) request(ctx context.Context, req flushReq) (cid.Cid, error) {
	req.reply = make(chan flushResult, 1)
	select {
	case fl.reqs <- req:
	case <-fl.stopped:
		return cid.Undef, errUnmounted
	case <-ctx.Done():
		return cid.Undef, ctx.Err()
	}
	select {
	case r := <-req.reply:
		return r.cid, r.err
	case <-ctx.Done():
		return cid.Undef, ctx.Err()
	}
}

// sync publishes now, committing file force (fsynced) even if it is open
// for writing.
func (fl *flusher) sync(ctx context.Context, force *mnode) error {
	_, err := fl.request(ctx, flushReq{force: force})
	return err
}

// stop makes the final snapshot and ends the goroutine.
func (fl *flusher) stop() error {
	fl.stopOnce.Do(func() {
		close(fl.stopReq)
		<-fl.stopped
	})
	return fl.stopErr
}

// flush commits the files that may be committed, builds the root and
// publishes it when it changed. The root's blocks are made durable
// (Sync) before the name points at them.
func (fl *flusher) flush(force *mnode) error {
	ctx, cancel := context.WithTimeout(context.Background(), publishTimeout)
	defer cancel()
	t := fl.t
	for _, m := range t.takePending(force) {
		if err := t.commit(ctx, m, m == force); err != nil {
			return err
		}
	}
	root, err := t.build(ctx, nil)
	if err != nil {
		return err
	}
	// The GC hold may go once this root is published, if every block
	// written so far is in it: nothing was written after the mark, no file
	// waits to be committed and none is being imported as it is written.
	mark := t.gc.mark()
	t.mu.Lock()
	settled := len(t.pending) == 0 && t.pipes.Load() == 0
	t.mu.Unlock()
	if root == fl.published {
		if settled {
			t.gc.published(mark, false)
		}
		return nil
	}
	if s, ok := t.store.(interface{ Sync(context.Context) error }); ok {
		if err := s.Sync(ctx); err != nil {
			return fmt.Errorf("making the blocks of /ipns/local durable: %w", err)
		}
	}
	if pub := t.fsys.cfg.Local; pub != nil {
		if err := pub.Publish(ctx, "/ipfs/"+root.String()); err != nil {
			return fmt.Errorf("publishing /ipns/local as /ipfs/%s: %w", root, err)
		}
		t.fsys.log.Info("published /ipns/local", "root", root)
	}
	fl.published = root
	if settled {
		t.gc.published(mark, false)
	}
	return nil
}

// cidOf returns the CID m's content has in a snapshot: for a file, its
// committed content (undefined for a new file still being written); for
// a directory, the directory with every closed file under it committed.
func (fl *flusher) cidOf(m *mnode) (cid.Cid, error) {
	ctx, cancel := context.WithTimeout(context.Background(), publishTimeout)
	defer cancel()
	t := fl.t
	if m.kind == kindFile {
		if err := t.commit(ctx, m, false); err != nil {
			return cid.Undef, err
		}
	} else {
		for _, p := range t.takePending(nil) {
			if err := t.commit(ctx, p, false); err != nil {
				return cid.Undef, err
			}
		}
		if _, err := t.build(ctx, m); err != nil {
			return cid.Undef, err
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if m.kind == kindFile {
		return m.committed.CID, nil
	}
	return m.cached.CID, nil
}

// takePending lists the changed files still in the tree, and force.
func (t *localTree) takePending(force *mnode) []*mnode {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]*mnode, 0, len(t.pending)+1)
	for m := range t.pending {
		if m != force {
			out = append(out, m)
		}
	}
	if force != nil && force.kind == kindFile && force.parent != nil {
		out = append(out, force)
	}
	return out
}

// commit imports file m's content and makes it the committed one, if it
// changed and no handle may write to it (or forced: it was fsynced).
// Writes to m wait meanwhile, so the import sees one state of the file.
func (t *localTree) commit(ctx context.Context, m *mnode, forced bool) error {
	f := m.f
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.writers > 0 && !forced {
		return nil
	}
	return t.commitLocked(ctx, m)
}

// commitOnClose commits file m when the handle being closed is its only
// writer, so that closing a file makes its content the committed one
// before close(2) returns (a later open for writing cannot overtake it).
func (t *localTree) commitOnClose(ctx context.Context, m *mnode) error {
	f := m.f
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.writers != 1 {
		return nil // the last writer's release leaves it to the flusher
	}
	return t.commitLocked(ctx, m)
}

// commitLocked imports file m's content if it changed; the caller holds
// m.f.mu.
func (t *localTree) commitLocked(ctx context.Context, m *mnode) error {
	f := m.f
	if !f.dirty {
		return nil
	}
	if err := t.unpipeLocked(f); err != nil {
		return err
	}
	n := f.imported
	if f.stage != nil || !n.CID.Defined() || n.CID != f.base {
		var r io.Reader = bytes.NewReader(nil)
		switch {
		case f.stage != nil:
			r = io.NewSectionReader(f.stage, 0, f.size.Load())
		case f.base.Defined():
			return fmt.Errorf("file of /ipns/local changed without a stage (%s): %w", f.base, errInternal)
		}
		im, err := importer.New(ctx, t.fsys.cfg.Import, t.store)
		if err != nil {
			return err
		}
		n, err = im.AddFile(ctx, r)
		if cerr := im.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("importing a file of /ipns/local: %w", err)
		}
	}
	t.mu.Lock()
	m.committed = n
	delete(t.pending, m)
	if m.parent != nil {
		t.invalidate(m.parent)
	}
	t.mu.Unlock()
	f.dirty = false
	f.base = n.CID
	if f.writers == 0 && f.stage != nil {
		// The blocks hold the content now: free the disk.
		f.stage.Close()
		f.stage = nil
	}
	return nil
}

// build writes the directory nodes of the current tree (those changed
// since the last build) and returns the root's CID; extra, a node perhaps
// out of the tree, is built too.
func (t *localTree) build(ctx context.Context, extra *mnode) (cid.Cid, error) {
	im, err := importer.New(ctx, t.fsys.cfg.Import, t.store)
	if err != nil {
		return cid.Undef, err
	}
	var built []*mnode
	t.mu.Lock()
	root, err := t.buildNode(im, t.root, &built)
	if err == nil && extra != nil && extra.kind != kindFile {
		_, err = t.buildNode(im, extra, &built)
	}
	t.mu.Unlock()
	if cerr := im.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		// The blocks may not be stored: forget the CIDs made.
		t.mu.Lock()
		for _, m := range built {
			m.cached = importer.Node{}
		}
		t.mu.Unlock()
		return cid.Undef, fmt.Errorf("writing the directories of /ipns/local: %w", err)
	}
	return root.CID, nil
}

// buildNode returns the DAG of a directory or symlink, writing the nodes
// that changed; the caller holds t.mu.
func (t *localTree) buildNode(im *importer.Importer, d *mnode, built *[]*mnode) (importer.Node, error) {
	if d.cached.CID.Defined() {
		return d.cached, nil
	}
	if d.kind == kindSymlink {
		n, err := im.AddSymlink(d.target)
		if err != nil {
			return importer.Node{}, err
		}
		d.cached = n
		*built = append(*built, d)
		return n, nil
	}
	entries := make([]importer.Entry, 0, len(d.children))
	for name, c := range d.children {
		var n importer.Node
		switch c.kind {
		case kindFile:
			if !c.committed.CID.Defined() {
				continue // new, and not closed or fsynced yet
			}
			n = c.committed
		default:
			var err error
			if n, err = t.buildNode(im, c, built); err != nil {
				return importer.Node{}, err
			}
		}
		entries = append(entries, importer.Entry{Name: name, Node: n})
	}
	n, err := im.AddDirectory(entries)
	if err != nil {
		return importer.Node{}, err
	}
	d.cached = n
	*built = append(*built, d)
	return n, nil
}
