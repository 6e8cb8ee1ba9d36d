package main

import (
	"errors"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/sstable"
)

// pebble: keys are the multihash, values the block. Writes go to the WAL
// and the memtable; Sync syncs the WAL. valsep turns on value separation
// (values >= 1 KiB go to blob files at flush instead of the sstables).
type pebbleEngine struct{ db *pebble.DB }

func openPebble(dir string, valsep bool) (engine, error) {
	o := &pebble.Options{}
	o.EnsureDefaults()
	for i := range o.Levels {
		o.Levels[i].Compression = func() *sstable.CompressionProfile { return sstable.NoCompression }
	}
	if valsep {
		o.FormatMajorVersion = pebble.FormatValueSeparation
		o.Experimental.ValueSeparationPolicy = func() pebble.ValueSeparationPolicy {
			return pebble.ValueSeparationPolicy{Enabled: true, MinimumSize: 1024, MaxBlobReferenceDepth: 10, TargetGarbageRatio: 0.2}
		}
	}
	db, err := pebble.Open(dir, o)
	if err != nil {
		return nil, err
	}
	return &pebbleEngine{db: db}, nil
}

func (p *pebbleEngine) PutMany(keys, vals [][]byte) error {
	b := p.db.NewBatch()
	defer b.Close()
	for i := range keys {
		if err := b.Set(keys[i], vals[i], nil); err != nil {
			return err
		}
	}
	return b.Commit(pebble.NoSync)
}

func (p *pebbleEngine) Sync() error { return p.db.LogData(nil, pebble.Sync) }

func (p *pebbleEngine) Get(key []byte) ([]byte, error) {
	v, closer, err := p.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, errNotFound
	}
	if err != nil {
		return nil, err
	}
	out := append([]byte(nil), v...)
	closer.Close()
	return out, nil
}

func (p *pebbleEngine) Delete(key []byte) error { return p.db.Delete(key, pebble.NoSync) }

func (p *pebbleEngine) Keys(fn func([]byte)) error {
	it, err := p.db.NewIter(nil)
	if err != nil {
		return err
	}
	for it.First(); it.Valid(); it.Next() {
		fn(it.Key())
	}
	return it.Close()
}

func (p *pebbleEngine) Close() error {
	if err := p.Sync(); err != nil {
		return err
	}
	return p.db.Close()
}
