package dagpb_test

import (
	"bytes"
	"errors"
	"math"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"
	"google.golang.org/protobuf/encoding/protowire"

	"node/dagpb"
)

func sha256CID(t testing.TB, version int, codec uint64, data []byte) cid.Cid {
	t.Helper()
	mh, err := multihash.Sum(data, multihash.SHA2_256, -1)
	if err != nil {
		t.Fatal(err)
	}
	if version == 0 {
		return cid.NewCidV0(mh)
	}
	return cid.NewCidV1(codec, mh)
}

// equal compares two nodes field by field, telling a nil Data (no field)
// from an empty one (a present, empty field).
func equal(a, b *dagpb.Node) bool {
	if (a.Data == nil) != (b.Data == nil) || !bytes.Equal(a.Data, b.Data) {
		return false
	}
	if len(a.Links) != len(b.Links) {
		return false
	}
	for i := range a.Links {
		x, y := a.Links[i], b.Links[i]
		if !x.Hash.Equals(y.Hash) || x.Name != y.Name || x.Tsize != y.Tsize {
			return false
		}
	}
	return true
}

// TestGolden pins the encoding of two well-known UnixFS nodes and their
// CIDv0s, which every IPFS implementation produces.
func TestGolden(t *testing.T) {
	for _, tc := range []struct {
		name  string
		data  []byte // the UnixFS Data message
		block []byte
		cid   string
	}{
		{"empty directory", []byte{0x08, 0x01}, []byte{0x0a, 0x02, 0x08, 0x01}, "QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn"},
		{"empty file", []byte{0x08, 0x02, 0x18, 0x00}, []byte{0x0a, 0x04, 0x08, 0x02, 0x18, 0x00}, "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := &dagpb.Node{Data: tc.data}
			got := dagpb.Encode(n)
			if !bytes.Equal(got, tc.block) {
				t.Fatalf("Encode = % x, want % x", got, tc.block)
			}
			if s := dagpb.EncodedSize(n); s != len(tc.block) {
				t.Errorf("EncodedSize = %d, want %d", s, len(tc.block))
			}
			if c := sha256CID(t, 0, cid.DagProtobuf, got); c.String() != tc.cid {
				t.Errorf("CID = %s, want %s", c, tc.cid)
			}
			d, err := dagpb.Decode(tc.block)
			if err != nil {
				t.Fatal(err)
			}
			if len(d.Links) != 0 || !bytes.Equal(d.Data, tc.data) {
				t.Errorf("Decode = %+v, want Data % x and no links", d, tc.data)
			}
		})
	}
}

// TestGoldenWithLink pins a node with one link: field order, the Name and
// Tsize fields always written, then Data.
func TestGoldenWithLink(t *testing.T) {
	child := sha256CID(t, 0, cid.DagProtobuf, []byte{0x0a, 0x02, 0x08, 0x01})
	n := &dagpb.Node{Links: []dagpb.Link{{Hash: child, Name: "a", Tsize: 4}}, Data: []byte{0x08, 0x01}}
	var want []byte
	want = append(want, 0x12, 0x29) // Links, 41 bytes
	want = append(want, 0x0a, 0x22) // Hash, 34 bytes
	want = append(want, child.Bytes()...)
	want = append(want, 0x12, 0x01, 'a') // Name
	want = append(want, 0x18, 0x04)      // Tsize
	want = append(want, 0x0a, 0x02, 0x08, 0x01)
	if got := dagpb.Encode(n); !bytes.Equal(got, want) {
		t.Fatalf("Encode =\n% x\nwant\n% x", got, want)
	}
	if got := dagpb.LinkEncodedSize(&n.Links[0]); got != 43 {
		t.Errorf("LinkEncodedSize = %d, want 43", got)
	}
}

func TestRoundTrip(t *testing.T) {
	v0 := sha256CID(t, 0, cid.DagProtobuf, []byte("v0"))
	v1raw := sha256CID(t, 1, cid.Raw, []byte("raw"))
	idmh, _ := multihash.Sum([]byte("inline"), multihash.IDENTITY, -1)
	ident := cid.NewCidV1(cid.Raw, idmh)
	long := string(bytes.Repeat([]byte("n"), 300)) // a name whose length needs a 2-byte varint

	for _, tc := range []struct {
		name string
		n    dagpb.Node
	}{
		{"no fields", dagpb.Node{}},
		{"nil data", dagpb.Node{Links: []dagpb.Link{{Hash: v0, Name: "x", Tsize: 1}}}},
		{"empty data", dagpb.Node{Data: []byte{}}},
		{"data", dagpb.Node{Data: []byte{0, 1, 2, 0xff}}},
		{"links of all kinds", dagpb.Node{
			Links: []dagpb.Link{
				{Hash: v0, Name: "", Tsize: 0},
				{Hash: v1raw, Name: "héllo wörld 世界", Tsize: 1},
				{Hash: ident, Name: "with space", Tsize: math.MaxInt64},
				{Hash: v0, Name: long, Tsize: 1 << 40},
				{Hash: v0, Name: "\x00\xff", Tsize: 127},
			},
			Data: []byte("payload"),
		}},
		{"big data", dagpb.Node{Data: bytes.Repeat([]byte{7}, 70000)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := dagpb.Encode(&tc.n)
			if len(b) != dagpb.EncodedSize(&tc.n) {
				t.Errorf("EncodedSize = %d, len(Encode) = %d", dagpb.EncodedSize(&tc.n), len(b))
			}
			sum := 0
			for i := range tc.n.Links {
				sum += dagpb.LinkEncodedSize(&tc.n.Links[i])
			}
			if tc.n.Data != nil {
				sum += 1 + protowire.SizeBytes(len(tc.n.Data))
			}
			if sum != len(b) {
				t.Errorf("LinkEncodedSize sums to %d, want %d", sum, len(b))
			}
			got, err := dagpb.Decode(b)
			if err != nil {
				t.Fatal(err)
			}
			if !equal(got, &tc.n) {
				t.Fatalf("Decode(Encode(n)) = %+v, want %+v", got, tc.n)
			}
			if again := dagpb.Encode(got); !bytes.Equal(again, b) {
				t.Fatal("re-encoding changed the bytes")
			}
			// AppendEncoded appends: a prefix is kept.
			if app := dagpb.AppendEncoded([]byte("pre"), &tc.n); !bytes.Equal(app, append([]byte("pre"), b...)) {
				t.Fatal("AppendEncoded did not append the encoding")
			}
		})
	}
}

// TestDecodeOptionalLinkFields: readers must accept links without Name or
// Tsize (other encoders omit them), and a link's Name may be empty.
func TestDecodeOptionalLinkFields(t *testing.T) {
	c := sha256CID(t, 0, cid.DagProtobuf, []byte("x"))
	link := protowire.AppendTag(nil, 1, protowire.BytesType)
	link = protowire.AppendBytes(link, c.Bytes())
	b := protowire.AppendTag(nil, 2, protowire.BytesType)
	b = protowire.AppendBytes(b, link)
	n, err := dagpb.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if n.Data != nil || len(n.Links) != 1 || !n.Links[0].Hash.Equals(c) || n.Links[0].Name != "" || n.Links[0].Tsize != 0 {
		t.Fatalf("got %+v", n)
	}
}

func TestDecodeStrict(t *testing.T) {
	c := sha256CID(t, 0, cid.DagProtobuf, []byte("x")).Bytes()
	hash := append([]byte{0x0a, byte(len(c))}, c...)
	name := []byte{0x12, 0x01, 'a'}
	tsize := []byte{0x18, 0x05}
	link := func(fields ...[]byte) []byte {
		body := bytes.Join(fields, nil)
		return append([]byte{0x12, byte(len(body))}, body...)
	}
	good := link(hash, name, tsize)
	if _, err := dagpb.Decode(append(good, 0x0a, 0x00)); err != nil {
		t.Fatalf("the well-formed base case fails: %v", err)
	}
	cidWithTrailer := append(append([]byte{0x0a, byte(len(c) + 1)}, c...), 0)

	for name, b := range map[string][]byte{
		"data before links":        append([]byte{0x0a, 0x00}, good...),
		"duplicate data":           {0x0a, 0x01, 0x08, 0x0a, 0x00},
		"unknown field bytes":      {0x1a, 0x00},
		"unknown field varint":     {0x18, 0x01},
		"field number zero":        {0x02, 0x00},
		"data as varint":           {0x08, 0x01},
		"links as fixed64":         {0x11, 0, 0, 0, 0, 0, 0, 0, 0},
		"data as fixed32":          {0x0d, 0, 0, 0, 0},
		"start group":              {0x0b, 0x0c},
		"tag only":                 {0x0a},
		"truncated tag varint":     {0x80},
		"truncated length":         {0x0a, 0x80},
		"data shorter than length": {0x0a, 0x05, 0x08, 0x01},
		"link truncated":           good[:len(good)-1],
		"link inner truncated":     link(hash[:len(hash)-1]),
		"link without hash":        link(name, tsize),
		"empty link":               link(),
		"link name before hash":    link(name, hash),
		"link tsize before hash":   link(tsize, hash, name),
		"link tsize before name":   link(hash, tsize, name),
		"link hash twice":          link(hash, hash),
		"link name twice":          link(hash, name, name),
		"link unknown field":       link(hash, name, tsize, []byte{0x22, 0x00}),
		"link hash as varint":      link([]byte{0x08, 0x01}),
		"link name as varint":      link(hash, []byte{0x10, 0x01}),
		"link tsize as bytes":      link(hash, name, []byte{0x1a, 0x00}),
		"link tsize truncated":     link(hash, name, []byte{0x18, 0x80}),
		"link tsize over int64":    link(hash, name, []byte{0x18, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01}),
		"link hash not a CID":      link([]byte{0x0a, 0x03, 'a', 'b', 'c'}),
		"link hash CID + trailer":  link(cidWithTrailer),
		"link hash empty":          link([]byte{0x0a, 0x00}),
	} {
		t.Run(name, func(t *testing.T) {
			n, err := dagpb.Decode(b)
			if !errors.Is(err, dagpb.ErrInvalid) {
				t.Fatalf("Decode(% x) = %+v, %v; want an error wrapping ErrInvalid", b, n, err)
			}
		})
	}
}

// FuzzDecode: no input panics, and whatever decodes re-encodes to bytes
// that decode to the same node and are a fixed point of Encode.
func FuzzDecode(f *testing.F) {
	c := sha256CID(f, 0, cid.DagProtobuf, []byte("x"))
	f.Add([]byte{0x0a, 0x02, 0x08, 0x01})
	f.Add([]byte{0x0a, 0x04, 0x08, 0x02, 0x18, 0x00})
	f.Add(dagpb.Encode(&dagpb.Node{Links: []dagpb.Link{{Hash: c, Name: "a", Tsize: 3}, {Hash: c}}, Data: []byte{}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := dagpb.Decode(b)
		if err != nil {
			if !errors.Is(err, dagpb.ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		enc := dagpb.Encode(n)
		if len(enc) != dagpb.EncodedSize(n) {
			t.Fatalf("EncodedSize %d != len(Encode) %d", dagpb.EncodedSize(n), len(enc))
		}
		m, err := dagpb.Decode(enc)
		if err != nil {
			t.Fatalf("Decode(Encode(n)) failed: %v\ninput % x\nencoded % x", err, b, enc)
		}
		if !equal(n, m) {
			t.Fatalf("round trip changed the node:\n%+v\n%+v", n, m)
		}
		if again := dagpb.Encode(m); !bytes.Equal(again, enc) {
			t.Fatal("Encode is not a fixed point")
		}
	})
}
