package message

import (
	"errors"
	"fmt"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/protocol"

	"node/blockstore"
)

// Limits on one message. A received message over any of them is refused
// with an error wrapping ErrInvalid; Marshal refuses to build one.
const (
	// MaxMessageSize is the largest encoded message (without its length
	// prefix): 4 MiB, the limit of the Bitswap spec.
	MaxMessageSize = 4 << 20
	// MaxEntries bounds the want-list entries of one message. A client
	// rarely has more than a few hundred wants in flight; boxo's server
	// queues at most 1024 per peer.
	MaxEntries = 8192
	// MaxPresences bounds the HAVE/DONT_HAVE answers of one message.
	MaxPresences = 8192
	// MaxBlocks bounds the blocks of one message (both the 1.0.0 field and
	// the payload field), so a message of empty blocks cannot make the
	// receiver hash and allocate a CID a million times.
	MaxBlocks = 8192
)

var (
	// ErrInvalid is wrapped by every error about a malformed, oversized
	// or unacceptable message, received or about to be sent.
	ErrInvalid = errors.New("invalid bitswap message")
	// ErrTooLarge is wrapped (with ErrInvalid) when a message's length is
	// over MaxMessageSize.
	ErrTooLarge = fmt.Errorf("bitswap message larger than the %d-byte limit", MaxMessageSize)
	// ErrNotRepresentable is wrapped by the *NotRepresentableError that
	// Marshal returns when some wants or blocks cannot be carried by the
	// peer's protocol version (only 1.0.0 has such limits).
	ErrNotRepresentable = errors.New("not representable in this bitswap version")
)

// Version is a Bitswap protocol version.
type Version uint8

// The protocol versions, oldest first. The zero Version is invalid.
const (
	V100 Version = iota + 1 // /ipfs/bitswap/1.0.0 and /ipfs/bitswap: blocks as raw bytes, CIDv0 only
	V110                    // /ipfs/bitswap/1.1.0: blocks with a CID prefix, any CID
	V120                    // /ipfs/bitswap/1.2.0: want-have, send-dont-have, HAVE/DONT_HAVE, pending bytes
)

// Protocol IDs.
const (
	ProtocolBitswap       protocol.ID = "/ipfs/bitswap/1.2.0"
	ProtocolBitswap110    protocol.ID = "/ipfs/bitswap/1.1.0"
	ProtocolBitswap100    protocol.ID = "/ipfs/bitswap/1.0.0"
	ProtocolBitswapNoVers protocol.ID = "/ipfs/bitswap" // the same as 1.0.0
)

// Protocols lists the protocol IDs this package speaks, most preferred
// first: the order to offer when opening a stream and to register handlers.
var Protocols = []protocol.ID{ProtocolBitswap, ProtocolBitswap110, ProtocolBitswap100, ProtocolBitswapNoVers}

// VersionOf returns the version a negotiated protocol ID speaks, and false
// for an ID that is not a Bitswap protocol.
func VersionOf(id protocol.ID) (Version, bool) {
	switch id {
	case ProtocolBitswap:
		return V120, true
	case ProtocolBitswap110:
		return V110, true
	case ProtocolBitswap100, ProtocolBitswapNoVers:
		return V100, true
	}
	return 0, false
}

// ID returns the protocol ID of v (1.0.0 for V100), or "" for an invalid v.
func (v Version) ID() protocol.ID {
	switch v {
	case V120:
		return ProtocolBitswap
	case V110:
		return ProtocolBitswap110
	case V100:
		return ProtocolBitswap100
	}
	return ""
}

// Valid reports whether v is one of V100, V110, V120.
func (v Version) Valid() bool { return v >= V100 && v <= V120 }

// SupportsHave reports whether peers on v understand want-have,
// send-dont-have, HAVE/DONT_HAVE answers and pending bytes (1.2.0 only).
func (v Version) SupportsHave() bool { return v == V120 }

func (v Version) String() string {
	switch v {
	case V120:
		return "1.2.0"
	case V110:
		return "1.1.0"
	case V100:
		return "1.0.0"
	}
	return fmt.Sprintf("invalid bitswap version %d", uint8(v))
}

// Carries reports whether a want or a block for c can be sent to a peer on
// v. Version 1.0.0 names everything by CIDv0 and sends blocks as bare
// bytes that the receiver hashes with sha2-256, so it carries only CIDs
// whose multihash is a full sha2-256 digest (CIDv0, or a CIDv1 of any
// codec with that multihash: the peer gets the same multihash under
// CIDv0). Later versions carry every CID.
func (v Version) Carries(c cid.Cid) bool {
	if v != V100 {
		return true
	}
	_, ok := asV0(c)
	return ok
}

// WantType says what a want-list entry asks for.
type WantType int32

const (
	WantBlock WantType = 0 // send the block
	WantHave  WantType = 1 // say whether you have it (1.2.0)
)

func (t WantType) String() string {
	switch t {
	case WantBlock:
		return "want-block"
	case WantHave:
		return "want-have"
	}
	return fmt.Sprintf("WantType(%d)", int32(t))
}

// PresenceType is the answer of a block presence.
type PresenceType int32

const (
	Have     PresenceType = 0 // the sender has the block
	DontHave PresenceType = 1 // the sender does not have it
)

func (t PresenceType) String() string {
	switch t {
	case Have:
		return "HAVE"
	case DontHave:
		return "DONT_HAVE"
	}
	return fmt.Sprintf("PresenceType(%d)", int32(t))
}

// Entry is one want-list entry: a want, or the cancel of one.
type Entry struct {
	CID          cid.Cid
	Priority     int32 // higher first
	Cancel       bool  // revokes the sender's want for CID
	WantType     WantType
	SendDontHave bool // answer DONT_HAVE when the block is not there (1.2.0)
}

// Presence is a HAVE or DONT_HAVE answer for a CID.
type Presence struct {
	CID  cid.Cid
	Type PresenceType
}

// Message is one Bitswap message. The order of each list is kept on the
// wire both ways; duplicates are neither merged nor refused.
type Message struct {
	Wantlist []Entry
	// Full marks Wantlist as the sender's complete want-list, replacing
	// what the receiver knew; otherwise it is a list of changes.
	Full bool
	// Blocks carry their CID: on receipt it is computed from the data (the
	// data is hashed with the function the sender's prefix names), so a
	// received block always hashes to its CID. Whether it is a block the
	// receiver asked for is the client's business.
	Blocks       []blockstore.Block
	Presences    []Presence
	PendingBytes int32 // bytes the sender still has queued for the receiver (1.2.0)
	// Hashed is set by Unmarshal: every block's CID was computed from its
	// data, so hashing it again proves nothing. A message built by hand
	// has it false, and its blocks must be verified before use.
	Hashed bool

	// body is the pooled buffer the message was read into (Reader with
	// Reserve set), which the blocks' data lie in; nil otherwise.
	body *[]byte
	kept bool // Keep was called: body never goes back to the pool
}

// Keep declares that something goes on using the message's block data
// after it has been handled (a caller was handed a block, a store kept
// it): Release then leaves the buffer to the garbage collector.
func (m *Message) Keep() { m.kept = true }

// Release hands the buffer a received message was read into back to the
// pool for the next message, unless Keep was called. The receiver calls
// it once it has handled the message; nothing may read the message's
// block data afterwards. A message that is never released costs only its
// allocation.
func (m *Message) Release() {
	if m.body != nil && !m.kept {
		bodies.Put(m.body)
	}
	m.body = nil
}

// Empty reports whether m carries nothing: no wants, blocks or presences.
func (m *Message) Empty() bool {
	return len(m.Wantlist) == 0 && len(m.Blocks) == 0 && len(m.Presences) == 0
}

// NotRepresentableError lists what Marshal left out of a message because
// the peer's version cannot carry it (see Version.Carries). The bytes
// Marshal returned with it are a valid message with everything else.
type NotRepresentableError struct {
	Version Version
	Wants   []cid.Cid // want-list entries left out
	Blocks  []cid.Cid // blocks left out
}

func (e *NotRepresentableError) Error() string {
	return fmt.Sprintf("bitswap %s carries only sha2-256 CIDs: %d wants and %d blocks left out of the message (first: %s)",
		e.Version, len(e.Wants), len(e.Blocks), e.first())
}

func (e *NotRepresentableError) first() cid.Cid {
	if len(e.Wants) > 0 {
		return e.Wants[0]
	}
	if len(e.Blocks) > 0 {
		return e.Blocks[0]
	}
	return cid.Undef
}

// Unwrap makes errors.Is(err, ErrNotRepresentable) true.
func (e *NotRepresentableError) Unwrap() error { return ErrNotRepresentable }
