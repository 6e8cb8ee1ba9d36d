package fuse

import (
	"container/list"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"sync"
	"syscall"
	"time"

	"github.com/ipfs/go-cid"
	"google.golang.org/protobuf/encoding/protowire"

	"node/blockstore"
	"node/unixfs"
)

// kind is what a UnixFS node shows as.
type kind uint8

const (
	kindFile kind = iota + 1
	kindDir
	kindSymlink
)

func (k kind) String() string {
	switch k {
	case kindFile:
		return "file"
	case kindDir:
		return "directory"
	case kindSymlink:
		return "symlink"
	}
	return "unknown"
}

func (k kind) mode() uint32 {
	switch k {
	case kindDir:
		return syscall.S_IFDIR
	case kindSymlink:
		return syscall.S_IFLNK
	}
	return syscall.S_IFREG
}

// Permission bits shown when a UnixFS node carries no mode.
const (
	defaultFileMode    = 0o444
	defaultDirMode     = 0o555
	defaultSymlinkMode = 0o777
)

// meta is what the mount shows of one UnixFS node. It never changes once
// made, except for the lookup index of a directory, built on first use.
type meta struct {
	cid    cid.Cid
	kind   kind
	size   uint64 // file bytes; symlink target length; directory block length
	perm   uint32 // permission bits
	mtime  time.Time
	target string       // symlinks
	dir    *unixfs.Node // directories: the decoded node, for lookups and listings

	indexOnce sync.Once
	index     map[string]int // plain directories: name -> first link
}

// errUnsupported is wrapped for UnixFS nodes that are neither files,
// directories nor symlinks.
var errUnsupported = errors.New("unsupported UnixFS node type")

func metaOf(n *unixfs.Node, blockLen int) (*meta, error) {
	m := &meta{cid: n.CID}
	switch {
	case n.IsFile():
		m.kind, m.size, m.perm = kindFile, n.FileSize(), defaultFileMode
	case n.IsDir():
		m.kind, m.size, m.perm, m.dir = kindDir, uint64(blockLen), defaultDirMode, n
	case n.FS.Type == unixfs.TSymlink:
		m.kind, m.target, m.perm = kindSymlink, string(n.FS.Data), defaultSymlinkMode
		m.size = uint64(len(m.target))
	default:
		return nil, fmt.Errorf("%s is a %s: %w", n.CID, n.FS.Type, errUnsupported)
	}
	if n.FS.HasMode && m.kind != kindSymlink {
		m.perm = n.FS.Mode & 0o777
	}
	if n.FS.Mtime != nil {
		if t, ok := decodeMtime(n.FS.Mtime); ok {
			m.mtime = t
		}
	}
	return m, nil
}

// decodeMtime parses a UnixFS UnixTime message {int64 Seconds = 1;
// fixed32 FractionalNanoseconds = 2}. Malformed input reports false.
func decodeMtime(b []byte) (time.Time, bool) {
	var secs int64
	var nanos uint32
	hasSecs := false
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return time.Time{}, false
		}
		b = b[n:]
		switch {
		case num == 1 && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return time.Time{}, false
			}
			secs, hasSecs, b = int64(v), true, b[n:]
		case num == 2 && typ == protowire.Fixed32Type:
			v, n := protowire.ConsumeFixed32(b)
			if n < 0 {
				return time.Time{}, false
			}
			nanos, b = v, b[n:]
		default:
			n := protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return time.Time{}, false
			}
			b = b[n:]
		}
	}
	if !hasSecs || nanos >= 1e9 {
		return time.Time{}, false
	}
	return time.Unix(secs, int64(nanos)), true
}

// lookup finds a directory entry by name: plain directories through an
// index built on first use, HAMTs by hash.
func (m *meta) lookup(ctx context.Context, g unixfs.Getter, name string) (unixfs.DirEntry, error) {
	if m.dir.FS.Type != unixfs.TDirectory || len(m.dir.Links) < 32 {
		return unixfs.Lookup(ctx, g, m.dir, name)
	}
	m.indexOnce.Do(func() {
		m.index = make(map[string]int, len(m.dir.Links))
		for i, l := range m.dir.Links {
			if _, dup := m.index[l.Name]; !dup {
				m.index[l.Name] = i
			}
		}
	})
	i, ok := m.index[name]
	if !ok {
		return unixfs.DirEntry{}, fmt.Errorf("%q: %w", name, unixfs.ErrNoLink)
	}
	l := m.dir.Links[i]
	return unixfs.DirEntry{Name: name, CID: l.Hash, Tsize: l.Tsize}, nil
}

// visibleEntries lists a directory, dropping the entries that cannot be
// path components (unixfs.CheckName), are longer than a file name may be,
// or repeat an earlier name. It reports the number dropped.
func visibleEntries(ctx context.Context, g unixfs.Getter, dir *unixfs.Node) ([]unixfs.DirEntry, int, error) {
	var out []unixfs.DirEntry
	seen := map[string]bool{}
	hidden := 0
	err := unixfs.Each(ctx, g, dir, func(e unixfs.DirEntry) error {
		if unixfs.CheckName(e.Name) != nil || len(e.Name) > maxNameLen || seen[e.Name] {
			hidden++
			return nil
		}
		seen[e.Name] = true
		out = append(out, e)
		return nil
	})
	return out, hidden, err
}

// maxNameLen is the longest file name Linux accepts.
const maxNameLen = 255

// validName reports whether name can be a path component here.
func validName(name string) bool {
	return unixfs.CheckName(name) == nil && len(name) <= maxNameLen
}

// timeoutGetter bounds every fetch by d, so an operation needing content
// nobody serves fails with ErrTimeout instead of hanging.
type timeoutGetter struct {
	g unixfs.Getter
	d time.Duration
}

func (t timeoutGetter) Get(ctx context.Context, c cid.Cid) ([]byte, error) {
	tctx, cancel := context.WithTimeout(ctx, t.d)
	defer cancel()
	b, err := t.g.Get(tctx, c)
	if err != nil && ctx.Err() == nil && errors.Is(tctx.Err(), context.DeadlineExceeded) {
		return nil, fmt.Errorf("block %s: %w (waited %s)", c, ErrTimeout, t.d)
	}
	return b, err
}

// Session keeps the timeout on each block of a session's reads (see
// blockstore.Sessions).
func (t timeoutGetter) Session(ctx context.Context) blockstore.Getter {
	return timeoutGetter{g: blockstore.InSession(ctx, t.g), d: t.d}
}

// metaCache keeps the metas of recently seen nodes, bounded by an
// estimate of their memory.
type metaCache struct {
	max int

	mu    sync.Mutex // guards bytes, lru and items
	bytes int
	lru   *list.List // of *cacheItem, most recent first
	items map[cid.Cid]*list.Element
}

type cacheItem struct {
	m    *meta
	cost int
}

func newMetaCache(maxBytes int) *metaCache {
	return &metaCache{max: maxBytes, lru: list.New(), items: map[cid.Cid]*list.Element{}}
}

func (c *metaCache) get(k cid.Cid) *meta {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[k]; ok {
		c.lru.MoveToFront(e)
		return e.Value.(*cacheItem).m
	}
	return nil
}

func (c *metaCache) add(m *meta) {
	cost := 256 + len(m.target)
	if m.dir != nil {
		cost += int(m.size) + 64*len(m.dir.Links)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.items[m.cid]; ok {
		return
	}
	c.items[m.cid] = c.lru.PushFront(&cacheItem{m: m, cost: cost})
	c.bytes += cost
	for c.bytes > c.max && c.lru.Len() > 1 {
		last := c.lru.Back()
		it := last.Value.(*cacheItem)
		c.lru.Remove(last)
		delete(c.items, it.m.cid)
		c.bytes -= it.cost
	}
}

// childIno is the inode number of the entry name, holding c, in the
// directory numbered parent. The same path to the same content always
// gets the same number, on every mount; content behind a name that
// changes gets a new one. Numbers of immutable content have the top bit
// clear; those of /ipns/local have it set.
func childIno(parent uint64, name string, c cid.Cid) uint64 {
	h := fnv.New64a()
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], parent)
	h.Write(b[:])
	io.WriteString(h, name)
	h.Write([]byte{0})
	io.WriteString(h, c.KeyString())
	v := h.Sum64() &^ (1 << 63)
	if v < 2 {
		v += 2
	}
	return v
}
