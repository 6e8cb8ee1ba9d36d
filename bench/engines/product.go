package main

import (
	"context"
	"errors"

	"github.com/multiformats/go-multihash"

	"node/blockstore"
)

// product: the blockstore package's PackStore, as the node uses it.
type productEngine struct{ s *blockstore.PackStore }

var bg = context.Background()

func openProduct(dir string) (engine, error) {
	s, err := blockstore.OpenPackStore(dir, blockstore.PackOptions{})
	if err != nil {
		return nil, err
	}
	return &productEngine{s: s}, nil
}

func (p *productEngine) PutMany(keys, vals [][]byte) error {
	bs := make([]blockstore.Block, len(keys))
	for i := range keys {
		bs[i] = blockstore.Block{CID: blockstore.CIDOf(keys[i]), Data: vals[i]}
	}
	return p.s.PutMany(bg, bs)
}

func (p *productEngine) Sync() error { return p.s.Sync(bg) }

func (p *productEngine) Get(key []byte) ([]byte, error) {
	v, err := p.s.Get(bg, blockstore.CIDOf(key))
	if errors.Is(err, blockstore.ErrNotFound) {
		return nil, errNotFound
	}
	return v, err
}

func (p *productEngine) Delete(key []byte) error { return p.s.Delete(bg, blockstore.CIDOf(key)) }

func (p *productEngine) Keys(fn func([]byte)) error {
	return p.s.Keys(bg, func(mh multihash.Multihash) error { fn(mh); return nil })
}

func (p *productEngine) Compact() error {
	_, err := p.s.Compact(bg)
	return err
}

func (p *productEngine) Close() error { return p.s.Close() }
