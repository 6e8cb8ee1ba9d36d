package core

import (
	"context"
	"fmt"

	"github.com/ipfs/go-cid"

	"node/pin"
)

// BlockRemove deletes a block unless a pin keeps it (recursively,
// directly, or as part of a pinned DAG). With force, a block that is not
// stored is not an error.
func BlockRemove(ctx context.Context, store interface {
	Has(ctx context.Context, c cid.Cid) (bool, error)
	Delete(ctx context.Context, c cid.Cid) error
}, pins *pin.Pinner, c cid.Cid, force bool) error {
	has, err := store.Has(ctx, c)
	if err != nil {
		return err
	}
	if !has {
		if force {
			return nil
		}
		return fmt.Errorf("block %s is not stored", c)
	}
	unlock, err := pins.PinLock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	p, pinned, err := pins.IsPinned(ctx, c)
	if err != nil {
		return err
	}
	if pinned {
		why := p.Mode.String()
		if p.Via.Defined() {
			why += " (under " + p.Via.String() + ")"
		}
		return fmt.Errorf("block %s is pinned %s: unpin it first", c, why)
	}
	return store.Delete(ctx, c)
}
