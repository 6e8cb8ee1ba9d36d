package fuse

import (
	"context"
	"sync"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/ipfs/go-cid"

	"node/unixfs"
)

// localNode is the kernel's view of an mnode. Each lookup makes one; go-fuse
// keeps the first made for an inode number, and every mnode has its own
// number, so all of them lead to the same mnode.
type localNode struct {
	fs.Inode
	t *localTree
	m *mnode
}

var (
	_ fs.NodeGetattrer   = (*localNode)(nil)
	_ fs.NodeSetattrer   = (*localNode)(nil)
	_ fs.NodeLookuper    = (*localNode)(nil)
	_ fs.NodeReaddirer   = (*localNode)(nil)
	_ fs.NodeCreater     = (*localNode)(nil)
	_ fs.NodeMkdirer     = (*localNode)(nil)
	_ fs.NodeSymlinker   = (*localNode)(nil)
	_ fs.NodeUnlinker    = (*localNode)(nil)
	_ fs.NodeRmdirer     = (*localNode)(nil)
	_ fs.NodeRenamer     = (*localNode)(nil)
	_ fs.NodeOpener      = (*localNode)(nil)
	_ fs.NodeReadlinker  = (*localNode)(nil)
	_ fs.NodeFsyncer     = (*localNode)(nil)
	_ fs.NodeGetxattrer  = (*localNode)(nil)
	_ fs.NodeListxattrer = (*localNode)(nil)
	_ fs.NodeLinker      = (*localNode)(nil)
	_ fs.NodeMknoder     = (*localNode)(nil)
	_ fs.NodeStatfser    = (*localNode)(nil)
)

// inode returns the kernel's inode of m under parent.
func (t *localTree) inode(ctx context.Context, parent *fs.Inode, m *mnode, out *fuse.EntryOut) *fs.Inode {
	t.fillAttr(m, &out.Attr)
	out.SetEntryTimeout(localTimeout)
	out.SetAttrTimeout(localTimeout)
	return parent.NewInode(ctx, &localNode{t: t, m: m}, fs.StableAttr{Mode: m.kind.mode(), Ino: m.ino})
}

func (t *localTree) fillAttr(m *mnode, out *fuse.Attr) {
	t.mu.Lock()
	perm, mtime := m.perm, m.mtime
	nlink := uint32(1)
	size := uint64(4096)
	switch m.kind {
	case kindDir:
		if m.children != nil {
			nlink = 2 + uint32(m.subdirs)
		}
	case kindSymlink:
		size = uint64(len(m.target))
	}
	t.mu.Unlock()
	if m.kind == kindFile {
		size = uint64(m.f.size.Load())
		mtime = time.Unix(0, m.f.mtime.Load())
	}
	out.Ino = m.ino
	out.Mode = m.kind.mode() | perm
	out.Size = size
	out.Nlink = nlink
	out.Blksize = blockSize
	out.Owner = fuse.Owner{Uid: t.fsys.uid, Gid: t.fsys.gid}
	out.SetTimes(&mtime, &mtime, &mtime)
}

func (n *localNode) errno(ctx context.Context, op string, err error) syscall.Errno {
	return n.t.fsys.errno(ctx, op+" in /ipns/local", err)
}

func (n *localNode) Getattr(ctx context.Context, f fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	n.t.fillAttr(n.m, &out.Attr)
	out.SetTimeout(localTimeout)
	return 0
}

func (n *localNode) Setattr(ctx context.Context, f fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if size, ok := in.GetSize(); ok {
		if n.m.kind != kindFile {
			return syscall.EISDIR
		}
		if err := n.t.truncate(ctx, n.m, int64(size)); err != nil {
			return n.errno(ctx, "truncate", err)
		}
		n.t.changed()
	}
	// Modes and times live in memory only: UnixFS nodes written here
	// carry neither.
	if mode, ok := in.GetMode(); ok {
		n.t.mu.Lock()
		n.m.perm = mode & 0o7777
		n.t.mu.Unlock()
	}
	if mtime, ok := in.GetMTime(); ok {
		if n.m.kind == kindFile {
			n.m.f.mtime.Store(mtime.UnixNano())
		} else {
			n.t.mu.Lock()
			n.m.mtime = mtime
			n.t.mu.Unlock()
		}
	}
	n.t.fillAttr(n.m, &out.Attr)
	out.SetTimeout(localTimeout)
	return 0
}

func (n *localNode) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	if n.m.kind != kindDir {
		return nil, syscall.ENOTDIR
	}
	c, err := n.t.child(ctx, n.m, name)
	if err != nil {
		return nil, n.errno(ctx, "lookup of "+name, err)
	}
	return n.t.inode(ctx, n.EmbeddedInode(), c, out), 0
}

func (n *localNode) Readdir(ctx context.Context) (fs.DirStream, syscall.Errno) {
	children, err := n.t.list(ctx, n.m)
	if err != nil {
		return nil, n.errno(ctx, "listing", err)
	}
	list := make([]fuse.DirEntry, len(children))
	n.t.mu.Lock()
	for i, c := range children {
		list[i] = fuse.DirEntry{Name: c.name, Mode: c.kind.mode(), Ino: c.ino}
	}
	n.t.mu.Unlock()
	return fs.NewListDirStream(list), 0
}

func (n *localNode) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	c, err := n.t.add(ctx, n.m, name, kindFile, mode&0o7777, "")
	if err != nil {
		return nil, nil, 0, n.errno(ctx, "create of "+name, err)
	}
	write := flags&syscall.O_ACCMODE != syscall.O_RDONLY
	if err := n.t.open(ctx, c, write, false); err != nil {
		return nil, nil, 0, n.errno(ctx, "create of "+name, err)
	}
	n.t.changed()
	return n.t.inode(ctx, n.EmbeddedInode(), c, out), &localHandle{t: n.t, m: c, write: write}, 0, 0
}

func (n *localNode) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	c, err := n.t.add(ctx, n.m, name, kindDir, mode&0o7777, "")
	if err != nil {
		return nil, n.errno(ctx, "mkdir of "+name, err)
	}
	n.t.changed()
	return n.t.inode(ctx, n.EmbeddedInode(), c, out), 0
}

func (n *localNode) Symlink(ctx context.Context, target, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	c, err := n.t.add(ctx, n.m, name, kindSymlink, 0o777, target)
	if err != nil {
		return nil, n.errno(ctx, "symlink of "+name, err)
	}
	n.t.changed()
	return n.t.inode(ctx, n.EmbeddedInode(), c, out), 0
}

// Link: UnixFS has no hard links.
func (n *localNode) Link(ctx context.Context, target fs.InodeEmbedder, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return nil, syscall.EPERM
}

// Mknod: UnixFS has no devices, fifos or sockets.
func (n *localNode) Mknod(ctx context.Context, name string, mode uint32, dev uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return nil, syscall.EPERM
}

func (n *localNode) Unlink(ctx context.Context, name string) syscall.Errno {
	if err := n.t.remove(ctx, n.m, name, false); err != nil {
		return n.errno(ctx, "unlink of "+name, err)
	}
	n.t.changed()
	return 0
}

func (n *localNode) Rmdir(ctx context.Context, name string) syscall.Errno {
	if err := n.t.remove(ctx, n.m, name, true); err != nil {
		return n.errno(ctx, "rmdir of "+name, err)
	}
	n.t.changed()
	return 0
}

func (n *localNode) Rename(ctx context.Context, name string, newParent fs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	np, ok := newParent.(*localNode)
	if !ok || np.t != n.t {
		return syscall.EXDEV
	}
	if err := n.t.rename(ctx, n.m, name, np.m, newName, flags); err != nil {
		return n.errno(ctx, "rename of "+name, err)
	}
	n.t.changed()
	return 0
}

func (n *localNode) Readlink(ctx context.Context) ([]byte, syscall.Errno) {
	if n.m.kind != kindSymlink {
		return nil, syscall.EINVAL
	}
	n.t.mu.Lock()
	defer n.t.mu.Unlock()
	return []byte(n.m.target), 0
}

func (n *localNode) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	if n.m.kind != kindFile {
		return nil, 0, syscall.EISDIR
	}
	write := flags&syscall.O_ACCMODE != syscall.O_RDONLY
	if err := n.t.open(ctx, n.m, write, write && flags&syscall.O_TRUNC != 0); err != nil {
		return nil, 0, n.errno(ctx, "open", err)
	}
	if write {
		n.t.changed()
	}
	return &localHandle{t: n.t, m: n.m, write: write}, 0, 0
}

// Fsync commits the file (even if it is open for writing) or, on a
// directory, the tree, and publishes the new root before returning.
func (n *localNode) Fsync(ctx context.Context, f fs.FileHandle, flags uint32) syscall.Errno {
	var force *mnode
	if n.m.kind == kindFile {
		force = n.m
	}
	if err := n.t.flusher.sync(ctx, force); err != nil {
		return n.errno(ctx, "fsync", err)
	}
	return 0
}

// Getxattr: user.ipfs.cid is the CID the entry has in a snapshot taken
// now; reading it commits closed files as a publish would. A file still
// open for writing shows its committed content; a new one has none yet
// (ENODATA).
func (n *localNode) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	if attr != xattrCID {
		return 0, syscall.ENODATA
	}
	c, err := n.t.flusher.request(ctx, flushReq{cidOf: n.m})
	if err != nil {
		return 0, n.errno(ctx, "getxattr", err)
	}
	return getxattr(attr, c, dest)
}

func (n *localNode) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	return statfs(n.t, out)
}

func (n *localNode) Listxattr(ctx context.Context, dest []byte) (uint32, syscall.Errno) {
	return listxattr(dest)
}

// localHandle is an open file of /ipns/local.
type localHandle struct {
	t     *localTree
	m     *mnode
	write bool

	mu  sync.Mutex // guards dag
	dag *dagHandle // reads the committed content when nothing is staged
}

var (
	_ fs.FileReader   = (*localHandle)(nil)
	_ fs.FileWriter   = (*localHandle)(nil)
	_ fs.FileReleaser = (*localHandle)(nil)
	_ fs.FileFlusher  = (*localHandle)(nil)
	_ fs.FileLseeker  = (*localHandle)(nil)
)

func (h *localHandle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	n, base, staged, err := h.t.readStaged(h.m, dest, off)
	if err != nil {
		return nil, h.t.fsys.errno(ctx, "read in /ipns/local", err)
	}
	if staged {
		return fuse.ReadResultData(dest[:n]), 0
	}
	if !base.Defined() {
		return fuse.ReadResultData(nil), 0 // empty
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	dag, errno := h.dagFor(ctx, base)
	if errno != 0 {
		return nil, errno
	}
	return dag.Read(ctx, dest, off)
}

// dagFor returns the reader of content c; the caller holds h.mu.
func (h *localHandle) dagFor(ctx context.Context, c cid.Cid) (*dagHandle, syscall.Errno) {
	if h.dag != nil && h.dag.node.CID == c {
		return h.dag, 0
	}
	node, err := unixfs.Get(ctx, h.t.fsys.g, c)
	if err != nil {
		return nil, h.t.fsys.errno(ctx, "read in /ipns/local", err)
	}
	d, err := newDagHandle(h.t.fsys, node)
	if err != nil {
		return nil, h.t.fsys.errno(ctx, "read in /ipns/local", err)
	}
	if h.dag != nil {
		h.dag.Release(ctx)
	}
	h.dag = d
	return d, 0
}

func (h *localHandle) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	if !h.write {
		return 0, syscall.EBADF
	}
	n, err := h.t.write(ctx, h.m, data, off)
	if err != nil {
		return uint32(n), h.t.fsys.errno(ctx, "write in /ipns/local", err)
	}
	return uint32(n), 0
}

// Flush runs at every close(2). The close of a file's only writer commits
// its content (imports it into the store), so what a snapshot shows of a
// file is what it held when closed; publishing follows after the delay.
func (h *localHandle) Flush(ctx context.Context) syscall.Errno {
	if !h.write {
		return 0
	}
	cctx, cancel := context.WithTimeout(context.Background(), publishTimeout)
	defer cancel()
	if err := h.t.commitOnClose(cctx, h.m); err != nil {
		return h.t.fsys.errno(ctx, "close in /ipns/local", err)
	}
	h.t.changed()
	return 0
}

// Lseek: see dagHandle.Lseek.
func (h *localHandle) Lseek(ctx context.Context, off uint64, whence uint32) (uint64, syscall.Errno) {
	return 0, syscall.ENOSYS
}

func (h *localHandle) Release(ctx context.Context) syscall.Errno {
	h.mu.Lock()
	if h.dag != nil {
		h.dag.Release(ctx)
	}
	h.mu.Unlock()
	h.t.release(h.m, h.write)
	return 0
}
