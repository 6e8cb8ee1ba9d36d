package blockstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"
	_ "github.com/multiformats/go-multihash/register/blake2" // blake2b/blake2s for multihash.Sum
	_ "github.com/multiformats/go-multihash/register/sha3"   // sha3, keccak, shake for multihash.Sum
	"github.com/zeebo/blake3"
)

// ErrUnsupportedHash is returned (wrapped) by VerifyBlock when the CID's
// multihash function is one this node cannot compute, so the block can be
// neither trusted nor rejected.
var ErrUnsupportedHash = errors.New("unsupported multihash function")

// VerifyBlock checks that data hashes to c's multihash. It returns nil when
// it does, an error wrapping ErrCorrupt (naming the CID) when it does not,
// and an error wrapping ErrUnsupportedHash when the hash function is unknown.
//
// sha2-256 uses crypto/sha256, blake3 (0x1e) uses zeebo/blake3, identity
// compares the bytes; everything else goes through go-multihash's Sum
// (sha1, sha2-512, sha3, blake2b/s and the rest it registers).
func VerifyBlock(c cid.Cid, data []byte) error {
	if err := CheckCID(c); err != nil {
		return fmt.Errorf("block %s cannot be verified: %w", c, err)
	}
	dm, err := multihash.Decode(c.Hash())
	if err != nil {
		return fmt.Errorf("block %s: its multihash does not decode (%v): %w", c, err, ErrCorrupt)
	}
	var ok bool
	switch dm.Code {
	case multihash.SHA2_256:
		sum := sha256.Sum256(data)
		ok = len(dm.Digest) <= len(sum) && bytes.Equal(sum[:len(dm.Digest)], dm.Digest)
	case multihash.BLAKE3:
		h := blake3.New()
		h.Write(data)
		out := make([]byte, len(dm.Digest))
		if _, err := h.Digest().Read(out); err != nil {
			return fmt.Errorf("block %s: computing blake3: %w", c, err)
		}
		ok = bytes.Equal(out, dm.Digest)
	case multihash.IDENTITY:
		ok = bytes.Equal(data, dm.Digest)
	default:
		sum, err := multihash.Sum(data, dm.Code, dm.Length)
		if err != nil {
			name := multihash.Codes[dm.Code]
			if name == "" {
				name = "unknown"
			}
			return fmt.Errorf("cannot verify block %s: hash function %s (0x%x): %v: %w", c, name, dm.Code, err, ErrUnsupportedHash)
		}
		ok = bytes.Equal(sum, c.Hash())
	}
	if !ok {
		return fmt.Errorf("block %s (%d bytes): %w; delete it and fetch it again", c, len(data), ErrCorrupt)
	}
	return nil
}

// Verifying wraps s so that Get re-hashes every block it returns and fails
// with an error wrapping ErrCorrupt, naming the CID, instead of returning
// bytes that do not match. Has, Size, Put, Delete and Keys pass through;
// Put does not hash (the writer just computed the CID from the bytes).
//
// The returned store also has Sync(ctx) error, which calls s's Sync when s
// has one and does nothing otherwise, and Unwrap() Store, which returns s.
func Verifying(s Store) Store { return &verifying{Store: s} }

type verifying struct{ Store }

func (v *verifying) Get(ctx context.Context, c cid.Cid) ([]byte, error) {
	data, err := v.Store.Get(ctx, c)
	if err != nil {
		return nil, err
	}
	if err := VerifyBlock(c, data); err != nil {
		return nil, err
	}
	return data, nil
}

// Sync forwards to the wrapped store's Sync, if it has one.
func (v *verifying) Sync(ctx context.Context) error {
	if s, ok := v.Store.(interface{ Sync(context.Context) error }); ok {
		return s.Sync(ctx)
	}
	return nil
}

// Unwrap returns the wrapped store.
func (v *verifying) Unwrap() Store { return v.Store }
