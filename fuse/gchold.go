package fuse

import (
	"context"
	"sync"

	"node/blockstore"
)

// gcHold keeps garbage collection away from the blocks written for
// /ipns/local until a root holding them is published (and, in the daemon,
// pinned): from the first block written after a publish until a publish
// after which nothing new was written. Without it a `repo gc` between an
// import and the next publish could delete what was just written.
type gcHold struct {
	hold func(ctx context.Context) (release func(), err error) // Config.HoldGC; nil: no hold

	mu      sync.Mutex // guards release and written
	release func()     // non-nil while held
	written uint64     // blocks written since the mount started
}

// acquire takes the hold before a block is written, if not held already.
func (g *gcHold) acquire(ctx context.Context) error {
	if g.hold == nil {
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.written++
	if g.release != nil {
		return nil
	}
	release, err := g.hold(ctx)
	if err != nil {
		return err
	}
	g.release = release
	return nil
}

// mark is what was written so far, taken before building a root to
// publish.
func (g *gcHold) mark() uint64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.written
}

// published lets the hold go if nothing was written since mark: the
// published root (pinned by the publisher) now protects every block.
// force lets it go regardless (unmount).
func (g *gcHold) published(mark uint64, force bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.release != nil && (force || g.written == mark) {
		g.release()
		g.release = nil
	}
}

// heldStore takes the hold before every write.
type heldStore struct {
	blockstore.Store
	g *gcHold
}

func (s heldStore) Put(ctx context.Context, b blockstore.Block) error {
	if err := s.g.acquire(ctx); err != nil {
		return err
	}
	return s.Store.Put(ctx, b)
}

func (s heldStore) PutMany(ctx context.Context, bs []blockstore.Block) error {
	if err := s.g.acquire(ctx); err != nil {
		return err
	}
	return s.Store.PutMany(ctx, bs)
}

// Sync passes through to the store when it can sync.
func (s heldStore) Sync(ctx context.Context) error {
	if st, ok := s.Store.(interface{ Sync(context.Context) error }); ok {
		return st.Sync(ctx)
	}
	return nil
}
