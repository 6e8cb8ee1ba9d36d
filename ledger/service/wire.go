package service

import (
	"bufio"
	"errors"
	"fmt"
	"io"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/multiformats/go-varint"

	"node/ledger/codec"
	"node/ledger/config"
)

// ProtocolID is the ledger's libp2p protocol: one request and one response
// per stream, each a frame (unsigned varint length, then a canonical
// dag-cbor message).
const ProtocolID = protocol.ID("/node/ledger/1.0.0")

// ProtocolReuse is the same protocol with any number of requests on one
// stream, in turn: the asker sends a request frame, reads the answer's
// frame, and may send the next request or close the stream. Askers offer
// it first and fall back to ProtocolID; streams are kept open between
// requests, so a request costs no stream opening.
const ProtocolReuse = protocol.ID("/node/ledger/1.1.0")

// MaxFrame bounds a frame's payload: the largest dag-cbor message the
// ledger decodes (a transaction fits, since block cutting keeps every
// transaction under 2 MiB − 64 KiB).
const MaxFrame = codec.MaxMessageSize

// The operations of the protocol and who may ask for them.
const (
	// OpInfo asks a member for the channel's genesis CID and head (any
	// member may ask): how a node joins, and how a member that was away
	// learns the head.
	OpInfo = "info"
	// OpEndorse asks an endorser to simulate a signed proposal (Data) and
	// sign the result (clients only); the answer's Data is a
	// tx.ProposalResponse.
	OpEndorse = "endorse"
	// OpSubmit gives the orderer an endorsed transaction (Data) to order
	// (clients only).
	OpSubmit = "submit"
	// OpAnnounce tells a member the head moved (orderers only); Data is an
	// Info, which carries the newest blocks themselves (Blocks) when they
	// fit a frame. The member fetches the others through Bitswap.
	OpAnnounce = "announce"
)

// ErrMalformedMessage is wrapped by every decoding error of this protocol.
var ErrMalformedMessage = errors.New("malformed ledger protocol message")

// Request is what a client sends on a stream.
type Request struct {
	Op      string `cbor:"op"`
	Channel string `cbor:"channel"`
	Data    []byte `cbor:"data"`
}

// Status says how a request went.
type Status int

// The statuses of a Response.
const (
	StatusOK         Status = 0
	StatusDenied     Status = 1 // the asking peer lacks the role the operation needs
	StatusNoChannel  Status = 2 // the node has no such channel
	StatusBadRequest Status = 3 // the request or its data does not decode or is refused
	StatusFailed     Status = 4 // the operation failed (a closed orderer, a store error...)
	StatusChaincode  Status = 5 // the chaincode refused the proposal (any endorser would)
)

// Response is the answer on the same stream.
type Response struct {
	Status Status `cbor:"status"`
	Error  string `cbor:"error"`
	Data   []byte `cbor:"data"`
}

// Info is a channel's identity and head: the answer to OpInfo and the
// content of OpAnnounce. An OpInfo answer also lists the addresses the
// answering node knows for the channel's other members, so members that
// joined through the orderer can reach each other to endorse.
type Info struct {
	Genesis codec.Link `cbor:"genesis"`
	Head    codec.Link `cbor:"head"`
	Height  uint64     `cbor:"height"`
	Peers   []PeerAddr `cbor:"peers"`
	// Blocks (announcements only) are the blocks cut since the previous
	// announcement to this member, oldest first, or the newest of them
	// that fit in a frame: the member need not fetch them. The receiver
	// trusts nothing in them: each is kept under the CID its bytes hash
	// to, and used only when the chain from the head names that CID.
	Blocks []PushedBlock `cbor:"blocks,omitempty"`
}

// PushedBlock is a ledger block's header and body (nil when the block has
// no transactions), as stored.
type PushedBlock struct {
	Header []byte `cbor:"header"`
	Body   []byte `cbor:"body,omitempty"`
}

// PeerAddr is a peer's ID and multiaddrs, in binary.
type PeerAddr struct {
	ID    []byte   `cbor:"id"`
	Addrs [][]byte `cbor:"addrs"`
}

// Limits on the addresses an Info carries.
const (
	maxInfoPeers = 1024
	maxPeerAddrs = 8
	// maxPushedBlocks bounds the blocks one announcement carries.
	maxPushedBlocks = 16
)

// Marshal encodes the request.
func (r *Request) Marshal() ([]byte, error) { return codec.Marshal(r) }

// Marshal encodes the response.
func (r *Response) Marshal() ([]byte, error) { return codec.Marshal(r) }

// Marshal encodes the info.
func (i *Info) Marshal() ([]byte, error) { return codec.Marshal(i) }

// DecodeRequest parses and checks a request: a known operation and a
// valid channel name.
func DecodeRequest(b []byte) (*Request, error) {
	var r Request
	if err := codec.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%w: request: %w", ErrMalformedMessage, err)
	}
	switch r.Op {
	case OpInfo, OpEndorse, OpSubmit, OpAnnounce:
	default:
		return nil, fmt.Errorf("%w: unknown operation %q", ErrMalformedMessage, r.Op)
	}
	if !config.ValidName(r.Channel) {
		return nil, fmt.Errorf("%w: channel name %q", ErrMalformedMessage, r.Channel)
	}
	return &r, nil
}

// DecodeResponse parses a response.
func DecodeResponse(b []byte) (*Response, error) {
	var r Response
	if err := codec.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%w: response: %w", ErrMalformedMessage, err)
	}
	if r.Status < StatusOK || r.Status > StatusChaincode {
		return nil, fmt.Errorf("%w: response status %d", ErrMalformedMessage, r.Status)
	}
	return &r, nil
}

// DecodeInfo parses an Info: the genesis must be a ledger block CID, and
// so must the head unless the height is 0.
func DecodeInfo(b []byte) (*Info, error) {
	var i Info
	if err := codec.Unmarshal(b, &i); err != nil {
		return nil, fmt.Errorf("%w: info: %w", ErrMalformedMessage, err)
	}
	if !ledgerCID(i.Genesis.Cid) {
		return nil, fmt.Errorf("%w: info: genesis %s is not a ledger block CID", ErrMalformedMessage, i.Genesis.Cid)
	}
	if i.Height == 0 || !ledgerCID(i.Head.Cid) {
		return nil, fmt.Errorf("%w: info: head %s at height %d", ErrMalformedMessage, i.Head.Cid, i.Height)
	}
	if len(i.Peers) > maxInfoPeers {
		return nil, fmt.Errorf("%w: info: %d peers, over %d", ErrMalformedMessage, len(i.Peers), maxInfoPeers)
	}
	for _, p := range i.Peers {
		if len(p.Addrs) > maxPeerAddrs {
			return nil, fmt.Errorf("%w: info: %d addresses for one peer, over %d", ErrMalformedMessage, len(p.Addrs), maxPeerAddrs)
		}
	}
	if len(i.Blocks) > maxPushedBlocks {
		return nil, fmt.Errorf("%w: info: %d blocks, over %d", ErrMalformedMessage, len(i.Blocks), maxPushedBlocks)
	}
	for _, b := range i.Blocks {
		if len(b.Header) == 0 {
			return nil, fmt.Errorf("%w: info: a pushed block without a header", ErrMalformedMessage)
		}
	}
	return &i, nil
}

// ledgerCID reports whether c can name a ledger block: CIDv1, dag-cbor,
// sha2-256.
func ledgerCID(c cid.Cid) bool {
	if !c.Defined() || c.Version() != 1 {
		return false
	}
	p := c.Prefix()
	return p.Codec == codec.DagCBOR && p.MhType == 0x12 && p.MhLength == 32
}

// writeFrame writes one length-prefixed frame.
func writeFrame(w io.Writer, payload []byte) error {
	if len(payload) > MaxFrame {
		return fmt.Errorf("%w: %d-byte message, over the %d-byte limit", ErrMalformedMessage, len(payload), MaxFrame)
	}
	buf := append(varint.ToUvarint(uint64(len(payload))), payload...)
	_, err := w.Write(buf)
	return err
}

// readFrame reads one length-prefixed frame of at most MaxFrame bytes.
// The buffer grows with what arrives (64 KiB, then fourfold), so a peer
// that announces a large frame and sends nothing costs little: anyone may
// open a stream, members or not.
func readFrame(r *bufio.Reader) ([]byte, error) {
	n, err := varint.ReadUvarint(r)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("%w: frame length: %w", ErrMalformedMessage, err)
	}
	if n > MaxFrame {
		return nil, fmt.Errorf("%w: %d-byte frame, over the %d-byte limit", ErrMalformedMessage, n, MaxFrame)
	}
	b := make([]byte, 0, min(int(n), 64<<10))
	for len(b) < int(n) {
		if len(b) == cap(b) {
			grown := make([]byte, len(b), min(4*cap(b), int(n)))
			copy(grown, b)
			b = grown
		}
		k, err := io.ReadFull(r, b[len(b):cap(b)])
		b = b[:len(b)+k]
		if err != nil {
			return nil, fmt.Errorf("%w: frame of %d bytes cut short after %d: %w", ErrMalformedMessage, n, len(b), err)
		}
	}
	return b, nil
}
