package pin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"
)

// logger is the subsystem's logger, looked up on use so that a default set
// by main after start-up applies.
func logger() *slog.Logger { return slog.Default().With("subsystem", "pin") }

// GCStore is what GC needs of a block store (blockstore.Store has it).
type GCStore interface {
	Get(ctx context.Context, c cid.Cid) ([]byte, error)
	Size(ctx context.Context, c cid.Cid) (int, error)
	Delete(ctx context.Context, c cid.Cid) error
	Keys(ctx context.Context, fn func(multihash.Multihash) error) error
}

// GCResult reports what a GC removed. Removed holds CIDv1 raw CIDs of the
// deleted multihashes (the store knows only multihashes).
type GCResult struct {
	Removed []cid.Cid
	Freed   int64 // bytes of block data deleted
}

// ErrGCAborted is returned (wrapped) when GC stops before sweeping because
// a pinned DAG could not be walked; nothing was deleted.
var ErrGCAborted = errors.New("garbage collection aborted, nothing was deleted")

// GC deletes every block of store that no pin keeps: it marks the blocks
// reachable from recursive pins (walked in store itself, never through the
// network, with links decoding each block) and the direct pins, by
// multihash, then sweeps the rest. It holds off pin operations (see
// PinLock) for its whole run.
//
// If a pinned DAG cannot be walked completely, GC deletes nothing and
// returns an error wrapping ErrGCAborted and the cause (a
// *MissingBlockError for a missing block). If ctx ends during the sweep, GC
// returns what it removed so far with ctx's error.
func GC(ctx context.Context, store GCStore, p *Pinner, links LinksFunc) (GCResult, error) {
	if err := p.gc.lock(ctx); err != nil {
		return GCResult{}, fmt.Errorf("wait for pin operations to finish: %w", err)
	}
	defer p.gc.unlock()

	rec, dir := p.snapshot()
	marked := map[string]struct{}{}
	seen := map[string]struct{}{}
	present := func(ctx context.Context, c cid.Cid) error {
		_, err := store.Size(ctx, c)
		return err
	}
	for _, root := range rec {
		err := walk(ctx, store, present, links, root, seen, func(c cid.Cid) error {
			marked[string(c.Hash())] = struct{}{}
			return nil
		})
		if err != nil {
			switch {
			case ctx.Err() != nil:
				return GCResult{}, fmt.Errorf("%w: %w", ErrGCAborted, err)
			case errors.Is(err, ErrMissingBlock):
				return GCResult{}, fmt.Errorf("%w: the pinned DAG %s is incomplete: %w; fetch the missing block (`node pin add %s` with the daemon online) or unpin %s, then run gc again",
					ErrGCAborted, root, err, root, root)
			default:
				return GCResult{}, fmt.Errorf("%w: the pinned DAG %s cannot be walked: %w; check the store (`node repo verify`) or unpin %s, then run gc again",
					ErrGCAborted, root, err, root)
			}
		}
	}
	for _, c := range dir {
		marked[string(c.Hash())] = struct{}{}
	}

	var garbage []multihash.Multihash
	err := store.Keys(ctx, func(mh multihash.Multihash) error {
		if _, ok := marked[string(mh)]; !ok {
			garbage = append(garbage, mh)
		}
		return nil
	})
	if err != nil {
		return GCResult{}, fmt.Errorf("%w: list the store's blocks: %w", ErrGCAborted, err)
	}

	var res GCResult
	for _, mh := range garbage {
		if err := ctx.Err(); err != nil {
			return res, fmt.Errorf("garbage collection interrupted after removing %d blocks: %w", len(res.Removed), err)
		}
		c := cid.NewCidV1(cid.Raw, mh)
		size, err := store.Size(ctx, c)
		if err != nil {
			// Gone already (deleted by hand, or by another path): nothing to free.
			logger().Debug("gc: block vanished before its sweep", "cid", c, "err", err)
			continue
		}
		if err := store.Delete(ctx, c); err != nil {
			return res, fmt.Errorf("garbage collection: delete block %s: %w", c, err)
		}
		res.Removed = append(res.Removed, c)
		res.Freed += int64(size)
	}
	logger().Info("gc done", "removed", len(res.Removed), "freed", res.Freed, "kept", len(marked))
	return res, nil
}
