package unixfs

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// Type is the kind of a UnixFS node.
type Type uint64

// The UnixFS node types (the Data.Type enum of the UnixFS spec).
const (
	TRaw       Type = 0
	TDirectory Type = 1
	TFile      Type = 2
	TMetadata  Type = 3
	TSymlink   Type = 4
	THAMTShard Type = 5
)

func (t Type) String() string {
	switch t {
	case TRaw:
		return "raw"
	case TDirectory:
		return "directory"
	case TFile:
		return "file"
	case TMetadata:
		return "metadata"
	case TSymlink:
		return "symlink"
	case THAMTShard:
		return "hamt-sharded directory"
	}
	return fmt.Sprintf("unknown(%d)", uint64(t))
}

// HashMurmur3 is the multicodec of the hash function HAMT shards use.
const HashMurmur3 = 0x22

// ErrInvalid is wrapped by every UnixFS decoding error.
var ErrInvalid = errors.New("invalid unixfs data")

// Data is the UnixFS message carried in a dag-pb node's Data field:
// Data{Type=1, Data=2, filesize=3, blocksizes=4, hashType=5, fanout=6,
// mode=7, mtime=8}. Optional fields are encoded only when set; Data is
// encoded when non-nil.
type Data struct {
	Type        Type
	Data        []byte
	FileSize    uint64
	HasFileSize bool
	BlockSizes  []uint64
	HashType    uint64
	HasHashType bool
	Fanout      uint64
	HasFanout   bool
	Mode        uint32
	HasMode     bool
	// Mtime is kept as its encoded bytes: the node preserves but does not
	// interpret it.
	Mtime []byte
}

// Encode returns the protobuf encoding of d, fields in number order.
func (d *Data) Encode() []byte {
	b := make([]byte, 0, 16+len(d.Data)+10*len(d.BlockSizes))
	b = protowire.AppendTag(b, 1, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(d.Type))
	if d.Data != nil {
		b = protowire.AppendTag(b, 2, protowire.BytesType)
		b = protowire.AppendBytes(b, d.Data)
	}
	if d.HasFileSize {
		b = protowire.AppendTag(b, 3, protowire.VarintType)
		b = protowire.AppendVarint(b, d.FileSize)
	}
	for _, s := range d.BlockSizes {
		b = protowire.AppendTag(b, 4, protowire.VarintType)
		b = protowire.AppendVarint(b, s)
	}
	if d.HasHashType {
		b = protowire.AppendTag(b, 5, protowire.VarintType)
		b = protowire.AppendVarint(b, d.HashType)
	}
	if d.HasFanout {
		b = protowire.AppendTag(b, 6, protowire.VarintType)
		b = protowire.AppendVarint(b, d.Fanout)
	}
	if d.HasMode {
		b = protowire.AppendTag(b, 7, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(d.Mode))
	}
	if d.Mtime != nil {
		b = protowire.AppendTag(b, 8, protowire.BytesType)
		b = protowire.AppendBytes(b, d.Mtime)
	}
	return b
}

// DecodeData parses a UnixFS Data message. It accepts blocksizes packed or
// not, and skips unknown fields as protobuf readers do. The returned Data
// aliases b.
func DecodeData(b []byte) (*Data, error) {
	d := &Data{}
	hasType := false
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, fmt.Errorf("%w: bad field tag", ErrInvalid)
		}
		b = b[n:]
		var v uint64
		var bs []byte
		switch typ {
		case protowire.VarintType:
			v, n = protowire.ConsumeVarint(b)
		case protowire.BytesType:
			bs, n = protowire.ConsumeBytes(b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return nil, fmt.Errorf("%w: field %d is truncated or malformed", ErrInvalid, num)
		}
		b = b[n:]
		want := protowire.VarintType
		switch num {
		case 2, 8:
			want = protowire.BytesType
		case 4:
			if typ == protowire.BytesType { // packed blocksizes
				for len(bs) > 0 {
					s, m := protowire.ConsumeVarint(bs)
					if m < 0 {
						return nil, fmt.Errorf("%w: bad packed blocksizes", ErrInvalid)
					}
					d.BlockSizes = append(d.BlockSizes, s)
					bs = bs[m:]
				}
				continue
			}
		}
		if num >= 1 && num <= 8 && typ != want {
			return nil, fmt.Errorf("%w: field %d has wire type %d", ErrInvalid, num, typ)
		}
		switch num {
		case 1:
			d.Type, hasType = Type(v), true
		case 2:
			d.Data = bs
			if d.Data == nil {
				d.Data = []byte{}
			}
		case 3:
			d.FileSize, d.HasFileSize = v, true
		case 4:
			d.BlockSizes = append(d.BlockSizes, v)
		case 5:
			d.HashType, d.HasHashType = v, true
		case 6:
			d.Fanout, d.HasFanout = v, true
		case 7:
			d.Mode, d.HasMode = uint32(v), true
		case 8:
			d.Mtime = bs
		}
	}
	if !hasType {
		return nil, fmt.Errorf("%w: missing Type", ErrInvalid)
	}
	if d.Type > THAMTShard {
		return nil, fmt.Errorf("%w: unknown type %d", ErrInvalid, uint64(d.Type))
	}
	return d, nil
}
