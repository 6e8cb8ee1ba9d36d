package importer

import (
	"fmt"
	"slices"
	"strings"

	"node/dagpb"
	"node/unixfs"
)

// Entry is a named child of a directory.
type Entry struct {
	Name string
	Node Node
}

// AddDirectory stores a directory of the given entries and returns its
// root. Small directories are one dag-pb node with links sorted by name;
// directories whose estimated size (link names plus CID bytes) exceeds
// HAMTThreshold become HAMT shards, as in the reference implementation.
func (im *Importer) AddDirectory(entries []Entry) (Node, error) {
	estimate := 0
	seen := make(map[string]struct{}, len(entries))
	for _, e := range entries {
		if err := unixfs.CheckName(e.Name); err != nil {
			return Node{}, err
		}
		if _, dup := seen[e.Name]; dup {
			return Node{}, fmt.Errorf("directory has two entries named %q", e.Name)
		}
		seen[e.Name] = struct{}{}
		estimate += len(e.Name) + e.Node.CID.ByteLen()
	}
	if estimate > im.opts.HAMTThreshold {
		return im.addShardedDirectory(entries)
	}
	links := make([]dagpb.Link, len(entries))
	for i, e := range entries {
		links[i] = dagpb.Link{Hash: e.Node.CID, Name: e.Name, Tsize: e.Node.Tsize}
	}
	slices.SortStableFunc(links, func(a, b dagpb.Link) int { return strings.Compare(a.Name, b.Name) })
	fsd := unixfs.Data{Type: unixfs.TDirectory}
	return im.putNode(&dagpb.Node{Links: links, Data: fsd.Encode()}, 0)
}

// shard is one node of a HAMT under construction: each slot is empty,
// an entry, or a child shard.
type shard struct {
	slots [HAMTFanout]*slot
}

type slot struct {
	entry Entry
	hash  [8]byte
	child *shard // non-nil for a child shard
}

func (im *Importer) addShardedDirectory(entries []Entry) (Node, error) {
	root := &shard{}
	for _, e := range entries {
		if err := root.insert(&slot{entry: e, hash: unixfs.HAMTHash(e.Name)}, 0); err != nil {
			return Node{}, err
		}
	}
	return im.writeShard(root)
}

func (s *shard) insert(e *slot, depth int) error {
	i, err := unixfs.HAMTIndex(e.hash, depth, HAMTFanout)
	if err != nil {
		return fmt.Errorf("directory entry %q: %w", e.entry.Name, err)
	}
	switch cur := s.slots[i]; {
	case cur == nil:
		s.slots[i] = e
	case cur.child != nil:
		return cur.child.insert(e, depth+1)
	default:
		// Two entries share the slot: push both one level down.
		child := &shard{}
		if err := child.insert(cur, depth+1); err != nil {
			return err
		}
		if err := child.insert(e, depth+1); err != nil {
			return err
		}
		s.slots[i] = &slot{child: child}
	}
	return nil
}

func (im *Importer) writeShard(s *shard) (Node, error) {
	var bitfield [HAMTFanout / 8]byte
	var links []dagpb.Link
	for i, sl := range s.slots {
		if sl == nil {
			continue
		}
		bitfield[len(bitfield)-1-i/8] |= 1 << (i % 8)
		prefix := unixfs.HAMTLinkPrefix(i, HAMTFanout)
		if sl.child != nil {
			n, err := im.writeShard(sl.child)
			if err != nil {
				return Node{}, err
			}
			links = append(links, dagpb.Link{Hash: n.CID, Name: prefix, Tsize: n.Tsize})
			continue
		}
		links = append(links, dagpb.Link{Hash: sl.entry.Node.CID, Name: prefix + sl.entry.Name, Tsize: sl.entry.Node.Tsize})
	}
	// The bitfield is big-endian with leading zero bytes dropped.
	bf := bitfield[:]
	for len(bf) > 0 && bf[0] == 0 {
		bf = bf[1:]
	}
	fsd := unixfs.Data{
		Type: unixfs.THAMTShard, Data: bf,
		HashType: unixfs.HashMurmur3, HasHashType: true,
		Fanout: HAMTFanout, HasFanout: true,
	}
	return im.putNode(&dagpb.Node{Links: links, Data: fsd.Encode()}, 0)
}
