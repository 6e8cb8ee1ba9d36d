package pin

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"

	"github.com/multiformats/go-multihash"
)

// TestGCWaitsForImport: an import holds PinLock while it puts blocks and
// pins them; a GC started meanwhile waits, then keeps the new pin's blocks.
func TestGCWaitsForImport(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		unlock, err := e.p.PinLock(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		leaf := e.raw("imported leaf")
		root := e.node("imported root", leaf)

		done := make(chan GCResult)
		go func() {
			res, err := GC(e.ctx, e.store, e.p, testLinks)
			if err != nil {
				t.Error(err)
			}
			done <- res
		}()
		synctest.Wait()
		select {
		case <-done:
			t.Fatal("GC ran while an import held PinLock")
		default:
		}
		// Pinning while holding PinLock, with a GC waiting, must not deadlock.
		if err := e.p.PinRecursive(e.ctx, root); err != nil {
			t.Fatal(err)
		}
		unlock()
		unlock() // a second call is harmless
		res := <-done
		if len(res.Removed) != 0 || !e.has(root) || !e.has(leaf) {
			t.Errorf("GC removed %v of a freshly pinned import", res.Removed)
		}
	})
}

// blockingKeys is a store whose Keys waits for release, holding a GC in its sweep.
type blockingKeys struct {
	GCStore
	entered, release chan struct{}
}

func (b *blockingKeys) Keys(ctx context.Context, fn func(multihash.Multihash) error) error {
	close(b.entered)
	<-b.release
	return b.GCStore.Keys(ctx, fn)
}

// TestPinWaitsForGC: pin operations wait for a running GC to finish.
func TestPinWaitsForGC(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		garbage := e.raw("garbage")
		store := &blockingKeys{GCStore: e.store, entered: make(chan struct{}), release: make(chan struct{})}
		gcDone := make(chan error)
		go func() {
			_, err := GC(e.ctx, store, e.p, testLinks)
			gcDone <- err
		}()
		<-store.entered

		pinned := make(chan error)
		go func() { pinned <- e.p.PinRecursive(e.ctx, garbage) }()
		synctest.Wait()
		select {
		case err := <-pinned:
			t.Fatalf("PinRecursive finished during a GC: %v", err)
		default:
		}
		// A PinLock with a deadline gives up while GC runs.
		ctx, cancel := context.WithCancel(e.ctx)
		cancel()
		if _, err := e.p.PinLock(ctx); !errors.Is(err, context.Canceled) {
			t.Errorf("PinLock with a canceled context during GC: %v", err)
		}

		close(store.release)
		if err := <-gcDone; err != nil {
			t.Fatal(err)
		}
		// The GC swept the block before the pin could start: the pin now
		// fails cleanly instead of recording a pin over a deleted block.
		if err := <-pinned; !errors.Is(err, ErrMissingBlock) {
			t.Errorf("PinRecursive after GC removed its block: %v", err)
		}
	})
}

func TestGCGivesUpWaiting(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		unlock, err := e.p.PinLock(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer unlock()
		ctx, cancel := context.WithCancel(e.ctx)
		errc := make(chan error)
		go func() {
			_, err := GC(ctx, e.store, e.p, testLinks)
			errc <- err
		}()
		synctest.Wait()
		cancel()
		if err := <-errc; !errors.Is(err, context.Canceled) {
			t.Errorf("GC canceled while waiting: %v", err)
		}
		// The lock is still usable.
		u2, err := e.p.PinLock(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		u2()
	})
}
