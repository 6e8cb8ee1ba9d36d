package blockstore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/multiformats/go-multihash"
)

// The on-disk format of the pack store (docs/blockstore.md has the full
// description).
//
// A pack file NNNNNNNN.pack (the pack number in 8 hex digits) is a 16-byte
// header followed by records:
//
//	header: "NODEPACK" | version u32 = 1 | pack number u32
//	record: crc u32 | kind u8 | 0 u8 | key length u16 | data length u32 | key | data
//
// All integers are little-endian. crc is CRC-32C (Castagnoli) of everything
// in the record after the crc field. kind is recBlock (the data is the
// block) or recTombstone (the key was deleted; the data is the u32 number of
// the pack that held the block, so the tombstone can be dropped once that
// pack is gone). The key is the block's multihash.
//
// An index file NNNNNNNN.idx is written when a pack is sealed (it will get
// no more records) and lets Open skip reading the pack:
//
//	"NODEPIDX" | version u32 = 1 | pack number u32 | pack size u64 | count u32
//	count times: kind u8 | key length u16 | key | data offset u64 | value u32
//	crc u32 (CRC-32C of everything before it)
//
// value is the data length for a block and the target pack for a tombstone.
const (
	packMagic     = "NODEPACK"
	indexMagic    = "NODEPIDX"
	formatVersion = 1
	packHeaderLen = 16
	recHeaderLen  = 12
	// maxKeyLen bounds a multihash key; real ones are 34 (sha2-256) to 66
	// bytes, identity multihashes may be longer.
	maxKeyLen = 1024

	recBlock     = 1
	recTombstone = 2
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errBadRecord marks a record that fails its checks (torn or corrupt).
var errBadRecord = errors.New("bad pack record")

// recHeader is a decoded record header.
type recHeader struct {
	crc     uint32
	kind    byte
	keyLen  int
	dataLen int
}

func (h recHeader) size() int64 { return int64(recHeaderLen + h.keyLen + h.dataLen) }

// appendRecordHeader appends the header and key of a record whose data is
// data, computing the crc over header, key and data.
func appendRecordHeader(dst []byte, kind byte, key, data []byte) []byte {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0, kind, 0)
	dst = binary.LittleEndian.AppendUint16(dst, uint16(len(key)))
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(data)))
	dst = append(dst, key...)
	c := crc32.Checksum(dst[start+4:], castagnoli)
	c = crc32.Update(c, castagnoli, data)
	binary.LittleEndian.PutUint32(dst[start:], c)
	return dst
}

// parseRecordHeader decodes and sanity-checks a record header. It does not
// check the crc, which needs the key and data.
func parseRecordHeader(b []byte) (recHeader, error) {
	if len(b) < recHeaderLen {
		return recHeader{}, fmt.Errorf("%w: header is %d bytes, want %d", errBadRecord, len(b), recHeaderLen)
	}
	h := recHeader{
		crc:     binary.LittleEndian.Uint32(b),
		kind:    b[4],
		keyLen:  int(binary.LittleEndian.Uint16(b[6:])),
		dataLen: int(binary.LittleEndian.Uint32(b[8:])),
	}
	if err := h.check(); err != nil {
		return h, err
	}
	if b[5] != 0 {
		return h, fmt.Errorf("%w: reserved byte is %d", errBadRecord, b[5])
	}
	return h, nil
}

// check reports whether the header's kind and lengths are possible. A
// header that passes frames a record even when its crc (or its reserved
// byte) is wrong, so the scanner can look for the next record after it.
func (h recHeader) check() error {
	switch {
	case h.kind != recBlock && h.kind != recTombstone:
		return fmt.Errorf("%w: unknown kind %d", errBadRecord, h.kind)
	case h.keyLen < 2 || h.keyLen > maxKeyLen:
		return fmt.Errorf("%w: key length %d", errBadRecord, h.keyLen)
	case h.kind == recBlock && h.dataLen > MaxBlockSize:
		return fmt.Errorf("%w: block length %d over the limit", errBadRecord, h.dataLen)
	case h.kind == recTombstone && h.dataLen != 4:
		return fmt.Errorf("%w: tombstone length %d, want 4", errBadRecord, h.dataLen)
	}
	return nil
}

// checkRecord verifies a whole record (header, key, data in rec) against
// its crc and checks that the key is a multihash.
func checkRecord(h recHeader, rec []byte) error {
	if int64(len(rec)) != h.size() {
		return fmt.Errorf("%w: record is %d bytes, header says %d", errBadRecord, len(rec), h.size())
	}
	if crc32.Checksum(rec[4:], castagnoli) != h.crc {
		return fmt.Errorf("%w: crc mismatch", errBadRecord)
	}
	key := rec[recHeaderLen : recHeaderLen+h.keyLen]
	if _, err := multihash.Cast(key); err != nil {
		return fmt.Errorf("%w: key is not a multihash: %v", errBadRecord, err)
	}
	return nil
}

func packHeader(num uint32) []byte {
	b := append([]byte(packMagic), 0, 0, 0, 0, 0, 0, 0, 0)
	binary.LittleEndian.PutUint32(b[8:], formatVersion)
	binary.LittleEndian.PutUint32(b[12:], num)
	return b
}

func checkPackHeader(b []byte, num uint32) error {
	if len(b) < packHeaderLen || string(b[:8]) != packMagic {
		return errors.New("not a pack file (bad magic)")
	}
	if v := binary.LittleEndian.Uint32(b[8:]); v != formatVersion {
		return fmt.Errorf("pack format version %d is not supported (this build reads version %d)", v, formatVersion)
	}
	if n := binary.LittleEndian.Uint32(b[12:]); n != num {
		return fmt.Errorf("pack header says it is pack %d, its name says %d", n, num)
	}
	return nil
}

// indexEntry is one record of a pack as the index and the scanner see it.
type indexEntry struct {
	kind byte
	key  string
	off  int64  // offset of the record's data in the pack
	val  uint32 // data length (block) or target pack (tombstone)
	// damaged marks a record the scanner found with a bad crc between two
	// good records (set by scanPack only; index files do not keep it).
	damaged bool
}

// recordEnd returns the offset just after the entry's record.
func (e indexEntry) recordEnd() int64 { return e.recordStart() + e.recordSize() }

// recordStart returns the offset of the record holding the entry.
func (e indexEntry) recordStart() int64 { return e.off - recHeaderLen - int64(len(e.key)) }

// recordSize returns the size of the entry's record in the pack.
func (e indexEntry) recordSize() int64 {
	n := int64(4)
	if e.kind == recBlock {
		n = int64(e.val)
	}
	return recHeaderLen + int64(len(e.key)) + n
}

// scanResult is what scanning a pack found.
type scanResult struct {
	// entries lists the records in file order, damaged ones included
	// (flagged). A damaged record whose key is not a multihash has no
	// entry: its bytes are a gap between entries.
	entries []indexEntry
	// damaged counts the damaged records passed over (see scanPack).
	damaged int
	// end is the offset just after the last record scanned.
	end int64
	// bad is the reason scanning stopped before the end of the file, nil
	// when every byte was a good record.
	bad error
	// tornTail reports that everything from end on is a torn write: the
	// record runs past the end of the file, or the rest is zeros. Such a
	// tail is safe to cut off.
	tornTail bool
}

// scanPack reads the records of a pack of the given size from r, checking
// every crc. It returns an error only when reading fails or the header is
// wrong; bad records end the scan and are reported in the result.
//
// One exception keeps a single damaged record from hiding the records after
// it: a record whose crc (or reserved byte) is wrong but whose header is
// possible (known kind, lengths within the limits, inside the file) and
// which is followed at once by a good record is one damaged record, not the
// end of the good data. Its entry is returned flagged damaged (when its key
// is still a multihash) and the scan goes on after it. Get then fails on
// its crc with ErrCorrupt, and the records after it stay readable.
func scanPack(r io.ReaderAt, size int64, num uint32) (scanResult, error) {
	hdr := make([]byte, packHeaderLen)
	if _, err := r.ReadAt(hdr, 0); err != nil {
		if size < packHeaderLen {
			// A crash right after creating the file: treat as empty.
			return scanResult{end: 0, bad: errors.New("pack header incomplete"), tornTail: true}, nil
		}
		return scanResult{}, err
	}
	if err := checkPackHeader(hdr, num); err != nil {
		return scanResult{}, err
	}
	res := scanResult{end: packHeaderLen}
	sr := io.NewSectionReader(r, 0, size)
	br := newBufReader(sr, packHeaderLen, int(min(1<<20, size)))
	rec := make([]byte, 0, 64<<10)
	for res.end < size {
		off := res.end
		rec = rec[:recHeaderLen]
		if err := br.readFull(rec); err != nil {
			res.bad = fmt.Errorf("%w: at offset %d: %d bytes left, less than a header", errBadRecord, off, size-off)
			res.tornTail = true
			return res, nil
		}
		h, err := parseRecordHeader(rec)
		if err != nil && (h.check() != nil || off+h.size() > size) {
			res.bad = fmt.Errorf("at offset %d: %w", off, err)
			res.tornTail = zeroTail(r, off, size)
			return res, nil
		}
		if off+h.size() > size {
			res.bad = fmt.Errorf("%w: at offset %d: record of %d bytes runs past the end of the file (%d)", errBadRecord, off, h.size(), size)
			res.tornTail = true
			return res, nil
		}
		if need := int(h.size()); cap(rec) < need {
			grown := make([]byte, need)
			copy(grown, rec[:recHeaderLen])
			rec = grown
		} else {
			rec = rec[:need]
		}
		if err := br.readFull(rec[recHeaderLen:]); err != nil {
			return res, err
		}
		if err == nil {
			err = checkRecord(h, rec)
		}
		damaged := false
		if err != nil {
			if !goodRecordAt(r, off+h.size(), size) {
				res.bad = fmt.Errorf("at offset %d: %w", off, err)
				res.tornTail = zeroTail(r, off, size)
				return res, nil
			}
			damaged = true
			res.damaged++
		}
		key := rec[recHeaderLen : recHeaderLen+h.keyLen]
		if _, err := multihash.Cast(key); err == nil {
			e := indexEntry{kind: h.kind, key: string(key), off: off + recHeaderLen + int64(h.keyLen), damaged: damaged}
			if h.kind == recBlock {
				e.val = uint32(h.dataLen)
			} else {
				e.val = binary.LittleEndian.Uint32(rec[recHeaderLen+h.keyLen:])
			}
			res.entries = append(res.entries, e)
		}
		res.end = off + h.size()
	}
	return res, nil
}

// goodRecordAt reports whether a whole, valid record (crc checked) starts
// at off in a file of the given size.
func goodRecordAt(r io.ReaderAt, off, size int64) bool {
	hdr := make([]byte, recHeaderLen)
	if off+recHeaderLen > size {
		return false
	}
	if _, err := r.ReadAt(hdr, off); err != nil {
		return false
	}
	h, err := parseRecordHeader(hdr)
	if err != nil || off+h.size() > size {
		return false
	}
	rec := make([]byte, h.size())
	if _, err := r.ReadAt(rec, off); err != nil {
		return false
	}
	return checkRecord(h, rec) == nil
}

// zeroTail reports whether r holds only zero bytes from off to size.
func zeroTail(r io.ReaderAt, off, size int64) bool {
	buf := make([]byte, min(64<<10, size-off))
	for off < size {
		n := min(int64(len(buf)), size-off)
		if _, err := r.ReadAt(buf[:n], off); err != nil {
			return false
		}
		for _, c := range buf[:n] {
			if c != 0 {
				return false
			}
		}
		off += n
	}
	return true
}

// bufReader is a minimal sequential reader over a SectionReader, so the
// scanner reads a pack in large chunks instead of one syscall per field.
type bufReader struct {
	r        *io.SectionReader
	pos      int64
	buf      []byte
	from, to int
}

func newBufReader(r *io.SectionReader, pos int64, size int) *bufReader {
	return &bufReader{r: r, pos: pos, buf: make([]byte, size)}
}

func (b *bufReader) readFull(p []byte) error {
	for len(p) > 0 {
		if b.from == b.to {
			if len(p) >= len(b.buf) { // large reads bypass the buffer
				n, err := b.r.ReadAt(p, b.pos)
				b.pos += int64(n)
				if n == len(p) {
					return nil
				}
				if err == nil {
					err = io.ErrUnexpectedEOF
				}
				return err
			}
			n, err := b.r.ReadAt(b.buf, b.pos)
			if n == 0 {
				if err == nil || err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				return err
			}
			b.pos += int64(n)
			b.from, b.to = 0, n
		}
		n := copy(p, b.buf[b.from:b.to])
		b.from += n
		p = p[n:]
	}
	return nil
}

// encodeIndex serialises the index of a sealed pack.
func encodeIndex(num uint32, packSize int64, entries []indexEntry) []byte {
	b := make([]byte, 0, 28+len(entries)*50)
	b = append(b, indexMagic...)
	b = binary.LittleEndian.AppendUint32(b, formatVersion)
	b = binary.LittleEndian.AppendUint32(b, num)
	b = binary.LittleEndian.AppendUint64(b, uint64(packSize))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(entries)))
	for _, e := range entries {
		b = append(b, e.kind)
		b = binary.LittleEndian.AppendUint16(b, uint16(len(e.key)))
		b = append(b, e.key...)
		b = binary.LittleEndian.AppendUint64(b, uint64(e.off))
		b = binary.LittleEndian.AppendUint32(b, e.val)
	}
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// decodeIndex parses an index file, checking its crc and that every entry
// lies inside a pack of the recorded size. It returns the pack size.
func decodeIndex(b []byte, num uint32) (int64, []indexEntry, error) {
	const fixed = 8 + 4 + 4 + 8 + 4
	if len(b) < fixed+4 || string(b[:8]) != indexMagic {
		return 0, nil, errors.New("not an index file (bad magic or too short)")
	}
	body, sum := b[:len(b)-4], binary.LittleEndian.Uint32(b[len(b)-4:])
	if crc32.Checksum(body, castagnoli) != sum {
		return 0, nil, errors.New("index crc mismatch")
	}
	if v := binary.LittleEndian.Uint32(b[8:]); v != formatVersion {
		return 0, nil, fmt.Errorf("index format version %d is not supported", v)
	}
	if n := binary.LittleEndian.Uint32(b[12:]); n != num {
		return 0, nil, fmt.Errorf("index is for pack %d, not %d", n, num)
	}
	size := int64(binary.LittleEndian.Uint64(b[16:]))
	count := int(binary.LittleEndian.Uint32(b[24:]))
	if size < packHeaderLen || size > 1<<50 {
		return 0, nil, fmt.Errorf("index records an impossible pack size %d", size)
	}
	// Every entry takes at least 1+2+2+8+4 bytes: bound count before allocating.
	if count > len(body)/17 {
		return 0, nil, fmt.Errorf("index claims %d entries in %d bytes", count, len(body))
	}
	entries := make([]indexEntry, 0, count)
	p := body[fixed:]
	for i := 0; i < count; i++ {
		if len(p) < 3 {
			return 0, nil, fmt.Errorf("index entry %d is truncated", i)
		}
		e := indexEntry{kind: p[0]}
		kl := int(binary.LittleEndian.Uint16(p[1:]))
		p = p[3:]
		if kl < 2 || kl > maxKeyLen || len(p) < kl+12 {
			return 0, nil, fmt.Errorf("index entry %d: bad key length %d", i, kl)
		}
		e.key = string(p[:kl])
		e.off = int64(binary.LittleEndian.Uint64(p[kl:]))
		e.val = binary.LittleEndian.Uint32(p[kl+8:])
		p = p[kl+12:]
		if e.kind != recBlock && e.kind != recTombstone {
			return 0, nil, fmt.Errorf("index entry %d: unknown kind %d", i, e.kind)
		}
		if e.kind == recBlock && e.val > MaxBlockSize {
			return 0, nil, fmt.Errorf("index entry %d: block length %d over the limit", i, e.val)
		}
		if e.off < 0 || e.recordStart() < packHeaderLen || e.off+e.recordSize()-recHeaderLen-int64(kl) > size {
			return 0, nil, fmt.Errorf("index entry %d: offset %d outside the pack", i, e.off)
		}
		if _, err := multihash.Cast([]byte(e.key)); err != nil {
			return 0, nil, fmt.Errorf("index entry %d: key is not a multihash: %v", i, err)
		}
		entries = append(entries, e)
	}
	if len(p) != 0 {
		return 0, nil, fmt.Errorf("index has %d bytes after its last entry", len(p))
	}
	return size, entries, nil
}

// readRecordData checks a record read whole from a pack (header, key and
// data) against the key it should hold and returns its data.
func readRecordData(rec []byte, key string) ([]byte, error) {
	h, err := parseRecordHeader(rec)
	if err != nil {
		return nil, err
	}
	if h.kind != recBlock {
		return nil, fmt.Errorf("%w: expected a block record, found kind %d", errBadRecord, h.kind)
	}
	if err := checkRecord(h, rec); err != nil {
		return nil, err
	}
	if !bytes.Equal(rec[recHeaderLen:recHeaderLen+h.keyLen], []byte(key)) {
		return nil, fmt.Errorf("%w: record holds another key", errBadRecord)
	}
	return rec[recHeaderLen+h.keyLen:], nil
}
