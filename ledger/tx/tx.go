package tx

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/fxamacker/cbor/v2"

	"node/ledger/codec"
	"node/ledger/identity"
)

var (
	// ErrMalformed is wrapped when a message does not decode or its parts
	// do not agree (a BAD_PAYLOAD transaction).
	ErrMalformed = errors.New("malformed ledger message")
	// ErrMismatch is returned by Assemble when endorsers disagree.
	ErrMismatch = errors.New("endorsers returned different results")
)

// Limits on what a proposal may carry.
const (
	MaxArgs     = 64
	NonceSize   = 24
	MaxKeyBytes = 1024
)

// StatusOK is the payload status of a successful simulation.
const StatusOK = 200

// Proposal asks endorsers to run a chaincode function.
type Proposal struct {
	Channel   string   `cbor:"channel"`
	Chaincode string   `cbor:"chaincode"`
	Function  string   `cbor:"fn"`
	Args      []string `cbor:"args"`
	Creator   []byte   `cbor:"creator"` // marshalled libp2p public key
	Nonce     []byte   `cbor:"nonce"`
	Time      int64    `cbor:"time"` // unix nanoseconds, informative
}

// TxID is hex(SHA-256(nonce || creator)).
func (p *Proposal) TxID() string { return TxIDOf(p.Nonce, p.Creator) }

// TxIDOf computes a transaction ID.
func TxIDOf(nonce, creator []byte) string {
	h := sha256.New()
	h.Write(nonce)
	h.Write(creator)
	return hex.EncodeToString(h.Sum(nil))
}

// SignedProposal is a proposal and its creator's signature over the
// proposal bytes.
type SignedProposal struct {
	Proposal cbor.RawMessage `cbor:"proposal"`
	Sig      []byte          `cbor:"sig"`
}

// NewProposal builds and signs a proposal with a fresh nonce.
func NewProposal(creator *identity.Identity, channel, chaincode, fn string, args []string) (*SignedProposal, error) {
	nonce := make([]byte, NonceSize)
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("making a nonce: %w", err)
	}
	if args == nil {
		args = []string{}
	}
	p := &Proposal{Channel: channel, Chaincode: chaincode, Function: fn, Args: args,
		Creator: creator.PublicKey(), Nonce: nonce, Time: time.Now().UnixNano()}
	return SignProposal(creator, p)
}

// SignProposal encodes and signs p.
func SignProposal(creator *identity.Identity, p *Proposal) (*SignedProposal, error) {
	if err := p.check(); err != nil {
		return nil, err
	}
	b, err := codec.Marshal(p)
	if err != nil {
		return nil, err
	}
	sig, err := creator.Sign(identity.DomainProposal, b)
	if err != nil {
		return nil, err
	}
	return &SignedProposal{Proposal: b, Sig: sig}, nil
}

func (p *Proposal) check() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: proposal: %s", ErrMalformed, fmt.Sprintf(format, args...))
	}
	switch {
	case p.Channel == "":
		return bad("no channel")
	case p.Chaincode == "":
		return bad("no chaincode")
	case p.Function == "":
		return bad("no function")
	case len(p.Args) > MaxArgs:
		return bad("%d arguments, more than %d", len(p.Args), MaxArgs)
	case len(p.Nonce) != NonceSize:
		return bad("nonce is %d bytes, not %d", len(p.Nonce), NonceSize)
	case len(p.Creator) == 0:
		return bad("no creator")
	}
	return nil
}

// Marshal encodes the signed proposal.
func (sp *SignedProposal) Marshal() ([]byte, error) { return codec.Marshal(sp) }

// Decode parses the proposal inside a signed proposal.
func (sp *SignedProposal) Decode() (*Proposal, error) {
	var p Proposal
	if err := codec.Unmarshal(sp.Proposal, &p); err != nil {
		return nil, fmt.Errorf("%w: proposal: %w", ErrMalformed, err)
	}
	if err := p.check(); err != nil {
		return nil, err
	}
	return &p, nil
}

// Verify checks the creator's signature.
func (sp *SignedProposal) Verify(p *Proposal) error {
	return identity.Verify(p.Creator, identity.DomainProposal, sp.Proposal, sp.Sig)
}

// DecodeSignedProposal parses a signed proposal.
func DecodeSignedProposal(b []byte) (*SignedProposal, error) {
	var sp SignedProposal
	if err := codec.Unmarshal(b, &sp); err != nil {
		return nil, fmt.Errorf("%w: signed proposal: %w", ErrMalformed, err)
	}
	return &sp, nil
}

// Version is where a key was last written: block number and transaction
// index in the block.
type Version struct {
	Block uint64 `cbor:"block" json:"block"`
	Tx    uint32 `cbor:"tx" json:"tx"`
}

// Less orders versions.
func (v Version) Less(o Version) bool {
	return v.Block < o.Block || (v.Block == o.Block && v.Tx < o.Tx)
}

// Read is a key read during simulation, with the version seen (nil when
// the key did not exist).
type Read struct {
	Key     string   `cbor:"key"`
	Version *Version `cbor:"version"`
}

// Query kinds in a read set.
const (
	QuerySQL      = "sql"
	QuerySelector = "selector"
	QueryRange    = "range"
)

// QueryRead is a rich or range query run during simulation: its text and
// the Merkle hash of its results (each result's key and version), so
// validation can re-run it and detect phantoms.
type QueryRead struct {
	Kind        string `cbor:"kind"`
	Query       string `cbor:"query"`
	ResultsHash []byte `cbor:"hash"`
	Count       int    `cbor:"count"`
}

// Write is a key written (or deleted) by the transaction.
type Write struct {
	Key    string `cbor:"key"`
	Value  []byte `cbor:"value"`
	Delete bool   `cbor:"delete"`
}

// RWSet is what a simulation read and wrote, for one chaincode.
type RWSet struct {
	Chaincode string      `cbor:"chaincode"`
	Reads     []Read      `cbor:"reads"`
	Queries   []QueryRead `cbor:"queries"`
	Writes    []Write     `cbor:"writes"`
}

// Payload is what endorsers sign: the proposal's hash and the result of
// simulating it.
type Payload struct {
	ProposalHash []byte `cbor:"proposalHash"`
	TxID         string `cbor:"txid"`
	Status       int    `cbor:"status"`
	Message      string `cbor:"message"`
	Result       []byte `cbor:"result"`
	RWSet        RWSet  `cbor:"rwset"`
}

// Endorsement is an endorser's signature over a payload.
type Endorsement struct {
	Endorser []byte `cbor:"endorser"` // marshalled public key
	Sig      []byte `cbor:"sig"`
}

// ProposalResponse is an endorser's answer to a proposal.
type ProposalResponse struct {
	Payload     cbor.RawMessage `cbor:"payload"`
	Endorsement Endorsement     `cbor:"endorsement"`
}

// NewProposalResponse encodes and signs a payload as endorser.
func NewProposalResponse(endorser *identity.Identity, p *Payload) (*ProposalResponse, error) {
	b, err := codec.Marshal(p)
	if err != nil {
		return nil, err
	}
	sig, err := endorser.Sign(identity.DomainEndorsement, b)
	if err != nil {
		return nil, err
	}
	return &ProposalResponse{Payload: b, Endorsement: Endorsement{Endorser: endorser.PublicKey(), Sig: sig}}, nil
}

// Marshal encodes the response.
func (r *ProposalResponse) Marshal() ([]byte, error) { return codec.Marshal(r) }

// DecodeProposalResponse parses a response.
func DecodeProposalResponse(b []byte) (*ProposalResponse, error) {
	var r ProposalResponse
	if err := codec.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%w: proposal response: %w", ErrMalformed, err)
	}
	return &r, nil
}

// DecodePayload parses a payload.
func DecodePayload(b []byte) (*Payload, error) {
	var p Payload
	if err := codec.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("%w: payload: %w", ErrMalformed, err)
	}
	return &p, nil
}

// Transaction is an endorsed proposal, as a client submits it for ordering.
type Transaction struct {
	Proposal     cbor.RawMessage `cbor:"proposal"`
	ProposalSig  []byte          `cbor:"proposalSig"`
	Payload      cbor.RawMessage `cbor:"payload"`
	Endorsements []Endorsement   `cbor:"endorsements"`
}

// Assemble builds a transaction from a signed proposal and endorsers'
// responses, which must all carry the same payload, of status OK, for
// that proposal. The endorsements' signatures are checked.
func Assemble(sp *SignedProposal, responses []*ProposalResponse) (*Transaction, error) {
	if len(responses) == 0 {
		return nil, fmt.Errorf("%w: no endorsements", ErrMalformed)
	}
	p, err := sp.Decode()
	if err != nil {
		return nil, err
	}
	first := responses[0].Payload
	pl, err := DecodePayload(first)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(sp.Proposal)
	if !bytes.Equal(pl.ProposalHash, sum[:]) || pl.TxID != p.TxID() {
		return nil, fmt.Errorf("%w: the endorsement is for another proposal", ErrMismatch)
	}
	if pl.Status != StatusOK {
		return nil, fmt.Errorf("chaincode failed (status %d): %s", pl.Status, pl.Message)
	}
	t := &Transaction{Proposal: sp.Proposal, ProposalSig: sp.Sig, Payload: first}
	for _, r := range responses {
		if !bytes.Equal(r.Payload, first) {
			return nil, ErrMismatch
		}
		if err := identity.Verify(r.Endorsement.Endorser, identity.DomainEndorsement, r.Payload, r.Endorsement.Sig); err != nil {
			return nil, fmt.Errorf("endorsement: %w", err)
		}
		t.Endorsements = append(t.Endorsements, r.Endorsement)
	}
	return t, nil
}

// Marshal encodes the transaction.
func (t *Transaction) Marshal() ([]byte, error) { return codec.Marshal(t) }

// Parsed is a decoded transaction with its parts decoded and cross-checked.
type Parsed struct {
	Tx       *Transaction
	Proposal *Proposal
	Payload  *Payload
	TxID     string
}

// Parse decodes a transaction and checks that its parts agree: the payload
// is for this proposal (hash and TxID), for the proposal's chaincode, and
// the writes name keys. Signatures are not checked here.
func Parse(b []byte) (*Parsed, error) {
	var t Transaction
	if err := codec.Unmarshal(b, &t); err != nil {
		return nil, fmt.Errorf("%w: transaction: %w", ErrMalformed, err)
	}
	sp := SignedProposal{Proposal: t.Proposal, Sig: t.ProposalSig}
	p, err := sp.Decode()
	if err != nil {
		return nil, err
	}
	pl, err := DecodePayload(t.Payload)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(t.Proposal)
	if !bytes.Equal(pl.ProposalHash, sum[:]) {
		return nil, fmt.Errorf("%w: the payload is for another proposal", ErrMalformed)
	}
	id := p.TxID()
	if pl.TxID != id {
		return nil, fmt.Errorf("%w: payload TxID %q, proposal TxID %q", ErrMalformed, pl.TxID, id)
	}
	if pl.RWSet.Chaincode != p.Chaincode {
		return nil, fmt.Errorf("%w: read/write set of chaincode %q for a proposal to %q", ErrMalformed, pl.RWSet.Chaincode, p.Chaincode)
	}
	if len(t.Endorsements) == 0 {
		return nil, fmt.Errorf("%w: no endorsements", ErrMalformed)
	}
	for _, w := range pl.RWSet.Writes {
		if w.Key == "" || len(w.Key) > MaxKeyBytes {
			return nil, fmt.Errorf("%w: a write with an empty or over-long key", ErrMalformed)
		}
	}
	return &Parsed{Tx: &t, Proposal: p, Payload: pl, TxID: id}, nil
}
