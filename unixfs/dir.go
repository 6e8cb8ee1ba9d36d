package unixfs

import (
	"context"
	"fmt"
	"strings"

	"github.com/ipfs/go-cid"

	"node/dagpb"
)

// DirEntry is one entry of a directory, as its parent links to it.
type DirEntry struct {
	Name  string
	CID   cid.Cid
	Tsize uint64
}

// List returns a directory's entries, walking every shard of a HAMT.
// Names are returned as stored: callers that write to a file system must
// pass each through CheckName.
func List(ctx context.Context, g Getter, dir *Node) ([]DirEntry, error) {
	var out []DirEntry
	err := Each(ctx, g, dir, func(e DirEntry) error {
		out = append(out, e)
		return nil
	})
	return out, err
}

// Each calls fn for each entry of a directory, in link order.
func Each(ctx context.Context, g Getter, dir *Node, fn func(DirEntry) error) error {
	switch dir.FS.Type {
	case TDirectory:
		for _, l := range dir.Links {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := fn(DirEntry{Name: l.Name, CID: l.Hash, Tsize: l.Tsize}); err != nil {
				return err
			}
		}
		return nil
	case THAMTShard:
		return eachShard(ctx, g, dir, 0, map[string]bool{string(dir.CID.Hash()): true}, fn)
	}
	return fmt.Errorf("%s is a %s: %w", dir.CID, dir.FS.Type, ErrNotDir)
}

// maxHAMTDepth bounds shard nesting: a 64-bit hash has no bits left past
// 64 levels even at fanout 2.
const maxHAMTDepth = 64

// seen holds the multihashes of the shards visited. In a valid HAMT each
// shard holds the names of its own hash prefix, so none is linked twice;
// a hostile DAG linking one shard from many slots would otherwise be
// walked exponentially often.
func eachShard(ctx context.Context, g Getter, shard *Node, depth int, seen map[string]bool, fn func(DirEntry) error) error {
	if depth >= maxHAMTDepth {
		return fmt.Errorf("%s: %w: HAMT nested too deep", shard.CID, ErrInvalid)
	}
	prefix := HAMTPrefixLen(shard.FS.Fanout)
	for _, l := range shard.Links {
		if err := ctx.Err(); err != nil {
			return err
		}
		switch {
		case len(l.Name) < prefix:
			return fmt.Errorf("%s: %w: HAMT link name %q is shorter than its prefix", shard.CID, ErrInvalid, l.Name)
		case len(l.Name) == prefix:
			if seen[string(l.Hash.Hash())] {
				return fmt.Errorf("%s: %w: HAMT shard %s is linked twice", shard.CID, ErrInvalid, l.Hash)
			}
			seen[string(l.Hash.Hash())] = true
			child, err := Get(ctx, g, l.Hash)
			if err != nil {
				return err
			}
			if child.FS.Type != THAMTShard {
				return fmt.Errorf("%s: %w: HAMT child %s is a %s", shard.CID, ErrInvalid, l.Hash, child.FS.Type)
			}
			if err := eachShard(ctx, g, child, depth+1, seen, fn); err != nil {
				return err
			}
		default:
			if err := fn(DirEntry{Name: l.Name[prefix:], CID: l.Hash, Tsize: l.Tsize}); err != nil {
				return err
			}
		}
	}
	return nil
}

// Lookup finds a directory's entry by name. A HAMT is searched by hash,
// fetching only the shards on the way.
func Lookup(ctx context.Context, g Getter, dir *Node, name string) (DirEntry, error) {
	switch dir.FS.Type {
	case TDirectory:
		for _, l := range dir.Links {
			if l.Name == name {
				return DirEntry{Name: name, CID: l.Hash, Tsize: l.Tsize}, nil
			}
		}
	case THAMTShard:
		return lookupShard(ctx, g, dir, name, HAMTHash(name), 0)
	default:
		return DirEntry{}, fmt.Errorf("%s is a %s: %w", dir.CID, dir.FS.Type, ErrNotDir)
	}
	return DirEntry{}, fmt.Errorf("%q: %w", name, ErrNoLink)
}

func lookupShard(ctx context.Context, g Getter, shard *Node, name string, hash [8]byte, depth int) (DirEntry, error) {
	idx, err := HAMTIndex(hash, depth, shard.FS.Fanout)
	if err != nil {
		return DirEntry{}, fmt.Errorf("%s: %w", shard.CID, err)
	}
	prefix := HAMTLinkPrefix(idx, shard.FS.Fanout)
	var sub *dagpb.Link
	for i := range shard.Links {
		l := &shard.Links[i]
		// The child-shard case comes first: with an empty name both
		// cases match, and a child shard is not an entry.
		switch l.Name {
		case prefix:
			sub = l
		case prefix + name:
			return DirEntry{Name: name, CID: l.Hash, Tsize: l.Tsize}, nil
		}
	}
	if sub == nil {
		return DirEntry{}, fmt.Errorf("%q: %w", name, ErrNoLink)
	}
	child, err := Get(ctx, g, sub.Hash)
	if err != nil {
		return DirEntry{}, err
	}
	if child.FS.Type != THAMTShard {
		return DirEntry{}, fmt.Errorf("%s: %w: HAMT child %s is a %s", shard.CID, ErrInvalid, sub.Hash, child.FS.Type)
	}
	return lookupShard(ctx, g, child, name, hash, depth+1)
}

// Resolve walks path segments from a root and returns the node at the end.
func Resolve(ctx context.Context, g Getter, root cid.Cid, segments []string) (*Node, error) {
	n, err := Get(ctx, g, root)
	if err != nil {
		return nil, err
	}
	for i, seg := range segments {
		if !n.IsDir() {
			return nil, fmt.Errorf("cannot resolve %q in %s: %s is a %s: %w", seg, strings.Join(segments[:i], "/"), n.CID, n.FS.Type, ErrNotDir)
		}
		e, err := Lookup(ctx, g, n, seg)
		if err != nil {
			return nil, fmt.Errorf("%s/%s: %w", root, strings.Join(segments[:i+1], "/"), err)
		}
		if n, err = Get(ctx, g, e.CID); err != nil {
			return nil, err
		}
	}
	return n, nil
}
