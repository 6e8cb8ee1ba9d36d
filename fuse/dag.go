package fuse

import (
	"context"
	"errors"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"node/unixfs"
)

// dagNode is a file, directory or symlink of immutable content: anything
// under /ipfs/CID and /ipns/NAME (but /ipns/local).
type dagNode struct {
	fs.Inode
	readOnly
	fsys *mountFS
	m    *meta
	// ttl is how long the kernel may cache the entry and its attributes.
	ttl time.Duration
}

var (
	_ fs.NodeGetattrer   = (*dagNode)(nil)
	_ fs.NodeLookuper    = (*dagNode)(nil)
	_ fs.NodeReaddirer   = (*dagNode)(nil)
	_ fs.NodeOpener      = (*dagNode)(nil)
	_ fs.NodeReadlinker  = (*dagNode)(nil)
	_ fs.NodeGetxattrer  = (*dagNode)(nil)
	_ fs.NodeListxattrer = (*dagNode)(nil)
)

// newDagChild makes the inode of name, holding m, under parent.
func (fsys *mountFS) newDagChild(ctx context.Context, parent *fs.Inode, name string, m *meta, ttl time.Duration, out *fuse.EntryOut) *fs.Inode {
	ino := childIno(parent.StableAttr().Ino, name, m.cid)
	fsys.fillAttr(m, ino, &out.Attr)
	out.SetEntryTimeout(ttl)
	out.SetAttrTimeout(ttl)
	return parent.NewInode(ctx, &dagNode{fsys: fsys, m: m, ttl: ttl}, fs.StableAttr{Mode: m.kind.mode(), Ino: ino})
}

func (n *dagNode) Getattr(ctx context.Context, f fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	n.fsys.fillAttr(n.m, n.StableAttr().Ino, &out.Attr)
	out.SetTimeout(n.ttl)
	return 0
}

func (n *dagNode) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	if n.m.kind != kindDir {
		return nil, syscall.ENOTDIR
	}
	if !validName(name) {
		return nil, syscall.ENOENT
	}
	e, err := n.m.lookup(ctx, n.fsys.g, name)
	if err != nil {
		return nil, n.fsys.errno(ctx, "lookup of "+name+" in "+n.m.cid.String(), err)
	}
	cm, err := n.fsys.fetchMeta(ctx, e.CID)
	if err != nil {
		return nil, n.fsys.errno(ctx, "lookup of "+name+" in "+n.m.cid.String(), err)
	}
	// Whatever is below content-addressed content never changes (a name
	// that moves gives its new content new inodes).
	return n.fsys.newDagChild(ctx, n.EmbeddedInode(), name, cm, immutableTimeout, out), 0
}

// Readdir lists the entries that can be file names, fetching their nodes
// fetchParallel at a time: the kernel asks for every entry's attributes
// next (READDIRPLUS), and these fetches make that answer from the cache.
// An entry whose node cannot be fetched is listed as a file, so the rest
// of the directory still shows; looking it up then fails with EIO.
func (n *dagNode) Readdir(ctx context.Context) (fs.DirStream, syscall.Errno) {
	if n.m.kind != kindDir {
		return nil, syscall.ENOTDIR
	}
	entries, hidden, err := visibleEntries(ctx, n.fsys.g, n.m.dir)
	if err != nil {
		return nil, n.fsys.errno(ctx, "listing "+n.m.cid.String(), err)
	}
	metas, errs := n.fsys.fetchMetas(ctx, entries)
	if ctx.Err() != nil {
		return nil, syscall.EINTR
	}
	ino := n.StableAttr().Ino
	list := make([]fuse.DirEntry, 0, len(entries))
	for i, e := range entries {
		de := fuse.DirEntry{Name: e.Name}
		switch {
		case errs[i] == nil:
			de.Mode = metas[i].kind.mode()
			de.Ino = childIno(ino, e.Name, e.CID)
		case errors.Is(errs[i], errUnsupported):
			hidden++
			continue
		default:
			// Shown as a file, so that listing the directory works;
			// looking the entry up fails with EIO.
			de.Mode = syscall.S_IFREG
			de.Ino = childIno(ino, e.Name, e.CID)
		}
		list = append(list, de)
	}
	if hidden > 0 {
		n.fsys.logHidden(n.m.cid, hidden)
	}
	return fs.NewListDirStream(list), 0
}

func (n *dagNode) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	if flags&syscall.O_ACCMODE != syscall.O_RDONLY || flags&syscall.O_TRUNC != 0 {
		return nil, 0, syscall.EROFS
	}
	if n.m.kind != kindFile {
		return nil, 0, syscall.EISDIR
	}
	node, err := unixfs.Get(ctx, n.fsys.g, n.m.cid)
	if err != nil {
		return nil, 0, n.fsys.errno(ctx, "opening "+n.m.cid.String(), err)
	}
	h, err := newDagHandle(n.fsys, node)
	if err != nil {
		return nil, 0, n.fsys.errno(ctx, "opening "+n.m.cid.String(), err)
	}
	if n.fsys.directIO.Load() && h.size >= directIOMinSize {
		// Large files bypass the page cache: each read reaches us at the
		// reader's size (up to 1 MiB) and goes to its buffer in one copy.
		// The kernel still maps such files (FUSE_DIRECT_IO_ALLOW_MMAP).
		return h, fuse.FOPEN_DIRECT_IO, 0
	}
	// The content of this inode never changes: the kernel may keep its
	// pages from one open to the next.
	return h, fuse.FOPEN_KEEP_CACHE, 0
}

func (n *dagNode) Readlink(ctx context.Context) ([]byte, syscall.Errno) {
	if n.m.kind != kindSymlink {
		return nil, syscall.EINVAL
	}
	return []byte(n.m.target), 0
}

func (n *dagNode) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	return getxattr(attr, n.m.cid, dest)
}

func (n *dagNode) Listxattr(ctx context.Context, dest []byte) (uint32, syscall.Errno) {
	return listxattr(dest)
}

// readOnly refuses every change, for the nodes of the /ipns mount that
// are not under /ipns/local (the /ipfs mount is read-only as a whole).
// Without these, go-fuse would report some changes as done.
type readOnly struct{}

func (readOnly) Setattr(ctx context.Context, f fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	return syscall.EROFS
}
func (readOnly) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	return nil, nil, 0, syscall.EROFS
}
func (readOnly) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return nil, syscall.EROFS
}
func (readOnly) Mknod(ctx context.Context, name string, mode uint32, dev uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return nil, syscall.EROFS
}
func (readOnly) Symlink(ctx context.Context, target, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return nil, syscall.EROFS
}
func (readOnly) Link(ctx context.Context, target fs.InodeEmbedder, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return nil, syscall.EROFS
}
func (readOnly) Unlink(ctx context.Context, name string) syscall.Errno { return syscall.EROFS }
func (readOnly) Rmdir(ctx context.Context, name string) syscall.Errno  { return syscall.EROFS }
func (readOnly) Rename(ctx context.Context, name string, newParent fs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	return syscall.EROFS
}
func (readOnly) Setxattr(ctx context.Context, attr string, data []byte, flags uint32) syscall.Errno {
	return syscall.EROFS
}
func (readOnly) Removexattr(ctx context.Context, attr string) syscall.Errno { return syscall.EROFS }

// Fsync: nothing here is ever unwritten. (ENOSYS would make the kernel
// skip FSYNC for the whole mount, /ipns/local included.)
func (readOnly) Fsync(ctx context.Context, f fs.FileHandle, flags uint32) syscall.Errno { return 0 }
