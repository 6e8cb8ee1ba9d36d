package fuse

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/ipfs/go-cid"

	"node/blockstore"
	"node/ipath"
	"node/ipns"
	"node/unixfs"
)

// rootIno is the inode number of a mount's root.
const rootIno = 1

// ipfsRoot is DIR/ipfs: every CID is a name in it, looked up on demand;
// listing it shows the entries the kernel currently knows.
type ipfsRoot struct {
	fs.Inode
	readOnly
	fsys *mountFS
}

var (
	_ fs.NodeGetattrer = (*ipfsRoot)(nil)
	_ fs.NodeLookuper  = (*ipfsRoot)(nil)
	_ fs.NodeReaddirer = (*ipfsRoot)(nil)
)

func (r *ipfsRoot) Getattr(ctx context.Context, f fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	rootAttr(r.fsys, 0o555, &out.Attr)
	return 0
}

func (r *ipfsRoot) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	c, err := cid.Decode(name)
	if err != nil || blockstore.CheckCID(c) != nil {
		return nil, syscall.ENOENT
	}
	m, err := r.fsys.fetchMeta(ctx, c)
	if err != nil {
		return nil, r.fsys.errno(ctx, "lookup of /ipfs/"+name, err)
	}
	return r.fsys.newDagChild(ctx, r.EmbeddedInode(), name, m, immutableTimeout, out), 0
}

func (r *ipfsRoot) Readdir(ctx context.Context) (fs.DirStream, syscall.Errno) {
	return fs.NewListDirStream(visited(r.EmbeddedInode(), nil)), 0
}

// visited lists the children the kernel knows of a root, after fixed.
func visited(root *fs.Inode, fixed []fuse.DirEntry) []fuse.DirEntry {
	out := fixed
	known := root.Children()
	names := make([]string, 0, len(known))
	for name := range known {
		if !slices.ContainsFunc(fixed, func(e fuse.DirEntry) bool { return e.Name == name }) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	for _, name := range names {
		ch := known[name]
		out = append(out, fuse.DirEntry{Name: name, Mode: ch.Mode(), Ino: ch.StableAttr().Ino})
	}
	return out
}

func rootAttr(fsys *mountFS, perm uint32, out *fuse.Attr) {
	out.Ino = rootIno
	out.Mode = syscall.S_IFDIR | perm
	out.Nlink = 2
	out.Size = 4096
	out.Blksize = blockSize
	out.Owner = fuse.Owner{Uid: fsys.uid, Gid: fsys.gid}
}

// ipnsRoot is DIR/ipns: local (the writable tree), a symlink from the
// node's own name to it, and every other name, resolved on lookup.
type ipnsRoot struct {
	fs.Inode
	readOnly
	fsys  *mountFS
	local *localTree // nil without a Store
}

var (
	_ fs.NodeGetattrer = (*ipnsRoot)(nil)
	_ fs.NodeLookuper  = (*ipnsRoot)(nil)
	_ fs.NodeReaddirer = (*ipnsRoot)(nil)
	_ fs.NodeStatfser  = (*ipnsRoot)(nil)
)

const localDirName = "local"

func (r *ipnsRoot) Getattr(ctx context.Context, f fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	rootAttr(r.fsys, 0o555, &out.Attr)
	return 0
}

func (r *ipnsRoot) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	return statfs(r.local, out)
}

func (r *ipnsRoot) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	if r.local != nil {
		switch name {
		case localDirName:
			return r.local.inode(ctx, r.EmbeddedInode(), r.local.root, out), 0
		case r.fsys.cfg.LocalName:
			return r.ownName(ctx, out), 0
		}
	}
	if r.fsys.cfg.Names == nil || !plausibleName(name) {
		return nil, syscall.ENOENT
	}
	m, ttl, err := r.resolve(ctx, name)
	if err != nil {
		return nil, r.fsys.errno(ctx, "resolving /ipns/"+name, err)
	}
	return r.fsys.newDagChild(ctx, r.EmbeddedInode(), name, m, max(ttl, minNameTTL), out), 0
}

// resolve resolves a name and walks the path it points to.
func (r *ipnsRoot) resolve(ctx context.Context, name string) (*meta, time.Duration, error) {
	rctx, cancel := context.WithTimeout(ctx, r.fsys.cfg.ReadTimeout)
	defer cancel()
	resolved, ttl, err := r.fsys.cfg.Names.ResolvePath(rctx, "/ipns/"+name)
	if err != nil {
		if ctx.Err() == nil && errors.Is(rctx.Err(), context.DeadlineExceeded) {
			err = fmt.Errorf("%w: %v", ErrTimeout, err)
		}
		return nil, 0, err
	}
	p, err := ipath.Parse(resolved)
	if err != nil || p.Namespace != "ipfs" {
		return nil, 0, fmt.Errorf("/ipns/%s resolved to %q, not an /ipfs path", name, resolved)
	}
	m, err := r.fsys.fetchMeta(ctx, p.CID)
	for _, seg := range p.Segments {
		if err != nil {
			break
		}
		if m.kind != kindDir {
			return nil, 0, fmt.Errorf("%s: %w", resolved, unixfs.ErrNotDir)
		}
		var e unixfs.DirEntry
		if e, err = m.lookup(ctx, r.fsys.g, seg); err == nil {
			m, err = r.fsys.fetchMeta(ctx, e.CID)
		}
	}
	return m, ttl, err
}

// ownName is the symlink LocalName -> local.
func (r *ipnsRoot) ownName(ctx context.Context, out *fuse.EntryOut) *fs.Inode {
	name := r.fsys.cfg.LocalName
	ino := childIno(rootIno, name, cid.Undef)
	l := &symlinkNode{fsys: r.fsys, target: localDirName}
	l.attr(ino, &out.Attr)
	out.SetEntryTimeout(immutableTimeout)
	out.SetAttrTimeout(immutableTimeout)
	return r.NewInode(ctx, l, fs.StableAttr{Mode: syscall.S_IFLNK, Ino: ino})
}

func (r *ipnsRoot) Readdir(ctx context.Context) (fs.DirStream, syscall.Errno) {
	var fixed []fuse.DirEntry
	if r.local != nil {
		fixed = append(fixed, fuse.DirEntry{Name: localDirName, Mode: syscall.S_IFDIR, Ino: r.local.root.ino})
		if name := r.fsys.cfg.LocalName; name != "" && name != localDirName {
			fixed = append(fixed, fuse.DirEntry{Name: name, Mode: syscall.S_IFLNK, Ino: childIno(rootIno, name, cid.Undef)})
		}
	}
	return fs.NewListDirStream(visited(r.EmbeddedInode(), fixed)), 0
}

// plausibleName reports whether name could resolve: an IPNS name or a
// domain (DNSLink). Other names (".Trash", "autorun.inf") are refused
// without asking the network.
func plausibleName(name string) bool {
	if _, err := ipns.ParseName(name); err == nil {
		return true
	}
	if !strings.Contains(name, ".") || len(name) > 253 {
		return false
	}
	for label := range strings.SplitSeq(name, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' {
			return false
		}
		for _, ch := range label {
			if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '-' || ch == '_') {
				return false
			}
		}
	}
	return true
}

// symlinkNode is a fixed symlink.
type symlinkNode struct {
	fs.Inode
	readOnly
	fsys   *mountFS
	target string
}

var (
	_ fs.NodeGetattrer  = (*symlinkNode)(nil)
	_ fs.NodeReadlinker = (*symlinkNode)(nil)
)

func (l *symlinkNode) attr(ino uint64, out *fuse.Attr) {
	out.Ino = ino
	out.Mode = syscall.S_IFLNK | 0o777
	out.Nlink = 1
	out.Size = uint64(len(l.target))
	out.Owner = fuse.Owner{Uid: l.fsys.uid, Gid: l.fsys.gid}
}

func (l *symlinkNode) Getattr(ctx context.Context, f fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	l.attr(l.StableAttr().Ino, &out.Attr)
	out.SetTimeout(immutableTimeout)
	return 0
}

func (l *symlinkNode) Readlink(ctx context.Context) ([]byte, syscall.Errno) {
	return []byte(l.target), 0
}

// statfs reports the space left for staging writes.
func statfs(t *localTree, out *fuse.StatfsOut) syscall.Errno {
	out.NameLen = maxNameLen
	out.Bsize = 4096
	out.Frsize = 4096
	if t == nil {
		return 0
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(t.stageDir, &st); err != nil {
		return 0
	}
	out.Blocks, out.Bfree, out.Bavail = st.Blocks, st.Bfree, st.Bavail
	out.Files, out.Ffree = st.Files, st.Ffree
	out.Bsize, out.Frsize = uint32(st.Bsize), uint32(st.Frsize)
	return 0
}
