package blockstore

import (
	"context"
	"slices"
	"sync"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"
)

// Memory is an in-memory Store, for unit tests and short-lived work
// (hashing with --only-hash). It copies bytes in and out.
type Memory struct {
	mu     sync.RWMutex // guards blocks
	blocks map[string][]byte
}

// NewMemory returns an empty in-memory store.
func NewMemory() *Memory { return &Memory{blocks: map[string][]byte{}} }

func (m *Memory) Get(_ context.Context, c cid.Cid) ([]byte, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	d, ok := m.blocks[Key(c)]
	if !ok {
		return nil, NotFound(c)
	}
	return slices.Clone(d), nil
}

func (m *Memory) Has(_ context.Context, c cid.Cid) (bool, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	_, ok := m.blocks[Key(c)]
	return ok, nil
}

func (m *Memory) Size(_ context.Context, c cid.Cid) (int, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	d, ok := m.blocks[Key(c)]
	if !ok {
		return 0, NotFound(c)
	}
	return len(d), nil
}

func (m *Memory) Put(ctx context.Context, b Block) error { return m.PutMany(ctx, []Block{b}) }

func (m *Memory) PutMany(_ context.Context, bs []Block) error {
	for _, b := range bs {
		if err := CheckSize(b); err != nil {
			return err
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, b := range bs {
		if _, ok := m.blocks[Key(b.CID)]; !ok {
			m.blocks[Key(b.CID)] = slices.Clone(b.Data)
		}
	}
	return nil
}

func (m *Memory) Delete(_ context.Context, c cid.Cid) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.blocks, Key(c))
	return nil
}

func (m *Memory) Keys(ctx context.Context, fn func(multihash.Multihash) error) error {
	m.mu.RLock()
	keys := make([]string, 0, len(m.blocks))
	for k := range m.blocks {
		keys = append(keys, k)
	}
	m.mu.RUnlock()
	for _, k := range keys {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(multihash.Multihash(k)); err != nil {
			return err
		}
	}
	return nil
}

func (m *Memory) Close() error { return nil }
