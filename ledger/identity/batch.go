package identity

import (
	"fmt"

	voi "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
)

// verifyOptions is the verification rule of Verify and Batch: RFC 8032's
// cofactored equation with FIPS 186-5's encoding checks (canonical A, R
// and S; small order points allowed), the one rule under which checking
// signatures together and one by one give the same answers.
var verifyOptions = &voi.Options{Verify: voi.VerifyOptionsFIPS_186_5}

// Batch checks many signatures at once: Ed25519 signatures together
// (batch verification, about three times as fast per signature as one by
// one from a few dozen on), others one by one. Its answers do not depend
// on what else is in the batch: when the batch equation fails, each
// Ed25519 signature is checked alone under the same rule, so one bad
// signature is found and fails alone.
//
// The rule is RFC 8032's cofactored verification (see verifyOptions); it
// differs from Verify (Go's crypto/ed25519, cofactorless) only for
// signatures that their own key's holder crafted with small-order
// components, and every member validating blocks uses Batch, so all
// members decide alike.
//
//	b := identity.NewBatch(n)
//	i := b.Add(pub, identity.DomainEndorsement, payload, sig)
//	errs := b.Verify() // errs[i] nil: signature i verifies
//
// A Batch is for one goroutine.
type Batch struct {
	bv    *voi.BatchVerifier
	n     int // entries in bv
	items []batchItem
}

type batchItem struct {
	key   parsedKey
	err   error // a key that does not parse
	entry int   // index in bv, or -1: checked alone
	msg   []byte
	sig   []byte
}

// NewBatch makes an empty batch with room for n signatures.
func NewBatch(n int) *Batch {
	return &Batch{bv: voi.NewBatchVerifierWithCapacity(n), items: make([]batchItem, 0, n)}
}

// Add queues the check of sig over msg under domain by the key pub and
// returns its index in Verify's answer.
func (b *Batch) Add(pub []byte, domain string, msg, sig []byte) int {
	it := batchItem{entry: -1, msg: tagged(domain, msg), sig: sig}
	it.key, it.err = parse(pub)
	if it.err == nil && it.key.ed != nil {
		it.entry = b.n
		b.n++
		b.bv.AddExpandedWithOptions(it.key.ed, it.msg, sig, verifyOptions)
	}
	b.items = append(b.items, it)
	return len(b.items) - 1
}

// Len is the number of signatures queued.
func (b *Batch) Len() int { return len(b.items) }

// Verify checks every signature queued and returns, for each, nil or why
// it does not verify (ErrBadKey, ErrBadSignature).
func (b *Batch) Verify() []error {
	errs := make([]error, len(b.items))
	var valid []bool
	if b.n > 0 {
		_, valid = b.bv.Verify(nil)
	}
	for i, it := range b.items {
		switch {
		case it.err != nil:
			errs[i] = it.err
		case it.entry >= 0:
			if !valid[it.entry] {
				errs[i] = fmt.Errorf("%w (signer %s)", ErrBadSignature, it.key.id)
			}
		default: // not Ed25519
			if ok, err := it.key.key.Verify(it.msg, it.sig); err != nil || !ok {
				errs[i] = fmt.Errorf("%w (signer %s)", ErrBadSignature, it.key.id)
			}
		}
	}
	return errs
}
