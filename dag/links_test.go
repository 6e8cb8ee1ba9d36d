package dag

import (
	"errors"
	"slices"
	"testing"

	"github.com/fxamacker/cbor/v2"
	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"

	"node/dagpb"
)

func testCID(t testing.TB, s string, codec uint64) cid.Cid {
	t.Helper()
	mh, err := multihash.Sum([]byte(s), multihash.SHA2_256, -1)
	if err != nil {
		t.Fatal(err)
	}
	return cid.NewCidV1(codec, mh)
}

// cborLink is a CID as dag-cbor encodes it: tag 42 around 0x00 + bytes.
func cborLink(c cid.Cid) cbor.Tag {
	return cbor.Tag{Number: 42, Content: append([]byte{0}, c.Bytes()...)}
}

func TestLinks(t *testing.T) {
	a, b, c := testCID(t, "a", cid.Raw), testCID(t, "b", cid.DagProtobuf), testCID(t, "c", cid.DagCBOR)

	pb := dagpb.Encode(&dagpb.Node{Links: []dagpb.Link{{Hash: b, Name: "x"}, {Hash: a, Name: "y"}}, Data: []byte{8, 1}})
	got, err := Links(testCID(t, "pb", cid.DagProtobuf), pb)
	if err != nil || !slices.Equal(got, []cid.Cid{b, a}) {
		t.Fatalf("dag-pb links = %v, %v", got, err)
	}

	if got, err := Links(a, []byte("anything")); err != nil || len(got) != 0 {
		t.Fatalf("raw links = %v, %v", got, err)
	}

	// Keys in dag-cbor order (length first): "z" < "aa" < "bbb".
	doc := map[string]any{
		"bbb": []any{cborLink(c), 7},
		"z":   cborLink(a),
		"aa":  map[string]any{"n": cborLink(b), "s": "text"},
	}
	enc, err := cbor.CoreDetEncOptions().EncMode()
	if err != nil {
		t.Fatal(err)
	}
	data, err := enc.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	for range 20 { // map iteration order must not leak into the result
		got, err := Links(testCID(t, "cbor", cid.DagCBOR), data)
		if err != nil || !slices.Equal(got, []cid.Cid{a, b, c}) {
			t.Fatalf("dag-cbor links = %v, %v; want [a b c]", got, err)
		}
	}
}

func TestLinksRejects(t *testing.T) {
	cb := testCID(t, "cbor", cid.DagCBOR)
	enc, _ := cbor.CoreDetEncOptions().EncMode()
	badTag, _ := enc.Marshal(cbor.Tag{Number: 42, Content: []byte{1, 2, 3}})
	notBytes, _ := enc.Marshal(cbor.Tag{Number: 42, Content: "string"})
	intKey, _ := enc.Marshal(map[int]any{1: "x"})
	cases := map[string]struct {
		c    cid.Cid
		data []byte
	}{
		"truncated dag-pb":       {testCID(t, "pb", cid.DagProtobuf), []byte{0x12, 0x05, 0x0a}},
		"truncated cbor":         {cb, []byte{0xa1, 0x61}},
		"tag 42 without 0x00":    {cb, badTag},
		"tag 42 around a string": {cb, notBytes},
		"integer map key":        {cb, intKey},
	}
	for name, tc := range cases {
		if _, err := Links(tc.c, tc.data); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := Links(testCID(t, "j", cid.DagJSON), []byte("{}")); !errors.Is(err, ErrUnsupportedCodec) {
		t.Errorf("dag-json: %v, want ErrUnsupportedCodec", err)
	}
}

func FuzzLinks(f *testing.F) {
	f.Add([]byte{0xa1, 0x61, 0x61, 0xd8, 0x2a, 0x42, 0x00, 0x01}, uint8(0))
	f.Add(dagpb.Encode(&dagpb.Node{Data: []byte{8, 1}}), uint8(1))
	f.Add([]byte{0x9f, 0x9f, 0xff, 0xff}, uint8(0))
	f.Fuzz(func(t *testing.T, data []byte, which uint8) {
		codec := []uint64{cid.DagCBOR, cid.DagProtobuf, cid.Raw}[int(which)%3]
		c := testCID(t, "fuzz", codec)
		links, err := Links(c, data)
		if err != nil {
			return
		}
		for _, l := range links {
			if !l.Defined() {
				t.Fatalf("undefined link from %x", data)
			}
		}
	})
}
