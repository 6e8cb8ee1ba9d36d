package ledger

import (
	"fmt"
	"sync"
	"testing"

	"node/ledger/block"
	"node/ledger/orderer"
	"node/ledger/validate"
)

// runOrderer starts a solo orderer on member A whose blocks every member
// commits (A directly, the others by catching up from A's store). It
// returns the orderer and a function that stops both.
func runOrderer(t testing.TB, n *network) (*orderer.Solo, func()) {
	t.Helper()
	a := n.orderer()
	h, head, err := a.ch.Digest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// One goroutine per member: A commits each block as built; the others
	// catch up from A's store to the newest head announced.
	feeds := make([]chan *block.Built, len(n.members))
	for i := range feeds {
		feeds[i] = make(chan *block.Built, 4096)
	}
	s, err := orderer.NewSolo(orderer.SoloOptions{Config: n.cfg, Identity: a.id, Store: a.store,
		Number: h - 1, Head: head, Logger: quiet, OnBlock: func(b *block.Built) {
			for _, f := range feeds {
				f <- b
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i, m := range n.members {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range feeds[i] {
				if m.ch == nil {
					continue
				}
				if i == 0 {
					if _, err := m.ch.CommitBuilt(ctx, b); err != nil {
						t.Errorf("A committing block %d: %v", b.Block.Number, err)
						return
					}
					continue
				}
				for more := true; more; { // skip to the newest head announced
					select {
					case nb, ok := <-feeds[i]:
						if !ok {
							more = false
						} else {
							b = nb
						}
					default:
						more = false
					}
				}
				if err := m.ch.CatchUp(ctx, b.CID, a.store); err != nil {
					t.Errorf("%s catching up: %v", m.name, err)
					return
				}
			}
		}()
	}
	return s, func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
		for _, f := range feeds {
			close(f)
		}
		wg.Wait()
	}
}

// The whole flow: clients endorse with both organisations, submit to the
// solo orderer, and wait for their transactions on a committer of the
// other organisation; commit events arrive.
func TestEndorseOrderCommit(t *testing.T) {
	n := newNetwork(t)
	s, stop := runOrderer(t, n)
	defer func() { stop() }()
	events, cancel := n.members[2].ch.Subscribe(1000)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := n.members[i%2]
			sp := propose(t, client, "put", fmt.Sprintf("car%02d", i), fmt.Sprintf(`{"owner": "o%d"}`, i%3))
			b := endorse(t, sp, n.members[0], n.members[1])
			if err := s.Submit(ctx, b); err != nil {
				errs <- err
				return
			}
			p, _ := sp.Decode()
			r, err := n.members[2].ch.WaitTx(ctx, p.TxID())
			if err != nil {
				errs <- err
				return
			}
			if r.Code != validate.Valid {
				errs <- fmt.Errorf("tx %d: %v", i, r.Code)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	seen := 0
	for seen < 40 {
		ev := <-events
		seen += len(ev.Txs)
	}
	stop()
	stop = func() {}
	n.sameState()
	r, err := n.members[1].ch.Find(ctx, "docs", `{"selector": {"owner": "o1"}}`)
	if err != nil || len(r.Docs) != 13 {
		t.Fatalf("found %d docs, %v", len(r.Docs), err)
	}
}
