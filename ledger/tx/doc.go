// Package tx holds the ledger's transaction messages and the rules that
// tie them together, transport-agnostic: every message has Marshal and a
// Decode/Parse function over canonical dag-cbor (package codec).
//
// The flow (execute, order, validate):
//
//	sp, _ := tx.NewProposal(client, "cars", "docs", "put", []string{"k", `{"a":1}`})
//	// each endorser: Endorse(sp) -> *ProposalResponse (a signed Payload)
//	t, _ := tx.Assemble(sp, responses)   // every payload must be the same bytes
//	b, _ := t.Marshal()                  // submitted to the orderer, cut into blocks
//	p, _ := tx.Parse(b)                  // at validation: structure checked, TxID known
//
// A proposal's TxID is the hex SHA-256 of its nonce followed by the
// creator's public key, so a client cannot reuse a TxID without reusing its
// nonce, and a replayed transaction is caught as DUPLICATE_TXID.
//
// Signatures: the creator signs the proposal bytes
// (identity.DomainProposal); each endorser signs the payload bytes
// (identity.DomainEndorsement), which hold the hash of the proposal, the
// chaincode's result and its read/write set: the keys read with their
// versions (nil when absent), the rich and range queries run with the
// Merkle hash of their results, and the writes. Parse checks structure
// only; signatures are checked by package validate.
package tx
