package fuse

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// gcRecorder is a HoldGC that counts holds.
type gcRecorder struct {
	mu    sync.Mutex // guards held and taken
	held  int
	taken int
}

func (g *gcRecorder) hold(context.Context) (func(), error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.held++
	g.taken++
	var once sync.Once
	return func() {
		once.Do(func() {
			g.mu.Lock()
			g.held--
			g.mu.Unlock()
		})
	}, nil
}

func (g *gcRecorder) state() (held, taken int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.held, g.taken
}

// TestWritesHoldGCUntilPublished: from the first block written under
// /ipns/local until the root holding it is published, garbage collection
// is held off; after the publication it is let go.
func TestWritesHoldGCUntilPublished(t *testing.T) {
	requireFUSE(t)
	store := openStore(t, t.TempDir())
	rec := &recorder{}
	gc := &gcRecorder{}
	cfg := localConfig(store, rec) // publishes only on fsync and unmount
	var heldWhenPublished []int
	pub := publisherFunc(func(ctx context.Context, v string) error {
		h, _ := gc.state()
		heldWhenPublished = append(heldWhenPublished, h)
		return rec.Publish(ctx, v)
	})
	cfg.Local = pub
	cfg.HoldGC = gc.hold
	m, mnt := mountIPNS(t, cfg)

	if held, taken := gc.state(); held != 0 || taken != 0 {
		t.Fatalf("before any write: held %d, taken %d", held, taken)
	}
	path := filepath.Join(mnt, "local", "a.txt")
	if err := os.WriteFile(path, []byte("kept from GC"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Closed, so imported: its blocks exist but no published root holds
	// them yet.
	if held, _ := gc.state(); held != 1 {
		t.Fatalf("after an imported but unpublished write, GC holds: %d, want 1", held)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil { // publishes
		t.Fatal(err)
	}
	f.Close()
	eventually(t, 10*time.Second, "the publication", func() bool { return rec.count() > 0 })
	if held, _ := gc.state(); held != 0 {
		t.Fatalf("after the publication GC is still held (%d)", held)
	}
	if len(heldWhenPublished) == 0 || heldWhenPublished[0] != 1 {
		t.Fatalf("GC holds when publishing: %v, want the hold kept until then", heldWhenPublished)
	}
	if err := m.Unmount(); err != nil {
		t.Fatal(err)
	}
	if held, _ := gc.state(); held != 0 {
		t.Fatalf("after unmount GC is still held (%d)", held)
	}
}
