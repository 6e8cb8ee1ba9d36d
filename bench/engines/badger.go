package main

import (
	"errors"

	"github.com/dgraph-io/badger/v4"
)

// badger: values of 512 bytes and more go to the value log (written once);
// the LSM holds keys and value pointers. Sync syncs the value log and WAL.
type badgerEngine struct{ db *badger.DB }

func openBadger(dir string) (engine, error) {
	o := badger.DefaultOptions(dir).WithLogger(nil).WithValueThreshold(512).
		WithSyncWrites(false).WithCompression(0)
	db, err := badger.Open(o)
	if err != nil {
		return nil, err
	}
	return &badgerEngine{db: db}, nil
}

func (b *badgerEngine) PutMany(keys, vals [][]byte) error {
	wb := b.db.NewWriteBatch()
	defer wb.Cancel()
	for i := range keys {
		if err := wb.Set(keys[i], vals[i]); err != nil {
			return err
		}
	}
	return wb.Flush()
}

func (b *badgerEngine) Sync() error { return b.db.Sync() }

func (b *badgerEngine) Get(key []byte) ([]byte, error) {
	var out []byte
	err := b.db.View(func(txn *badger.Txn) error {
		it, err := txn.Get(key)
		if err != nil {
			return err
		}
		out, err = it.ValueCopy(nil)
		return err
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, errNotFound
	}
	return out, err
}

func (b *badgerEngine) Delete(key []byte) error {
	return b.db.Update(func(txn *badger.Txn) error { return txn.Delete(key) })
}

func (b *badgerEngine) Keys(fn func([]byte)) error {
	return b.db.View(func(txn *badger.Txn) error {
		o := badger.DefaultIteratorOptions
		o.PrefetchValues = false
		it := txn.NewIterator(o)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			fn(it.Item().Key())
		}
		return nil
	})
}

func (b *badgerEngine) Close() error { return b.db.Close() }
