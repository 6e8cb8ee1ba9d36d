package fuse

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/ipfs/go-cid"

	"node/ipns"
	"node/unixfs"
)

// Timeouts the kernel is given for what it may cache.
const (
	// immutableTimeout: entries and attributes of content addressed by
	// CID never change.
	immutableTimeout = time.Hour
	// localTimeout: /ipns/local changes only through this mount, but a
	// short timeout keeps the kernel's view fresh at little cost.
	localTimeout = time.Second
	// minNameTTL floors the TTL of a resolved name, so a TTL of zero does
	// not resolve the name again on every access.
	minNameTTL = time.Second
)

// blockSize is the st_blksize files report: tools such as cat and cp size
// their reads by it, and larger reads cost fewer round trips.
const blockSize = 1 << 20

// xattrCID is the extended attribute holding an entry's CID.
const xattrCID = "user.ipfs.cid"

// fetchParallel is how many child nodes a directory listing fetches at
// once.
const fetchParallel = 64

// mountFS is the state the nodes of one mount share.
type mountFS struct {
	cfg   Config
	g     unixfs.Getter // cfg.Blocks, each fetch bounded by cfg.ReadTimeout
	cache *metaCache
	log   *slog.Logger
	uid   uint32
	gid   uint32
	// ctx ends when the mount is torn down; streams run under it.
	ctx    context.Context
	cancel context.CancelFunc

	hiddenMu     sync.Mutex // guards hiddenLogged
	hiddenLogged map[cid.Cid]bool

	// directIO: the kernel maps files opened with FOPEN_DIRECT_IO, so
	// large files may be read that way.
	directIO atomic.Bool
	// noFlush: the mount has no writable files, so FLUSH may be refused
	// (ENOSYS), which makes the kernel stop sending it.
	noFlush bool
}

// directIOMinSize: files from this size up are read with direct I/O
// (when the kernel allows it). Smaller ones keep the page cache, which
// serves repeated and small reads without a round trip.
const directIOMinSize = 1 << 20

func newMountFS(cfg Config) *mountFS {
	ctx, cancel := context.WithCancel(context.Background())
	return &mountFS{
		cfg:          cfg,
		g:            timeoutGetter{g: cfg.Blocks, d: cfg.ReadTimeout},
		cache:        newMetaCache(64 << 20),
		log:          cfg.Log,
		uid:          uint32(os.Getuid()),
		gid:          uint32(os.Getgid()),
		ctx:          ctx,
		cancel:       cancel,
		hiddenLogged: map[cid.Cid]bool{},
	}
}

// fetchMeta returns what the mount shows of the node c.
func (fsys *mountFS) fetchMeta(ctx context.Context, c cid.Cid) (*meta, error) {
	if m := fsys.cache.get(c); m != nil {
		return m, nil
	}
	b, err := fsys.g.Get(ctx, c)
	if err != nil {
		return nil, err
	}
	n, err := unixfs.Decode(c, b)
	if err != nil {
		return nil, err
	}
	m, err := metaOf(n, len(b))
	if err != nil {
		return nil, err
	}
	fsys.cache.add(m)
	return m, nil
}

// fetchMetas fetches the nodes of entries, fetchParallel at a time.
// errs[i] is set where metas[i] could not be fetched. It stops early only
// when ctx ends.
func (fsys *mountFS) fetchMetas(ctx context.Context, entries []unixfs.DirEntry) (metas []*meta, errs []error) {
	metas = make([]*meta, len(entries))
	errs = make([]error, len(entries))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(fetchParallel, len(entries)) {
		wg.Go(func() {
			for i := range next {
				metas[i], errs[i] = fsys.fetchMeta(ctx, entries[i].CID)
			}
		})
	}
	for i := range entries {
		select {
		case next <- i:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(next)
	wg.Wait()
	return metas, errs
}

// logHidden reports, once per directory, entries that a listing hid.
func (fsys *mountFS) logHidden(dir cid.Cid, n int) {
	fsys.hiddenMu.Lock()
	seen := fsys.hiddenLogged[dir]
	if !seen {
		if len(fsys.hiddenLogged) > 10000 {
			clear(fsys.hiddenLogged)
		}
		fsys.hiddenLogged[dir] = true
	}
	fsys.hiddenMu.Unlock()
	if !seen {
		fsys.log.Warn("directory has entries that cannot be file names (empty, \".\", \"..\", with '/' or NUL, over 255 bytes, or repeated); they are hidden",
			"dir", dir, "hidden", n)
	}
}

// errno turns an error into what the kernel is told, logging what is not
// an ordinary answer.
func (fsys *mountFS) errno(ctx context.Context, op string, err error) syscall.Errno {
	switch {
	case err == nil:
		return 0
	case ctx.Err() != nil && errors.Is(err, context.Canceled):
		return syscall.EINTR
	case errors.Is(err, unixfs.ErrNoLink), errors.Is(err, ipns.ErrNotFound), errors.Is(err, ipns.ErrInvalidName):
		return syscall.ENOENT
	case errors.Is(err, unixfs.ErrNotDir):
		return syscall.ENOTDIR
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno
	}
	fsys.log.Warn(op+" failed", "err", err)
	return syscall.EIO
}

// fillAttr describes immutable content.
func (fsys *mountFS) fillAttr(m *meta, ino uint64, out *fuse.Attr) {
	out.Ino = ino
	out.Mode = m.kind.mode() | m.perm
	out.Size = m.size
	out.Nlink = 1
	out.Blksize = blockSize
	out.Owner = fuse.Owner{Uid: fsys.uid, Gid: fsys.gid}
	t := m.mtime
	if t.IsZero() {
		t = time.Unix(0, 0)
	}
	out.SetTimes(&t, &t, &t)
}

// getxattr answers a read of xattrCID.
func getxattr(attr string, c cid.Cid, dest []byte) (uint32, syscall.Errno) {
	if attr != xattrCID || !c.Defined() {
		return 0, syscall.ENODATA
	}
	v := c.String()
	if len(dest) == 0 {
		return uint32(len(v)), 0
	}
	if len(dest) < len(v) {
		return uint32(len(v)), syscall.ERANGE
	}
	return uint32(copy(dest, v)), 0
}

func listxattr(dest []byte) (uint32, syscall.Errno) {
	v := xattrCID + "\x00"
	if len(dest) == 0 {
		return uint32(len(v)), 0
	}
	if len(dest) < len(v) {
		return uint32(len(v)), syscall.ERANGE
	}
	return uint32(copy(dest, v)), 0
}
