package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"

	"github.com/fxamacker/cbor/v2"
	"github.com/ipfs/go-cid"
	dagpbref "github.com/ipld/go-codec-dagpb"
	"github.com/ipld/go-ipld-prime/codec/dagcbor"
	"github.com/ipld/go-ipld-prime/codec/dagjson"
	"github.com/ipld/go-ipld-prime/node/basicnode"
	"google.golang.org/protobuf/encoding/protowire"

	"node/dag"
	"node/unixfs"
)

// The reference: go-ipld-prime's decoders and its dag-json encoder, an
// independent implementation of the same specs (tests only).

func refDAGJSONFromPB(t testing.TB, block []byte) []byte {
	t.Helper()
	nb := dagpbref.Type.PBNode.NewBuilder()
	if err := dagpbref.DecodeBytes(nb, block); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := dagjson.Encode(nb.Build(), &buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func refDAGCBORFromPB(t testing.TB, block []byte) []byte {
	t.Helper()
	nb := dagpbref.Type.PBNode.NewBuilder()
	if err := dagpbref.DecodeBytes(nb, block); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := dagcbor.Encode(nb.Build(), &buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func refDAGJSONFromCBOR(block []byte) ([]byte, error) {
	nb := basicnode.Prototype.Any.NewBuilder()
	if err := dagcbor.Decode(nb, bytes.NewReader(block)); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := dagjson.Encode(nb.Build(), &buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func TestDAGJSONOfDagPB(t *testing.T) {
	s := newSite(t)
	ctx := context.Background()
	hamt, _ := unixfs.Get(ctx, s.store, s.hamt.CID)
	blocks := []cid.Cid{s.root, s.docs.CID, s.big.CID, s.hello.CID, s.hamt.CID, s.link.CID, hamt.Links[0].Hash}
	// A node with an empty Data field and no links.
	blocks = append(blocks, putBlock(t, s.store, cid.DagProtobuf, []byte{0x0a, 0x00}))
	for _, c := range blocks {
		b, err := s.store.Get(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		got, err := renderDAGJSON(c, b, renderOptions{})
		if err != nil {
			t.Fatalf("%s: %v", c, err)
		}
		if want := refDAGJSONFromPB(t, b); !bytes.Equal(got, want) {
			t.Fatalf("%s:\n got %s\nwant %s", c, got, want)
		}
		gotCBOR, err := toDAGCBOR(c, b)
		if err != nil {
			t.Fatal(err)
		}
		if want := refDAGCBORFromPB(t, b); !bytes.Equal(gotCBOR, want) {
			t.Fatalf("%s as dag-cbor:\n got %x\nwant %x", c, gotCBOR, want)
		}
	}
}

// TestDAGJSONOfDagPBAbsentFields: optional fields that are absent from
// the block are absent from the data model (the dag-pb spec's logical
// form, as the JavaScript codec reads it). go-ipld-prime writes them as
// null instead, so this case is checked against the expected text.
func TestDAGJSONOfDagPBAbsentFields(t *testing.T) {
	h, _ := cid.Decode("QmRdUgrbBFHJmhsTpv9rLmMhvip4bE1SBFZnR1eCLBFNrq")
	link := protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), h.Bytes())
	bare := protowire.AppendBytes(protowire.AppendTag(nil, 2, protowire.BytesType), link)
	c, _ := cid.V1Builder{Codec: cid.DagProtobuf, MhType: 0x12}.Sum(bare)
	got, err := renderDAGJSON(c, bare, renderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"Links":[{"Hash":{"/":"QmRdUgrbBFHJmhsTpv9rLmMhvip4bE1SBFZnR1eCLBFNrq"}}]}`; string(got) != want {
		t.Fatalf("got %s\nwant %s", got, want)
	}
	cb, err := toDAGCBOR(c, bare)
	if err != nil {
		t.Fatal(err)
	}
	// {"Links": [{"Hash": link}]}
	want := append([]byte{0xa1, 0x65, 'L', 'i', 'n', 'k', 's', 0x81, 0xa1, 0x64, 'H', 'a', 's', 'h', 0xd8, 0x2a, 0x58, 0x23, 0x00}, h.Bytes()...)
	if !bytes.Equal(cb, want) {
		t.Fatalf("dag-cbor:\n got %x\nwant %x", cb, want)
	}
}

// cborEnc writes deterministic CBOR (keys sorted length-first), the
// dag-cbor canonical form.
var cborEnc = func() cbor.EncMode {
	em, err := cbor.CoreDetEncOptions().EncMode()
	if err != nil {
		panic(err)
	}
	return em
}()

func cborLink(c cid.Cid) cbor.Tag {
	return cbor.Tag{Number: 42, Content: append([]byte{0}, c.Bytes()...)}
}

func TestDAGJSONOfDagCBOR(t *testing.T) {
	s := newSite(t)
	values := []any{
		map[string]any{"b": 1, "a": "x", "aa": []any{true, false, nil}, "B": -5, "\u00e9": "é"},
		map[string]any{"link": cborLink(s.root), "links": []any{cborLink(s.hello.CID), cborLink(s.hamtFile.CID)}},
		map[string]any{"bytes": []byte{0, 1, 2, 250, 251}, "empty": []byte{}, "s": ""},
		map[string]any{"big": uint64(math.MaxInt64), "neg": int64(math.MinInt64), "zero": 0},
		map[string]any{"f": 1.5, "g": 0.1, "h": -2.25e-7, "i": 1e21, "j": 123456.789, "k": 1e-6, "l": 5e-324},
		map[string]any{"esc": "quote\" back\\ nl\n tab\t ctl\x01 sep\u2028 html<&>"},
		[]any{[]any{[]any{}}, map[string]any{}},
		"just a string",
		uint64(42),
	}
	for i, v := range values {
		block, err := cborEnc.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		c := putBlock(t, s.store, cid.DagCBOR, block)
		got, err := renderDAGJSON(c, block, renderOptions{})
		if err != nil {
			t.Fatalf("value %d: %v", i, err)
		}
		want, err := refDAGJSONFromCBOR(block)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("value %d:\n got %s\nwant %s", i, got, want)
		}
		if !json.Valid(got) {
			t.Fatalf("value %d: invalid JSON %s", i, got)
		}
		pretty, err := renderDAGJSON(c, block, renderOptions{pretty: true})
		if err != nil {
			t.Fatal(err)
		}
		var a, b bytes.Buffer
		json.Compact(&a, pretty)
		json.Compact(&b, got)
		if a.String() != b.String() {
			t.Fatalf("value %d: pretty form differs:\n%s\n%s", i, a.String(), b.String())
		}
	}
}

// TestDAGJSONRandom compares the renderer with the reference over random
// dag-cbor values.
func TestDAGJSONRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	c0, _ := cid.Decode("bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku")
	var gen func(depth int) any
	gen = func(depth int) any {
		k := r.IntN(10)
		if depth > 4 {
			k = r.IntN(6)
		}
		switch k {
		case 0:
			return r.Int64() >> r.IntN(64)
		case 1:
			return -r.Int64() >> r.IntN(64)
		case 2:
			f := math.Float64frombits(r.Uint64())
			if math.IsNaN(f) || math.IsInf(f, 0) {
				return 0.5
			}
			return f
		case 3:
			b := make([]byte, r.IntN(20))
			for i := range b {
				b[i] = byte(r.Uint32())
			}
			if r.IntN(2) == 0 {
				return b
			}
			return string(b) // often invalid UTF-8
		case 4:
			return []any{true, false, nil}[r.IntN(3)]
		case 5:
			return cborLink(c0)
		case 6, 7:
			a := make([]any, r.IntN(5))
			for i := range a {
				a[i] = gen(depth + 1)
			}
			return a
		default:
			m := map[string]any{}
			for range r.IntN(6) {
				m[string(rune('a'+r.IntN(26)))+strings.Repeat("z", r.IntN(3))] = gen(depth + 1)
			}
			return m
		}
	}
	compared := 0
	for i := range 2000 {
		v := gen(0)
		block, err := cborEnc.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		want, err := refDAGJSONFromCBOR(block)
		if err != nil {
			continue // the reference refuses some values (e.g. invalid UTF-8 in some positions)
		}
		c, _ := cid.V1Builder{Codec: cid.DagCBOR, MhType: 0x12}.Sum(block)
		got, err := renderDAGJSON(c, block, renderOptions{})
		if err != nil {
			t.Fatalf("value %d (%x): %v", i, block, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("value %d (%x):\n got %s\nwant %s", i, block, got, want)
		}
		compared++
	}
	if compared < 1000 {
		t.Fatalf("only %d of 2000 random values were compared", compared)
	}
	t.Logf("%d random values compared", compared)
}

func TestDAGJSONRefusesInvalid(t *testing.T) {
	c := func(b []byte) cid.Cid { x, _ := cid.V1Builder{Codec: cid.DagCBOR, MhType: 0x12}.Sum(b); return x }
	for name, b := range map[string][]byte{
		"indefinite map":    {0xbf, 0xff},
		"non-string key":    {0xa1, 0x01, 0x02},
		"duplicate key":     {0xa2, 0x61, 'a', 0x01, 0x61, 'a', 0x02},
		"tag other than 42": {0xc1, 0x01},
		"undefined":         {0xf7},
		"NaN":               {0xf9, 0x7e, 0x00},
		"truncated":         {0x82, 0x01},
		"trailing bytes":    {0x01, 0x02},
		"huge length":       {0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
		"bad link":          {0xd8, 0x2a, 0x42, 0x01, 0x02},
		"empty":             {},
	} {
		if _, err := renderDAGJSON(c(b), b, renderOptions{}); !errors.Is(err, ErrInvalidBlock) {
			t.Errorf("%s: err %v, want ErrInvalidBlock", name, err)
		}
	}
	odd, _ := cid.V1Builder{Codec: 0x90, MhType: 0x12}.Sum([]byte("x"))
	if _, err := renderDAGJSON(odd, []byte("x"), renderOptions{}); !errors.Is(err, dag.ErrUnsupportedCodec) {
		t.Errorf("unknown codec: %v", err)
	}
}

func TestCodecResponses(t *testing.T) {
	s := newSite(t)
	block, err := cborEnc.Marshal(map[string]any{"prev": cborLink(s.hello.CID), "note": "<b>not bold</b>", "n": 7})
	if err != nil {
		t.Fatal(err)
	}
	c := putBlock(t, s.store, cid.DagCBOR, block)
	srv := serve(t, Config{Blocks: s.store})
	u := srv.URL + "/ipfs/" + c.String()

	r := get(t, u+"?format=dag-json").wantStatus(t, 200).wantHeader(t, "Content-Type", "application/vnd.ipld.dag-json").
		wantHeader(t, "Etag", `"`+c.String()+`.dag-json"`)
	want, _ := refDAGJSONFromCBOR(block)
	if !bytes.Equal(r.body, want) {
		t.Fatalf("dag-json: %s, want %s", r.body, want)
	}
	get(t, u, "Accept: application/vnd.ipld.dag-json").wantStatus(t, 200).
		wantHeader(t, "Content-Location", "/ipfs/"+c.String()+"?format=dag-json")
	get(t, u, "Accept: application/json").wantStatus(t, 200).wantHeader(t, "Content-Type", "application/json")
	// dag-cbor as it is; the default response to a script is the block.
	for _, uu := range []string{u + "?format=dag-cbor", u} {
		r = get(t, uu).wantStatus(t, 200).wantHeader(t, "Content-Type", "application/vnd.ipld.dag-cbor")
		if !bytes.Equal(r.body, block) {
			t.Fatalf("%s: body differs from the block", uu)
		}
	}
	// A browser sees the data, escaped, with the link to follow.
	r = get(t, u, "Accept: text/html").wantStatus(t, 200).wantHeader(t, "Content-Type", "text/html; charset=utf-8")
	page := string(r.body)
	if !strings.Contains(page, `&lt;b&gt;not bold&lt;/b&gt;`) || strings.Contains(page, "<b>not") {
		t.Fatal("HTML view does not escape strings")
	}
	m := regexp.MustCompile(`<a href="(/ipfs/[^"]+)">`).FindAllStringSubmatch(page, -1)
	var followed bool
	for _, a := range m {
		if a[1] == "/ipfs/"+s.hello.CID.String() {
			r := get(t, srv.URL+a[1]).wantStatus(t, 200)
			followed = string(r.body) == helloText
		}
	}
	if !followed {
		t.Fatalf("HTML view has no working link to %s: %s", s.hello.CID, page)
	}
	// dag-json of a dag-pb directory through the gateway.
	r = get(t, srv.URL+"/ipfs/"+s.root.String()+"/docs?format=dag-json").wantStatus(t, 200)
	db, _ := s.store.Get(context.Background(), s.docs.CID)
	if !bytes.Equal(r.body, refDAGJSONFromPB(t, db)) {
		t.Fatal("dag-json of a directory differs from the reference")
	}
	// Paths into dag-cbor are not walked.
	get(t, u+"/prev").wantStatus(t, 501)
	// Broken dag-cbor: 500 for the conversions that read it.
	bad := putBlock(t, s.store, cid.DagCBOR, []byte{0xa1, 0x01, 0x02})
	get(t, srv.URL+"/ipfs/"+bad.String()+"?format=dag-json").wantStatus(t, 500)
	get(t, srv.URL+"/ipfs/"+bad.String()+"?format=dag-cbor").wantStatus(t, 500)
}
