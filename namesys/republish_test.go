package namesys

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"

	"node/ipns"
)

// TestRepublishTimers drives the republisher on fake time (synctest): it
// re-signs at start, then each name at the period or at half its
// lifetime, keeping value and TTL, so no record ever expires; a removed
// key is dropped.
func TestRepublishTimers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		store := newMemStore()
		short, long := mustKey(t), mustKey(t)
		keys := newMemKeys(map[string]crypto.PrivKey{"short": short, "long": long})
		ns, err := New(Config{Store: store, Keys: keys, RepublishPeriod: 4 * time.Hour, Log: testLog(t)})
		if err != nil {
			t.Fatal(err)
		}
		defer ns.Close()
		names := map[string]ipns.Name{"short": nameOf(t, short), "long": nameOf(t, long)}
		local := func(k string) *ipns.Record {
			t.Helper()
			rec, _, err := ns.localRecord(names[k])
			if err != nil || rec == nil {
				t.Fatalf("no local record for %s: %v", k, err)
			}
			return rec
		}
		if _, _, err := ns.Publish(ctx, "short", testPath("s"), PublishOptions{Lifetime: time.Hour, TTL: 7 * time.Minute}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := ns.Publish(ctx, "long", testPath("l"), PublishOptions{}); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		go ns.Republish(ctx)
		synctest.Wait()
		if local("short").Sequence() != 1 || local("long").Sequence() != 1 {
			t.Fatalf("at start: seqs %d, %d; want both republished", local("short").Sequence(), local("long").Sequence())
		}

		// Every 30 minutes (half the 1h lifetime) for "short", every 4h for
		// "long"; check every minute that nothing expired.
		for m := 1; m <= 9*60; m++ {
			time.Sleep(time.Minute)
			synctest.Wait()
			now := time.Now()
			for k, rec := range map[string]*ipns.Record{"short": local("short"), "long": local("long")} {
				if err := ipns.Validate(names[k], rec, now); err != nil {
					t.Fatalf("%v after start, %s: %v", now.Sub(start), k, err)
				}
			}
		}
		s, l := local("short"), local("long")
		if s.Sequence() != 1+18 || l.Sequence() != 1+2 {
			t.Fatalf("after 9h: seqs %d and %d, want 19 (every 30m) and 3 (every 4h)", s.Sequence(), l.Sequence())
		}
		if s.Value() != testPath("s") || s.TTL() != 7*time.Minute || !s.Validity().Equal(time.Now().Add(time.Hour)) {
			t.Fatalf("republished record: %q ttl %v valid until %v; want the same value, TTL and a fresh 1h lifetime",
				s.Value(), s.TTL(), s.Validity())
		}

		// A new publish is picked up, without waiting for the old timer.
		fresh := mustKey(t)
		keys.set("fresh", fresh)
		names["fresh"] = nameOf(t, fresh)
		if _, _, err := ns.Publish(ctx, "fresh", testPath("f"), PublishOptions{Lifetime: 10 * time.Minute}); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		time.Sleep(5 * time.Minute)
		synctest.Wait()
		if seq := local("fresh").Sequence(); seq != 1 {
			t.Fatalf("a name published while running: seq %d after half its lifetime, want 1", seq)
		}

		// A removed key is no longer republished, and leaves the index.
		keys.set("long", nil)
		time.Sleep(4 * time.Hour)
		synctest.Wait()
		if seq := local("long").Sequence(); seq != 3 {
			t.Fatalf("a removed key was republished: seq %d", seq)
		}
		ix, err := ns.loadIndex()
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := ix.Keys["long"]; ok || len(ix.Keys) != 2 {
			t.Fatalf("index after removing a key: %v", ix.Keys)
		}
		cancel()
		synctest.Wait()
	})
}

// TestRepublishPutsBeforeExpiry: with a real DHT, the republisher puts a
// fresh record before the old one expires, so another node still resolves
// the name after the first record's validity; a failed put (no peers yet)
// is retried after DefaultRetryDelay.
func TestRepublishPutsBeforeExpiry(t *testing.T) {
	ctx := testCtx(t)
	net := newNetwork(t, 3)
	alone := newNetwork(t, 1) // the publisher starts with no peers
	clkA, clkB := newClock(), newClock()
	a := newNS(t, newRepo(t), alone.dhts[0], clkA)
	b := newNS(t, newRepo(t), net.dhts[1], clkB)
	waits := make(chan time.Duration)
	fire := make(chan time.Time)
	a.after = func(d time.Duration) <-chan time.Time { waits <- d; return fire }

	name, rec0, err := a.Publish(ctx, "", testPath("kept alive"), PublishOptions{Lifetime: time.Hour})
	if !errors.Is(err, ErrPutFailed) {
		t.Fatalf("publish without peers: %v, want ErrPutFailed", err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { a.Republish(runCtx); close(done) }()
	defer func() { stop(); <-done }()

	// At start: the put fails again; a retry is scheduled.
	if d := <-waits; d != DefaultRetryDelay {
		t.Fatalf("after a failed put the republisher waits %v, want %v", d, DefaultRetryDelay)
	}
	connect(t, ctx, alone.hosts[0], net.hosts[0])
	waitRoutingTable(t, alone.dhts[0], 1)
	clkA.Add(DefaultRetryDelay)
	fire <- clkA.Now()
	if d := <-waits; d != 30*time.Minute {
		t.Fatalf("after a successful republish the wait is %v, want 30m (half the lifetime)", d)
	}
	res, err := b.Resolve(ctx, name.String(), ResolveOptions{NoCache: true})
	if err != nil || res.Path != testPath("kept alive") {
		t.Fatalf("B after the retry: %q, %v", res.Path, err)
	}

	clkA.Add(30 * time.Minute)
	fire <- clkA.Now()
	<-waits
	// Past the first record's validity, B still resolves the name: the
	// DHT holds a record signed later.
	clkB.Add(rec0.Validity().Sub(clkB.Now()) + 10*time.Minute)
	res, err = b.Resolve(ctx, name.String(), ResolveOptions{NoCache: true})
	if err != nil || res.Path != testPath("kept alive") {
		t.Fatalf("after the first record expired: %q, %v", res.Path, err)
	}
	raw, err := b.Record(ctx, name.String())
	if err != nil {
		t.Fatal(err)
	}
	if rec := mustUnmarshal(t, raw); rec.Sequence() < 3 || !rec.Validity().After(clkB.Now()) {
		t.Fatalf("B sees seq %d valid until %v", rec.Sequence(), rec.Validity())
	}
}
