package identity

import (
	"errors"
	"testing"
)

func TestSignVerify(t *testing.T) {
	a, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Generate()
	msg := []byte("hello")
	sig, err := a.Sign(DomainProposal, msg)
	if err != nil {
		t.Fatal(err)
	}
	if err := Verify(a.PublicKey(), DomainProposal, msg, sig); err != nil {
		t.Fatal(err)
	}
	if err := Verify(a.PublicKey(), DomainEndorsement, msg, sig); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("other domain: %v", err)
	}
	if err := Verify(b.PublicKey(), DomainProposal, msg, sig); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("other key: %v", err)
	}
	if err := Verify([]byte{1, 2, 3}, DomainProposal, msg, sig); !errors.Is(err, ErrBadKey) {
		t.Fatalf("bad key: %v", err)
	}
	id, err := PeerIDOf(a.PublicKey())
	if err != nil || id != a.PeerID() {
		t.Fatalf("PeerIDOf = %s, %v; want %s", id, err, a.PeerID())
	}
}
