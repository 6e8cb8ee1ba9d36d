package dht

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"
)

type recordingRouter struct {
	mu       sync.Mutex // guards provided
	provided map[cid.Cid]int
}

func (r *recordingRouter) Provide(_ context.Context, c cid.Cid, _ bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.provided[c]++
	return nil
}

func (r *recordingRouter) count(c cid.Cid) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.provided[c]
}

func testCID(s string) cid.Cid {
	mh, _ := multihash.Sum([]byte(s), multihash.SHA2_256, -1)
	return cid.NewCidV1(cid.Raw, mh)
}

// TestProviderSweepsAndReprovides: the strategy's set is announced at
// start and again every interval; queued CIDs are announced soon.
func TestProviderSweepsAndReprovides(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := &recordingRouter{provided: map[cid.Cid]int{}}
		set := []cid.Cid{testCID("a"), testCID("b")}
		p := NewProvider(r, func(ctx context.Context, fn func(cid.Cid) error) error {
			for _, c := range set {
				if err := fn(c); err != nil {
					return err
				}
			}
			return nil
		}, slog.Default())
		ctx, cancel := context.WithCancel(context.Background())
		go p.Run(ctx, ReprovideInterval)
		synctest.Wait()
		for _, c := range set {
			if n := r.count(c); n != 1 {
				t.Fatalf("%s provided %d times at start, want 1", c, n)
			}
		}
		extra := testCID("added")
		if err := p.Provide(ctx, extra); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if r.count(extra) != 1 {
			t.Fatal("a queued CID was not provided")
		}
		time.Sleep(ReprovideInterval) // fake time inside the bubble
		synctest.Wait()
		for _, c := range set {
			if n := r.count(c); n != 2 {
				t.Fatalf("%s provided %d times after one interval, want 2", c, n)
			}
		}
		if provided, failed := p.Stats(); provided != 5 || failed != 0 {
			t.Fatalf("stats: %d provided, %d failed", provided, failed)
		}
		cancel()
		synctest.Wait()
	})
}
