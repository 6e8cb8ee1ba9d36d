package ipns

import (
	"fmt"
	"strings"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multibase"
	"github.com/multiformats/go-multihash"
)

const (
	// Namespace is the DHT record namespace of IPNS records: the name to
	// register the Validator under.
	Namespace = "ipns"

	// NamespacePrefix starts every IPNS routing key and /ipns/ path.
	NamespacePrefix = "/ipns/"

	// libp2pKeyCodec is the multicodec of a CID naming a libp2p public key.
	libp2pKeyCodec = 0x72

	// maxNameLength bounds what ParseName decodes (base58 decoding is
	// quadratic). The longest real name, an identity-hashed key written
	// in base2, is under 400 characters.
	maxNameLength = 1024
)

// Name is an IPNS name: the multihash of a libp2p public key, which is
// also the binary form of the key owner's peer ID. For Ed25519 and
// secp256k1 keys the multihash is an identity hash, so the key itself is
// in the name; for larger keys (RSA, ECDSA) it is a SHA-256 of the key.
//
// The zero Name is not a valid name. Names are comparable with ==.
type Name struct {
	mh string // binary multihash
}

// NameFromPeer returns the name of the key behind a peer ID.
func NameFromPeer(id peer.ID) Name { return Name{mh: string(id)} }

// NameFromPublicKey returns the name of a public key.
func NameFromPublicKey(pk crypto.PubKey) (Name, error) {
	id, err := peer.IDFromPublicKey(pk)
	if err != nil {
		return Name{}, fmt.Errorf("%w: %w", ErrInvalidName, err)
	}
	return NameFromPeer(id), nil
}

// ParseName parses the written forms of a name: the CIDv1 with the
// libp2p-key codec in base36 ("k51...") or any other multibase (the base32
// "bafz..." form), or a legacy base58 peer ID ("12D3Koo...", "Qm...",
// "16Uiu2..."). A leading "/ipns/" is allowed.
func ParseName(s string) (Name, error) {
	s = strings.TrimPrefix(s, NamespacePrefix)
	if s == "" {
		return Name{}, fmt.Errorf("%w: empty name", ErrInvalidName)
	}
	if len(s) > maxNameLength {
		return Name{}, fmt.Errorf("%w: %d characters", ErrInvalidName, len(s))
	}
	// peer.Decode takes base58 peer IDs, and CIDs only with the
	// libp2p-key codec; the multihash is checked either way.
	id, err := peer.Decode(s)
	if err != nil {
		return Name{}, fmt.Errorf("%w: %q: %w", ErrInvalidName, s, err)
	}
	if err := checkMultihash([]byte(id)); err != nil {
		return Name{}, fmt.Errorf("%w: %q: %w", ErrInvalidName, s, err)
	}
	return NameFromPeer(id), nil
}

// NameFromRoutingKey parses a DHT key "/ipns/" + binary multihash.
func NameFromRoutingKey(key string) (Name, error) {
	rest, ok := strings.CutPrefix(key, NamespacePrefix)
	if !ok {
		return Name{}, fmt.Errorf("%w: routing key does not start with %q", ErrInvalidName, NamespacePrefix)
	}
	if err := checkMultihash([]byte(rest)); err != nil {
		return Name{}, fmt.Errorf("%w: routing key: %w", ErrInvalidName, err)
	}
	return Name{mh: rest}, nil
}

// checkMultihash accepts the multihashes a libp2p key can be named by:
// the identity hash (the key inlined, as for Ed25519) and SHA2-256 (a
// hash of a larger key). Any other hash names no key.
func checkMultihash(b []byte) error {
	// Cast checks b is exactly one well-formed multihash.
	m, err := multihash.Cast(b)
	if err != nil {
		return err
	}
	d, err := multihash.Decode(m)
	if err != nil {
		return err
	}
	switch {
	case d.Code == multihash.IDENTITY && d.Length > 0:
	case d.Code == multihash.SHA2_256 && d.Length == 32:
	default:
		return fmt.Errorf("multihash type %#x of %d bytes names no libp2p key", d.Code, d.Length)
	}
	return nil
}

// String returns the name as a CIDv1 (libp2p-key codec) in base36, the
// "k51..." form users see. The zero Name is "".
func (n Name) String() string {
	if n.mh == "" {
		return ""
	}
	s, err := n.Cid().StringOfBase(multibase.Base36)
	if err != nil {
		panic(fmt.Sprintf("ipns: base36 encoding failed: %v", err)) // base36 is always known
	}
	return s
}

// Cid returns the name as a CIDv1 with the libp2p-key codec.
func (n Name) Cid() cid.Cid {
	return cid.NewCidV1(libp2pKeyCodec, multihash.Multihash(n.mh))
}

// Peer returns the peer ID the name is made of.
func (n Name) Peer() peer.ID { return peer.ID(n.mh) }

// RoutingKey returns the DHT key of the name's records: "/ipns/" followed
// by the binary multihash (not printable).
func (n Name) RoutingKey() string { return NamespacePrefix + n.mh }

// IsZero reports whether n is the zero Name.
func (n Name) IsZero() bool { return n.mh == "" }
