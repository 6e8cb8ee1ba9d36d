// Package identity is who signs in the ledger: libp2p key pairs (Ed25519 by
// default), named by their peer IDs, and signatures with a domain tag so a
// signature made for one purpose (a proposal, an endorsement, a block)
// never verifies for another.
//
//	id, _ := identity.Generate()            // or identity.FromKey(priv)
//	sig, _ := id.Sign(identity.DomainProposal, msg)
//	err := identity.Verify(id.PublicKey(), identity.DomainProposal, msg, sig)
//
// Public keys travel as libp2p's marshalled public key bytes
// (crypto.MarshalPublicKey); Verify keeps a small cache of parsed keys
// (Ed25519 keys expanded into precomputed tables), so checking many
// signatures by the same members is cheap. Verify is safe for concurrent
// use. Batch checks many signatures at once (Ed25519 batch verification),
// with the same answers as Verify.
//
// Ed25519 signatures are checked with curve25519-voi under RFC 8032's
// cofactored equation with FIPS 186-5's encoding checks: it differs from
// Go's crypto/ed25519 (cofactorless, non-canonical keys accepted) only for
// keys and signatures crafted with small-order components or non-canonical
// encodings, which no honest signer makes; it is the only rule under which
// batch and single verification agree.
package identity

import (
	"crypto/rand"
	"errors"
	"fmt"
	"sync"

	"github.com/libp2p/go-libp2p/core/crypto"
	pb "github.com/libp2p/go-libp2p/core/crypto/pb"
	"github.com/libp2p/go-libp2p/core/peer"
	voi "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
)

// Domains separate what a signature is for.
const (
	DomainProposal    = "node-ledger/proposal/v1"
	DomainEndorsement = "node-ledger/endorsement/v1"
	DomainBlock       = "node-ledger/block/v1"
)

var (
	// ErrBadSignature is returned when a signature does not verify.
	ErrBadSignature = errors.New("signature does not verify")
	// ErrBadKey is returned when public key bytes do not parse.
	ErrBadKey = errors.New("malformed public key")
)

// Identity is a key pair that signs ledger messages.
type Identity struct {
	priv crypto.PrivKey
	pub  []byte
	id   peer.ID
}

// Generate makes a new Ed25519 identity.
func Generate() (*Identity, error) {
	priv, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating a key: %w", err)
	}
	return FromKey(priv)
}

// FromKey wraps a private key (the node's libp2p key, for example).
func FromKey(priv crypto.PrivKey) (*Identity, error) {
	pub, err := crypto.MarshalPublicKey(priv.GetPublic())
	if err != nil {
		return nil, fmt.Errorf("marshalling the public key: %w", err)
	}
	id, err := peer.IDFromPrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("deriving the peer ID: %w", err)
	}
	return &Identity{priv: priv, pub: pub, id: id}, nil
}

// PeerID is the identity's libp2p peer ID.
func (i *Identity) PeerID() peer.ID { return i.id }

// PublicKey is the marshalled public key (what messages carry).
func (i *Identity) PublicKey() []byte { return i.pub }

// PrivateKey is the private key.
func (i *Identity) PrivateKey() crypto.PrivKey { return i.priv }

// Sign signs msg under domain.
func (i *Identity) Sign(domain string, msg []byte) ([]byte, error) {
	sig, err := i.priv.Sign(tagged(domain, msg))
	if err != nil {
		return nil, fmt.Errorf("signing: %w", err)
	}
	return sig, nil
}

func tagged(domain string, msg []byte) []byte {
	b := make([]byte, 0, len(domain)+1+len(msg))
	b = append(b, domain...)
	b = append(b, 0)
	return append(b, msg...)
}

// keyCache maps marshalled public key bytes to the parsed key and peer ID.
var keyCache struct {
	mu   sync.RWMutex // guards m
	m    map[string]parsedKey
	size int
}

type parsedKey struct {
	key crypto.PubKey
	id  peer.ID
	// ed is the key expanded for batch verification (Ed25519 keys that
	// decompress); nil otherwise. Read-only once made.
	ed *voi.ExpandedPublicKey
}

const keyCacheMax = 4096

func parse(pub []byte) (parsedKey, error) {
	keyCache.mu.RLock()
	k, ok := keyCache.m[string(pub)]
	keyCache.mu.RUnlock()
	if ok {
		return k, nil
	}
	key, err := crypto.UnmarshalPublicKey(pub)
	if err != nil {
		return parsedKey{}, fmt.Errorf("%w: %w", ErrBadKey, err)
	}
	id, err := peer.IDFromPublicKey(key)
	if err != nil {
		return parsedKey{}, fmt.Errorf("%w: %w", ErrBadKey, err)
	}
	k = parsedKey{key: key, id: id}
	if key.Type() == pb.KeyType_Ed25519 {
		if raw, err := key.Raw(); err == nil {
			k.ed, _ = voi.NewExpandedPublicKey(raw) // nil: checked one by one, and refused
		}
	}
	keyCache.mu.Lock()
	if keyCache.m == nil || len(keyCache.m) >= keyCacheMax {
		keyCache.m = map[string]parsedKey{} // simple bound: start over
	}
	keyCache.m[string(pub)] = k
	keyCache.mu.Unlock()
	return k, nil
}

// PeerIDOf returns the peer ID of marshalled public key bytes.
func PeerIDOf(pub []byte) (peer.ID, error) {
	k, err := parse(pub)
	if err != nil {
		return "", err
	}
	return k.id, nil
}

// Verify checks sig over msg under domain by the key pub. Ed25519
// signatures are checked under the rule of RFC 8032's cofactored
// equation with FIPS 186-5's encoding checks (canonical A, R and S), the
// same rule as Batch's, so whether a signature is checked alone or in a
// batch never changes the answer.
func Verify(pub []byte, domain string, msg, sig []byte) error {
	k, err := parse(pub)
	if err != nil {
		return err
	}
	var ok bool
	if k.ed != nil {
		ok = voi.VerifyExpandedWithOptions(k.ed, tagged(domain, msg), sig, verifyOptions)
	} else {
		ok, err = k.key.Verify(tagged(domain, msg), sig)
	}
	if err != nil || !ok {
		return fmt.Errorf("%w (signer %s)", ErrBadSignature, k.id)
	}
	return nil
}
