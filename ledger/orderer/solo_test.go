package orderer

import (
	"context"
	"crypto/sha256"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"node/blockstore"
	"node/ledger/block"
	"node/ledger/codec"
	"node/ledger/config"
	"node/ledger/identity"
	"node/ledger/tx"
)

// The solo orderer cuts by count at once and by timeout on the (fake)
// clock, and chains the blocks it stores.
func TestSolo(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		id, _ := identity.Generate()
		cfg := config.Default("ch", id.PeerID())
		cfg.BlockCutting.MaxTransactions = 3
		cfg.BlockCutting.Timeout = "2s"
		store := blockstore.NewMemory()
		g, err := block.Genesis(cfg, time.Now(), id)
		if err != nil {
			t.Fatal(err)
		}
		got := make(chan *block.Built, 10)
		s, err := NewSolo(SoloOptions{Config: cfg, Identity: id, Store: store, Number: 0, Head: g.CID,
			OnBlock: func(b *block.Built) { got <- b }})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		start := time.Now()
		for i := range 4 {
			if err := s.Submit(ctx, makeTx(t, id, i)); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Submit(ctx, []byte("not a transaction")); err == nil {
			t.Fatal("the orderer took garbage")
		}
		b1 := <-got
		if b1.Block.Number != 1 || b1.Block.TxCount != 3 || !b1.Block.Prev.Equals(g.CID) {
			t.Fatalf("block 1: %+v", b1.Block)
		}
		b2 := <-got // the fourth, after the timeout
		if waited := time.Since(start); waited != 2*time.Second {
			t.Fatalf("block 2 cut after %v, want the 2s timeout", waited)
		}
		if b2.Block.Number != 2 || b2.Block.TxCount != 1 || !b2.Block.Prev.Equals(b1.CID) {
			t.Fatalf("block 2: %+v", b2.Block)
		}
		data, err := store.Get(ctx, b2.CID)
		if err != nil || codec.CheckCID(b2.CID, data) != nil {
			t.Fatalf("block 2 not stored: %v", err)
		}
		if err := b2.Block.VerifySignature(); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := s.Submit(ctx, makeTx(t, id, 9)); err == nil {
			t.Fatal("submit after close")
		}
		// Only an orderer of the channel may order.
		other, _ := identity.Generate()
		if _, err := NewSolo(SoloOptions{Config: cfg, Identity: other, Store: store, Head: g.CID}); err == nil {
			t.Fatal("a non-orderer started an orderer")
		}
	})
}

// makeTx is a structurally valid transaction (Parse accepts it).
func makeTx(t *testing.T, id *identity.Identity, i int) []byte {
	t.Helper()
	sp, err := tx.NewProposal(id, "ch", "docs", "put", []string{fmt.Sprint(i), "{}"})
	if err != nil {
		t.Fatal(err)
	}
	p, _ := sp.Decode()
	sum := sha256.Sum256(sp.Proposal)
	r, err := tx.NewProposalResponse(id, &tx.Payload{ProposalHash: sum[:], TxID: p.TxID(), Status: tx.StatusOK,
		RWSet: tx.RWSet{Chaincode: "docs", Reads: []tx.Read{}, Queries: []tx.QueryRead{}, Writes: []tx.Write{{Key: fmt.Sprint(i), Value: []byte("{}")}}}})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := tx.Assemble(sp, []*tx.ProposalResponse{r})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := tr.Marshal()
	return b
}
