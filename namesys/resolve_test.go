package namesys

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/routing"

	"node/ipath"
	"node/ipns"
	"node/repo"
)

// TestRecursion: names pointing at names, with paths appended on the way,
// one step at a time or to the end; the depth limit and cycles.
func TestRecursion(t *testing.T) {
	ctx := testCtx(t)
	tr := newRepo(t)
	ns := newNS(t, tr, nil, newClock())
	names := make([]ipns.Name, 34)
	for i := range names {
		names[i] = nameOf(t, tr.addKey(t, fmt.Sprintf("k%d", i), nil))
	}
	publish := func(i int, value string) {
		t.Helper()
		if _, _, err := ns.Publish(ctx, fmt.Sprintf("k%d", i), value, PublishOptions{TTL: time.Duration(i+1) * time.Minute}); err != nil {
			t.Fatal(err)
		}
	}
	root := testPath("root")
	publish(0, "/ipns/"+names[1].String()+"/a")
	publish(1, "/ipns/"+names[2].String()+"/b")
	publish(2, root+"/c")
	for depth, want := range map[int]string{
		0: root + "/c/b/a",
		1: "/ipns/" + names[1].String() + "/a",
		2: "/ipns/" + names[2].String() + "/b/a",
		3: root + "/c/b/a",
		9: root + "/c/b/a",
	} {
		res, err := ns.Resolve(ctx, names[0].String(), ResolveOptions{Depth: depth})
		if err != nil || res.Path != want {
			t.Errorf("depth %d: %q, %v; want %q", depth, res.Path, err, want)
		}
	}
	res, _ := ns.Resolve(ctx, names[0].String(), ResolveOptions{})
	if res.TTL != time.Minute {
		t.Errorf("TTL of a chain: %v, want the smallest along it (1m)", res.TTL)
	}
	if got, _, err := ns.ResolvePath(ctx, "/ipns/"+names[0].String()+"/d"); err != nil || got != root+"/c/b/a/d" {
		t.Errorf("ResolvePath: %q, %v", got, err)
	}

	// A chain of exactly MaxDepth names resolves; one more does not.
	for i := 3; i < 33; i++ {
		publish(i, "/ipns/"+names[i+1].String())
	}
	publish(2, "/ipns/"+names[3].String())
	publish(33, root)
	// names[1] -> ... -> names[33] -> root: 33 names.
	if res, err := ns.Resolve(ctx, names[2].String(), ResolveOptions{}); err != nil || res.Path != root {
		t.Errorf("%d names: %q, %v; want %s", MaxDepth, res.Path, err, root)
	}
	if _, err := ns.Resolve(ctx, names[1].String(), ResolveOptions{}); !errors.Is(err, ErrDepthLimit) {
		t.Errorf("%d names: err = %v, want ErrDepthLimit", MaxDepth+1, err)
	}
	if res, err := ns.Resolve(ctx, names[1].String(), ResolveOptions{Depth: MaxDepth + 10}); err != nil || res.Path != "/ipns/"+names[33].String()+"/b" {
		t.Errorf("an explicit depth over the limit stops at %d steps: %q, %v", MaxDepth, res.Path, err)
	}

	// Cycles: two names, and a name pointing into itself.
	publish(10, "/ipns/"+names[11].String())
	publish(11, "/ipns/"+names[10].String()+"/x")
	publish(12, "/ipns/"+names[12].String()+"/loop")
	for _, n := range []ipns.Name{names[10], names[12]} {
		_, err := ns.Resolve(ctx, n.String(), ResolveOptions{})
		if !errors.Is(err, ErrCycle) {
			t.Errorf("cycle from %s: err = %v, want ErrCycle", n, err)
		}
		if _, _, err := ns.ResolvePath(ctx, "/ipns/"+n.String()); !errors.Is(err, ErrCycle) {
			t.Errorf("ResolvePath of a cycle: err = %v", err)
		}
	}
}

// TestErrors: bad input gets the documented sentinel.
func TestErrors(t *testing.T) {
	ctx := testCtx(t)
	tr := newRepo(t)
	ns := newNS(t, tr, nil, nil)
	for _, s := range []string{"", "/ipns/", "not a name", "k51/x", "Qm"} {
		if _, err := ns.Resolve(ctx, s, ResolveOptions{}); !errors.Is(err, ipns.ErrInvalidName) {
			t.Errorf("Resolve(%q): err = %v, want ErrInvalidName", s, err)
		}
	}
	for _, s := range []string{"", "/ipfs/nope", "/ipns/", "/ipns/x/../y", "/foo/bar"} {
		if _, _, err := ns.ResolvePath(ctx, s); !errors.Is(err, ipath.ErrInvalid) {
			t.Errorf("ResolvePath(%q): err = %v, want ipath.ErrInvalid", s, err)
		}
	}
	if _, _, err := ns.ResolvePath(ctx, "/ipns/not_a_domain"); !errors.Is(err, ipns.ErrInvalidName) {
		t.Errorf("ResolvePath of a bad name: err = %v, want ErrInvalidName", err)
	}
	p := testPath("x") + "/y"
	if got, ttl, err := ns.ResolvePath(ctx, p); got != p || ttl != 0 || err != nil {
		t.Errorf("ResolvePath(/ipfs) = %q %v %v, want it unchanged", got, ttl, err)
	}
	if got, _, err := ns.ResolvePath(ctx, p[len("/ipfs/"):]); got != p || err != nil {
		t.Errorf("ResolvePath(bare CID) = %q %v", got, err)
	}
	for _, v := range []string{"", "hello", "/ipfs/nope", "/ipns/bad name"} {
		if _, _, err := ns.Publish(ctx, "", v, PublishOptions{}); err == nil {
			t.Errorf("Publish(%q) succeeded", v)
		}
	}
	if _, _, err := ns.Publish(ctx, "nokey", p, PublishOptions{}); !errors.Is(err, repo.ErrNoSuchKey) {
		t.Errorf("Publish with an unknown key: err = %v, want repo.ErrNoSuchKey", err)
	}
	if _, _, err := ns.Publish(ctx, "", p, PublishOptions{TTL: -time.Second}); err == nil {
		t.Error("Publish with a negative TTL succeeded")
	}
	// Offline, a name nobody published here is not found.
	other := nameOf(t, tr.addKey(t, "o", nil))
	if _, err := ns.Resolve(ctx, other.String(), ResolveOptions{}); !isNotFound(err) {
		t.Errorf("offline: err = %v, want ErrNotFound", err)
	}
}

// TestSequencePersists: the sequence number grows across restarts of the
// name system over the same repository, even when the record file is
// damaged (the index keeps a copy).
func TestSequencePersists(t *testing.T) {
	ctx := testCtx(t)
	tr := newRepo(t)
	ns := newNS(t, tr, nil, nil)
	var name ipns.Name
	for i := range 3 {
		n, rec, err := ns.Publish(ctx, "", testPath(fmt.Sprint(i)), PublishOptions{})
		if err != nil || rec.Sequence() != uint64(i) {
			t.Fatalf("publish %d: seq %v, %v", i, rec, err)
		}
		name = n
	}
	ns.Close()
	tr.close(t)

	tr.open(t)
	ns = newNS(t, tr, nil, nil)
	if res, err := ns.Resolve(ctx, name.String(), ResolveOptions{}); err != nil || res.Path != testPath("2") {
		t.Fatalf("after a restart the local record resolves: %q, %v", res.Path, err)
	}
	if _, rec, err := ns.Publish(ctx, "", testPath("3"), PublishOptions{}); err != nil || rec.Sequence() != 3 {
		t.Fatalf("after a restart: seq %v, %v; want 3", rec, err)
	}
	if err := tr.r.Datastore().Put(recordKey(name), []byte("garbage")); err != nil {
		t.Fatal(err)
	}
	if _, rec, err := ns.Publish(ctx, "", testPath("4"), PublishOptions{}); err != nil || rec.Sequence() != 4 {
		t.Fatalf("after the record file was damaged: seq %v, %v; want 4", rec, err)
	}

	// A damaged index is reported with what to do, and nothing is lost.
	if err := tr.r.Datastore().Put(indexKey, []byte("{")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ns.Publish(ctx, "", testPath("5"), PublishOptions{}); !errors.Is(err, ErrCorruptIndex) {
		t.Fatalf("damaged index: err = %v, want ErrCorruptIndex", err)
	}
	if res, err := ns.Resolve(ctx, name.String(), ResolveOptions{NoCache: true}); err != nil || res.Path != testPath("4") {
		t.Fatalf("the last record still resolves: %q, %v", res.Path, err)
	}
}

// fakeRouting is an in-memory Routing for unit tests of the resolver's
// selection and repair: SearchValue streams the given values in order.
type fakeRouting struct {
	values [][]byte
	block  bool // SearchValue streams nothing until ctx ends
	puts   chan []byte
}

func (f *fakeRouting) PutValue(_ context.Context, _ string, v []byte, _ ...routing.Option) error {
	f.puts <- v
	return nil
}

func (f *fakeRouting) SearchValue(ctx context.Context, _ string, _ ...routing.Option) (<-chan []byte, error) {
	ch := make(chan []byte)
	go func() {
		defer close(ch)
		if f.block {
			<-ctx.Done()
			return
		}
		for _, v := range f.values {
			select {
			case ch <- v:
			case <-ctx.Done():
				return
			}
		}
	}()
	return ch, nil
}

// TestSelectionAndRepair: among the DHT's answers the valid record with
// the highest sequence, then the latest validity, wins; invalid and
// expired ones never do; when an older record was seen the winner is put
// again, and only then.
func TestSelectionAndRepair(t *testing.T) {
	ctx := testCtx(t)
	sk, _, _ := crypto.GenerateEd25519Key(nil)
	other, _, _ := crypto.GenerateEd25519Key(nil)
	name := nameOf(t, sk)
	now := time.Now()
	rec := func(value string, seq uint64, eol time.Time, k crypto.PrivKey) []byte {
		return mustRecord(t, k, testPath(value), seq, eol, time.Minute)
	}
	seq2 := rec("seq2", 2, now.Add(time.Hour), sk)
	seq2later := rec("seq2 later", 2, now.Add(2*time.Hour), sk)
	seq1 := rec("seq1", 1, now.Add(3*time.Hour), sk)
	forged := rec("forged", 9, now.Add(time.Hour), other)
	expired := rec("expired", 8, now.Add(-time.Second), sk)

	for _, tc := range []struct {
		values   [][]byte
		want     string
		repaired []byte
	}{
		{[][]byte{seq2}, "seq2", nil},
		{[][]byte{seq1, seq2}, "seq2", seq2},
		{[][]byte{seq2, seq1}, "seq2", seq2},
		{[][]byte{seq2, seq2later}, "seq2 later", seq2later},
		{[][]byte{forged, expired, []byte("junk"), seq1}, "seq1", nil},
	} {
		r := &fakeRouting{values: tc.values, puts: make(chan []byte, 1)}
		ns, err := New(Config{Routing: r, Store: newMemStore(), Log: testLog(t)})
		if err != nil {
			t.Fatal(err)
		}
		res, err := ns.Resolve(ctx, name.String(), ResolveOptions{})
		if err != nil || res.Path != testPath(tc.want) {
			t.Errorf("values %d: %q, %v; want %s", len(tc.values), res.Path, err, tc.want)
		}
		ns.Close() // waits for the repair
		select {
		case v := <-r.puts:
			if tc.repaired == nil || string(v) != string(tc.repaired) {
				t.Errorf("want %s: unexpected re-put", tc.want)
			}
		default:
			if tc.repaired != nil {
				t.Errorf("want %s: the newest record was not put again", tc.want)
			}
		}
	}

	// Only invalid answers: not found. A search cut by the deadline: the
	// deadline.
	ns, _ := New(Config{Routing: &fakeRouting{values: [][]byte{forged, expired}}, Store: newMemStore(), Log: testLog(t)})
	if _, err := ns.Resolve(ctx, name.String(), ResolveOptions{}); !isNotFound(err) {
		t.Errorf("only invalid records: err = %v, want ErrNotFound", err)
	}
	ns, _ = New(Config{Routing: &fakeRouting{block: true}, Store: newMemStore(), Log: testLog(t)})
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := ns.Resolve(short, name.String(), ResolveOptions{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("timed out: err = %v, want DeadlineExceeded", err)
	}
}
