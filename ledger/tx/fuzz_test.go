package tx

import (
	"bytes"
	"errors"
	"node/internal/testutil"
	"testing"
)

// FuzzParse: a transaction either fails with ErrMalformed or parses to
// parts that re-encode to the same bytes.
func FuzzParse(f *testing.F) {
	testutil.AddSeedFiles(f, "testdata/seeds/*.cbor")
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse(data)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		again, err := p.Tx.Marshal()
		if err != nil || !bytes.Equal(again, data) {
			t.Fatalf("parsed transaction does not re-encode to its bytes: %v", err)
		}
		if p.TxID != TxIDOf(p.Proposal.Nonce, p.Proposal.Creator) {
			t.Fatal("TxID mismatch")
		}
		_, _ = DecodeProposalResponse(data)
		_, _ = DecodeSignedProposal(data)
	})
}
