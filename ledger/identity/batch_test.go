package identity

import (
	"crypto/rand"
	"errors"
	"fmt"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
)

// TestBatchFindsEachBadSignature puts good signatures and bad ones of
// every kind in one batch: each bad one fails alone, with the same answer
// Verify and Go's crypto/ed25519 give, and the good ones pass.
func TestBatchFindsEachBadSignature(t *testing.T) {
	var ids []*Identity
	for range 4 {
		id, err := Generate()
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	secpKey, _, err := crypto.GenerateSecp256k1Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	secp, err := FromKey(secpKey)
	if err != nil {
		t.Fatal(err)
	}
	type item struct {
		pub, msg, sig []byte
		domain        string
		want          error
	}
	var items []item
	for i := range 200 {
		id := ids[i%len(ids)]
		if i%50 == 7 {
			id = secp
		}
		msg := fmt.Appendf(nil, "message %d", i)
		sig, err := id.Sign(DomainEndorsement, msg)
		if err != nil {
			t.Fatal(err)
		}
		it := item{pub: id.PublicKey(), msg: msg, sig: sig, domain: DomainEndorsement}
		switch i % 37 {
		case 3: // a flipped bit in R
			it.sig = append([]byte(nil), sig...)
			it.sig[1] ^= 1
			it.want = ErrBadSignature
		case 5: // a flipped bit in S
			it.sig = append([]byte(nil), sig...)
			it.sig[len(sig)-2] ^= 0x10
			it.want = ErrBadSignature
		case 11: // another message
			it.msg = []byte("another")
			it.want = ErrBadSignature
		case 13: // another domain
			it.domain = DomainProposal
			it.want = ErrBadSignature
		case 17: // another signer's key
			it.pub = ids[(i+1)%len(ids)].PublicKey()
			it.want = ErrBadSignature
		case 19: // truncated
			it.sig = sig[:len(sig)-1]
			it.want = ErrBadSignature
		case 23: // a key that does not parse
			it.pub = []byte{8, 1, 18, 3, 1, 2, 3}
			it.want = ErrBadKey
		}
		items = append(items, it)
	}
	b := NewBatch(len(items))
	for i, it := range items {
		if got := b.Add(it.pub, it.domain, it.msg, it.sig); got != i {
			t.Fatalf("Add returned %d, want %d", got, i)
		}
	}
	if b.Len() != len(items) {
		t.Fatalf("Len %d, want %d", b.Len(), len(items))
	}
	errs := b.Verify()
	bad := 0
	for i, it := range items {
		alone := Verify(it.pub, it.domain, it.msg, it.sig)
		std := errors.New("key does not parse")
		if k, err := crypto.UnmarshalPublicKey(it.pub); err == nil {
			if ok, _ := k.Verify(tagged(it.domain, it.msg), it.sig); ok {
				std = nil
			}
		}
		switch {
		case it.want == nil && errs[i] != nil:
			t.Errorf("signature %d: %v, want it to verify", i, errs[i])
		case it.want != nil && !errors.Is(errs[i], it.want):
			t.Errorf("signature %d: %v, want %v", i, errs[i], it.want)
		case (alone == nil) != (errs[i] == nil):
			t.Errorf("signature %d: batch says %v, Verify says %v", i, errs[i], alone)
		case (std == nil) != (errs[i] == nil):
			t.Errorf("signature %d: batch says %v, Go's crypto/ed25519 says %v", i, errs[i], std)
		}
		if errs[i] != nil {
			bad++
		}
	}
	if bad == 0 {
		t.Fatal("no bad signature was found")
	}
}

// TestBatchAllGood checks the fast path (the batch equation holds) and a
// batch of one bad signature alone.
func TestBatchAllGood(t *testing.T) {
	id, _ := Generate()
	b := NewBatch(64)
	for i := range 64 {
		msg := fmt.Appendf(nil, "m%d", i)
		sig, _ := id.Sign(DomainProposal, msg)
		b.Add(id.PublicKey(), DomainProposal, msg, sig)
	}
	for i, err := range b.Verify() {
		if err != nil {
			t.Fatalf("signature %d: %v", i, err)
		}
	}
	one := NewBatch(1)
	sig, _ := id.Sign(DomainProposal, []byte("x"))
	one.Add(id.PublicKey(), DomainProposal, []byte("y"), sig)
	if errs := one.Verify(); !errors.Is(errs[0], ErrBadSignature) {
		t.Fatalf("a bad signature alone: %v", errs[0])
	}
	if errs := NewBatch(0).Verify(); len(errs) != 0 {
		t.Fatalf("empty batch: %v", errs)
	}
}
