// Package validate decides each transaction's fate in a block, in two
// stages:
//
//  1. Check (stateless, safe to run in parallel, and it is: CheckAll
//     spreads a block over the CPUs): the transaction decodes and its parts
//     agree, it is for this channel and a chaincode of it, the creator is a
//     client of the channel and signed the proposal, every endorsement
//     signature verifies, and the endorsing organisations satisfy the
//     endorsement policy.
//  2. Decide (against the state, in block order, inside the block's write
//     transaction so earlier valid transactions of the block are seen):
//     the TxID is new, every key read still has the version read, and
//     every rich or range query gives the same results hash when run
//     again.
//
// The codes are Fabric's: VALID, ENDORSEMENT_POLICY_FAILURE,
// MVCC_READ_CONFLICT, PHANTOM_READ_CONFLICT, BAD_SIGNATURE,
// DUPLICATE_TXID, plus BAD_PAYLOAD (does not decode or is inconsistent)
// and BAD_CREATOR (the creator is not a client of the channel).
package validate

import (
	"bytes"
	"errors"
	"fmt"
	"runtime"
	"sync"

	"node/ledger/chaincode"
	"node/ledger/config"
	"node/ledger/identity"
	"node/ledger/tx"
)

// Code is a transaction's validation code.
type Code int

// The codes. Their numbers are stored in the state database.
const (
	Valid Code = iota
	EndorsementPolicyFailure
	MVCCReadConflict
	PhantomReadConflict
	BadSignature
	DuplicateTxID
	BadPayload
	BadCreator
)

var names = []string{"VALID", "ENDORSEMENT_POLICY_FAILURE", "MVCC_READ_CONFLICT", "PHANTOM_READ_CONFLICT",
	"BAD_SIGNATURE", "DUPLICATE_TXID", "BAD_PAYLOAD", "BAD_CREATOR"}

func (c Code) String() string {
	if c >= 0 && int(c) < len(names) {
		return names[c]
	}
	return fmt.Sprintf("CODE_%d", int(c))
}

// MarshalText implements encoding.TextMarshaler.
func (c Code) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// Checked is a transaction after stage 1.
type Checked struct {
	Raw    []byte
	Parsed *tx.Parsed // nil when the bytes do not decode
	TxID   string     // "" when the bytes do not decode
	Code   Code       // Valid when stage 1 passed
	Reason string
}

// Check runs stage 1 on one transaction.
func Check(ix *config.Index, channel string, raw []byte) Checked {
	return CheckAll(ix, channel, [][]byte{raw})[0]
}

// checking is a transaction between its structural checks and its
// signatures'.
type checking struct {
	Checked
	creatorSig int   // index in the batch
	endorseSig []int // indexes in the batch, in endorsement order
}

// precheck runs the checks before the signatures; it reports whether the
// transaction goes on to them.
func precheck(ix *config.Index, channel string, raw []byte, c *checking) bool {
	c.Raw = raw
	fail := func(code Code, format string, args ...any) bool {
		c.Code, c.Reason = code, fmt.Sprintf(format, args...)
		return false
	}
	p, err := tx.Parse(raw)
	if err != nil {
		return fail(BadPayload, "%v", err)
	}
	c.Parsed, c.TxID = p, p.TxID
	if p.Proposal.Channel != channel {
		return fail(BadPayload, "transaction for channel %q", p.Proposal.Channel)
	}
	if !ix.HasChaincode(p.Proposal.Chaincode) {
		return fail(BadPayload, "unknown chaincode %q", p.Proposal.Chaincode)
	}
	if p.Payload.Status != tx.StatusOK {
		return fail(BadPayload, "endorsed a failed simulation")
	}
	seen := make(map[string]bool, len(p.Payload.RWSet.Writes))
	for _, w := range p.Payload.RWSet.Writes {
		if seen[w.Key] {
			return fail(BadPayload, "key %q written twice", w.Key)
		}
		seen[w.Key] = true
	}
	creator, err := identity.PeerIDOf(p.Proposal.Creator)
	if err != nil {
		return fail(BadCreator, "creator: %v", err)
	}
	if !ix.Has(creator, config.RoleClient) {
		return fail(BadCreator, "creator %s is not a client of the channel", creator)
	}
	return true
}

// queue adds the transaction's signatures to the batch.
func (c *checking) queue(b *identity.Batch) {
	p := c.Parsed
	c.creatorSig = b.Add(p.Proposal.Creator, identity.DomainProposal, p.Tx.Proposal, p.Tx.ProposalSig)
	c.endorseSig = make([]int, len(p.Tx.Endorsements))
	for i, e := range p.Tx.Endorsements {
		c.endorseSig[i] = b.Add(e.Endorser, identity.DomainEndorsement, p.Tx.Payload, e.Sig)
	}
}

// finish decides from the signatures' results and the policy.
func (c *checking) finish(ix *config.Index, errs []error) {
	if err := errs[c.creatorSig]; err != nil {
		c.Code, c.Reason = BadSignature, fmt.Sprintf("creator: %v", err)
		return
	}
	orgs := map[string]bool{}
	for i, e := range c.Parsed.Tx.Endorsements {
		if err := errs[c.endorseSig[i]]; err != nil {
			c.Code, c.Reason = BadSignature, fmt.Sprintf("endorsement: %v", err)
			return
		}
		id, _ := identity.PeerIDOf(e.Endorser)
		if ix.Has(id, config.RoleEndorser) {
			orgs[ix.OrgOf(id)] = true
		}
	}
	if !ix.Policy.Satisfied(func(org string) bool { return orgs[org] }) {
		c.Code, c.Reason = EndorsementPolicyFailure, fmt.Sprintf("endorsements from %v do not satisfy %s", keys(orgs), ix.Policy)
	}
}

// checkChunk runs stage 1 on txs, checking their signatures in one batch.
func checkChunk(ix *config.Index, channel string, txs [][]byte, out []Checked) {
	cs := make([]checking, len(txs))
	b := identity.NewBatch(3 * len(txs))
	for i, raw := range txs {
		if precheck(ix, channel, raw, &cs[i]) {
			cs[i].queue(b)
		}
	}
	errs := b.Verify()
	for i := range cs {
		if cs[i].Parsed != nil && cs[i].Code == Valid {
			cs[i].finish(ix, errs)
		}
		out[i] = cs[i].Checked
	}
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// maxChunk bounds the transactions whose signatures are checked in one
// batch (batch verification gains little past a few hundred signatures).
const maxChunk = 64

// CheckAll runs stage 1 on a block's transactions over all CPUs, checking
// the signatures of each worker's share in batches (identity.Batch): a
// transaction's result does not depend on the others'.
func CheckAll(ix *config.Index, channel string, txs [][]byte) []Checked {
	out := make([]Checked, len(txs))
	workers := min(runtime.GOMAXPROCS(0), len(txs))
	if workers <= 1 {
		for i := 0; i < len(txs); i += maxChunk {
			end := min(i+maxChunk, len(txs))
			checkChunk(ix, channel, txs[i:end], out[i:end])
		}
		return out
	}
	chunk := min(maxChunk, max(4, (len(txs)+workers-1)/workers))
	var wg sync.WaitGroup
	var next sync.Mutex // guards i
	i := 0
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				next.Lock()
				start := i
				i += chunk
				next.Unlock()
				if start >= len(txs) {
					return
				}
				end := min(start+chunk, len(txs))
				checkChunk(ix, channel, txs[start:end], out[start:end])
			}
		}()
	}
	wg.Wait()
	return out
}

// State is what stage 2 reads: a statedb.Batch, which also sees the
// writes of the block's earlier valid transactions.
type State interface {
	chaincode.Querier
	TxExists(txid string) (bool, error)
	Version(cc, key string) (*tx.Version, error)
}

// Decide runs stage 2 on a transaction that passed stage 1. inBlock holds
// the TxIDs of the block's earlier transactions. An error means the state
// could not be read: the block must not be committed.
func Decide(st State, c *Checked, inBlock map[string]bool) (Code, string, error) {
	p := c.Parsed
	if inBlock[c.TxID] {
		return DuplicateTxID, "TxID repeated in the block", nil
	}
	dup, err := st.TxExists(c.TxID)
	if err != nil {
		return 0, "", err
	}
	if dup {
		return DuplicateTxID, "TxID already in the ledger", nil
	}
	rw := &p.Payload.RWSet
	for _, r := range rw.Reads {
		cur, err := st.Version(rw.Chaincode, r.Key)
		if err != nil {
			return 0, "", err
		}
		if (cur == nil) != (r.Version == nil) || (cur != nil && *cur != *r.Version) {
			return MVCCReadConflict, fmt.Sprintf("key %q changed since it was read", r.Key), nil
		}
	}
	for _, q := range rw.Queries {
		h, err := chaincode.Rerun(st, rw.Chaincode, q)
		if errors.Is(err, chaincode.ErrBadQuery) {
			return BadPayload, err.Error(), nil
		}
		if err != nil {
			return 0, "", err
		}
		if !bytes.Equal(h, q.ResultsHash) {
			return PhantomReadConflict, fmt.Sprintf("%s query results changed", q.Kind), nil
		}
	}
	return Valid, "", nil
}
