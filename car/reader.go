package car

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-varint"

	"node/blockstore"
)

const (
	// MaxHeaderSize is the largest header a Reader accepts (and a Writer
	// writes): 1 MiB, room for about 25,000 roots.
	MaxHeaderSize = 1 << 20
	// MaxCIDSize is the largest CID a section may start with. Real CIDs are
	// 34 to about 70 bytes; identity CIDs, which inline their data, are
	// larger, and other implementations cap those at 128 bytes of digest.
	MaxCIDSize = 512
	// MaxSectionSize is the largest section length a Reader accepts: a CID
	// followed by a block of at most blockstore.MaxBlockSize bytes.
	MaxSectionSize = blockstore.MaxBlockSize + MaxCIDSize
)

var (
	// ErrInvalidHeader is wrapped by errors about a malformed CAR header.
	ErrInvalidHeader = errors.New("invalid CAR header")
	// ErrUnsupportedVersion is wrapped when the header names a CAR version
	// other than 1 or 2 (or a CARv2 whose inner payload is not version 1).
	ErrUnsupportedVersion = errors.New("unsupported CAR version")
	// ErrInvalidSection is wrapped by errors about a malformed section: a
	// bad length varint, a zero length, a bad CID.
	ErrInvalidSection = errors.New("invalid CAR section")
)

// v2Pragma is the start of every CARv2 file: a CARv1-style header
// {"version": 2} with its length prefix.
var v2Pragma = []byte{0x0a, 0xa1, 0x67, 'v', 'e', 'r', 's', 'i', 'o', 'n', 0x02}

// v2HeaderSize is the size of the fixed CARv2 header after the pragma:
// 16 bytes of characteristics, then data offset, data size and index offset
// as little-endian uint64s.
const v2HeaderSize = 40

// Reader reads the blocks of a CAR one at a time, checking each against its
// CID. It reads CARv1, and CARv2 by reading the CARv1 payload inside it
// (the CARv2 index is ignored). It is not safe for concurrent use.
type Reader struct {
	src     countingReader
	roots   []cid.Cid
	version int
	section int   // sections read so far
	err     error // sticky: once set, Next returns it
}

// countingReader counts the bytes read through it and stops at end, the
// end of the CARv2 data payload (math.MaxInt64 for a CARv1).
type countingReader struct {
	r   *bufio.Reader
	off int64
	end int64
}

func (s *countingReader) ReadByte() (byte, error) {
	if s.off >= s.end {
		return 0, io.EOF
	}
	b, err := s.r.ReadByte()
	if err == nil {
		s.off++
	}
	return b, err
}

// readFull fills p, or returns io.ErrUnexpectedEOF if the input (or the
// CARv2 payload) ends first.
func (s *countingReader) readFull(p []byte) error {
	if int64(len(p)) > s.end-s.off {
		n, _ := io.ReadFull(s.r, p[:s.end-s.off])
		s.off += int64(n)
		return io.ErrUnexpectedEOF
	}
	n, err := io.ReadFull(s.r, p)
	s.off += int64(n)
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// NewReader reads and checks the CAR header. The header must be a dag-cbor
// map {"roots": [CID...], "version": 1}, at most MaxHeaderSize bytes; an
// empty roots list is accepted (the spec leaves it open and some writers
// produce it). A CARv2 is read through its inner CARv1 payload.
func NewReader(r io.Reader) (*Reader, error) {
	cr := &Reader{src: countingReader{r: bufio.NewReaderSize(r, 64<<10), end: math.MaxInt64}}
	if err := cr.start(); err != nil {
		return nil, fmt.Errorf("car: %w", err)
	}
	return cr, nil
}

func (cr *Reader) start() error {
	h, err := cr.readHeader()
	if err != nil {
		return err
	}
	switch h.version {
	case 1:
		cr.version = 1
	case 2:
		if err := cr.enterV2(); err != nil {
			return err
		}
		cr.version = 2
		if h, err = cr.readHeader(); err != nil {
			return fmt.Errorf("CARv2 data payload: %w", err)
		}
		if h.version != 1 {
			return fmt.Errorf("CARv2 data payload has version %d, want 1: %w", h.version, ErrUnsupportedVersion)
		}
	default:
		return fmt.Errorf("header says version %d; this reader knows CARv1 and CARv2: %w", h.version, ErrUnsupportedVersion)
	}
	if !h.hasRoots {
		return fmt.Errorf("header has no \"roots\": %w", ErrInvalidHeader)
	}
	cr.roots = h.roots
	return nil
}

// readHeader reads a length-prefixed header at the current offset.
func (cr *Reader) readHeader() (header, error) {
	s := &cr.src
	start := s.off
	l, err := varint.ReadUvarint(s)
	switch {
	case err == io.EOF:
		if start == 0 {
			return header{}, fmt.Errorf("empty input, no CAR header: %w", io.ErrUnexpectedEOF)
		}
		return header{}, fmt.Errorf("header at byte %d: input ends before it: %w", start, io.ErrUnexpectedEOF)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return header{}, fmt.Errorf("header length at byte %d is cut short: %w", start, io.ErrUnexpectedEOF)
	case err != nil:
		return header{}, fmt.Errorf("header length at byte %d: %v: %w", start, err, ErrInvalidHeader)
	case l == 0:
		return header{}, fmt.Errorf("header at byte %d has length 0: %w", start, ErrInvalidHeader)
	case l > MaxHeaderSize:
		return header{}, fmt.Errorf("header at byte %d claims %d bytes, over the %d-byte limit: %w", start, l, MaxHeaderSize, ErrInvalidHeader)
	}
	buf := make([]byte, l)
	if err := s.readFull(buf); err != nil {
		return header{}, fmt.Errorf("%d-byte header at byte %d is cut short at byte %d: %w", l, start, s.off, err)
	}
	h, err := decodeHeader(buf)
	if err != nil {
		return header{}, fmt.Errorf("header at byte %d: %v: %w", start, err, ErrInvalidHeader)
	}
	return h, nil
}

// enterV2 is called after the CARv2 pragma: it reads the fixed CARv2
// header, skips to the data payload and limits reading to it.
func (cr *Reader) enterV2() error {
	s := &cr.src
	if s.off != int64(len(v2Pragma)) {
		return fmt.Errorf("header {\"version\": 2} is not the %d-byte CARv2 pragma: %w", len(v2Pragma), ErrInvalidHeader)
	}
	var hb [v2HeaderSize]byte
	if err := s.readFull(hb[:]); err != nil {
		return fmt.Errorf("CARv2 header at byte %d is cut short: %w", len(v2Pragma), err)
	}
	dataOffset := binary.LittleEndian.Uint64(hb[16:])
	dataSize := binary.LittleEndian.Uint64(hb[24:])
	minOffset := uint64(len(v2Pragma) + v2HeaderSize)
	if dataOffset < minOffset || dataOffset > math.MaxInt64/2 || dataSize > math.MaxInt64/2 {
		return fmt.Errorf("CARv2 header: data offset %d, size %d are out of range: %w", dataOffset, dataSize, ErrInvalidHeader)
	}
	if skip := int64(dataOffset - minOffset); skip > 0 {
		n, err := io.CopyN(io.Discard, s.r, skip)
		s.off += n
		if err != nil {
			return fmt.Errorf("CARv2 data payload offset %d is past the end of the input (%d bytes): %w", dataOffset, s.off, io.ErrUnexpectedEOF)
		}
	}
	s.end = int64(dataOffset + dataSize)
	return nil
}

// Roots returns the root CIDs named in the header. The slice is shared:
// do not modify it.
func (cr *Reader) Roots() []cid.Cid { return cr.roots }

// Version returns 1 for a CARv1, or 2 for a CARv2 read through its payload.
func (cr *Reader) Version() int { return cr.version }

// Offset returns how many bytes of the input have been consumed: after
// Next returns io.EOF, the size of the CAR (for a CARv2, the end of its
// data payload).
func (cr *Reader) Offset() int64 { return cr.src.off }

// Next returns the next block, after checking that its bytes hash to its
// CID. It returns io.EOF at the clean end of the CAR: the input ended just
// after a section (for a CARv2, exactly at the end of the data payload).
// Other errors name the section (numbered from 1) and its byte offset, and
// wrap io.ErrUnexpectedEOF (truncated input), blockstore.ErrTooLarge (a
// block over blockstore.MaxBlockSize), ErrInvalidSection (malformed
// section) or blockstore.ErrCorrupt (bytes that do not match the CID).
// After an error, Next keeps returning it. The returned block's Data is
// newly allocated and belongs to the caller.
func (cr *Reader) Next() (blockstore.Block, error) {
	if cr.err != nil {
		return blockstore.Block{}, cr.err
	}
	b, err := cr.next()
	if err != nil {
		if err != io.EOF {
			err = fmt.Errorf("car: %w", err)
		}
		cr.err = err
	}
	return b, err
}

func (cr *Reader) next() (blockstore.Block, error) {
	s := &cr.src
	start := s.off
	num := cr.section + 1
	l, err := varint.ReadUvarint(s)
	switch {
	case err == io.EOF:
		if s.end != math.MaxInt64 && s.off < s.end {
			return blockstore.Block{}, fmt.Errorf("CARv2 data payload ends at byte %d, before its declared end at byte %d: %w", s.off, s.end, io.ErrUnexpectedEOF)
		}
		return blockstore.Block{}, io.EOF
	case errors.Is(err, io.ErrUnexpectedEOF):
		return blockstore.Block{}, fmt.Errorf("section %d at byte %d: length is cut short: %w", num, start, io.ErrUnexpectedEOF)
	case err != nil:
		return blockstore.Block{}, fmt.Errorf("section %d at byte %d: length: %v: %w", num, start, err, ErrInvalidSection)
	case l == 0:
		return blockstore.Block{}, fmt.Errorf("section %d at byte %d has length 0: %w", num, start, ErrInvalidSection)
	case l > MaxSectionSize:
		return blockstore.Block{}, fmt.Errorf("section %d at byte %d claims %d bytes, over the %d-byte limit (CID + block): %w", num, start, l, MaxSectionSize, blockstore.ErrTooLarge)
	}
	buf := make([]byte, l)
	if err := s.readFull(buf); err != nil {
		return blockstore.Block{}, fmt.Errorf("section %d at byte %d: %d-byte section is cut short at byte %d: %w", num, start, l, s.off, err)
	}
	n, c, err := cid.CidFromBytes(buf)
	if err != nil {
		return blockstore.Block{}, fmt.Errorf("section %d at byte %d: bad CID: %v: %w", num, start, err, ErrInvalidSection)
	}
	if n > MaxCIDSize {
		return blockstore.Block{}, fmt.Errorf("section %d at byte %d: CID is %d bytes, over the %d-byte limit: %w", num, start, n, MaxCIDSize, ErrInvalidSection)
	}
	data := buf[n:len(buf):len(buf)]
	if len(data) > blockstore.MaxBlockSize {
		return blockstore.Block{}, fmt.Errorf("section %d at byte %d: block %s is %d bytes: %w", num, start, c, len(data), blockstore.ErrTooLarge)
	}
	if err := blockstore.VerifyBlock(c, data); err != nil {
		if errors.Is(err, blockstore.ErrCorrupt) {
			return blockstore.Block{}, fmt.Errorf("section %d at byte %d: the %d bytes of block %s do not hash to its CID, the CAR is damaged: %w", num, start, len(data), c, blockstore.ErrCorrupt)
		}
		return blockstore.Block{}, fmt.Errorf("section %d at byte %d: %w", num, start, err)
	}
	cr.section = num
	return blockstore.Block{CID: c, Data: data}, nil
}
