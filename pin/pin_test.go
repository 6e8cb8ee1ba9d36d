package pin

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"

	"node/blockstore"
)

func TestTestCodec(t *testing.T) {
	e := newEnv(t)
	a, b := e.raw("a"), e.raw("b")
	n := e.node("n", a, b)
	data, _ := e.store.Get(e.ctx, n)
	ls, err := testLinks(n, data)
	if err != nil || !slices.Equal(ls, []cid.Cid{a, b}) {
		t.Fatalf("links %v, %v", ls, err)
	}
}

// TestGCKeepsPinnedDAGs: a pinned DAG and all its descendants survive, an
// unpinned DAG goes except for the blocks it shares with the pinned one, and
// loose blocks go.
func TestGCKeepsPinnedDAGs(t *testing.T) {
	e := newEnv(t)
	shared := e.raw("shared leaf")
	l1, l2, l3 := e.raw("leaf 1"), e.raw("leaf 2"), e.raw("leaf 3")
	mid := e.node("mid", l2, shared)
	pinned := e.node("pinned root", l1, mid, l3)

	u1 := e.raw("unpinned leaf")
	umid := e.node("unpinned mid", u1, shared)
	unpinned := e.node("unpinned root", umid, l1)
	loose := e.raw("loose")

	if err := e.p.PinRecursive(e.ctx, pinned); err != nil {
		t.Fatal(err)
	}
	res := e.gc()

	for _, c := range []cid.Cid{pinned, mid, l1, l2, l3, shared} {
		if !e.has(c) {
			t.Errorf("pinned block %s was collected", c)
		}
	}
	gone := []cid.Cid{unpinned, umid, u1, loose}
	for _, c := range gone {
		if e.has(c) {
			t.Errorf("unpinned block %s survived", c)
		}
	}
	if e.count() != 6 {
		t.Errorf("store holds %d blocks, want 6", e.count())
	}
	var want []cid.Cid
	for _, c := range gone {
		want = append(want, blockstore.CIDOf(c.Hash()))
	}
	if got := cidStrings(res.Removed); !slices.Equal(got, cidStrings(want)) {
		t.Errorf("Removed %v, want %v", got, cidStrings(want))
	}

	// A second GC finds nothing to do.
	if res := e.gc(); len(res.Removed) != 0 || res.Freed != 0 {
		t.Errorf("second GC removed %v", res.Removed)
	}
	// Unpinned, everything goes.
	if err := e.p.Unpin(e.ctx, pinned, true); err != nil {
		t.Fatal(err)
	}
	if res := e.gc(); len(res.Removed) != 6 || e.count() != 0 {
		t.Errorf("GC after unpin removed %d, store holds %d", len(res.Removed), e.count())
	}
}

func TestGCFreedBytes(t *testing.T) {
	e := newEnv(t)
	keep := e.raw("keep me")
	a := e.raw("0123456789")
	n := e.node("x", a)
	if err := e.p.PinDirect(e.ctx, keep); err != nil {
		t.Fatal(err)
	}
	nsize, _ := e.store.Size(e.ctx, n)
	res := e.gc()
	if want := int64(10 + nsize); res.Freed != want {
		t.Errorf("Freed %d, want %d", res.Freed, want)
	}
}

func TestDirectPinKeepsOnlyTheBlock(t *testing.T) {
	e := newEnv(t)
	leaf := e.raw("child")
	root := e.node("root", leaf)
	if err := e.p.PinDirect(e.ctx, root); err != nil {
		t.Fatal(err)
	}
	e.gc()
	if !e.has(root) || e.has(leaf) {
		t.Errorf("after GC: root kept %v (want true), child kept %v (want false)", e.has(root), e.has(leaf))
	}
}

func TestPinRecursiveNeedsWholeDAG(t *testing.T) {
	e := newEnv(t)
	present := e.raw("present")
	missing, _ := cid.V1Builder{Codec: cid.Raw, MhType: multihash.SHA2_256}.Sum([]byte("never stored"))
	mid := e.node("mid", missing)
	root := e.node("root", present, mid)

	err := e.p.PinRecursive(e.ctx, root)
	var mb *MissingBlockError
	if !errors.As(err, &mb) || !errors.Is(err, ErrMissingBlock) || !errors.Is(err, blockstore.ErrNotFound) {
		t.Fatalf("PinRecursive over a missing block: %v", err)
	}
	if mb.CID != missing || mb.Parent != mid || mb.Root != root {
		t.Errorf("MissingBlockError %+v", mb)
	}
	if !strings.Contains(err.Error(), missing.String()) || !strings.Contains(err.Error(), mid.String()) {
		t.Errorf("message does not name the missing block and its parent: %v", err)
	}
	if _, pinned, _ := e.p.IsPinned(e.ctx, root); pinned {
		t.Error("root is pinned after a failed recursive pin")
	}
	if keys, _ := e.ds.List("/pins/"); len(keys) != 0 {
		t.Errorf("pin records after a failed pin: %v", keys)
	}
	// A missing root.
	if err := e.p.PinRecursive(e.ctx, missing); !errors.Is(err, ErrMissingBlock) {
		t.Errorf("PinRecursive of a missing root: %v", err)
	}
	if err := e.p.PinDirect(e.ctx, missing); !errors.Is(err, ErrMissingBlock) {
		t.Errorf("PinDirect of a missing block: %v", err)
	}
	// Once the block is there, the pin works.
	e.put(missing, []byte("never stored"))
	if err := e.p.PinRecursive(e.ctx, root); err != nil {
		t.Fatal(err)
	}
}

// TestGCAbortsOnIncompleteDAG: when a pinned DAG has lost a block, GC must
// not guess: it deletes nothing and says which block is missing.
func TestGCAbortsOnIncompleteDAG(t *testing.T) {
	e := newEnv(t)
	leaf := e.raw("leaf")
	lost := e.raw("lost later")
	root := e.node("root", leaf, lost)
	if err := e.p.PinRecursive(e.ctx, root); err != nil {
		t.Fatal(err)
	}
	garbage := e.raw("garbage")
	e.store.Delete(e.ctx, lost)
	before := e.count()

	res, err := GC(e.ctx, e.store, e.p, testLinks)
	if !errors.Is(err, ErrGCAborted) || !errors.Is(err, ErrMissingBlock) {
		t.Fatalf("GC over an incomplete pinned DAG: %v", err)
	}
	if !strings.Contains(err.Error(), lost.String()) || !strings.Contains(err.Error(), "nothing was deleted") {
		t.Errorf("message: %v", err)
	}
	if len(res.Removed) != 0 || e.count() != before || !e.has(garbage) {
		t.Errorf("GC deleted blocks although it aborted: %v", res.Removed)
	}
}

func TestGCAbortsOnUndecodableBlock(t *testing.T) {
	e := newEnv(t)
	root := e.node("root", e.raw("a"))
	if err := e.p.PinRecursive(e.ctx, root); err != nil {
		t.Fatal(err)
	}
	garbage := e.raw("garbage")
	failing := func(c cid.Cid, data []byte) ([]cid.Cid, error) {
		if c == root {
			return nil, errors.New("bad protobuf")
		}
		return testLinks(c, data)
	}
	_, err := GC(e.ctx, e.store, e.p, failing)
	if !errors.Is(err, ErrGCAborted) || !strings.Contains(err.Error(), "bad protobuf") {
		t.Fatalf("GC: %v", err)
	}
	if !e.has(garbage) {
		t.Error("GC deleted a block although it aborted")
	}
}

func TestGCCanceled(t *testing.T) {
	e := newEnv(t)
	e.raw("garbage")
	ctx, cancel := context.WithCancel(e.ctx)
	cancel()
	if _, err := GC(ctx, e.store, e.p, testLinks); !errors.Is(err, context.Canceled) {
		t.Fatalf("GC with a canceled context: %v", err)
	}
	if e.count() != 1 {
		t.Error("a canceled GC deleted blocks")
	}
}

func TestUnpin(t *testing.T) {
	e := newEnv(t)
	leaf := e.raw("leaf")
	root := e.node("root", leaf)
	single := e.raw("single")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(e.p.PinRecursive(e.ctx, root))
	must(e.p.PinDirect(e.ctx, single))

	err := e.p.Unpin(e.ctx, leaf, true)
	if !errors.Is(err, ErrNotPinned) || !strings.Contains(err.Error(), leaf.String()+": not pinned or pinned indirectly") {
		t.Errorf("Unpin of an indirect pin: %v", err)
	}
	if err := e.p.Unpin(e.ctx, root, false); !errors.Is(err, ErrPinnedRecursively) {
		t.Errorf("non-recursive Unpin of a recursive pin: %v", err)
	}
	must(e.p.Unpin(e.ctx, single, true)) // a direct pin goes either way
	must(e.p.PinDirect(e.ctx, single))
	must(e.p.Unpin(e.ctx, single, false))
	must(e.p.Unpin(e.ctx, root, true))
	if err := e.p.Unpin(e.ctx, root, true); !errors.Is(err, ErrNotPinned) {
		t.Errorf("second Unpin: %v", err)
	}
	if keys, _ := e.ds.List(""); len(keys) != 0 {
		t.Errorf("datastore after unpinning everything: %v", keys)
	}
}

func TestPinModesInteract(t *testing.T) {
	e := newEnv(t)
	leaf := e.raw("leaf")
	root := e.node("root", leaf)
	if err := e.p.PinDirect(e.ctx, root); err != nil {
		t.Fatal(err)
	}
	// Direct becomes recursive.
	if err := e.p.PinRecursive(e.ctx, root); err != nil {
		t.Fatal(err)
	}
	if p, ok, _ := e.p.IsPinned(e.ctx, root); !ok || p.Mode != Recursive {
		t.Errorf("after upgrade: %v %v", p.Mode, ok)
	}
	if keys, _ := e.ds.List("/pins/direct/"); len(keys) != 0 {
		t.Errorf("direct record survived the upgrade: %v", keys)
	}
	if err := e.p.PinDirect(e.ctx, root); !errors.Is(err, ErrAlreadyPinned) {
		t.Errorf("PinDirect on a recursive pin: %v", err)
	}
	// Pinning twice is a no-op.
	if err := e.p.PinRecursive(e.ctx, root); err != nil {
		t.Error(err)
	}
	if err := e.p.PinDirect(e.ctx, leaf); err != nil {
		t.Error(err)
	}
	if err := e.p.PinDirect(e.ctx, leaf); err != nil {
		t.Error(err)
	}
}

func TestListAndIsPinned(t *testing.T) {
	e := newEnv(t)
	l1, l2, l3 := e.raw("l1"), e.raw("l2"), e.raw("l3")
	inner := e.node("inner", l2)
	r1 := e.node("r1", l1, inner)
	r2 := e.node("r2", l1, l3) // shares l1 with r1
	d := e.raw("direct")
	e.raw("unpinned")
	for _, c := range []cid.Cid{r1, r2} {
		if err := e.p.PinRecursive(e.ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.p.PinDirect(e.ctx, d); err != nil {
		t.Fatal(err)
	}
	if err := e.p.PinDirect(e.ctx, l3); err != nil { // direct and indirect
		t.Fatal(err)
	}

	list := func(m Mode) []string {
		ps, err := e.p.List(e.ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		s := pinStrings(ps)
		slices.Sort(s)
		return s
	}
	sorted := func(s ...string) []string { slices.Sort(s); return s }
	rec := sorted("recursive "+r1.String(), "recursive "+r2.String())
	dir := sorted("direct "+d.String(), "direct "+l3.String())
	ind := sorted("indirect "+l1.String(), "indirect "+inner.String(), "indirect "+l2.String(), "indirect "+l3.String())
	if got := list(Recursive); !slices.Equal(got, rec) {
		t.Errorf("recursive %v", got)
	}
	if got := list(Direct); !slices.Equal(got, dir) {
		t.Errorf("direct %v", got)
	}
	if got := list(Indirect); !slices.Equal(got, ind) {
		t.Errorf("indirect %v", got)
	}
	all := sorted(append(append(slices.Clone(rec), dir...), "indirect "+l1.String(), "indirect "+inner.String(), "indirect "+l2.String())...)
	if got := list(All); !slices.Equal(got, all) {
		t.Errorf("all %v\nwant %v", got, all)
	}

	p, ok, err := e.p.IsPinned(e.ctx, l2)
	if err != nil || !ok || p.Mode != Indirect || p.Via != r1 {
		t.Errorf("IsPinned(l2) = %+v %v %v", p, ok, err)
	}
	p, ok, _ = e.p.IsPinned(e.ctx, d)
	if !ok || p.Mode != Direct {
		t.Errorf("IsPinned(d) = %+v %v", p, ok)
	}
	if _, ok, _ := e.p.IsPinned(e.ctx, e.raw("unpinned")); ok {
		t.Error("an unpinned block is pinned")
	}
	for _, s := range []string{"all", "Recursive", "direct", "indirect"} {
		if _, err := ParseMode(s); err != nil {
			t.Error(err)
		}
	}
	if _, err := ParseMode("sideways"); err == nil {
		t.Error("ParseMode accepted junk")
	}
}

// TestPinsPersist reloads the pins from the on-disk datastore.
func TestPinsPersist(t *testing.T) {
	e := newEnv(t)
	leaf := e.raw("leaf")
	root := e.node("root", leaf)
	d := e.raw("d")
	e.p.PinRecursive(e.ctx, root)
	e.p.PinDirect(e.ctx, d)

	p2, err := New(e.ds, e.store, testLinks)
	if err != nil {
		t.Fatal(err)
	}
	ps, _ := p2.List(e.ctx, All)
	if got := pinStrings(ps); !slices.Equal(got, []string{"recursive " + root.String(), "direct " + d.String(), "indirect " + leaf.String()}) {
		t.Errorf("reloaded pins %v", got)
	}
	res, err := GC(e.ctx, e.store, p2, testLinks)
	if err != nil || len(res.Removed) != 0 {
		t.Errorf("GC with reloaded pins removed %v, %v", res.Removed, err)
	}
}

func TestCorruptPinRecord(t *testing.T) {
	e := newEnv(t)
	root := e.raw("x")
	e.p.PinRecursive(e.ctx, root)
	keys, _ := e.ds.List("/pins/recursive/")
	e.ds.Put(keys[0], []byte("garbage"))
	_, err := New(e.ds, e.store, testLinks)
	if !errors.Is(err, ErrCorruptRecord) || !strings.Contains(err.Error(), keys[0]) {
		t.Fatalf("New over a corrupt record: %v", err)
	}
	other := e.raw("y")
	e.ds.Put(keys[0], other.Bytes()) // a valid CID under the wrong key
	if _, err := New(e.ds, e.store, testLinks); !errors.Is(err, ErrCorruptRecord) {
		t.Fatalf("New over a mismatched record: %v", err)
	}
}

// TestCIDv0AndV1AreOnePin: the same dag-pb node under CIDv0 and CIDv1.
func TestCIDv0AndV1AreOnePin(t *testing.T) {
	e := newEnv(t)
	root := e.node("root", e.raw("leaf"))
	v1 := cid.NewCidV1(cid.DagProtobuf, root.Hash())
	if err := e.p.PinRecursive(e.ctx, root); err != nil {
		t.Fatal(err)
	}
	p, ok, _ := e.p.IsPinned(e.ctx, v1)
	if !ok || p.Mode != Recursive || p.CID != root {
		t.Errorf("IsPinned(v1) = %+v, %v; want the CIDv0 pin", p, ok)
	}
	if err := e.p.PinRecursive(e.ctx, v1); err != nil {
		t.Fatal(err)
	}
	if ps, _ := e.p.List(e.ctx, Recursive); len(ps) != 1 || ps[0].CID != root {
		t.Errorf("List after pinning both forms: %v", pinStrings(ps))
	}
	if err := e.p.Unpin(e.ctx, v1, true); err != nil {
		t.Fatalf("Unpin(v1) of a v0 pin: %v", err)
	}
	if ps, _ := e.p.List(e.ctx, All); len(ps) != 0 {
		t.Errorf("pins left: %v", pinStrings(ps))
	}
}

// TestIdentityLinks: identity-hash CIDs carry their bytes and are never stored.
func TestIdentityLinks(t *testing.T) {
	e := newEnv(t)
	id, err := cid.V1Builder{Codec: cid.Raw, MhType: multihash.IDENTITY}.Sum([]byte("inline"))
	if err != nil {
		t.Fatal(err)
	}
	root := e.node("root", id, e.raw("leaf"))
	if err := e.p.PinRecursive(e.ctx, root); err != nil {
		t.Fatalf("PinRecursive over an identity link: %v", err)
	}
	if res := e.gc(); len(res.Removed) != 0 {
		t.Errorf("GC removed %v", res.Removed)
	}
	if err := e.p.PinDirect(e.ctx, id); err != nil {
		t.Errorf("PinDirect of an identity CID: %v", err)
	}
}

// TestPinImported: an import's pin is recorded without reading the DAG
// (which it just wrote), replaces a direct pin, and keeps the DAG in GC.
func TestPinImported(t *testing.T) {
	e := newEnv(t)
	leaf := e.raw("imported leaf")
	root := e.node("imported root", leaf)
	if err := e.p.PinDirect(e.ctx, root); err != nil {
		t.Fatal(err)
	}
	counting := &countingGetter{g: e.store}
	p, err := New(e.ds, counting, testLinks)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.PinImported(e.ctx, root); err != nil {
		t.Fatal(err)
	}
	if counting.n != 0 {
		t.Errorf("PinImported read %d blocks, want 0", counting.n)
	}
	if pin, ok, err := p.IsPinned(e.ctx, root); err != nil || !ok || pin.Mode != Recursive {
		t.Fatalf("after PinImported: %+v %v %v", pin, ok, err)
	}
	if direct, _ := p.List(e.ctx, Direct); len(direct) != 0 {
		t.Errorf("the direct pin stayed: %v", direct)
	}
	e.p = p
	e.gc()
	if !e.has(root) || !e.has(leaf) {
		t.Error("GC removed part of an imported, pinned DAG")
	}
}

type countingGetter struct {
	g interface {
		Get(context.Context, cid.Cid) ([]byte, error)
	}
	n int
}

func (c *countingGetter) Get(ctx context.Context, id cid.Cid) ([]byte, error) {
	c.n++
	return c.g.Get(ctx, id)
}
