package blockstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"
)

// ErrWeakCID is wrapped by CheckCID's errors.
var ErrWeakCID = errors.New("CID is not accepted")

// MaxIdentityDigest is the longest identity "hash" (inline data) accepted.
const MaxIdentityDigest = 128

// minDigest is the shortest digest accepted: shorter ones can be forged.
const minDigest = 20

// accepted reports whether the node trusts CIDs made with a hash function:
// the cryptographic ones IPFS implementations accept (sha1 too, for git
// objects), blake2 from 160 bits up, and identity.
func accepted(code uint64) bool {
	switch code {
	case multihash.IDENTITY, multihash.SHA1, multihash.SHA2_256, multihash.SHA2_512,
		multihash.SHAKE_256, multihash.DBL_SHA2_256, multihash.BLAKE3,
		multihash.SHA3_224, multihash.SHA3_256, multihash.SHA3_384, multihash.SHA3_512,
		multihash.KECCAK_224, multihash.KECCAK_256, multihash.KECCAK_384, multihash.KECCAK_512:
		return true
	}
	return code >= multihash.BLAKE2B_MIN+19 && code <= multihash.BLAKE2B_MAX ||
		code >= multihash.BLAKE2S_MIN+19 && code <= multihash.BLAKE2S_MAX
}

// maxDigest bounds the digest of a cryptographic hash.
const maxDigest = 128

// CheckCID rejects CIDs that would let any bytes pass as verified: unknown
// or weak hash functions, digests shorter than 20 bytes, and identity CIDs
// carrying more than MaxIdentityDigest bytes.
func CheckCID(c cid.Cid) error {
	if !c.Defined() {
		return fmt.Errorf("%w: undefined CID", ErrWeakCID)
	}
	dm, err := multihash.Decode(c.Hash())
	if err != nil {
		return fmt.Errorf("%w: %s: multihash does not decode: %v", ErrWeakCID, c, err)
	}
	if !accepted(dm.Code) {
		return fmt.Errorf("%w: %s uses hash function 0x%x, which this node does not accept (%w)", ErrWeakCID, c, dm.Code, ErrUnsupportedHash)
	}
	if dm.Code == multihash.IDENTITY {
		if dm.Length > MaxIdentityDigest {
			return fmt.Errorf("%w: %s inlines %d bytes, over the %d-byte limit", ErrWeakCID, c, dm.Length, MaxIdentityDigest)
		}
		return nil
	}
	if dm.Length < minDigest || dm.Length > maxDigest {
		return fmt.Errorf("%w: %s has a %d-byte digest; %d to %d bytes are needed", ErrWeakCID, c, dm.Length, minDigest, maxDigest)
	}
	return nil
}

// WithIdentity wraps s so that identity CIDs, whose bytes are inside the
// CID itself, are answered without the store: Get returns the inlined
// bytes, Has and Size answer from the CID, and Put of such a block stores
// nothing. Everything else passes through.
func WithIdentity(s Store) Store { return identityStore{s} }

type identityStore struct{ Store }

func inline(c cid.Cid) ([]byte, bool) {
	if c.Prefix().MhType != multihash.IDENTITY {
		return nil, false
	}
	dm, err := multihash.Decode(c.Hash())
	if err != nil {
		return nil, false
	}
	return dm.Digest, true
}

func (s identityStore) Get(ctx context.Context, c cid.Cid) ([]byte, error) {
	if d, ok := inline(c); ok {
		return append([]byte(nil), d...), nil
	}
	return s.Store.Get(ctx, c)
}

// GetBuffer forwards to the wrapped store's GetBuffer when it has one
// (Get otherwise). An identity CID's bytes come back in a new slice, never
// in buf.
func (s identityStore) GetBuffer(ctx context.Context, c cid.Cid, buf []byte) ([]byte, error) {
	if d, ok := inline(c); ok {
		return append([]byte(nil), d...), nil
	}
	if b, ok := s.Store.(interface {
		GetBuffer(context.Context, cid.Cid, []byte) ([]byte, error)
	}); ok {
		return b.GetBuffer(ctx, c, buf)
	}
	return s.Store.Get(ctx, c)
}

func (s identityStore) Has(ctx context.Context, c cid.Cid) (bool, error) {
	if _, ok := inline(c); ok {
		return true, nil
	}
	return s.Store.Has(ctx, c)
}

func (s identityStore) Size(ctx context.Context, c cid.Cid) (int, error) {
	if d, ok := inline(c); ok {
		return len(d), nil
	}
	return s.Store.Size(ctx, c)
}

func (s identityStore) Put(ctx context.Context, b Block) error {
	return s.PutMany(ctx, []Block{b})
}

func (s identityStore) PutMany(ctx context.Context, bs []Block) error {
	keep := bs[:0:0]
	for _, b := range bs {
		if _, ok := inline(b.CID); !ok {
			keep = append(keep, b)
		}
	}
	if len(keep) == 0 {
		return nil
	}
	return s.Store.PutMany(ctx, keep)
}

// Sync forwards to the wrapped store's Sync, when it has one.
func (s identityStore) Sync(ctx context.Context) error {
	if y, ok := s.Store.(interface{ Sync(context.Context) error }); ok {
		return y.Sync(ctx)
	}
	return nil
}
