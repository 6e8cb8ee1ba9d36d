package dagpb

import (
	"errors"
	"fmt"

	"github.com/ipfs/go-cid"
	"google.golang.org/protobuf/encoding/protowire"
)

// ErrInvalid is wrapped by every decoding error.
var ErrInvalid = errors.New("invalid dag-pb node")

// Link is a named, sized pointer to another block.
type Link struct {
	Hash cid.Cid
	Name string
	// Tsize is the total size of the DAG under Hash: its block plus the
	// Tsize of all its links.
	Tsize uint64
}

// Node is a decoded dag-pb block.
type Node struct {
	Links []Link
	// Data is nil when the block has no Data field.
	Data []byte
}

// Encode returns the canonical dag-pb bytes of n.
func Encode(n *Node) []byte {
	return AppendEncoded(make([]byte, 0, EncodedSize(n)), n)
}

// EncodedSize returns len(Encode(n)) without encoding.
func EncodedSize(n *Node) int {
	size := 0
	for i := range n.Links {
		l := linkSize(&n.Links[i])
		size += 1 + protowire.SizeVarint(uint64(l)) + l
	}
	if n.Data != nil {
		size += 1 + protowire.SizeBytes(len(n.Data))
	}
	return size
}

// LinkEncodedSize is the number of bytes one link adds to an encoded node.
func LinkEncodedSize(l *Link) int {
	s := linkSize(l)
	return 1 + protowire.SizeVarint(uint64(s)) + s
}

func linkSize(l *Link) int {
	return 1 + protowire.SizeBytes(l.Hash.ByteLen()) +
		1 + protowire.SizeBytes(len(l.Name)) +
		1 + protowire.SizeVarint(l.Tsize)
}

// AppendEncoded appends the canonical encoding of n to b.
func AppendEncoded(b []byte, n *Node) []byte {
	for i := range n.Links {
		l := &n.Links[i]
		b = protowire.AppendTag(b, 2, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(linkSize(l)))
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		b = protowire.AppendBytes(b, l.Hash.Bytes())
		b = protowire.AppendTag(b, 2, protowire.BytesType)
		b = protowire.AppendString(b, l.Name)
		b = protowire.AppendTag(b, 3, protowire.VarintType)
		b = protowire.AppendVarint(b, l.Tsize)
	}
	if n.Data != nil {
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		b = protowire.AppendBytes(b, n.Data)
	}
	return b
}

// Decode parses a dag-pb block strictly. The returned node's Data aliases
// the input.
func Decode(b []byte) (*Node, error) {
	n := &Node{}
	seenData := false
	for len(b) > 0 {
		num, typ, tl := protowire.ConsumeTag(b)
		if tl < 0 {
			return nil, fmt.Errorf("%w: bad field tag", ErrInvalid)
		}
		b = b[tl:]
		if typ != protowire.BytesType {
			return nil, fmt.Errorf("%w: field %d has wire type %d, want bytes", ErrInvalid, num, typ)
		}
		v, vl := protowire.ConsumeBytes(b)
		if vl < 0 {
			return nil, fmt.Errorf("%w: field %d is truncated", ErrInvalid, num)
		}
		b = b[vl:]
		switch num {
		case 1:
			if seenData {
				return nil, fmt.Errorf("%w: Data field repeated", ErrInvalid)
			}
			seenData = true
			n.Data = v
			if n.Data == nil {
				n.Data = []byte{}
			}
		case 2:
			if seenData {
				return nil, fmt.Errorf("%w: link after Data", ErrInvalid)
			}
			l, err := decodeLink(v)
			if err != nil {
				return nil, err
			}
			n.Links = append(n.Links, l)
		default:
			return nil, fmt.Errorf("%w: unknown field %d", ErrInvalid, num)
		}
	}
	return n, nil
}

func decodeLink(b []byte) (Link, error) {
	var l Link
	last := protowire.Number(0)
	for len(b) > 0 {
		num, typ, tl := protowire.ConsumeTag(b)
		if tl < 0 {
			return l, fmt.Errorf("%w: bad link field tag", ErrInvalid)
		}
		b = b[tl:]
		if num <= last {
			return l, fmt.Errorf("%w: link field %d out of order or repeated", ErrInvalid, num)
		}
		last = num
		switch num {
		case 1, 2:
			if typ != protowire.BytesType {
				return l, fmt.Errorf("%w: link field %d has wire type %d, want bytes", ErrInvalid, num, typ)
			}
			v, vl := protowire.ConsumeBytes(b)
			if vl < 0 {
				return l, fmt.Errorf("%w: link field %d is truncated", ErrInvalid, num)
			}
			b = b[vl:]
			if num == 1 {
				c, err := cid.Cast(v)
				if err != nil {
					return l, fmt.Errorf("%w: link hash is not a CID: %v", ErrInvalid, err)
				}
				l.Hash = c
			} else {
				l.Name = string(v)
			}
		case 3:
			if typ != protowire.VarintType {
				return l, fmt.Errorf("%w: link Tsize has wire type %d, want varint", ErrInvalid, typ)
			}
			v, vl := protowire.ConsumeVarint(b)
			if vl < 0 {
				return l, fmt.Errorf("%w: link Tsize is truncated", ErrInvalid)
			}
			if v > 1<<63-1 {
				return l, fmt.Errorf("%w: link Tsize %d out of range", ErrInvalid, v)
			}
			b = b[vl:]
			l.Tsize = v
		default:
			return l, fmt.Errorf("%w: unknown link field %d", ErrInvalid, num)
		}
	}
	if !l.Hash.Defined() {
		return l, fmt.Errorf("%w: link without a hash", ErrInvalid)
	}
	return l, nil
}
