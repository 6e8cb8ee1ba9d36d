package blockstore

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"
)

func mhCID(t *testing.T, code uint64, digest []byte) cid.Cid {
	t.Helper()
	mh, err := multihash.Encode(digest, code)
	if err != nil {
		t.Fatal(err)
	}
	return cid.NewCidV1(cid.Raw, mh)
}

func TestCheckCID(t *testing.T) {
	good := []cid.Cid{
		mhCID(t, multihash.SHA2_256, make([]byte, 32)),
		mhCID(t, multihash.BLAKE3, make([]byte, 32)),
		mhCID(t, multihash.SHA1, make([]byte, 20)),
		mhCID(t, multihash.IDENTITY, []byte("inline")),
		mhCID(t, multihash.IDENTITY, nil),
	}
	for _, c := range good {
		if err := CheckCID(c); err != nil {
			t.Errorf("CheckCID(%s): %v", c, err)
		}
	}
	bad := map[string]cid.Cid{
		"empty sha2-256 digest":   mhCID(t, multihash.SHA2_256, nil),
		"truncated to 19 bytes":   mhCID(t, multihash.SHA2_256, make([]byte, 19)),
		"md5":                     mhCID(t, multihash.MD5, make([]byte, 16)),
		"murmur3":                 mhCID(t, multihash.MURMUR3X64_64, make([]byte, 8)),
		"identity over the limit": mhCID(t, multihash.IDENTITY, make([]byte, MaxIdentityDigest+1)),
		"undefined":               cid.Undef,
	}
	for name, c := range bad {
		if err := CheckCID(c); !errors.Is(err, ErrWeakCID) {
			t.Errorf("%s: CheckCID = %v, want ErrWeakCID", name, err)
		}
	}
	// A zero-length digest would otherwise let any bytes verify.
	if err := VerifyBlock(bad["empty sha2-256 digest"], []byte("anything")); err == nil {
		t.Error("VerifyBlock accepted bytes for a CID with an empty digest")
	}
}

func TestWithIdentity(t *testing.T) {
	ctx := context.Background()
	mem := NewMemory()
	s := WithIdentity(mem)
	id := mhCID(t, multihash.IDENTITY, []byte("inline bytes"))
	if got, err := s.Get(ctx, id); err != nil || !bytes.Equal(got, []byte("inline bytes")) {
		t.Fatalf("Get(identity) = %q, %v", got, err)
	}
	if ok, err := s.Has(ctx, id); !ok || err != nil {
		t.Fatalf("Has(identity) = %v, %v", ok, err)
	}
	if n, err := s.Size(ctx, id); n != 12 || err != nil {
		t.Fatalf("Size(identity) = %d, %v", n, err)
	}
	normal := Block{CID: mhCID(t, multihash.SHA2_256, make([]byte, 32)), Data: []byte("x")}
	if err := s.PutMany(ctx, []Block{{CID: id, Data: []byte("inline bytes")}, normal}); err != nil {
		t.Fatal(err)
	}
	n := 0
	mem.Keys(ctx, func(multihash.Multihash) error { n++; return nil })
	if n != 1 {
		t.Fatalf("the wrapped store holds %d blocks, want only the non-identity one", n)
	}
	if _, err := s.Get(ctx, mhCID(t, multihash.SHA2_256, make([]byte, 31))); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get of an absent block through the wrapper: %v", err)
	}
}
