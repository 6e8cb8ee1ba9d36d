package pin

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"
	"google.golang.org/protobuf/encoding/protowire"

	"node/blockstore"
	"node/repo"
)

// A minimal dag-pb codec for tests (the real one is package dag):
// PBNode{Links=2 repeated PBLink, Data=1}, PBLink{Hash=1, Name=2, Tsize=3}.

func encodePB(links []cid.Cid, data []byte) []byte {
	var b []byte
	for i, l := range links {
		var lb []byte
		lb = protowire.AppendTag(lb, 1, protowire.BytesType)
		lb = protowire.AppendBytes(lb, l.Bytes())
		lb = protowire.AppendTag(lb, 2, protowire.BytesType)
		lb = protowire.AppendString(lb, fmt.Sprint(i))
		lb = protowire.AppendTag(lb, 3, protowire.VarintType)
		lb = protowire.AppendVarint(lb, 1)
		b = protowire.AppendTag(b, 2, protowire.BytesType)
		b = protowire.AppendBytes(b, lb)
	}
	if data != nil {
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		b = protowire.AppendBytes(b, data)
	}
	return b
}

func consumeField(b []byte) (protowire.Number, protowire.Type, []byte, []byte, error) {
	num, typ, n := protowire.ConsumeTag(b)
	if n < 0 {
		return 0, 0, nil, nil, protowire.ParseError(n)
	}
	b = b[n:]
	switch typ {
	case protowire.BytesType:
		v, m := protowire.ConsumeBytes(b)
		if m < 0 {
			return 0, 0, nil, nil, protowire.ParseError(m)
		}
		return num, typ, v, b[m:], nil
	default:
		m := protowire.ConsumeFieldValue(num, typ, b)
		if m < 0 {
			return 0, 0, nil, nil, protowire.ParseError(m)
		}
		return num, typ, nil, b[m:], nil
	}
}

// testLinks decodes dag-pb links; raw blocks have none.
func testLinks(c cid.Cid, data []byte) ([]cid.Cid, error) {
	switch c.Type() {
	case cid.Raw:
		return nil, nil
	case cid.DagProtobuf:
	default:
		return nil, fmt.Errorf("test codec: unsupported codec %#x", c.Type())
	}
	var out []cid.Cid
	for len(data) > 0 {
		num, typ, v, rest, err := consumeField(data)
		if err != nil {
			return nil, fmt.Errorf("dag-pb %s: %w", c, err)
		}
		data = rest
		if num != 2 || typ != protowire.BytesType {
			continue
		}
		for len(v) > 0 {
			ln, lt, lv, lrest, err := consumeField(v)
			if err != nil {
				return nil, fmt.Errorf("dag-pb link in %s: %w", c, err)
			}
			v = lrest
			if ln == 1 && lt == protowire.BytesType {
				lc, err := cid.Cast(lv)
				if err != nil {
					return nil, fmt.Errorf("dag-pb link in %s: %w", c, err)
				}
				out = append(out, lc)
			}
		}
	}
	return out, nil
}

// env is a pinner over a real on-disk repository datastore and an
// in-memory block store.
type env struct {
	t     *testing.T
	ctx   context.Context
	store *blockstore.Memory
	ds    *repo.Datastore
	p     *Pinner
	root  string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	root := filepath.Join(t.TempDir(), "repo")
	if _, err := repo.Init(root, repo.ProfileTest); err != nil {
		t.Fatal(err)
	}
	r, err := repo.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	e := &env{t: t, ctx: t.Context(), store: blockstore.NewMemory(), ds: r.Datastore(), root: root}
	e.p, err = New(e.ds, e.store, testLinks)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) put(c cid.Cid, data []byte) cid.Cid {
	e.t.Helper()
	if err := e.store.Put(e.ctx, blockstore.Block{CID: c, Data: data}); err != nil {
		e.t.Fatal(err)
	}
	return c
}

// raw stores a raw leaf and returns its CIDv1.
func (e *env) raw(s string) cid.Cid {
	e.t.Helper()
	c, err := cid.V1Builder{Codec: cid.Raw, MhType: multihash.SHA2_256}.Sum([]byte(s))
	if err != nil {
		e.t.Fatal(err)
	}
	return e.put(c, []byte(s))
}

// node stores a dag-pb node linking to links and returns its CIDv0.
func (e *env) node(tag string, links ...cid.Cid) cid.Cid {
	e.t.Helper()
	data := encodePB(links, []byte(tag))
	c, err := cid.V0Builder{}.Sum(data)
	if err != nil {
		e.t.Fatal(err)
	}
	return e.put(c, data)
}

// has reports whether the store holds c's multihash.
func (e *env) has(c cid.Cid) bool {
	ok, err := e.store.Has(e.ctx, c)
	if err != nil {
		e.t.Fatal(err)
	}
	return ok
}

func (e *env) count() int {
	n := 0
	e.store.Keys(e.ctx, func(multihash.Multihash) error { n++; return nil })
	return n
}

func (e *env) gc() GCResult {
	e.t.Helper()
	res, err := GC(e.ctx, e.store, e.p, testLinks)
	if err != nil {
		e.t.Fatalf("GC: %v", err)
	}
	return res
}

func cidStrings(cs []cid.Cid) []string {
	var s []string
	for _, c := range cs {
		s = append(s, c.String())
	}
	slices.Sort(s)
	return s
}

func pinStrings(ps []Pin) []string {
	var s []string
	for _, p := range ps {
		s = append(s, p.Mode.String()+" "+p.CID.String())
	}
	return s
}

// The real types satisfy the small interfaces.
var (
	_ Datastore = (*repo.Datastore)(nil)
	_ Getter    = blockstore.Store(nil)
	_ GCStore   = blockstore.Store(nil)
)
