package core

import (
	"context"
	"errors"

	"io"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"

	"node/blockstore"
	"node/car"
)

// RepoStat is what `node repo stat` reports.
type RepoStat struct {
	Blocks int
	Bytes  int64
}

// KeyStore is what listing the store needs.
type KeyStore interface {
	Keys(ctx context.Context, fn func(multihash.Multihash) error) error
	Size(ctx context.Context, c cid.Cid) (int, error)
	Get(ctx context.Context, c cid.Cid) ([]byte, error)
}

// Stat counts the stored blocks and their bytes.
func Stat(ctx context.Context, store KeyStore) (RepoStat, error) {
	var st RepoStat
	err := store.Keys(ctx, func(mh multihash.Multihash) error {
		n, err := store.Size(ctx, blockstore.CIDOf(mh))
		if errors.Is(err, blockstore.ErrNotFound) {
			return nil // deleted meanwhile
		}
		if err != nil {
			return err
		}
		st.Blocks++
		st.Bytes += int64(n)
		return nil
	})
	return st, err
}

// Verify re-hashes every stored block and calls bad for each one whose
// bytes do not match its hash. It returns how many blocks it checked.
func Verify(ctx context.Context, store KeyStore, bad func(c cid.Cid, err error)) (int, error) {
	n := 0
	err := store.Keys(ctx, func(mh multihash.Multihash) error {
		c := blockstore.CIDOf(mh)
		data, err := store.Get(ctx, c)
		switch {
		case errors.Is(err, blockstore.ErrNotFound):
			return nil
		case err == nil:
			err = blockstore.VerifyBlock(c, data)
		}
		n++
		if err != nil {
			bad(c, err)
		}
		return nil
	})
	return n, err
}

// Export writes a CAR of the DAG under root to w.
func Export(ctx context.Context, store blockGetter, root cid.Cid, w io.Writer) error {
	return car.Export(ctx, store.Get, []cid.Cid{root}, w)
}

type blockGetter interface {
	Get(ctx context.Context, c cid.Cid) ([]byte, error)
}

// ImportResult is what one CAR file brought.
type ImportResult struct {
	Roots  []cid.Cid
	Blocks int
	// Unpinned holds roots whose DAG is not complete in the store, with why.
	Unpinned map[cid.Cid]error
}

// Import stores every block of a CAR, verified, then pins each root whose
// whole DAG is present. A truncated or corrupt file is an error; blocks
// read before the damage stay stored but unpinned, so nothing partial is
// ever pinned and the next GC removes them.
func Import(ctx context.Context, store blockstore.Store, pins Pinner, r io.Reader, pin bool) (ImportResult, error) {
	unlock, err := pins.PinLock(ctx)
	if err != nil {
		return ImportResult{}, err
	}
	defer unlock()
	roots, n, err := car.Import(ctx, r, store.PutMany)
	res := ImportResult{Roots: roots, Blocks: n}
	if err != nil {
		return res, err
	}
	if err := Sync(ctx, store); err != nil {
		return res, err
	}
	if !pin {
		return res, nil
	}
	for _, root := range roots {
		if err := pins.PinRecursive(ctx, root); err != nil {
			if res.Unpinned == nil {
				res.Unpinned = map[cid.Cid]error{}
			}
			res.Unpinned[root] = err
		}
	}
	return res, nil
}

// EachBlock calls fn with a CID for every stored block (CIDv1 raw: the
// store knows multihashes, and provider records are keyed by multihash).
func EachBlock(ctx context.Context, store interface {
	Keys(ctx context.Context, fn func(multihash.Multihash) error) error
}, fn func(cid.Cid) error) error {
	return store.Keys(ctx, func(mh multihash.Multihash) error { return fn(blockstore.CIDOf(mh)) })
}
