package gateway

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/ipfs/go-cid"
	"google.golang.org/protobuf/encoding/protowire"

	"node/dag"
	"node/dagpb"
)

// ErrInvalidBlock is wrapped when a block does not decode under its codec.
var ErrInvalidBlock = errors.New("block does not decode under its codec")

// maxNesting bounds how deeply dag-cbor data may nest, as the node's
// other dag-cbor readers do.
const maxNesting = 64

// renderOptions choose the form of the JSON written.
type renderOptions struct {
	// pretty indents with two spaces and puts one item per line.
	pretty bool
	// html escapes the text for an HTML page and turns links into
	// <a href="/ipfs/CID"> anchors.
	html bool
}

// renderDAGJSON returns a block in the dag-json form of its IPLD data
// model: dag-pb as {"Data": bytes, "Links": [{"Hash", "Name", "Tsize"}]}
// (the dag-pb logical format), dag-cbor with links as {"/": "cid"} and
// bytes as {"/": {"bytes": "base64, unpadded"}}, raw as one bytes value,
// and dag-json or json blocks (checked to be JSON) as they are. Map keys
// are sorted by their bytes, as the dag-json spec asks; invalid UTF-8 in
// strings becomes U+FFFD. A block that does not decode under its codec
// fails with an error wrapping ErrInvalidBlock; a codec it does not know
// fails with dag.ErrUnsupportedCodec. It never panics, whatever the bytes.
func renderDAGJSON(c cid.Cid, block []byte, opt renderOptions) ([]byte, error) {
	out := &jsonOut{opt: opt}
	switch c.Type() {
	case cid.DagProtobuf:
		if err := out.dagPB(block); err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrInvalidBlock, c, err)
		}
	case cid.DagCBOR:
		r := &cborReader{b: block, out: out}
		if err := r.value(0); err != nil {
			return nil, fmt.Errorf("%w: %s: invalid dag-cbor: %w", ErrInvalidBlock, c, err)
		}
		if r.i != len(block) {
			return nil, fmt.Errorf("%w: %s: invalid dag-cbor: %d bytes after the data", ErrInvalidBlock, c, len(block)-r.i)
		}
	case cid.Raw:
		out.bytes(block)
	case cid.DagJSON, codecJSON:
		if !json.Valid(block) {
			return nil, fmt.Errorf("%w: %s is not valid JSON", ErrInvalidBlock, c)
		}
		if !opt.pretty && !opt.html {
			return block, nil
		}
		var buf bytes.Buffer
		if err := json.Indent(&buf, block, "", "  "); err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrInvalidBlock, c, err)
		}
		if opt.html {
			return appendHTMLText(nil, buf.Bytes()), nil
		}
		return buf.Bytes(), nil
	default:
		return nil, fmt.Errorf("%s: %w: codec 0x%x cannot be shown as dag-json", c, dag.ErrUnsupportedCodec, c.Type())
	}
	return out.b, nil
}

// jsonOut accumulates JSON text.
type jsonOut struct {
	b     []byte
	opt   renderOptions
	depth int
}

func (o *jsonOut) raw(s string) { o.b = append(o.b, s...) }

// open starts an object or array.
func (o *jsonOut) open(c byte) {
	o.b = append(o.b, c)
	o.depth++
}

// close ends an object or array of n items.
func (o *jsonOut) close(c byte, n int) {
	o.depth--
	if n > 0 {
		o.newline()
	}
	o.b = append(o.b, c)
}

// item starts the i-th item of an object or array.
func (o *jsonOut) item(i int) {
	if i > 0 {
		o.b = append(o.b, ',')
	}
	o.newline()
}

func (o *jsonOut) newline() {
	if !o.opt.pretty {
		return
	}
	o.b = append(o.b, '\n')
	for range o.depth {
		o.b = append(o.b, ' ', ' ')
	}
}

// key writes an object key and its colon.
func (o *jsonOut) key(k []byte) {
	o.str(k)
	o.b = append(o.b, ':')
	if o.opt.pretty {
		o.b = append(o.b, ' ')
	}
}

func (o *jsonOut) slash() {
	if o.opt.pretty {
		o.raw(`{"/": `)
	} else {
		o.raw(`{"/":`)
	}
}

// bytes writes {"/":{"bytes":"..."}}.
func (o *jsonOut) bytes(b []byte) {
	o.slash()
	if o.opt.pretty {
		o.raw(`{"bytes": "`)
	} else {
		o.raw(`{"bytes":"`)
	}
	o.b = base64.RawStdEncoding.AppendEncode(o.b, b)
	o.raw(`"}}`)
}

// link writes {"/":"cid"}, an anchor in HTML mode.
func (o *jsonOut) link(c cid.Cid) {
	o.slash()
	s := c.String()
	if o.opt.html {
		o.raw(`"<a href="/ipfs/` + s + `">` + s + `</a>"}`)
		return
	}
	o.raw(`"` + s + `"}`)
}

const hexDigits = "0123456789abcdef"

// str writes a JSON string: ", \ and control characters escaped, U+2028
// and U+2029 escaped, invalid UTF-8 as U+FFFD.
func (o *jsonOut) str(s []byte) {
	start := len(o.b)
	o.b = append(o.b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				o.b = append(o.b, '\\', c)
			case c == '\n':
				o.b = append(o.b, '\\', 'n')
			case c == '\r':
				o.b = append(o.b, '\\', 'r')
			case c == '\t':
				o.b = append(o.b, '\\', 't')
			case c < 0x20:
				o.b = append(o.b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&15])
			default:
				o.b = append(o.b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			o.raw(`\ufffd`)
		case r == '\u2028' || r == '\u2029':
			o.raw(`\u202`)
			o.b = append(o.b, hexDigits[r&15])
		default:
			o.b = append(o.b, s[i:i+size]...)
		}
		i += size
	}
	o.b = append(o.b, '"')
	if o.opt.html {
		esc := appendHTMLText(nil, o.b[start:])
		o.b = append(o.b[:start], esc...)
	}
}

// appendHTMLText appends s with <, > and & escaped.
func appendHTMLText(dst, s []byte) []byte {
	for _, c := range s {
		switch c {
		case '<':
			dst = append(dst, "&lt;"...)
		case '>':
			dst = append(dst, "&gt;"...)
		case '&':
			dst = append(dst, "&amp;"...)
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

// float writes a number as JavaScript (and Go's encoding/json) would.
func (o *jsonOut) float(f float64) {
	fmtc := byte('f')
	if a := math.Abs(f); a != 0 && (a < 1e-6 || a >= 1e21) {
		fmtc = 'e'
	}
	start := len(o.b)
	o.b = strconv.AppendFloat(o.b, f, fmtc, -1, 64)
	if fmtc == 'e' {
		// 1e-07 -> 1e-7
		n := len(o.b)
		if n-start >= 4 && o.b[n-4] == 'e' && o.b[n-3] == '-' && o.b[n-2] == '0' {
			o.b[n-2] = o.b[n-1]
			o.b = o.b[:n-1]
		}
	}
}

// dagPB writes a dag-pb node in its logical form. Fields are read twice:
// once strictly by dagpb.Decode, then here to learn which optional fields
// (Data, Name, Tsize) are present.
func (o *jsonOut) dagPB(block []byte) error {
	pb, err := dagpb.Decode(block)
	if err != nil {
		return err
	}
	links, data, hasData := pbFields(block)
	o.open('{')
	i := 0
	if hasData {
		o.item(i)
		o.key([]byte("Data"))
		o.bytes(data)
		i++
	}
	o.item(i)
	o.key([]byte("Links"))
	o.open('[')
	for j, lb := range links {
		o.item(j)
		name, hasName, tsize, hasTsize := pbLinkFields(lb)
		o.open('{')
		o.item(0)
		o.key([]byte("Hash"))
		o.link(pb.Links[j].Hash)
		n := 1
		if hasName {
			o.item(n)
			o.key([]byte("Name"))
			o.str(name)
			n++
		}
		if hasTsize {
			o.item(n)
			o.key([]byte("Tsize"))
			o.b = strconv.AppendUint(o.b, tsize, 10)
			n++
		}
		o.close('}', n)
	}
	o.close(']', len(links))
	o.close('}', i+1)
	return nil
}

// pbFields splits a dag-pb block that dagpb.Decode accepted into its
// encoded links and its Data field.
func pbFields(b []byte) (links [][]byte, data []byte, hasData bool) {
	for len(b) > 0 {
		num, _, tl := protowire.ConsumeTag(b)
		b = b[tl:]
		v, vl := protowire.ConsumeBytes(b)
		b = b[vl:]
		if num == 1 {
			data, hasData = v, true
		} else {
			links = append(links, v)
		}
	}
	return links, data, hasData
}

// pbLinkFields reads the optional fields of an encoded link that
// dagpb.Decode accepted.
func pbLinkFields(b []byte) (name []byte, hasName bool, tsize uint64, hasTsize bool) {
	for len(b) > 0 {
		num, typ, tl := protowire.ConsumeTag(b)
		if tl < 0 {
			return
		}
		b = b[tl:]
		n := protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return
		}
		switch num {
		case 2:
			name, _ = protowire.ConsumeBytes(b)
			hasName = true
		case 3:
			tsize, _ = protowire.ConsumeVarint(b)
			hasTsize = true
		}
		b = b[n:]
	}
	return
}

// cborReader renders dag-cbor as dag-json. It reads the strict subset of
// CBOR that dag-cbor allows: definite lengths only, string map keys,
// tag 42 (links) as the only tag, no undefined, no NaN or infinities.
// Non-canonical forms (long integer encodings, unsorted keys) are
// accepted, as readers of old data must.
type cborReader struct {
	b   []byte
	i   int
	out *jsonOut
}

var errTruncated = errors.New("data ends early")

// head reads an item's major type, additional information and argument.
func (r *cborReader) head() (major, info byte, arg uint64, err error) {
	if r.i >= len(r.b) {
		return 0, 0, 0, errTruncated
	}
	ib := r.b[r.i]
	r.i++
	major, info = ib>>5, ib&31
	var n int
	switch {
	case info < 24:
		return major, info, uint64(info), nil
	case info == 24:
		n = 1
	case info == 25:
		n = 2
	case info == 26:
		n = 4
	case info == 27:
		n = 8
	default:
		return 0, 0, 0, fmt.Errorf("byte 0x%02x at offset %d: indefinite lengths and reserved values are not allowed", ib, r.i-1)
	}
	if len(r.b)-r.i < n {
		return 0, 0, 0, errTruncated
	}
	for _, c := range r.b[r.i : r.i+n] {
		arg = arg<<8 | uint64(c)
	}
	r.i += n
	return major, info, arg, nil
}

// take returns the next n bytes.
func (r *cborReader) take(n uint64) ([]byte, error) {
	if n > uint64(len(r.b)-r.i) {
		return nil, errTruncated
	}
	s := r.b[r.i : r.i+int(n)]
	r.i += int(n)
	return s, nil
}

// count checks that n items, each at least per bytes long, can fit.
func (r *cborReader) count(n uint64, per uint64) (int, error) {
	if n > uint64(len(r.b)-r.i)/per {
		return 0, errTruncated
	}
	return int(n), nil
}

// value renders one item (out may be nil to skip it).
func (r *cborReader) value(depth int) error {
	if depth > maxNesting {
		return fmt.Errorf("nested deeper than %d levels", maxNesting)
	}
	major, info, arg, err := r.head()
	if err != nil {
		return err
	}
	o := r.out
	switch major {
	case 0:
		if o != nil {
			o.b = strconv.AppendUint(o.b, arg, 10)
		}
	case 1:
		if o != nil {
			// The value is -1-arg, which may be below -2^63.
			if arg == math.MaxUint64 {
				o.raw("-18446744073709551616")
			} else {
				o.b = append(o.b, '-')
				o.b = strconv.AppendUint(o.b, arg+1, 10)
			}
		}
	case 2, 3:
		s, err := r.take(arg)
		if err != nil {
			return err
		}
		if o == nil {
			return nil
		}
		if major == 2 {
			o.bytes(s)
		} else {
			o.str(s)
		}
	case 4:
		n, err := r.count(arg, 1)
		if err != nil {
			return err
		}
		if o != nil {
			o.open('[')
		}
		for i := range n {
			if o != nil {
				o.item(i)
			}
			if err := r.value(depth + 1); err != nil {
				return err
			}
		}
		if o != nil {
			o.close(']', n)
		}
	case 5:
		return r.mapValue(arg, depth)
	case 6:
		if arg != 42 {
			return fmt.Errorf("tag %d is not allowed (only 42, a link)", arg)
		}
		m, _, l, err := r.head()
		if err != nil {
			return err
		}
		if m != 2 {
			return errors.New("a link (tag 42) must hold a byte string")
		}
		b, err := r.take(l)
		if err != nil {
			return err
		}
		if len(b) == 0 || b[0] != 0 {
			return errors.New("a link's bytes must start with 0x00")
		}
		c, err := cid.Cast(b[1:])
		if err != nil {
			return fmt.Errorf("a link does not hold a CID: %w", err)
		}
		if o != nil {
			o.link(c)
		}
	case 7:
		var f float64
		switch info {
		case 20, 21:
			if o != nil {
				o.raw([]string{"false", "true"}[info-20])
			}
			return nil
		case 22:
			if o != nil {
				o.raw("null")
			}
			return nil
		case 25:
			f = halfToFloat(uint16(arg))
		case 26:
			f = float64(math.Float32frombits(uint32(arg)))
		case 27:
			f = math.Float64frombits(arg)
		default:
			return fmt.Errorf("simple value %d is not allowed (only false, true, null and floats)", arg)
		}
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return errors.New("NaN and infinities are not allowed")
		}
		if o != nil {
			o.float(f)
		}
	}
	return nil
}

// mapEntry is a map key and where its value starts.
type mapEntry struct {
	key []byte
	at  int
}

// mapValue renders a map of n pairs with its keys sorted bytewise.
func (r *cborReader) mapValue(arg uint64, depth int) error {
	n, err := r.count(arg, 2)
	if err != nil {
		return err
	}
	o := r.out
	if o == nil {
		for range n {
			if err := r.key(); err != nil {
				return err
			}
			if err := r.value(depth + 1); err != nil {
				return err
			}
		}
		return nil
	}
	// Find the keys, skipping the values, then render in key order.
	entries := make([]mapEntry, 0, min(n, 1024))
	r.out = nil
	for range n {
		k, err := r.keyBytes()
		if err != nil {
			r.out = o
			return err
		}
		at := r.i
		if err := r.value(depth + 1); err != nil {
			r.out = o
			return err
		}
		entries = append(entries, mapEntry{k, at})
	}
	r.out = o
	end := r.i
	slices.SortFunc(entries, func(a, b mapEntry) int { return bytes.Compare(a.key, b.key) })
	for i := 1; i < len(entries); i++ {
		if bytes.Equal(entries[i-1].key, entries[i].key) {
			return fmt.Errorf("map key %q appears twice", entries[i].key)
		}
	}
	o.open('{')
	for i, e := range entries {
		o.item(i)
		o.key(e.key)
		r.i = e.at
		if err := r.value(depth + 1); err != nil {
			return err
		}
	}
	o.close('}', len(entries))
	r.i = end
	return nil
}

// key skips a map key, which must be a text string.
func (r *cborReader) key() error {
	_, err := r.keyBytes()
	return err
}

func (r *cborReader) keyBytes() ([]byte, error) {
	m, _, l, err := r.head()
	if err != nil {
		return nil, err
	}
	if m != 3 {
		return nil, errors.New("map keys must be text strings")
	}
	return r.take(l)
}

// halfToFloat converts an IEEE 754 half-precision float.
func halfToFloat(h uint16) float64 {
	sign := h >> 15
	exp := int(h>>10) & 0x1f
	frac := float64(h & 0x3ff)
	var v float64
	switch exp {
	case 0:
		v = math.Ldexp(frac, -24)
	case 31:
		if frac == 0 {
			v = math.Inf(1)
		} else {
			v = math.NaN()
		}
	default:
		v = math.Ldexp(frac+1024, exp-25)
	}
	if sign != 0 {
		v = -v
	}
	return v
}

// toDAGCBOR returns a block in dag-cbor: dag-cbor blocks as they are
// (after checking they decode), dag-pb nodes in their logical form
// {"Data": bytes, "Links": [{"Hash": link, "Name": string, "Tsize": int}]}
// and raw blocks as one byte string.
func toDAGCBOR(c cid.Cid, block []byte) ([]byte, error) {
	switch c.Type() {
	case cid.DagCBOR:
		r := &cborReader{b: block}
		if err := r.value(0); err != nil || r.i != len(block) {
			if err == nil {
				err = fmt.Errorf("%d bytes after the data", len(block)-r.i)
			}
			return nil, fmt.Errorf("%w: %s: invalid dag-cbor: %w", ErrInvalidBlock, c, err)
		}
		return block, nil
	case cid.Raw:
		return append(appendCBORHead(nil, 2, uint64(len(block))), block...), nil
	case cid.DagProtobuf:
		pb, err := dagpb.Decode(block)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrInvalidBlock, c, err)
		}
		links, data, hasData := pbFields(block)
		var b []byte
		if hasData {
			b = appendCBORHead(b, 5, 2)
			b = appendCBORText(b, "Data")
			b = appendCBORHead(b, 2, uint64(len(data)))
			b = append(b, data...)
		} else {
			b = appendCBORHead(b, 5, 1)
		}
		b = appendCBORText(b, "Links")
		b = appendCBORHead(b, 4, uint64(len(links)))
		for j, lb := range links {
			name, hasName, tsize, hasTsize := pbLinkFields(lb)
			fields := uint64(1)
			if hasName {
				fields++
			}
			if hasTsize {
				fields++
			}
			b = appendCBORHead(b, 5, fields)
			b = appendCBORText(b, "Hash")
			cb := pb.Links[j].Hash.Bytes()
			b = appendCBORHead(b, 6, 42)
			b = appendCBORHead(b, 2, uint64(len(cb)+1))
			b = append(b, 0)
			b = append(b, cb...)
			if hasName {
				b = appendCBORText(b, "Name")
				b = appendCBORHead(b, 3, uint64(len(name)))
				b = append(b, name...)
			}
			if hasTsize {
				b = appendCBORText(b, "Tsize")
				b = appendCBORHead(b, 0, tsize)
			}
		}
		return b, nil
	}
	return nil, fmt.Errorf("%s: %w: codec 0x%x cannot be shown as dag-cbor", c, dag.ErrUnsupportedCodec, c.Type())
}

// appendCBORHead appends a CBOR head in its shortest form.
func appendCBORHead(b []byte, major byte, arg uint64) []byte {
	m := major << 5
	switch {
	case arg < 24:
		return append(b, m|byte(arg))
	case arg <= math.MaxUint8:
		return append(b, m|24, byte(arg))
	case arg <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, m|25), uint16(arg))
	case arg <= math.MaxUint32:
		return binary.BigEndian.AppendUint32(append(b, m|26), uint32(arg))
	}
	return binary.BigEndian.AppendUint64(append(b, m|27), arg)
}

func appendCBORText(b []byte, s string) []byte {
	return append(appendCBORHead(b, 3, uint64(len(s))), s...)
}
