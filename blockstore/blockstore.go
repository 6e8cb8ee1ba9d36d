package blockstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"
)

// MaxBlockSize is the largest block a store accepts: 2 MiB, the limit every
// IPFS implementation agrees on for blocks exchanged over Bitswap.
const MaxBlockSize = 2 << 20

var (
	// ErrNotFound is returned (possibly wrapped) when a block is not in the store.
	ErrNotFound = errors.New("block not found")
	// ErrTooLarge is returned when a block exceeds MaxBlockSize.
	ErrTooLarge = fmt.Errorf("block larger than the %d-byte limit", MaxBlockSize)
	// ErrCorrupt is returned when stored bytes do not hash to the block's CID.
	ErrCorrupt = errors.New("block is corrupt: its bytes do not match its hash")
)

// NotFound returns an error wrapping ErrNotFound that names c. The CID is
// formatted only if the message is read: misses are common (a read of
// content from the network misses on every block before fetching it) and
// formatting a CID for each costs more than the lookup.
func NotFound(c cid.Cid) error { return notFoundError{c} }

type notFoundError struct{ c cid.Cid }

func (e notFoundError) Error() string { return e.c.String() + ": " + ErrNotFound.Error() }
func (e notFoundError) Unwrap() error { return ErrNotFound }

// Block is a CID and the bytes it addresses.
type Block struct {
	CID  cid.Cid
	Data []byte
}

// Store is the full set of operations a block store backend provides.
// Blocks are keyed by multihash: the same bytes under CIDv0 and CIDv1 (or
// under different codecs) are stored once, and any CID with that multihash
// finds them.
//
// Consumers should not take a Store; they declare the smaller interface they
// need (a getter, a putter) where they use it.
type Store interface {
	// Get returns the block's bytes, or an error wrapping ErrNotFound.
	Get(ctx context.Context, c cid.Cid) ([]byte, error)
	// Has reports whether a block with c's multihash is stored.
	Has(ctx context.Context, c cid.Cid) (bool, error)
	// Size returns the stored block's length, or an error wrapping ErrNotFound.
	Size(ctx context.Context, c cid.Cid) (int, error)
	// Put stores a block atomically: after a crash it is either wholly
	// present or absent. Putting a block that is present is a no-op.
	// Blocks larger than MaxBlockSize fail with ErrTooLarge.
	Put(ctx context.Context, b Block) error
	// PutMany stores several blocks, each atomically, possibly faster than
	// one Put each.
	PutMany(ctx context.Context, bs []Block) error
	// Delete removes the block; deleting an absent block is not an error.
	Delete(ctx context.Context, c cid.Cid) error
	// Keys calls fn once for every stored multihash, in no particular order.
	// It stops at and returns the first error fn returns.
	Keys(ctx context.Context, fn func(multihash.Multihash) error) error
	// Close releases the store's resources.
	Close() error
}

// CheckSize returns ErrTooLarge (wrapped with the CID) when b is over the limit.
func CheckSize(b Block) error {
	if len(b.Data) > MaxBlockSize {
		return fmt.Errorf("block %s is %d bytes: %w", b.CID, len(b.Data), ErrTooLarge)
	}
	return nil
}

// Key returns the storage key of a CID: its multihash bytes as a string.
func Key(c cid.Cid) string { return string(c.Hash()) }

// CIDOf returns a CIDv1 raw-codec CID for a multihash; any CID with the
// same multihash finds the same block, so this is how callers holding only a
// key (from Keys) read the block.
func CIDOf(mh multihash.Multihash) cid.Cid { return cid.NewCidV1(cid.Raw, mh) }
