package blockstore_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"
	"github.com/zeebo/blake3"

	"node/blockstore"
	"node/blockstore/storetest"
)

func cidWith(t *testing.T, code uint64, digest []byte) cid.Cid {
	t.Helper()
	mh, err := multihash.Encode(digest, code)
	if err != nil {
		t.Fatal(err)
	}
	return cid.NewCidV1(cid.Raw, mh)
}

func TestVerifyBlock(t *testing.T) {
	data := []byte("hello, blocks")
	bad := []byte("hello, blocks!")
	sha := sha256.Sum256(data)
	b3 := blake3.Sum256(data)
	b3long := make([]byte, 64)
	h := blake3.New()
	h.Write(data)
	h.Digest().Read(b3long)
	sum := func(code uint64) cid.Cid {
		mh, err := multihash.Sum(data, code, -1)
		if err != nil {
			t.Fatalf("multihash.Sum(0x%x): %v", code, err)
		}
		return cid.NewCidV1(cid.Raw, mh)
	}
	cases := map[string]cid.Cid{
		"sha2-256":           cidWith(t, multihash.SHA2_256, sha[:]),
		"sha2-256 truncated": cidWith(t, multihash.SHA2_256, sha[:20]),
		"cidv0":              cid.NewCidV0(cidWith(t, multihash.SHA2_256, sha[:]).Hash()),
		"blake3":             cidWith(t, multihash.BLAKE3, b3[:]),
		"blake3-512":         cidWith(t, multihash.BLAKE3, b3long),
		"identity":           cidWith(t, multihash.IDENTITY, data),
		"sha2-512":           sum(multihash.SHA2_512),
		"sha1":               sum(multihash.SHA1),
		"sha3-256":           sum(multihash.SHA3_256),
		"blake2b-256":        sum(multihash.BLAKE2B_MIN + 31),
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			if err := blockstore.VerifyBlock(c, data); err != nil {
				t.Fatalf("good block: %v", err)
			}
			err := blockstore.VerifyBlock(c, bad)
			if !errors.Is(err, blockstore.ErrCorrupt) {
				t.Fatalf("bad block: %v, want ErrCorrupt", err)
			}
			if !strings.Contains(err.Error(), c.String()) {
				t.Fatalf("error %q does not name the CID", err)
			}
		})
	}
	t.Run("unsupported", func(t *testing.T) {
		c := cidWith(t, 0x1d01, make([]byte, 32)) // a code no hasher is registered for
		err := blockstore.VerifyBlock(c, data)
		if !errors.Is(err, blockstore.ErrUnsupportedHash) || errors.Is(err, blockstore.ErrCorrupt) {
			t.Fatalf("unknown hash: %v, want ErrUnsupportedHash", err)
		}
	})
}

func TestVerifyingConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) blockstore.Store { return blockstore.Verifying(blockstore.NewMemory()) })
}

func TestVerifyingCatchesBadBytes(t *testing.T) {
	mem := blockstore.NewMemory()
	good := storetest.MakeBlock(1, 1000)
	other := storetest.MakeBlock(2, 1000)
	// A backend that returns wrong bytes for a CID (here: stored wrongly).
	if err := mem.Put(ctx, blockstore.Block{CID: good.CID, Data: other.Data}); err != nil {
		t.Fatal(err)
	}
	v := blockstore.Verifying(mem)
	got, err := v.Get(ctx, good.CID)
	if !errors.Is(err, blockstore.ErrCorrupt) || got != nil {
		t.Fatalf("Get = %d bytes, %v; want nil, ErrCorrupt", len(got), err)
	}
	if !strings.Contains(err.Error(), good.CID.String()) {
		t.Fatalf("error %q does not name the CID", err)
	}
	if _, err := v.Get(ctx, other.CID); !errors.Is(err, blockstore.ErrNotFound) {
		t.Fatalf("missing block: %v, want ErrNotFound", err)
	}
	syncer, ok := v.(interface{ Unwrap() blockstore.Store })
	if !ok || syncer.Unwrap() != mem {
		t.Fatal("Verifying does not unwrap to the wrapped store")
	}
}

func TestVerifyingForwardsSync(t *testing.T) {
	ps, err := blockstore.OpenPackStore(t.TempDir(), blockstore.PackOptions{})
	if err != nil {
		t.Fatal(err)
	}
	v := blockstore.Verifying(ps)
	sy, ok := v.(interface{ Sync(context.Context) error })
	if !ok {
		t.Fatal("Verifying hides Sync")
	}
	if err := v.Put(ctx, storetest.MakeBlock(1, 10)); err != nil {
		t.Fatal(err)
	}
	if err := sy.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	ps.Close()
	if err := sy.Sync(ctx); !errors.Is(err, blockstore.ErrClosed) {
		t.Fatalf("Sync on a closed store: %v; the call did not reach the pack store", err)
	}
	// A store without Sync: Sync is a no-op.
	if err := blockstore.Verifying(blockstore.NewMemory()).(interface{ Sync(context.Context) error }).Sync(ctx); err != nil {
		t.Fatal(err)
	}
}
