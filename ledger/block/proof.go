package block

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/ipfs/go-cid"

	"node/ledger/codec"
	"node/ledger/merkle"
	"node/ledger/tx"
)

// ErrBadProof is wrapped by every proof verification failure.
var ErrBadProof = errors.New("proof does not verify")

// Proof shows that a transaction is in a channel's ledger whose head is a
// given digest: the transaction's bytes, its Merkle audit path to the
// txRoot of its block, and the headers from that block to the head, each
// linking the previous one by CID. It is JSON (byte fields in base64), so
// `node ledger proof` can write it to a file and verify-proof read it back.
type Proof struct {
	Channel   string   `json:"channel"`
	TxID      string   `json:"txid"`
	Block     uint64   `json:"block"`
	Index     int      `json:"index"`
	Tx        []byte   `json:"tx"`
	AuditPath [][]byte `json:"auditPath"`
	// Headers are the encoded block headers from the transaction's block
	// (first) to the head (last).
	Headers [][]byte `json:"headers"`
	Head    string   `json:"head"`
}

// Verified is what a proof establishes.
type Verified struct {
	Channel string
	TxID    string
	Block   uint64
	Index   int
	Head    cid.Cid
	Height  uint64 // the head's number + 1
	Tx      *tx.Parsed
}

// VerifyProof checks p offline against digest, the CID of a head block the
// verifier trusts. Every block signature on the way must also verify
// (who may sign is a question for whoever knows the channel config).
func VerifyProof(p *Proof, digest cid.Cid) (*Verified, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrBadProof, fmt.Sprintf(format, args...))
	}
	if len(p.Headers) == 0 {
		return nil, bad("no block headers")
	}
	parsed, err := tx.Parse(p.Tx)
	if err != nil {
		return nil, bad("transaction: %v", err)
	}
	if parsed.TxID != p.TxID {
		return nil, bad("the transaction's ID is %s, not %s", parsed.TxID, p.TxID)
	}
	var prev *Block
	var prevCID cid.Cid
	for i, hb := range p.Headers {
		b, err := Decode(hb)
		if err != nil {
			return nil, bad("header %d: %v", i, err)
		}
		if err := b.VerifySignature(); err != nil {
			return nil, bad("header %d: %v", i, err)
		}
		if b.Channel != p.Channel {
			return nil, bad("header %d is of channel %q, not %q", i, b.Channel, p.Channel)
		}
		if i == 0 {
			if b.Number != p.Block {
				return nil, bad("first header is block %d, not %d", b.Number, p.Block)
			}
			if b.TxCount == 0 {
				return nil, bad("block %d has no transactions", b.Number)
			}
			if err := merkle.VerifyPath(merkle.LeafHash(p.Tx), p.Index, b.TxCount, p.AuditPath, b.TxRoot); err != nil {
				return nil, bad("inclusion in block %d: %v", b.Number, err)
			}
		} else {
			if b.Number != prev.Number+1 || !b.Prev.Equals(prevCID) {
				return nil, bad("header %d (block %d) does not link block %d", i, b.Number, prev.Number)
			}
		}
		prev, prevCID = b, codec.CIDOf(hb)
	}
	if !prevCID.Equals(digest) {
		return nil, bad("the chain ends at %s, not at the digest %s", prevCID, digest)
	}
	if p.Head != "" && p.Head != digest.String() {
		return nil, bad("the proof names head %s, not %s", p.Head, digest)
	}
	return &Verified{Channel: p.Channel, TxID: p.TxID, Block: p.Block, Index: p.Index,
		Head: digest, Height: prev.Number + 1, Tx: parsed}, nil
}

// NewProof assembles a proof from a block's transactions (leaf bytes), the
// transaction's index and the headers from its block to the head.
func NewProof(channel string, blockNum uint64, txs [][]byte, index int, headers [][]byte) (*Proof, error) {
	if index < 0 || index >= len(txs) {
		return nil, fmt.Errorf("transaction %d out of range of block %d", index, blockNum)
	}
	parsed, err := tx.Parse(txs[index])
	if err != nil {
		return nil, err
	}
	path, err := merkle.Path(txs, index)
	if err != nil {
		return nil, err
	}
	if len(headers) == 0 {
		return nil, errors.New("no headers")
	}
	head := codec.CIDOf(headers[len(headers)-1])
	return &Proof{Channel: channel, TxID: parsed.TxID, Block: blockNum, Index: index,
		Tx: bytes.Clone(txs[index]), AuditPath: path, Headers: headers, Head: head.String()}, nil
}
