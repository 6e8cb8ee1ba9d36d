package ipns

import (
	"errors"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multibase"
	"github.com/multiformats/go-multihash"
)

func TestNameForms(t *testing.T) {
	for _, typ := range []int{crypto.Ed25519, crypto.Secp256k1, crypto.ECDSA} {
		sk := newKey(t, typ)
		id, err := peer.IDFromPrivateKey(sk)
		if err != nil {
			t.Fatal(err)
		}
		n := NameFromPeer(id)
		if n.Peer() != id || n.IsZero() {
			t.Fatal("Peer() lost the ID")
		}
		s := n.String()
		if !strings.HasPrefix(s, "k") {
			t.Errorf("%s: not base36", s)
		}
		c, err := cid.Decode(s)
		if err != nil || c.Version() != 1 || c.Type() != 0x72 || string(c.Hash()) != string(id) {
			t.Errorf("%s: not a CIDv1 libp2p-key of the peer ID (%v)", s, err)
		}
		b32, _ := n.Cid().StringOfBase(multibase.Base32)
		b2, _ := n.Cid().StringOfBase(multibase.Base2) // the longest form
		for _, form := range []string{s, "/ipns/" + s, b32, b2, strings.ToUpper(s[1:]) /* no prefix: invalid */, id.String()} {
			got, err := ParseName(form)
			if form == strings.ToUpper(s[1:]) {
				if err == nil {
					t.Errorf("ParseName(%q) accepted", form)
				}
				continue
			}
			if err != nil || got != n {
				t.Errorf("ParseName(%q) = %v, %v; want %v", form, got, err, n)
			}
		}
		got, err := NameFromRoutingKey(n.RoutingKey())
		if err != nil || got != n {
			t.Errorf("routing key round trip: %v, %v", got, err)
		}
		if n.RoutingKey() != "/ipns/"+string(id) {
			t.Error("routing key is not /ipns/ + binary multihash")
		}
	}
	if s := (Name{}).String(); s != "" {
		t.Errorf("zero Name prints %q", s)
	}
}

func TestParseNameKnownForms(t *testing.T) {
	// The same Ed25519 key in its three written forms (fixedKey).
	const (
		k51  = "k51qzi5uqu5dh0hmqwzu47an7qt7e1h5lyer5kjjntgl9e4qwb07kctxsovmdu"
		peer = "12D3KooWC4T1AXU2s2YBgGJ2FeaYVtsKoHZWJeubnWe9SnuSE7Zb"
	)
	n := nameOf(t, fixedKey(t))
	if n.String() != k51 {
		t.Fatalf("name %s", n)
	}
	if n.Peer().String() != peer {
		t.Fatalf("peer ID %s", n.Peer())
	}
	for _, s := range []string{k51, peer, n.Cid().String()} {
		got, err := ParseName(s)
		if err != nil || got != n {
			t.Errorf("ParseName(%q) = %v, %v", s, got, err)
		}
	}
	if !strings.HasPrefix(n.Cid().String(), "bafz") {
		t.Errorf("base32 form %s", n.Cid())
	}
}

func TestParseNameRejects(t *testing.T) {
	for _, s := range []string{
		"",
		"/ipns/",
		"not a name",
		"bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi",   // dag-pb CID, not libp2p-key
		"k51qzi5uqu5dh0hmqwzu47an7qt7e1h5lyer5kjjntgl9e4qwb07kctxsovmd", // cut short
		"12D3KooWC4T1AXU2s2YBgGJ2FeaYVtsKoHZWJeubnWe9SnuSE7Z",           // cut short
		"example.org", // a DNSLink name is not a key name
		"Qm" + strings.Repeat("z", maxNameLength),
	} {
		if n, err := ParseName(s); !errors.Is(err, ErrInvalidName) {
			t.Errorf("ParseName(%q) = %v, %v; want ErrInvalidName", s, n, err)
		}
	}
	// A libp2p-key CID, or a routing key, whose multihash is neither
	// identity nor SHA2-256 names no key.
	for _, code := range []uint64{multihash.SHA2_512, multihash.SHA3_256, multihash.BLAKE3} {
		m, err := multihash.Sum([]byte("key"), code, -1)
		if err != nil {
			t.Fatal(err)
		}
		s := cid.NewCidV1(0x72, m).String()
		if n, err := ParseName(s); !errors.Is(err, ErrInvalidName) {
			t.Errorf("ParseName(%q) = %v, %v; want ErrInvalidName", s, n, err)
		}
		if n, err := NameFromRoutingKey(NamespacePrefix + string(m)); !errors.Is(err, ErrInvalidName) {
			t.Errorf("NameFromRoutingKey(%x) = %v, %v; want ErrInvalidName", m, n, err)
		}
	}
	short, _ := multihash.Encode(make([]byte, 20), multihash.SHA2_256)
	if _, err := NameFromRoutingKey(NamespacePrefix + string(short)); !errors.Is(err, ErrInvalidName) {
		t.Errorf("truncated SHA2-256 routing key: err = %v", err)
	}
}
