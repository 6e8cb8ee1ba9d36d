// Package testutil holds small doubles that tests of several packages
// share. It is imported only by _test.go files.
package testutil

import (
	"context"
	"sync"

	"github.com/ipfs/go-cid"
)

// Getter reads blocks (unixfs.Getter and blockstore.Store satisfy it).
type Getter interface {
	Get(ctx context.Context, c cid.Cid) ([]byte, error)
}

// CountingGetter records every CID fetched through it, to check that a
// read touched exactly the blocks it needs.
type CountingGetter struct {
	g Getter

	mu  sync.Mutex // guards got
	got []cid.Cid
}

// NewCountingGetter counts the fetches made through it from g.
func NewCountingGetter(g Getter) *CountingGetter { return &CountingGetter{g: g} }

// Get records c and fetches it from the wrapped getter.
func (c *CountingGetter) Get(ctx context.Context, k cid.Cid) ([]byte, error) {
	c.mu.Lock()
	c.got = append(c.got, k)
	c.mu.Unlock()
	return c.g.Get(ctx, k)
}

// Take returns the CIDs fetched since the last call and forgets them.
func (c *CountingGetter) Take() []cid.Cid {
	c.mu.Lock()
	defer c.mu.Unlock()
	got := c.got
	c.got = nil
	return got
}
