// Package block is the ledger's block format: a chain of dag-cbor blocks
// linked by CID, each signed by the orderer that cut it.
//
// A ledger block is two IPLD blocks, both dag-cbor with sha2-256 CIDv1:
//
//	Block (the header, small):            Body:
//	  channel  string                       txs [ transaction, ... ]
//	  number   uint                         (each a dag-cbor map, tx.Transaction)
//	  prev     CID of the previous Block (null in genesis)
//	  txRoot   RFC 6962 Merkle root over the transactions' bytes
//	  txCount  uint
//	  body     CID of the Body (null when there are no transactions)
//	  config   the channel config (genesis only)
//	  time     unix nanoseconds
//	  signer   the orderer's public key (an admin's in genesis)
//	  sig      signature over the Block encoded with an empty sig
//
// The header carries the Merkle root and links the body by CID, so the
// chain of header CIDs is a digest of all history and a proof that a
// transaction is in the ledger is short: the audit path to txRoot plus the
// headers from its block to the head (Proof, VerifyProof), never whole
// blocks of transactions.
//
// Build and Genesis make blocks; Decode and DecodeBody parse them
// strictly (canonical dag-cbor only); Check verifies a header against its
// body; VerifySignature checks the signer's signature (that the signer may
// sign for the channel is the caller's question).
package block

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/ipfs/go-cid"

	"node/ledger/codec"
	"node/ledger/config"
	"node/ledger/identity"
	"node/ledger/merkle"
)

var (
	// ErrMalformed is wrapped when a block or body does not decode or does
	// not agree with itself.
	ErrMalformed = errors.New("malformed ledger block")
	// ErrBadBody is returned when a body does not match its header.
	ErrBadBody = errors.New("block body does not match the header")
)

// Block is a ledger block's header.
type Block struct {
	Channel string         `cbor:"channel"`
	Number  uint64         `cbor:"number"`
	Prev    codec.Link     `cbor:"prev"`
	TxRoot  []byte         `cbor:"txRoot"`
	TxCount int            `cbor:"txCount"`
	Body    codec.Link     `cbor:"body"`
	Config  *config.Config `cbor:"config,omitempty"`
	Time    int64          `cbor:"time"`
	Signer  []byte         `cbor:"signer"`
	Sig     []byte         `cbor:"sig"`
}

// Body holds a block's transactions.
type Body struct {
	Txs []cbor.RawMessage `cbor:"txs"`
}

// Built is a new block with its encodings and CIDs, ready to store.
type Built struct {
	Block    *Block
	Bytes    []byte // the header's encoding
	CID      cid.Cid
	Body     []byte // nil when the block has no transactions
	BodyCID  cid.Cid
	Txs      [][]byte // the transactions, as given to Build
	TxHashes [][]byte // leaf hashes, for proofs
}

// Build cuts block number with the given transactions after prev, signed
// by signer at now.
func Build(channel string, number uint64, prev cid.Cid, txs [][]byte, now time.Time, signer *identity.Identity) (*Built, error) {
	if number == 0 {
		return nil, fmt.Errorf("%w: block 0 is the genesis block: use Genesis", ErrMalformed)
	}
	if !prev.Defined() {
		return nil, fmt.Errorf("%w: block %d needs the previous block's CID", ErrMalformed, number)
	}
	b := &Block{Channel: channel, Number: number, Prev: codec.L(prev), TxCount: len(txs), Time: now.UnixNano()}
	out := &Built{Block: b, Txs: txs}
	raws := make([]cbor.RawMessage, len(txs))
	out.TxHashes = make([][]byte, len(txs))
	for i, t := range txs {
		raws[i] = t
		out.TxHashes[i] = merkle.LeafHash(t)
	}
	b.TxRoot = merkle.RootOfHashes(out.TxHashes)
	if len(txs) > 0 {
		body, err := codec.Marshal(&Body{Txs: raws})
		if err != nil {
			return nil, fmt.Errorf("%w: encoding the body: %w", ErrMalformed, err)
		}
		out.Body = body
		out.BodyCID = codec.CIDOf(body)
		b.Body = codec.L(out.BodyCID)
	}
	return out, out.sign(signer)
}

// Genesis makes block 0 holding cfg, signed by signer (an admin or orderer
// of the channel).
func Genesis(cfg *config.Config, now time.Time, signer *identity.Identity) (*Built, error) {
	b := &Block{Channel: cfg.Channel, Number: 0, TxRoot: merkle.RootOfHashes(nil), Config: cfg, Time: now.UnixNano()}
	out := &Built{Block: b}
	return out, out.sign(signer)
}

func (out *Built) sign(signer *identity.Identity) error {
	b := out.Block
	b.Signer = signer.PublicKey()
	b.Sig = nil
	msg, err := codec.Marshal(b)
	if err != nil {
		return fmt.Errorf("%w: encoding: %w", ErrMalformed, err)
	}
	sig, err := signer.Sign(identity.DomainBlock, msg)
	if err != nil {
		return err
	}
	b.Sig = sig
	out.Bytes, err = codec.Marshal(b)
	if err != nil {
		return fmt.Errorf("%w: encoding: %w", ErrMalformed, err)
	}
	out.CID = codec.CIDOf(out.Bytes)
	return nil
}

// Decode parses a block header.
func Decode(data []byte) (*Block, error) {
	var b Block
	if err := codec.Unmarshal(data, &b); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: block %d: %s", ErrMalformed, b.Number, fmt.Sprintf(format, args...))
	}
	if len(b.TxRoot) != merkle.Size {
		return nil, bad("txRoot is %d bytes", len(b.TxRoot))
	}
	if b.TxCount < 0 || (b.TxCount == 0) != !b.Body.Defined() {
		return nil, bad("txCount %d does not agree with the body link", b.TxCount)
	}
	if b.Number == 0 {
		if b.Prev.Defined() || b.Config == nil || b.TxCount != 0 {
			return nil, bad("a genesis block has no previous block, no transactions and a config")
		}
		if b.Config.Channel != b.Channel {
			return nil, bad("genesis config is for channel %q", b.Config.Channel)
		}
	} else if !b.Prev.Defined() || b.Config != nil {
		return nil, bad("a block after genesis links its previous block and has no config")
	}
	return &b, nil
}

// DecodeBody parses a block body.
func DecodeBody(data []byte) (*Body, error) {
	var b Body
	if err := codec.Unmarshal(data, &b); err != nil {
		return nil, fmt.Errorf("%w: body: %w", ErrMalformed, err)
	}
	return &b, nil
}

// SigningBytes is what the signer signed: the header with an empty sig.
func (b *Block) SigningBytes() []byte {
	c := *b
	c.Sig = nil
	return codec.MustMarshal(&c)
}

// VerifySignature checks the signer's signature over the header.
func (b *Block) VerifySignature() error {
	if err := identity.Verify(b.Signer, identity.DomainBlock, b.SigningBytes(), b.Sig); err != nil {
		return fmt.Errorf("block %d: %w", b.Number, err)
	}
	return nil
}

// Check verifies that body (nil for a block without transactions) belongs
// to the header: its CID is the body link and its Merkle root is txRoot.
// It returns the transactions' leaf hashes.
func (b *Block) Check(bodyBytes []byte, body *Body) ([][]byte, error) {
	if b.TxCount == 0 {
		if body != nil && len(body.Txs) > 0 {
			return nil, fmt.Errorf("%w: block %d has no transactions but a body came with it", ErrBadBody, b.Number)
		}
		return nil, nil
	}
	if body == nil {
		return nil, fmt.Errorf("%w: block %d: body missing", ErrBadBody, b.Number)
	}
	if err := codec.CheckCID(b.Body.Cid, bodyBytes); err != nil {
		return nil, fmt.Errorf("%w: block %d: %w", ErrBadBody, b.Number, err)
	}
	if len(body.Txs) != b.TxCount {
		return nil, fmt.Errorf("%w: block %d: %d transactions, header says %d", ErrBadBody, b.Number, len(body.Txs), b.TxCount)
	}
	hs := make([][]byte, len(body.Txs))
	for i, t := range body.Txs {
		hs[i] = merkle.LeafHash(t)
	}
	if !bytes.Equal(merkle.RootOfHashes(hs), b.TxRoot) {
		return nil, fmt.Errorf("%w: block %d: Merkle root differs", ErrBadBody, b.Number)
	}
	return hs, nil
}

// Marshal encodes the header.
func (b *Block) Marshal() ([]byte, error) { return codec.Marshal(b) }

// Timestamp is the block's time.
func (b *Block) Timestamp() time.Time { return time.Unix(0, b.Time) }
