package message

import (
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"
	"github.com/multiformats/go-varint"
	"google.golang.org/protobuf/encoding/protowire"

	"node/blockstore"
)

// Unmarshal decodes one message (without its length prefix), strictly:
//   - b is at most MaxMessageSize bytes, with at most MaxEntries want-list
//     entries, MaxPresences presences and MaxBlocks blocks;
//   - every CID (want-list entries, presences) parses with no trailing
//     bytes and passes blockstore.CheckCID (no weak or short digests);
//   - every block is at most blockstore.MaxBlockSize bytes and gets its CID
//     by hashing its data: a 1.0.0 block (field 2) as CIDv0 sha2-256, a
//     payload block with the function, digest length, codec and CID
//     version of its prefix. The prefix must be exactly those four
//     minimal varints, name a hash function blockstore.CheckCID accepts
//     and go-multihash computes (sha2-256 uses crypto/sha256 directly),
//     and a version-0 prefix must be dag-pb, sha2-256, 32 bytes;
//   - WantType and PresenceType are 0 or 1, an entry and a presence carry
//     a CID, a payload block carries a prefix (data may be absent: empty).
//
// Protobuf rules apply otherwise: unknown fields are skipped, a field of a
// known number with the wrong wire type is an error, a repeated scalar
// keeps its last value, a repeated want-list merges into one, int32 values
// are truncated from their 64-bit varint. Every error wraps ErrInvalid
// (and ErrTooLarge for the size, blockstore.ErrTooLarge for a block,
// blockstore.ErrWeakCID for a refused CID).
//
// The returned blocks' Data alias b: b must not be modified afterwards.
func Unmarshal(b []byte) (*Message, error) {
	if len(b) > MaxMessageSize {
		return nil, fmt.Errorf("%w: %w: %d bytes", ErrInvalid, ErrTooLarge, len(b))
	}
	m, err := parse(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	m.Hashed = true
	return m, nil
}

func parse(b []byte) (*Message, error) {
	m := &Message{}
	for len(b) > 0 {
		num, typ, rest, err := consumeTag(b)
		if err != nil {
			return nil, err
		}
		b = rest
		switch num {
		case fMsgWantlist:
			var v []byte
			if v, b, err = consumeBytes(typ, b, "wantlist"); err != nil {
				return nil, err
			}
			if err := m.parseWantlist(v); err != nil {
				return nil, err
			}
		case fMsgBlocks:
			var v []byte
			if v, b, err = consumeBytes(typ, b, "blocks"); err != nil {
				return nil, err
			}
			if err := m.addBlock(v); err != nil {
				return nil, err
			}
		case fMsgPayload:
			var v []byte
			if v, b, err = consumeBytes(typ, b, "payload"); err != nil {
				return nil, err
			}
			if err := m.parsePayload(v); err != nil {
				return nil, err
			}
		case fMsgPresences:
			var v []byte
			if v, b, err = consumeBytes(typ, b, "blockPresences"); err != nil {
				return nil, err
			}
			if err := m.parsePresence(v); err != nil {
				return nil, err
			}
		case fMsgPending:
			var v uint64
			if v, b, err = consumeVarint(typ, b, "pendingBytes"); err != nil {
				return nil, err
			}
			m.PendingBytes = int32(v)
		default:
			if b, err = skip(num, typ, b); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

func (m *Message) parseWantlist(b []byte) error {
	for len(b) > 0 {
		num, typ, rest, err := consumeTag(b)
		if err != nil {
			return fmt.Errorf("wantlist: %w", err)
		}
		b = rest
		switch num {
		case fWlEntries:
			var v []byte
			if v, b, err = consumeBytes(typ, b, "wantlist entry"); err != nil {
				return err
			}
			if len(m.Wantlist) >= MaxEntries {
				return fmt.Errorf("more than %d want-list entries", MaxEntries)
			}
			en, err := parseEntry(v)
			if err != nil {
				return fmt.Errorf("want-list entry %d: %w", len(m.Wantlist), err)
			}
			m.Wantlist = append(m.Wantlist, en)
		case fWlFull:
			var v uint64
			if v, b, err = consumeVarint(typ, b, "wantlist full"); err != nil {
				return err
			}
			m.Full = v != 0
		default:
			if b, err = skip(num, typ, b); err != nil {
				return err
			}
		}
	}
	return nil
}

func parseEntry(b []byte) (Entry, error) {
	var en Entry
	var c []byte
	for len(b) > 0 {
		num, typ, rest, err := consumeTag(b)
		if err != nil {
			return en, err
		}
		b = rest
		var v uint64
		switch num {
		case fEntBlock:
			if c, b, err = consumeBytes(typ, b, "block"); err != nil {
				return en, err
			}
		case fEntPriority:
			if v, b, err = consumeVarint(typ, b, "priority"); err != nil {
				return en, err
			}
			en.Priority = int32(v)
		case fEntCancel:
			if v, b, err = consumeVarint(typ, b, "cancel"); err != nil {
				return en, err
			}
			en.Cancel = v != 0
		case fEntWantType:
			if v, b, err = consumeVarint(typ, b, "wantType"); err != nil {
				return en, err
			}
			if v != uint64(WantBlock) && v != uint64(WantHave) {
				return en, fmt.Errorf("unknown want type %d", v)
			}
			en.WantType = WantType(v)
		case fEntSendDontHave:
			if v, b, err = consumeVarint(typ, b, "sendDontHave"); err != nil {
				return en, err
			}
			en.SendDontHave = v != 0
		default:
			if b, err = skip(num, typ, b); err != nil {
				return en, err
			}
		}
	}
	var err error
	en.CID, err = parseCID(c)
	return en, err
}

func (m *Message) parsePresence(b []byte) error {
	if len(m.Presences) >= MaxPresences {
		return fmt.Errorf("more than %d block presences", MaxPresences)
	}
	var p Presence
	var c []byte
	for len(b) > 0 {
		num, typ, rest, err := consumeTag(b)
		if err != nil {
			return fmt.Errorf("block presence %d: %w", len(m.Presences), err)
		}
		b = rest
		switch num {
		case fPresCID:
			if c, b, err = consumeBytes(typ, b, "presence cid"); err != nil {
				return err
			}
		case fPresType:
			var v uint64
			if v, b, err = consumeVarint(typ, b, "presence type"); err != nil {
				return err
			}
			if v != uint64(Have) && v != uint64(DontHave) {
				return fmt.Errorf("block presence %d: unknown presence type %d", len(m.Presences), v)
			}
			p.Type = PresenceType(v)
		default:
			if b, err = skip(num, typ, b); err != nil {
				return err
			}
		}
	}
	var err error
	if p.CID, err = parseCID(c); err != nil {
		return fmt.Errorf("block presence %d: %w", len(m.Presences), err)
	}
	m.Presences = append(m.Presences, p)
	return nil
}

// addBlock adds a 1.0.0 block: bare bytes named by their CIDv0.
func (m *Message) addBlock(data []byte) error {
	if len(m.Blocks) >= MaxBlocks {
		return fmt.Errorf("more than %d blocks", MaxBlocks)
	}
	if len(data) > blockstore.MaxBlockSize {
		return fmt.Errorf("block %d is %d bytes: %w", len(m.Blocks), len(data), blockstore.ErrTooLarge)
	}
	sum := sha256.Sum256(data)
	h, err := multihash.Encode(sum[:], multihash.SHA2_256)
	if err != nil {
		panic(err) // sha2-256 with 32 bytes always encodes
	}
	m.Blocks = append(m.Blocks, blockstore.Block{CID: cid.NewCidV0(h), Data: data[:len(data):len(data)]})
	return nil
}

func (m *Message) parsePayload(b []byte) error {
	if len(m.Blocks) >= MaxBlocks {
		return fmt.Errorf("more than %d blocks", MaxBlocks)
	}
	i := len(m.Blocks)
	var prefix, data []byte
	havePrefix := false
	for len(b) > 0 {
		num, typ, rest, err := consumeTag(b)
		if err != nil {
			return fmt.Errorf("payload block %d: %w", i, err)
		}
		b = rest
		switch num {
		case fBlkPrefix:
			if prefix, b, err = consumeBytes(typ, b, "block prefix"); err != nil {
				return err
			}
			havePrefix = true
		case fBlkData:
			if data, b, err = consumeBytes(typ, b, "block data"); err != nil {
				return err
			}
		default:
			if b, err = skip(num, typ, b); err != nil {
				return err
			}
		}
	}
	if !havePrefix {
		return fmt.Errorf("payload block %d has no CID prefix", i)
	}
	if len(data) > blockstore.MaxBlockSize {
		return fmt.Errorf("payload block %d is %d bytes: %w", i, len(data), blockstore.ErrTooLarge)
	}
	c, err := blockCID(prefix, data)
	if err != nil {
		return fmt.Errorf("payload block %d: %w", i, err)
	}
	m.Blocks = append(m.Blocks, blockstore.Block{CID: c, Data: data[:len(data):len(data)]})
	return nil
}

// maxDigestLen bounds a prefix's digest length before anything is
// allocated for it; blockstore.CheckCID has the exact rule.
const maxDigestLen = 128

// parsePrefix reads a CID prefix: version, codec, multihash code and
// digest length, four minimal varints and nothing after them.
func parsePrefix(b []byte) (cid.Prefix, error) {
	var vals [4]uint64
	for i := range vals {
		v, n, err := varint.FromUvarint(b)
		if err != nil {
			return cid.Prefix{}, fmt.Errorf("CID prefix: %w", err)
		}
		vals[i], b = v, b[n:]
	}
	if len(b) != 0 {
		return cid.Prefix{}, fmt.Errorf("CID prefix has %d trailing bytes", len(b))
	}
	p := cid.Prefix{Version: vals[0], Codec: vals[1], MhType: vals[2]}
	switch {
	case vals[3] > maxDigestLen:
		return p, fmt.Errorf("CID prefix digest length %d is over %d", vals[3], maxDigestLen)
	case p.Version > 1:
		return p, fmt.Errorf("CID prefix version %d (0 or 1 expected)", p.Version)
	case p.Version == 0 && (p.Codec != cid.DagProtobuf || p.MhType != multihash.SHA2_256 || vals[3] != 32):
		return p, fmt.Errorf("CIDv0 prefix must be dag-pb, sha2-256, 32 bytes (codec 0x%x, hash 0x%x, %d bytes)", p.Codec, p.MhType, vals[3])
	}
	p.MhLength = int(vals[3])
	return p, nil
}

// describe names a prefix: version/codec/hash/digest length.
func describe(p cid.Prefix) string {
	name := multihash.Codes[p.MhType]
	if name == "" {
		name = fmt.Sprintf("0x%x", p.MhType)
	}
	return fmt.Sprintf("v%d/codec 0x%x/%s/%d bytes", p.Version, p.Codec, name, p.MhLength)
}

// blockCID computes the CID of data from a payload block's prefix.
func blockCID(prefixBytes, data []byte) (cid.Cid, error) {
	p, err := parsePrefix(prefixBytes)
	if err != nil {
		return cid.Undef, err
	}
	// Refuse weak, short or unknown hash functions before hashing.
	fake, err := multihash.Encode(make([]byte, p.MhLength), p.MhType)
	if err != nil {
		return cid.Undef, fmt.Errorf("CID prefix: %w", err)
	}
	if err := blockstore.CheckCID(cid.NewCidV1(p.Codec, fake)); err != nil {
		return cid.Undef, fmt.Errorf("CID prefix %s: %w", describe(p), err)
	}
	var h multihash.Multihash
	if p.MhType == multihash.SHA2_256 {
		if p.MhLength > sha256.Size {
			return cid.Undef, fmt.Errorf("CID prefix asks for %d bytes of sha2-256", p.MhLength)
		}
		sum := sha256.Sum256(data)
		h, err = multihash.Encode(sum[:p.MhLength], multihash.SHA2_256)
	} else {
		h, err = multihash.Sum(data, p.MhType, p.MhLength)
	}
	if err != nil {
		if errors.Is(err, multihash.ErrSumNotSupported) {
			err = fmt.Errorf("%w (%v)", blockstore.ErrUnsupportedHash, err)
		}
		return cid.Undef, fmt.Errorf("CID prefix %s: hashing %d bytes: %w", describe(p), len(data), err)
	}
	if p.Version == 0 {
		return cid.NewCidV0(h), nil
	}
	return cid.NewCidV1(p.Codec, h), nil
}

func parseCID(b []byte) (cid.Cid, error) {
	if len(b) == 0 {
		return cid.Undef, errors.New("no CID")
	}
	c, err := cid.Cast(b)
	if err != nil {
		return cid.Undef, fmt.Errorf("CID %x: %w", b, err)
	}
	if err := blockstore.CheckCID(c); err != nil {
		return cid.Undef, err
	}
	return c, nil
}

// consumeTag reads a field's tag: field numbers past protobuf's maximum
// are an error, as protobuf parsers treat them.
func consumeTag(b []byte) (protowire.Number, protowire.Type, []byte, error) {
	num, typ, n := protowire.ConsumeTag(b)
	if n < 0 {
		return 0, 0, nil, fmt.Errorf("field tag: %w", protowire.ParseError(n))
	}
	if num > protowire.MaxValidNumber {
		return 0, 0, nil, fmt.Errorf("field number %d is over the protobuf maximum", num)
	}
	return num, typ, b[n:], nil
}

func consumeBytes(typ protowire.Type, b []byte, field string) ([]byte, []byte, error) {
	if typ != protowire.BytesType {
		return nil, nil, fmt.Errorf("field %s has wire type %d, not bytes (2)", field, typ)
	}
	v, n := protowire.ConsumeBytes(b)
	if n < 0 {
		return nil, nil, fmt.Errorf("field %s: %v", field, protowire.ParseError(n))
	}
	return v, b[n:], nil
}

func consumeVarint(typ protowire.Type, b []byte, field string) (uint64, []byte, error) {
	if typ != protowire.VarintType {
		return 0, nil, fmt.Errorf("field %s has wire type %d, not varint (0)", field, typ)
	}
	v, n := protowire.ConsumeVarint(b)
	if n < 0 {
		return 0, nil, fmt.Errorf("field %s: %v", field, protowire.ParseError(n))
	}
	return v, b[n:], nil
}

// skip passes over the value of an unknown field.
func skip(num protowire.Number, typ protowire.Type, b []byte) ([]byte, error) {
	n := protowire.ConsumeFieldValue(num, typ, b)
	if n < 0 {
		return nil, fmt.Errorf("unknown field %d: %w", num, protowire.ParseError(n))
	}
	return b[n:], nil
}
