package car

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/ipfs/go-cid"
)

// The header is a tiny dag-cbor document, {"roots": [CID...], "version": 1},
// so it is encoded and decoded here by hand: the decoder accepts exactly
// that shape (plus the CARv2 pragma {"version": 2}) and nothing else, and
// reports where it failed.

// CBOR major types used by the header.
const (
	cborUint  = 0
	cborBytes = 2
	cborText  = 3
	cborArray = 4
	cborMap   = 5
	cborTag   = 6
)

// cidTag is the CBOR tag of a CID in dag-cbor.
const cidTag = 42

// appendHead appends a CBOR head with the shortest encoding of arg, as
// dag-cbor requires.
func appendHead(b []byte, major byte, arg uint64) []byte {
	m := major << 5
	switch {
	case arg < 24:
		return append(b, m|byte(arg))
	case arg <= 0xff:
		return append(b, m|24, byte(arg))
	case arg <= 0xffff:
		return binary.BigEndian.AppendUint16(append(b, m|25), uint16(arg))
	case arg <= 0xffffffff:
		return binary.BigEndian.AppendUint32(append(b, m|26), uint32(arg))
	default:
		return binary.BigEndian.AppendUint64(append(b, m|27), arg)
	}
}

// encodeHeader returns the canonical dag-cbor CARv1 header. Keys are in
// dag-cbor order (shorter first): "roots" then "version".
func encodeHeader(roots []cid.Cid) []byte {
	b := appendHead(nil, cborMap, 2)
	b = appendHead(b, cborText, 5)
	b = append(b, "roots"...)
	b = appendHead(b, cborArray, uint64(len(roots)))
	for _, r := range roots {
		b = appendHead(b, cborTag, cidTag)
		b = appendHead(b, cborBytes, uint64(r.ByteLen()+1))
		b = append(b, 0) // the identity multibase prefix dag-cbor puts before a binary CID
		b = append(b, r.Bytes()...)
	}
	b = appendHead(b, cborText, 7)
	b = append(b, "version"...)
	return appendHead(b, cborUint, 1)
}

// header is a decoded CAR header.
type header struct {
	version  uint64
	roots    []cid.Cid
	hasRoots bool
}

// cborReader walks a CBOR byte string, remembering its position for errors.
type cborReader struct {
	b   []byte
	off int
}

func (p *cborReader) errorf(format string, args ...any) error {
	return fmt.Errorf("at header byte %d: %s", p.off, fmt.Sprintf(format, args...))
}

// head reads one CBOR head: the major type and its argument. Indefinite
// lengths, floats and simple values are not part of a CAR header.
func (p *cborReader) head() (major byte, arg uint64, err error) {
	if p.off >= len(p.b) {
		return 0, 0, p.errorf("unexpected end of header")
	}
	ib := p.b[p.off]
	major, info := ib>>5, ib&0x1f
	var n int
	switch {
	case info < 24:
		p.off++
		return major, uint64(info), nil
	case info == 24:
		n = 1
	case info == 25:
		n = 2
	case info == 26:
		n = 4
	case info == 27:
		n = 8
	default:
		return 0, 0, p.errorf("unsupported CBOR item 0x%02x (indefinite length or reserved)", ib)
	}
	if len(p.b)-p.off-1 < n {
		return 0, 0, p.errorf("unexpected end of header")
	}
	for _, c := range p.b[p.off+1 : p.off+1+n] {
		arg = arg<<8 | uint64(c)
	}
	p.off += 1 + n
	return major, arg, nil
}

// bytes reads n raw bytes after a byte or text string head, checking n
// against what is left before slicing.
func (p *cborReader) bytes(n uint64) ([]byte, error) {
	if n > uint64(len(p.b)-p.off) {
		return nil, p.errorf("string of %d bytes runs past the end of the header", n)
	}
	s := p.b[p.off : p.off+int(n)]
	p.off += int(n)
	return s, nil
}

var errNotMap = errors.New("header is not a CBOR map")

// decodeHeader parses a CAR header. It accepts a map with the keys
// "version" (an unsigned integer) and "roots" (an array of CIDs, tag 42),
// in any order, each at most once, and nothing after the map.
func decodeHeader(b []byte) (header, error) {
	var h header
	p := &cborReader{b: b}
	major, pairs, err := p.head()
	if err != nil {
		return h, err
	}
	if major != cborMap {
		return h, errNotMap
	}
	if pairs > 2 {
		return h, p.errorf("map has %d keys; a CAR header has only \"roots\" and \"version\"", pairs)
	}
	hasVersion := false
	for range pairs {
		major, n, err := p.head()
		if err != nil {
			return h, err
		}
		if major != cborText {
			return h, p.errorf("map key is CBOR major type %d, not a string", major)
		}
		key, err := p.bytes(n)
		if err != nil {
			return h, err
		}
		switch string(key) {
		case "version":
			if hasVersion {
				return h, p.errorf("duplicate key \"version\"")
			}
			hasVersion = true
			major, v, err := p.head()
			if err != nil {
				return h, err
			}
			if major != cborUint {
				return h, p.errorf("version is CBOR major type %d, not an unsigned integer", major)
			}
			h.version = v
		case "roots":
			if h.hasRoots {
				return h, p.errorf("duplicate key \"roots\"")
			}
			h.hasRoots = true
			if h.roots, err = p.roots(); err != nil {
				return h, err
			}
		default:
			return h, p.errorf("unknown key %q", key)
		}
	}
	if p.off != len(b) {
		return h, p.errorf("%d bytes after the header map", len(b)-p.off)
	}
	if !hasVersion {
		return h, errors.New("header has no \"version\"")
	}
	return h, nil
}

func (p *cborReader) roots() ([]cid.Cid, error) {
	major, n, err := p.head()
	if err != nil {
		return nil, err
	}
	if major != cborArray {
		return nil, p.errorf("roots is CBOR major type %d, not an array", major)
	}
	// Each root takes at least 4 bytes (tag, string head, 0x00, one CID
	// byte); check the count against the bytes left before allocating.
	if n > uint64(len(p.b)-p.off)/4 {
		return nil, p.errorf("roots array claims %d entries, more than the header holds", n)
	}
	roots := make([]cid.Cid, 0, n)
	for i := range n {
		major, tag, err := p.head()
		if err != nil {
			return nil, err
		}
		if major != cborTag || tag != cidTag {
			return nil, p.errorf("root %d is not a CID (CBOR tag 42)", i)
		}
		major, l, err := p.head()
		if err != nil {
			return nil, err
		}
		if major != cborBytes {
			return nil, p.errorf("root %d: tag 42 holds CBOR major type %d, not a byte string", i, major)
		}
		start := p.off
		raw, err := p.bytes(l)
		if err != nil {
			return nil, err
		}
		if len(raw) < 2 || raw[0] != 0 {
			p.off = start
			return nil, p.errorf("root %d: a CID byte string must start with 0x00 and hold a CID", i)
		}
		c, err := cid.Cast(raw[1:])
		if err != nil {
			p.off = start
			return nil, p.errorf("root %d: invalid CID: %v", i, err)
		}
		roots = append(roots, c)
	}
	return roots, nil
}
