package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"

	"node/dag"
)

// FuzzContentPath: any request path either parses into segments that
// cannot leave the DAG, or is refused with 400 or 404.
func FuzzContentPath(f *testing.F) {
	for _, s := range []string{
		"/ipfs/QmRdUgrbBFHJmhsTpv9rLmMhvip4bE1SBFZnR1eCLBFNrq/a/b.txt",
		"/ipfs/bafkqaaa/",
		"/ipfs/bafkqaaa/%2e%2e/x",
		"/ipfs/bafkqaaa/a%2Fb",
		"/ipfs/bafkqaaa//a///b/",
		"/ipfs/bafkqaaa/%00",
		"/ipns/k51qzi5uqu5dlvj2baxnqndepeb86cbk3ng7n3i46uzyxzyqj2xjonzllnv0v8/index.html",
		"/ipns/example.org/caf%C3%A9",
		"/ipns/%2F/x",
		"/ipfs/",
		"/",
		"/ipfs/bafkqaaa/%zz",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, escaped string) {
		p, err := parseContentPath(escaped)
		if err != nil {
			if st := statusOf(err); st != http.StatusBadRequest && st != http.StatusNotFound {
				t.Fatalf("%q: status %d for %v", escaped, st, err)
			}
			return
		}
		if p.ns != "ipfs" && p.ns != "ipns" || p.root == "" || strings.ContainsAny(p.root, "/\x00") {
			t.Fatalf("%q: bad root %+v", escaped, p)
		}
		for _, s := range p.segments {
			if s == "" || s == "." || s == ".." || strings.ContainsAny(s, "/\x00") {
				t.Fatalf("%q: segment %q escapes", escaped, s)
			}
		}
		// The escaped form names the same place.
		q, err := parseContentPath(p.String())
		if err != nil {
			t.Fatalf("%q: its canonical form %q does not parse: %v", escaped, p.String(), err)
		}
		if q.ns != p.ns || q.root != p.root || !slices.Equal(q.segments, p.segments) || q.trailingSlash != p.trailingSlash {
			t.Fatalf("%q: round trip through %q gives %+v, want %+v", escaped, p.String(), q, p)
		}
	})
}

// FuzzRange: parsed ranges always lie inside the representation.
func FuzzRange(f *testing.F) {
	for _, s := range []string{"bytes=0-0", "bytes=-5", "bytes=5-", "bytes=1-2,3-4", "bytes= 1 - 2", "bytes=9223372036854775807-",
		"bytes=99999999999999999999-", "bytes=-99999999999999999999", "bytes=,,", "BYTES=0-1", "items=0-1", "bytes=5-1"} {
		f.Add(s, int64(100))
	}
	f.Add("bytes=0-", int64(0))
	f.Fuzz(func(t *testing.T, header string, size int64) {
		if size < 0 {
			size = -(size + 1)
		}
		ranges, valid := parseRange(header, size)
		if !valid && ranges != nil {
			t.Fatalf("invalid header %q gave ranges %v", header, ranges)
		}
		for _, r := range ranges {
			if r.start < 0 || r.start >= r.end || r.end > size {
				t.Fatalf("%q (size %d): range %v outside the representation", header, size, r)
			}
		}
	})
}

// fuzzCodecs are the codecs FuzzDAGJSON feeds blocks to.
var fuzzCodecs = []uint64{cid.DagProtobuf, cid.DagCBOR, cid.Raw, cid.DagJSON, codecJSON}

// FuzzDAGJSON: rendering any block never panics, and what renders is
// valid JSON; a dag-pb node converted to dag-cbor renders to the same
// dag-json as the node itself.
func FuzzDAGJSON(f *testing.F) {
	f.Add(uint8(0), []byte{0x0a, 0x02, 0x08, 0x01})
	f.Add(uint8(1), []byte{0xa2, 0x61, 'a', 0x01, 0x61, 'b', 0x82, 0xf5, 0xf6})
	f.Add(uint8(1), []byte{0xd8, 0x2a, 0x58, 0x25, 0x00, 0x01, 0x55, 0x12, 0x20, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32})
	f.Add(uint8(1), []byte{0xfb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0})
	f.Add(uint8(2), []byte("raw bytes"))
	f.Add(uint8(3), []byte(`{"a":[1,2,{"/":"x"}]}`))
	f.Fuzz(func(t *testing.T, codec uint8, block []byte) {
		c, err := cid.V1Builder{Codec: fuzzCodecs[int(codec)%len(fuzzCodecs)], MhType: 0x12}.Sum(block)
		if err != nil {
			t.Fatal(err)
		}
		out, err := renderDAGJSON(c, block, renderOptions{})
		if err != nil {
			if !errors.Is(err, ErrInvalidBlock) && !errors.Is(err, dag.ErrUnsupportedCodec) {
				t.Fatalf("error %v wraps neither ErrInvalidBlock nor ErrUnsupportedCodec", err)
			}
			return
		}
		if !json.Valid(out) {
			t.Fatalf("%x rendered as invalid JSON %q", block, out)
		}
		pretty, err := renderDAGJSON(c, block, renderOptions{pretty: true})
		if err != nil || !json.Valid(pretty) {
			t.Fatalf("pretty form: %v %q", err, pretty)
		}
		if _, err := renderDAGJSON(c, block, renderOptions{pretty: true, html: true}); err != nil {
			t.Fatalf("HTML form: %v", err)
		}
		if c.Type() == cid.DagProtobuf || c.Type() == cid.Raw {
			cb, err := toDAGCBOR(c, block)
			if err != nil {
				t.Fatalf("dag-cbor of a block that renders: %v", err)
			}
			cc, _ := cid.V1Builder{Codec: cid.DagCBOR, MhType: 0x12}.Sum(cb)
			again, err := renderDAGJSON(cc, cb, renderOptions{})
			if err != nil || !bytes.Equal(again, out) {
				t.Fatalf("dag-cbor form renders as %q (%v), want %q", again, err, out)
			}
		}
	})
}
