package namesys

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"node/ipns"
)

// TestPublishOnAResolveOnB: a name published on one node resolves on
// another through the DHT, as a name, as a path, and as a record.
func TestPublishOnAResolveOnB(t *testing.T) {
	ctx := testCtx(t)
	net := newNetwork(t, 4)
	ra, rb := newRepo(t), newRepo(t)
	a := newNS(t, ra, net.dhts[0], nil)
	b := newNS(t, rb, net.dhts[1], nil)

	value := testPath("site v1") + "/docs"
	name, rec, err := a.Publish(ctx, "", value, PublishOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, selfID := ra.r.Identity()
	if name != ipns.NameFromPeer(selfID) {
		t.Fatalf("published under %s, want the node's identity %s", name, ipns.NameFromPeer(selfID))
	}
	if rec.Sequence() != 0 || rec.TTL() != ipns.DefaultTTL {
		t.Fatalf("first record: seq %d ttl %v, want 0 and %v", rec.Sequence(), rec.TTL(), ipns.DefaultTTL)
	}
	if d := time.Until(rec.Validity()); d < ipns.DefaultLifetime-time.Minute || d > ipns.DefaultLifetime {
		t.Fatalf("record valid for %v, want about %v", d, ipns.DefaultLifetime)
	}

	res, err := b.Resolve(ctx, name.String(), ResolveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Path != value {
		t.Fatalf("B resolved %s to %q, want %q", name, res.Path, value)
	}
	if res.TTL <= 0 || res.TTL > ipns.DefaultTTL {
		t.Fatalf("TTL %v, want up to %v", res.TTL, ipns.DefaultTTL)
	}
	// Other spellings of the name: /ipns/ prefix, the peer ID.
	for _, s := range []string{"/ipns/" + name.String(), name.Peer().String()} {
		if res, err := b.Resolve(ctx, s, ResolveOptions{NoCache: true}); err != nil || res.Path != value {
			t.Fatalf("Resolve(%q) = %q, %v", s, res.Path, err)
		}
	}

	got, ttl, err := b.ResolvePath(ctx, "/ipns/"+name.String()+"/a/b/")
	if err != nil {
		t.Fatal(err)
	}
	if want := value + "/a/b/"; got != want || ttl <= 0 {
		t.Fatalf("ResolvePath = %q ttl %v, want %q", got, ttl, want)
	}

	raw, err := b.Record(ctx, name.String())
	if err != nil {
		t.Fatal(err)
	}
	want, _ := rec.Marshal()
	if !bytes.Equal(raw, want) {
		t.Fatal("Record on B is not the record A published")
	}
	if err := ipns.Validate(name, mustUnmarshal(t, raw), time.Now()); err != nil {
		t.Fatal(err)
	}

	// A name nobody published is not found, quickly and clearly.
	other := nameOf(t, rb.addKey(t, "unused", nil))
	if _, err := b.Resolve(ctx, other.String(), ResolveOptions{}); !isNotFound(err) {
		t.Fatalf("unpublished name: err = %v, want ErrNotFound", err)
	}
	if _, err := b.Record(ctx, other.String()); !isNotFound(err) {
		t.Fatalf("Record of an unpublished name: err = %v, want ErrNotFound", err)
	}
}

// TestUpdateAfterCacheExpiryAndWithNoCache: B caches a resolution for the
// record's TTL; an update shows once the entry expires, and at once with
// NoCache, which also refreshes the cache.
func TestUpdateAfterCacheExpiryAndWithNoCache(t *testing.T) {
	ctx := testCtx(t)
	net := newNetwork(t, 4)
	clkB := newClock()
	a := newNS(t, newRepo(t), net.dhts[0], nil)
	b := newNS(t, newRepo(t), net.dhts[1], clkB)
	ttl := time.Minute
	v1, v2, v3 := testPath("v1"), testPath("v2"), testPath("v3")

	name, _, err := a.Publish(ctx, "", v1, PublishOptions{TTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	resolve := func(noCache bool) string {
		t.Helper()
		res, err := b.Resolve(ctx, name.String(), ResolveOptions{NoCache: noCache})
		if err != nil {
			t.Fatal(err)
		}
		return res.Path
	}
	if got := resolve(false); got != v1 {
		t.Fatalf("first resolution: %q, want v1", got)
	}
	if _, rec, err := a.Publish(ctx, "", v2, PublishOptions{TTL: ttl}); err != nil || rec.Sequence() != 1 {
		t.Fatalf("second publish: %v (seq %v)", err, rec)
	}
	clkB.Add(ttl - time.Second)
	if got := resolve(false); got != v1 {
		t.Fatalf("within the TTL: %q, want the cached v1", got)
	}
	if got := resolve(true); got != v2 {
		t.Fatalf("with NoCache: %q, want v2", got)
	}
	if got := resolve(false); got != v2 {
		t.Fatalf("after a NoCache resolution: %q, want v2 (the cache is refreshed)", got)
	}

	if _, _, err := a.Publish(ctx, "", v3, PublishOptions{TTL: ttl}); err != nil {
		t.Fatal(err)
	}
	if got := resolve(false); got != v2 {
		t.Fatalf("cached: %q, want v2", got)
	}
	clkB.Add(ttl)
	if got := resolve(false); got != v3 {
		t.Fatalf("after the TTL: %q, want v3", got)
	}
}

// TestCacheNeverPastValidity: a record whose validity ends before its TTL
// is cached only until its validity; then the (expired) record is refused.
func TestCacheNeverPastValidity(t *testing.T) {
	ctx := testCtx(t)
	net := newNetwork(t, 3)
	clkB := newClock()
	a := newNS(t, newRepo(t), net.dhts[0], nil)
	b := newNS(t, newRepo(t), net.dhts[1], clkB)

	name, rec, err := a.Publish(ctx, "", testPath("short"), PublishOptions{Lifetime: 3 * time.Minute, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	res, err := b.Resolve(ctx, name.String(), ResolveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if want := rec.Validity().Sub(clkB.Now()); res.TTL != want {
		t.Fatalf("TTL %v, want %v (until the validity, not the record's 1h TTL)", res.TTL, want)
	}
	clkB.Add(res.TTL - time.Second)
	if _, err := b.Resolve(ctx, name.String(), ResolveOptions{}); err != nil {
		t.Fatalf("just before the validity ends: %v", err)
	}
	clkB.Add(2 * time.Second)
	if _, err := b.Resolve(ctx, name.String(), ResolveOptions{}); !isNotFound(err) {
		t.Fatalf("after the validity: err = %v, want ErrNotFound (not a cached answer)", err)
	}
}

// TestExpiredRecordsRefused: a resolver whose clock is past a record's
// validity refuses it, from the DHT and from its own store, though the
// DHT peers (on the wall clock) still serve it.
func TestExpiredRecordsRefused(t *testing.T) {
	ctx := testCtx(t)
	net := newNetwork(t, 3)
	clkA, clkB := newClock(), newClock()
	a := newNS(t, newRepo(t), net.dhts[0], clkA)
	b := newNS(t, newRepo(t), net.dhts[1], clkB)

	name, _, err := a.Publish(ctx, "", testPath("expiring"), PublishOptions{Lifetime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Resolve(ctx, name.String(), ResolveOptions{}); err != nil {
		t.Fatal(err)
	}
	clkA.Add(2 * time.Hour)
	clkB.Add(2 * time.Hour)
	if peerValue(t, net.hosts[2], net.hosts[1].ID(), name.RoutingKey()) == nil {
		t.Fatal("the DHT peer should still hold the record (its clock is the wall clock)")
	}
	for who, ns := range map[string]*NameSystem{"publisher": a, "other node": b} {
		if _, err := ns.Resolve(ctx, name.String(), ResolveOptions{}); !isNotFound(err) {
			t.Errorf("%s resolving an expired record: err = %v, want ErrNotFound", who, err)
		}
		if _, err := ns.Record(ctx, name.String()); !isNotFound(err) {
			t.Errorf("%s: Record of an expired record: err = %v, want ErrNotFound", who, err)
		}
	}
}

// TestSequenceAboveDHT: a node publishing with a key whose name already
// has records in the DHT (published from another node) signs a higher
// sequence, and its value wins everywhere.
func TestSequenceAboveDHT(t *testing.T) {
	ctx := testCtx(t)
	net := newNetwork(t, 4)
	ra, rb := newRepo(t), newRepo(t)
	sk := ra.addKey(t, "shared", nil)
	rb.addKey(t, "shared", sk)
	a := newNS(t, ra, net.dhts[0], nil)
	b := newNS(t, rb, net.dhts[1], nil)
	c := newNS(t, newRepo(t), net.dhts[2], nil)

	for i := range 3 {
		if _, _, err := a.Publish(ctx, "shared", testPath("from A"), PublishOptions{}); err != nil {
			t.Fatalf("publish %d on A: %v", i, err)
		}
	}
	name, rec, err := b.Publish(ctx, "shared", testPath("from B"), PublishOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rec.Sequence() != 3 {
		t.Fatalf("B signed sequence %d, want 3 (above the DHT's 2)", rec.Sequence())
	}
	res, err := c.Resolve(ctx, name.String(), ResolveOptions{NoCache: true})
	if err != nil || res.Path != testPath("from B") {
		t.Fatalf("C resolved %q, %v; want B's value", res.Path, err)
	}
}

// TestLowerSequenceDoesNotReplaceHigher: peers refuse a lower sequence
// over a higher one, and resolution returns the higher one even when a
// peer serves the lower one.
func TestLowerSequenceDoesNotReplaceHigher(t *testing.T) {
	ctx := testCtx(t)
	net := newNetwork(t, 5)
	rr := newRepo(t)
	sk := rr.addKey(t, "k", nil)
	name := nameOf(t, sk)
	key := name.RoutingKey()
	eol := time.Now().Add(time.Hour)
	high := mustRecord(t, sk, testPath("high"), 5, eol, time.Minute)
	low := mustRecord(t, sk, testPath("low"), 3, eol.Add(time.Hour), time.Minute)

	if err := net.dhts[0].PutValue(ctx, key, high); err != nil {
		t.Fatal(err)
	}
	for i := 1; i < 5; i++ {
		if !bytes.Equal(peerValue(t, net.hosts[0], net.hosts[i].ID(), key), high) {
			t.Fatalf("peer %d does not hold the seq-5 record after the put", i)
		}
	}
	if err := net.dhts[1].PutValue(ctx, key, low); err == nil {
		t.Fatal("kad-dht PutValue of seq 3 over a local seq 5 succeeded")
	}
	for i := 1; i < 5; i++ {
		if putToPeer(t, net.hosts[0], net.hosts[i].ID(), key, low) {
			t.Errorf("peer %d accepted seq 3 over seq 5", i)
		}
		if !bytes.Equal(peerValue(t, net.hosts[0], net.hosts[i].ID(), key), high) {
			t.Errorf("peer %d no longer holds seq 5", i)
		}
	}

	// A peer that had only the low record (a new node) serves it; the
	// resolver still takes the high one.
	fresh := newNetwork(t, 1)
	connect(t, ctx, fresh.hosts[0], net.hosts[4])
	waitRoutingTable(t, net.dhts[4], 5)
	if !putToPeer(t, net.hosts[4], fresh.hosts[0].ID(), key, low) {
		t.Fatal("a fresh peer refused the seq-3 record")
	}
	r := newNS(t, rr, net.dhts[4], nil)
	res, err := r.Resolve(ctx, name.String(), ResolveOptions{NoCache: true})
	if err != nil || res.Path != testPath("high") {
		t.Fatalf("resolved %q, %v; want the seq-5 value", res.Path, err)
	}
	// Publishing from the resolver goes above the DHT's sequence.
	if _, rec, err := r.Publish(ctx, "k", testPath("next"), PublishOptions{}); err != nil || rec.Sequence() != 6 {
		t.Fatalf("publish after seq 5 in the DHT: %v, record %v", err, rec)
	}
}

// TestOlderRecordRepairedAfterResolve: after a resolution that met both
// an older and a newer record, the peers that held the older one hold the
// newer one.
func TestOlderRecordRepairedAfterResolve(t *testing.T) {
	ctx := testCtx(t)
	net := newNetwork(t, 6)
	ra := newRepo(t)
	a := newNS(t, ra, net.dhts[0], nil)
	name, rec0, err := a.Publish(ctx, "", testPath("old"), PublishOptions{})
	if err != nil {
		t.Fatal(err)
	}
	key := name.RoutingKey()
	old, _ := rec0.Marshal()
	for i := range net.hosts {
		if i == 1 {
			continue
		}
		if !bytes.Equal(peerValue(t, net.hosts[1], net.hosts[i].ID(), key), old) {
			t.Fatalf("peer %d does not hold the first record", i)
		}
	}
	// The newer record reaches one peer only.
	sk, _ := ra.r.Identity()
	newer := mustRecord(t, sk, testPath("new"), 1, time.Now().Add(time.Hour), time.Minute)
	if !putToPeer(t, net.hosts[0], net.hosts[5].ID(), key, newer) {
		t.Fatal("peer 5 refused the newer record")
	}
	if !bytes.Equal(peerValue(t, net.hosts[0], net.hosts[3].ID(), key), old) {
		t.Fatal("peer 3 should still hold the old record")
	}

	r := newNS(t, newRepo(t), net.dhts[2], nil)
	res, err := r.Resolve(ctx, name.String(), ResolveOptions{})
	if err != nil || res.Path != testPath("new") {
		t.Fatalf("resolved %q, %v; want the newer value", res.Path, err)
	}
	for i := range net.hosts {
		asker := net.hosts[(i+1)%len(net.hosts)]
		waitFor(t, fmt.Sprintf("peer %d to hold the newer record", i), func() bool {
			return bytes.Equal(peerValue(t, asker, net.hosts[i].ID(), key), newer)
		})
	}
}

// TestPublishWithoutPeers: with a DHT that has no peers, Publish stores the
// record locally (it resolves on this node) and reports ErrPutFailed.
func TestPublishWithoutPeers(t *testing.T) {
	ctx := testCtx(t)
	alone := newNetwork(t, 1)
	a := newNS(t, newRepo(t), alone.dhts[0], nil)
	name, rec, err := a.Publish(ctx, "", testPath("lonely"), PublishOptions{})
	if !errors.Is(err, ErrPutFailed) || rec == nil || name.IsZero() {
		t.Fatalf("Publish without peers: name %v, record %v, err %v; want both and ErrPutFailed", name, rec, err)
	}
	res, err := a.Resolve(ctx, name.String(), ResolveOptions{NoCache: true})
	if err != nil || res.Path != testPath("lonely") {
		t.Fatalf("local resolution: %q, %v", res.Path, err)
	}
}
