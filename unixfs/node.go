package unixfs

import (
	"context"
	"errors"
	"fmt"
	"math/bits"
	"strings"

	"github.com/ipfs/go-cid"

	"node/dagpb"
)

// Getter fetches a block by CID. The local block store satisfies it, and
// so will the network exchange.
type Getter interface {
	Get(ctx context.Context, c cid.Cid) ([]byte, error)
}

var (
	// ErrNotDir is returned when a path walks through something that is not a directory.
	ErrNotDir = errors.New("not a directory")
	// ErrNotFile is returned when reading something that is not a file.
	ErrNotFile = errors.New("not a file")
	// ErrNoLink is returned when a directory has no entry of a name.
	ErrNoLink = errors.New("no such file or directory")
)

// Node is a decoded UnixFS block: a raw block (a file's bytes) or a dag-pb
// node with its UnixFS data.
type Node struct {
	CID   cid.Cid
	Links []dagpb.Link
	FS    *Data
}

// Decode decodes a block as a UnixFS node.
func Decode(c cid.Cid, block []byte) (*Node, error) {
	switch c.Type() {
	case cid.Raw:
		return &Node{CID: c, FS: &Data{Type: TRaw, Data: block, FileSize: uint64(len(block)), HasFileSize: true}}, nil
	case cid.DagProtobuf:
		pb, err := dagpb.Decode(block)
		if err != nil {
			return nil, fmt.Errorf("block %s: %w", c, err)
		}
		if pb.Data == nil {
			return nil, fmt.Errorf("block %s: %w: dag-pb node without UnixFS data", c, ErrInvalid)
		}
		fs, err := DecodeData(pb.Data)
		if err != nil {
			return nil, fmt.Errorf("block %s: %w", c, err)
		}
		n := &Node{CID: c, Links: pb.Links, FS: fs}
		if err := n.check(); err != nil {
			return nil, fmt.Errorf("block %s: %w", c, err)
		}
		return n, nil
	default:
		return nil, fmt.Errorf("block %s: codec 0x%x is not UnixFS (dag-pb or raw)", c, c.Type())
	}
}

// check validates what readers rely on.
func (n *Node) check() error {
	switch n.FS.Type {
	case TFile, TRaw:
		if len(n.Links) != len(n.FS.BlockSizes) {
			return fmt.Errorf("%w: file node has %d links but %d block sizes", ErrInvalid, len(n.Links), len(n.FS.BlockSizes))
		}
		// Readers place each child's bytes by the sizes: they must add up,
		// or a child that holds less than its filesize says would shift
		// the bytes after it.
		held := uint64(len(n.FS.Data))
		for _, s := range n.FS.BlockSizes {
			var carry uint64
			if held, carry = bits.Add64(held, s, 0); carry != 0 {
				return fmt.Errorf("%w: file node's block sizes overflow", ErrInvalid)
			}
		}
		if n.FS.HasFileSize && n.FS.FileSize != held {
			return fmt.Errorf("%w: file node's filesize is %d but its data and block sizes add up to %d", ErrInvalid, n.FS.FileSize, held)
		}
	case THAMTShard:
		if _, err := fanoutBits(n.FS.Fanout); err != nil {
			return err
		}
		if n.FS.HashType != HashMurmur3 {
			return fmt.Errorf("%w: HAMT hash function 0x%x is not murmur3", ErrInvalid, n.FS.HashType)
		}
	}
	return nil
}

// Get fetches and decodes a UnixFS node.
func Get(ctx context.Context, g Getter, c cid.Cid) (*Node, error) {
	b, err := g.Get(ctx, c)
	if err != nil {
		return nil, err
	}
	return Decode(c, b)
}

// IsDir reports whether the node is a directory (plain or sharded).
func (n *Node) IsDir() bool { return n.FS.Type == TDirectory || n.FS.Type == THAMTShard }

// IsFile reports whether the node holds file bytes.
func (n *Node) IsFile() bool { return n.FS.Type == TFile || n.FS.Type == TRaw }

// FileSize is the size of a file's content: the filesize field when
// present, else the inline data plus the block sizes.
func (n *Node) FileSize() uint64 {
	if n.FS.HasFileSize {
		return n.FS.FileSize
	}
	s := uint64(len(n.FS.Data))
	for _, b := range n.FS.BlockSizes {
		s += b
	}
	return s
}

// CheckName rejects names that cannot be a directory entry: empty, "." or
// "..", or containing a slash or NUL. Hostile DAGs may hold such names;
// nothing that maps DAGs onto a file system may use them.
func CheckName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("a directory entry has an empty name")
	case name == "." || name == "..":
		return fmt.Errorf("a directory entry may not be named %q", name)
	case strings.ContainsAny(name, "/\x00"):
		return fmt.Errorf("directory entry name %q contains a slash or NUL", name)
	}
	return nil
}
