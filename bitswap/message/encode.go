package message

import (
	"fmt"
	"io"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"
	"github.com/multiformats/go-varint"
	"google.golang.org/protobuf/encoding/protowire"

	"node/blockstore"
)

// Field numbers (see doc.go for the schema).
const (
	fMsgWantlist  protowire.Number = 1
	fMsgBlocks    protowire.Number = 2 // 1.0.0: raw block bytes
	fMsgPayload   protowire.Number = 3 // 1.1.0+: Block{prefix, data}
	fMsgPresences protowire.Number = 4 // 1.2.0
	fMsgPending   protowire.Number = 5 // 1.2.0

	fWlEntries protowire.Number = 1
	fWlFull    protowire.Number = 2

	fEntBlock        protowire.Number = 1
	fEntPriority     protowire.Number = 2
	fEntCancel       protowire.Number = 3
	fEntWantType     protowire.Number = 4 // 1.2.0
	fEntSendDontHave protowire.Number = 5 // 1.2.0

	fBlkPrefix protowire.Number = 1
	fBlkData   protowire.Number = 2

	fPresCID  protowire.Number = 1
	fPresType protowire.Number = 2
)

// asV0 returns c as a CIDv0 when its multihash is a full sha2-256 digest.
func asV0(c cid.Cid) (cid.Cid, bool) {
	h := c.Hash()
	if len(h) != 34 || h[0] != multihash.SHA2_256 || h[1] != 32 {
		return cid.Undef, false
	}
	return cid.NewCidV0(h), true
}

// Marshal encodes m for a peer speaking version v (without the length
// prefix; WriteMsg adds it). Fields appear in field-number order and
// zero values are left out, as the reference (boxo) encodes them; the
// want-list submessage is always present.
//
// What each version gets:
//   - 1.2.0: everything.
//   - 1.1.0: want-have entries go as want-block and SendDontHave is left
//     out; presences and PendingBytes are left out. A 1.1.0 peer ignores
//     those fields anyway (unknown to it), so it would read a want-have as a
//     want-block: writing it so makes that explicit. Deciding whether to
//     send a want-have to such a peer at all is the client's job (boxo's
//     client drops want-haves aimed at one peer and sends broadcast
//     want-haves as want-blocks, without send-dont-have).
//   - 1.0.0: as 1.1.0, and blocks go as bare bytes in field 2 (the peer
//     hashes them with sha2-256 and names them by CIDv0), want-list CIDs
//     go as CIDv0. Wants and blocks whose multihash is not a full sha2-256
//     digest cannot be carried (Version.Carries): they are left out, and
//     Marshal returns the encoding of the rest together with a
//     *NotRepresentableError (wrapping ErrNotRepresentable) that lists them.
//     Boxo sends such blocks anyway and the peer computes a CID that does
//     not match them.
//
// Marshal refuses (with an error wrapping ErrInvalid, and no bytes) a
// message this package would refuse to receive: an undefined or weak CID
// (blockstore.CheckCID), a block over blockstore.MaxBlockSize, an unknown
// WantType or PresenceType, more than MaxEntries, MaxPresences or
// MaxBlocks items, or an encoding over MaxMessageSize (also ErrTooLarge).
// It does not hash blocks: each Data must hash to its CID.
func (m *Message) Marshal(v Version) ([]byte, error) {
	e, err := prepare(m, v)
	if err != nil {
		return nil, err
	}
	out := pieces{buf: make([]byte, 0, e.size)}
	e.encode(&out)
	return out.buf, e.skipped()
}

// WriteMsg writes m for a peer on version v: an unsigned-varint length
// followed by the message, the same bytes as Marshal's with the length in
// front. The message is written in pieces, in order: the small parts
// (length, want-list, block headers, presences) are gathered in a buffer
// of about writeChunk bytes at most, and each block's Data is written to w
// as its own Write, straight from the block without a copy. So w should
// be buffered (a bufio.Writer): the small pieces then share a write with
// the start of the block that follows them.
//
// When some wants or blocks could not be carried (see Marshal) it writes
// the rest and then returns the *NotRepresentableError; on any other
// Marshal error it writes nothing. A write error stops the writing and is
// returned wrapped; part of the message may have been written by then.
func WriteMsg(w io.Writer, m *Message, v Version) error {
	e, err := prepare(m, v)
	if err != nil {
		return err
	}
	prefix := varint.UvarintSize(uint64(e.size))
	out := pieces{w: w, buf: make([]byte, 0, min(prefix+e.size-e.dataSize, writeChunk))}
	out.buf = protowire.AppendVarint(out.buf, uint64(e.size))
	e.encode(&out)
	if err := out.flush(); err != nil {
		return err
	}
	return e.skipped()
}

// writeChunk bounds the buffer WriteMsg gathers the small parts in: a
// long want-list goes out in writes of about this size.
const writeChunk = 4 << 10

// pieces receives an encoding in order. Without a writer everything is
// appended to buf (Marshal). With one, buf holds the small parts not yet
// written, and block data is written as it is, after what buf holds.
type pieces struct {
	buf     []byte
	w       io.Writer // nil: append everything to buf
	written int       // bytes passed to w (or that would have been, after an error)
	err     error     // the first write error; nothing is written after it
}

// produced is how many bytes of the encoding there are so far.
func (p *pieces) produced() int { return p.written + len(p.buf) }

// data adds block data: a copy into buf, or a Write of data itself.
func (p *pieces) data(data []byte) {
	if p.w == nil {
		p.buf = append(p.buf, data...)
		return
	}
	if len(data) == 0 {
		return
	}
	_ = p.flush()
	p.write(data)
}

// spill writes buf out once it has grown to writeChunk.
func (p *pieces) spill() {
	if p.w != nil && len(p.buf) >= writeChunk {
		_ = p.flush()
	}
}

// flush writes what buf holds and empties it.
func (p *pieces) flush() error {
	if p.w != nil && len(p.buf) > 0 {
		p.write(p.buf)
		p.buf = p.buf[:0]
	}
	return p.err
}

func (p *pieces) write(b []byte) {
	p.written += len(b)
	if p.err != nil {
		return
	}
	n, err := p.w.Write(b)
	if err == nil && n < len(b) {
		err = io.ErrShortWrite
	}
	if err != nil {
		p.err = fmt.Errorf("writing bitswap message: %w", err)
	}
}

// encoder is a message checked and adapted to a version, with its size.
type encoder struct {
	v          Version
	m          *Message
	entries    []Entry // m.Wantlist adapted to v
	blocks     []blockstore.Block
	prefixes   []cid.Prefix // of blocks, for 1.1.0 and 1.2.0
	wlSize     int          // of the want-list submessage
	size       int          // of the whole message
	dataSize   int          // of the blocks' Data in it
	notCarried *NotRepresentableError
}

func (e *encoder) skipped() error {
	if e.notCarried == nil {
		return nil
	}
	return e.notCarried
}

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

func prepare(m *Message, v Version) (*encoder, error) {
	if !v.Valid() {
		return nil, fmt.Errorf("%w: cannot encode for %s", ErrInvalid, v)
	}
	e := &encoder{v: v, m: m, entries: m.Wantlist, blocks: m.Blocks}
	if len(m.Wantlist) > MaxEntries {
		return nil, invalidf("%d want-list entries, over the limit of %d", len(m.Wantlist), MaxEntries)
	}
	if len(m.Blocks) > MaxBlocks {
		return nil, invalidf("%d blocks, over the limit of %d", len(m.Blocks), MaxBlocks)
	}
	if len(m.Presences) > MaxPresences {
		return nil, invalidf("%d block presences, over the limit of %d", len(m.Presences), MaxPresences)
	}
	for i, en := range m.Wantlist {
		if err := blockstore.CheckCID(en.CID); err != nil {
			return nil, fmt.Errorf("%w: want-list entry %d: %w", ErrInvalid, i, err)
		}
		if en.WantType != WantBlock && en.WantType != WantHave {
			return nil, invalidf("want-list entry %d (%s): unknown %s", i, en.CID, en.WantType)
		}
	}
	for i, b := range m.Blocks {
		if err := blockstore.CheckCID(b.CID); err != nil {
			return nil, fmt.Errorf("%w: block %d: %w", ErrInvalid, i, err)
		}
		if err := blockstore.CheckSize(b); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
		}
	}
	if v.SupportsHave() {
		for i, p := range m.Presences {
			if err := blockstore.CheckCID(p.CID); err != nil {
				return nil, fmt.Errorf("%w: block presence %d: %w", ErrInvalid, i, err)
			}
			if p.Type != Have && p.Type != DontHave {
				return nil, invalidf("block presence %d (%s): unknown %s", i, p.CID, p.Type)
			}
		}
	} else {
		e.adaptWantlist()
	}
	if v == V100 {
		e.adaptBlocks()
	}
	e.computeSize()
	if e.size > MaxMessageSize {
		return nil, fmt.Errorf("%w: %w: encoding is %d bytes", ErrInvalid, ErrTooLarge, e.size)
	}
	return e, nil
}

// adaptWantlist rewrites the want-list for a peer without want-have: every
// entry becomes a plain want-block (or cancel), and for 1.0.0 its CID
// becomes a CIDv0 or, when it cannot, the entry is left out.
func (e *encoder) adaptWantlist() {
	out := make([]Entry, 0, len(e.entries))
	for _, en := range e.entries {
		en.WantType = WantBlock
		en.SendDontHave = false
		if e.v == V100 {
			v0, ok := asV0(en.CID)
			if !ok {
				e.notCarriedErr().Wants = append(e.notCarried.Wants, en.CID)
				continue
			}
			en.CID = v0
		}
		out = append(out, en)
	}
	e.entries = out
}

// adaptBlocks leaves out the blocks a 1.0.0 peer cannot name.
func (e *encoder) adaptBlocks() {
	out := make([]blockstore.Block, 0, len(e.blocks))
	for _, b := range e.blocks {
		if _, ok := asV0(b.CID); !ok {
			e.notCarriedErr().Blocks = append(e.notCarried.Blocks, b.CID)
			continue
		}
		out = append(out, b)
	}
	e.blocks = out
}

func (e *encoder) notCarriedErr() *NotRepresentableError {
	if e.notCarried == nil {
		e.notCarried = &NotRepresentableError{Version: e.v}
	}
	return e.notCarried
}

func sizeField(num protowire.Number, n int) int {
	return protowire.SizeTag(num) + protowire.SizeBytes(n)
}

func sizeVarintField(num protowire.Number, v uint64) int {
	return protowire.SizeTag(num) + protowire.SizeVarint(v)
}

// int32Wire is how protobuf writes an int32: sign-extended to 64 bits.
func int32Wire(v int32) uint64 { return uint64(int64(v)) }

func entrySize(en *Entry) int {
	n := sizeField(fEntBlock, len(en.CID.Bytes()))
	if en.Priority != 0 {
		n += sizeVarintField(fEntPriority, int32Wire(en.Priority))
	}
	if en.Cancel {
		n += sizeVarintField(fEntCancel, 1)
	}
	if en.WantType != WantBlock {
		n += sizeVarintField(fEntWantType, uint64(en.WantType))
	}
	if en.SendDontHave {
		n += sizeVarintField(fEntSendDontHave, 1)
	}
	return n
}

// prefixSize is the length of the CID prefix bytes of p (what
// cid.Prefix.Bytes gives): version, codec, multihash code, digest length,
// as varints.
func prefixSize(p cid.Prefix) int {
	return protowire.SizeVarint(p.Version) + protowire.SizeVarint(p.Codec) +
		protowire.SizeVarint(p.MhType) + protowire.SizeVarint(uint64(p.MhLength))
}

func appendPrefix(b []byte, p cid.Prefix) []byte {
	b = protowire.AppendVarint(b, p.Version)
	b = protowire.AppendVarint(b, p.Codec)
	b = protowire.AppendVarint(b, p.MhType)
	return protowire.AppendVarint(b, uint64(p.MhLength))
}

func payloadSize(b *blockstore.Block, p cid.Prefix) int {
	n := sizeField(fBlkPrefix, prefixSize(p))
	if len(b.Data) > 0 {
		n += sizeField(fBlkData, len(b.Data))
	}
	return n
}

func presenceSize(p *Presence) int {
	n := sizeField(fPresCID, len(p.CID.Bytes()))
	if p.Type != Have {
		n += sizeVarintField(fPresType, uint64(p.Type))
	}
	return n
}

func (e *encoder) computeSize() {
	wl := 0
	for i := range e.entries {
		wl += sizeField(fWlEntries, entrySize(&e.entries[i]))
	}
	if e.m.Full {
		wl += sizeVarintField(fWlFull, 1)
	}
	e.wlSize = wl
	n := sizeField(fMsgWantlist, wl)
	if e.v != V100 {
		e.prefixes = make([]cid.Prefix, len(e.blocks))
	}
	for i := range e.blocks {
		e.dataSize += len(e.blocks[i].Data)
		if e.v == V100 {
			n += sizeField(fMsgBlocks, len(e.blocks[i].Data))
		} else {
			e.prefixes[i] = e.blocks[i].CID.Prefix()
			n += sizeField(fMsgPayload, payloadSize(&e.blocks[i], e.prefixes[i]))
		}
	}
	if e.v.SupportsHave() {
		for i := range e.m.Presences {
			n += sizeField(fMsgPresences, presenceSize(&e.m.Presences[i]))
		}
		if e.m.PendingBytes != 0 {
			n += sizeVarintField(fMsgPending, int32Wire(e.m.PendingBytes))
		}
	}
	e.size = n
}

func appendBool(b []byte, num protowire.Number, v bool) []byte {
	if !v {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, 1)
}

func appendVarintField(b []byte, num protowire.Number, v uint64) []byte {
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

func appendBytesField(b []byte, num protowire.Number, v []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

// appendBytesFieldHeader appends the tag and length of a bytes field of
// n bytes, without the bytes.
func appendBytesFieldHeader(b []byte, num protowire.Number, n int) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendVarint(b, uint64(n))
}

// encode produces the encoding of the message into out: the one walk
// over the fields that both Marshal and WriteMsg use.
func (e *encoder) encode(out *pieces) {
	start := out.produced()
	out.buf = appendBytesFieldHeader(out.buf, fMsgWantlist, e.wlSize)
	for i := range e.entries {
		en := &e.entries[i]
		b := appendBytesFieldHeader(out.buf, fWlEntries, entrySize(en))
		b = appendBytesField(b, fEntBlock, en.CID.Bytes())
		if en.Priority != 0 {
			b = appendVarintField(b, fEntPriority, int32Wire(en.Priority))
		}
		b = appendBool(b, fEntCancel, en.Cancel)
		if en.WantType != WantBlock {
			b = appendVarintField(b, fEntWantType, uint64(en.WantType))
		}
		out.buf = appendBool(b, fEntSendDontHave, en.SendDontHave)
		out.spill()
	}
	out.buf = appendBool(out.buf, fWlFull, e.m.Full)
	for i := range e.blocks {
		blk := &e.blocks[i]
		if e.v == V100 {
			out.buf = appendBytesFieldHeader(out.buf, fMsgBlocks, len(blk.Data))
			out.data(blk.Data)
			continue
		}
		p := e.prefixes[i]
		b := appendBytesFieldHeader(out.buf, fMsgPayload, payloadSize(blk, p))
		b = appendBytesFieldHeader(b, fBlkPrefix, prefixSize(p))
		b = appendPrefix(b, p)
		if len(blk.Data) > 0 {
			b = appendBytesFieldHeader(b, fBlkData, len(blk.Data))
		}
		out.buf = b
		out.data(blk.Data)
	}
	if e.v.SupportsHave() {
		for i := range e.m.Presences {
			p := &e.m.Presences[i]
			b := appendBytesFieldHeader(out.buf, fMsgPresences, presenceSize(p))
			b = appendBytesField(b, fPresCID, p.CID.Bytes())
			if p.Type != Have {
				b = appendVarintField(b, fPresType, uint64(p.Type))
			}
			out.buf = b
			out.spill()
		}
		if e.m.PendingBytes != 0 {
			out.buf = appendVarintField(out.buf, fMsgPending, int32Wire(e.m.PendingBytes))
		}
	}
	if n := out.produced() - start; n != e.size {
		panic(fmt.Sprintf("bitswap message: encoded %d bytes, computed %d", n, e.size))
	}
}
