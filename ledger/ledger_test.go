package ledger

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"node/ledger/block"
	"node/ledger/codec"
	"node/ledger/ledgertest"
	"node/ledger/statedb"
	"node/ledger/tx"
	"node/ledger/validate"
)

func rowsOf(r *statedb.SQLResult) []string {
	var out []string
	for _, row := range r.Rows {
		var cells []string
		for _, v := range row {
			switch x := v.(type) {
			case string:
				cells = append(cells, x)
			case []byte:
				cells = append(cells, string(x))
			default:
				cells = append(cells, fmt.Sprint(x))
			}
		}
		out = append(out, strings.Join(cells, "|"))
	}
	return out
}

// The seed's car-dealer data, loaded through endorsed transactions, gives
// the seed's answers on every member, to SQL and to selector queries.
func TestCarDealerOnEveryMember(t *testing.T) {
	n := newNetwork(t)
	n.loadCarDealer()
	n.sameState()
	queries, err := ledgertest.CarDealerSQL()
	if err != nil {
		t.Fatal(err)
	}
	selectors := ledgertest.CarDealerSelectors()
	for _, m := range n.members {
		for _, q := range queries {
			r, err := m.ch.SQL(ctx, "docs", q.Q)
			if err != nil {
				t.Fatalf("%s: %s: %v", m.name, q.Q, err)
			}
			if got := rowsOf(r); !q.Matches(got) {
				t.Fatalf("%s: %s\n got %q\nwant %q", m.name, q.Q, got, q.Want)
			}
		}
		for _, q := range selectors {
			r, err := m.ch.Find(ctx, "docs", q.Q)
			if err != nil {
				t.Fatalf("%s: %s: %v", m.name, q.Q, err)
			}
			var got []string
			for _, d := range r.Docs {
				got = append(got, string(d.Value))
			}
			if !q.Matches(got) {
				t.Fatalf("%s: %s\n got %q\nwant %q", m.name, q.Q, got, q.Want)
			}
		}
		v, ver, err := m.ch.Get(ctx, "docs", "dtrt10001")
		if err != nil || !strings.Contains(string(v), `"owner":"Sam Dealer"`) || ver.Block != 1 || ver.Tx != 4 {
			t.Fatalf("%s: Get = %s %+v %v", m.name, v, ver, err)
		}
		if _, _, err := m.ch.Get(ctx, "docs", "nope"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("%s: Get of a missing key: %v", m.name, err)
		}
	}
}

// Two transfers of one asset endorsed against the same state: the first
// in the block is valid, the second reads a stale version.
func TestConcurrentTransfers(t *testing.T) {
	n := newNetwork(t)
	n.loadCarDealer()
	t1 := n.invoke("transfer", "dtrt10001", "Alice Dealer")
	t2 := n.invoke("transfer", "dtrt10001", "Bob Dealer")
	ev := n.cut(t1, t2)
	wantCodes(t, ev, validate.Valid, validate.MVCCReadConflict)
	// The same across blocks: endorsed before, committed after.
	t3 := n.invoke("transfer", "abg1234", "Carol")
	t4 := n.invoke("transfer", "abg1234", "Dave")
	wantCodes(t, n.cut(t3), validate.Valid)
	wantCodes(t, n.cut(t4), validate.MVCCReadConflict)
	n.sameState()
	for _, m := range n.members {
		v, _, _ := m.ch.Get(ctx, "docs", "dtrt10001")
		if !strings.Contains(string(v), "Alice Dealer") {
			t.Fatalf("%s: %s", m.name, v)
		}
		h, err := m.ch.History(ctx, "docs", "abg1234")
		if err != nil || len(h) != 2 || !strings.Contains(string(h[1].Value), "Carol") {
			t.Fatalf("%s: history %+v %v", m.name, h, err)
		}
	}
	r, err := n.members[2].ch.Tx(ctx, ev.Txs[1].TxID)
	if err != nil || r.Code != validate.MVCCReadConflict || r.Block != ev.Number || r.Index != 1 {
		t.Fatalf("Tx = %+v %v", r, err)
	}
}

// A recall is endorsed; before it commits, a new part matching its
// selector is committed: the recall's query results changed.
func TestPhantomRead(t *testing.T) {
	n := newNetwork(t)
	n.loadCarDealer()
	recall := n.invoke("recall", `{"selector": {"assembler": "panama-parts"}}`)
	wantCodes(t, n.cut(n.invoke("put", "abg9999", `{"docType": "vehiclePart", "serialNumber": "abg9999", "assembler": "panama-parts", "owner": "Detroit Auto"}`)), validate.Valid)
	wantCodes(t, n.cut(recall), validate.PhantomReadConflict)
	// Endorsed and committed with nothing in between, it is valid and
	// recalls the four panama-parts parts.
	wantCodes(t, n.cut(n.invoke("recall", `{"assembler": "panama-parts"}`)), validate.Valid)
	r, err := n.members[1].ch.SQL(ctx, "docs", `SELECT key FROM <STATE> WHERE json_extract(valueJson, '$.recall') = 1 ORDER BY key`)
	if err != nil {
		t.Fatal(err)
	}
	if got := rowsOf(r); !slices.Equal(got, []string{"abg1234", "abg1235", "abg9999", "ser1236"}) {
		t.Fatalf("recalled %v", got)
	}
	// A recalled part cannot be transferred.
	if _, err := n.members[0].ch.Endorse(ctx, propose(t, n.members[0], "transfer", "abg1234", "X")); err == nil {
		t.Fatal("a recalled part was transferred")
	}
	n.sameState()
}

// Org1 alone does not satisfy AND(Org1, Org2).
func TestEndorsementPolicyFailure(t *testing.T) {
	n := newNetwork(t)
	only1 := endorse(t, propose(t, n.members[0], "put", "k", `{"a": 1}`), n.members[0])
	only2 := endorse(t, propose(t, n.members[1], "put", "k2", `{"a": 1}`), n.members[1])
	both := n.invoke("put", "k3", `{"a": 1}`)
	wantCodes(t, n.cut(only1, only2, both), validate.EndorsementPolicyFailure, validate.EndorsementPolicyFailure, validate.Valid)
	if _, _, err := n.members[1].ch.Get(ctx, "docs", "k"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("an invalid transaction's write is visible: %v", err)
	}
}

func reencode(t *testing.T, raw []byte, change func(*tx.Transaction)) []byte {
	t.Helper()
	p, err := tx.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	c := *p.Tx
	c.Endorsements = slices.Clone(c.Endorsements)
	change(&c)
	b, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Damaged signatures, a stranger's endorsement, a replayed TxID.
func TestBadSignaturesAndReplays(t *testing.T) {
	n := newNetwork(t)
	good := n.invoke("put", "k", `{"v": 1}`)
	badEndorsement := reencode(t, n.invoke("put", "k1", `{"v": 1}`), func(c *tx.Transaction) {
		e := c.Endorsements[1]
		e.Sig = bytes.Clone(e.Sig)
		e.Sig[0] ^= 1
		c.Endorsements[1] = e
	})
	badCreator := reencode(t, n.invoke("put", "k2", `{"v": 1}`), func(c *tx.Transaction) {
		c.ProposalSig = bytes.Clone(c.ProposalSig)
		c.ProposalSig[5] ^= 1
	})
	// A stranger (not in the channel) endorses in Org2's place.
	stranger := newMember(t, "X")
	strangerTx := reencode(t, n.invoke("put", "k3", `{"v": 1}`), func(c *tx.Transaction) {
		sig, err := stranger.id.Sign("node-ledger/endorsement/v1", c.Payload)
		if err != nil {
			t.Fatal(err)
		}
		c.Endorsements[1] = tx.Endorsement{Endorser: stranger.id.PublicKey(), Sig: sig}
	})
	wantCodes(t, n.cut(good, badEndorsement, badCreator, strangerTx, good),
		validate.Valid, validate.BadSignature, validate.BadSignature, validate.EndorsementPolicyFailure, validate.DuplicateTxID)
	// Replayed in a later block.
	wantCodes(t, n.cut(good), validate.DuplicateTxID)
	// Garbage is a bad payload, not a reason to reject the block.
	wantCodes(t, n.cut([]byte{0xa0}), validate.BadPayload)
	n.sameState()
	h, err := n.members[1].ch.History(ctx, "docs", "k")
	if err != nil || len(h) != 1 {
		t.Fatalf("a replay wrote again: %+v %v", h, err)
	}
}

// Hostile SQL is refused by the query API and, smuggled into a read set
// by a malicious endorser, makes the transaction invalid; the state does
// not change.
func TestHostileSQL(t *testing.T) {
	n := newNetwork(t)
	n.loadCarDealer()
	before, _, _ := n.members[1].ch.StateHash(ctx)
	hostile := []string{
		`DROP TABLE <STATE>`,
		`SELECT key FROM <STATE>; DELETE FROM <STATE>`,
		`ATTACH DATABASE 'x.db' AS x`,
		`PRAGMA writable_schema = ON`,
		`SELECT load_extension('evil')`,
		`SELECT * FROM txs`,
	}
	for _, q := range hostile {
		if _, err := n.members[1].ch.SQL(ctx, "docs", q); !errors.Is(err, statedb.ErrRejected) {
			t.Fatalf("%s: %v, want ErrRejected", q, err)
		}
	}
	// Both endorsers sign a payload whose read set holds hostile SQL.
	var txs [][]byte
	for i, q := range hostile {
		sp := propose(t, n.members[0], "put", fmt.Sprintf("h%d", i), `{"x": 1}`)
		p, _ := sp.Decode()
		r, err := n.members[0].ch.Endorse(ctx, sp)
		if err != nil {
			t.Fatal(err)
		}
		pl, _ := tx.DecodePayload(r.Payload)
		pl.RWSet.Queries = append(pl.RWSet.Queries, tx.QueryRead{Kind: tx.QuerySQL, Query: q, ResultsHash: make([]byte, 32)})
		var rs []*tx.ProposalResponse
		for _, m := range n.members[:2] {
			r, err := tx.NewProposalResponse(m.id, pl)
			if err != nil {
				t.Fatal(err)
			}
			rs = append(rs, r)
		}
		tr, err := tx.Assemble(sp, rs)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := tr.Marshal()
		txs = append(txs, b)
		_ = p
	}
	ev := n.cut(txs...)
	for i, r := range ev.Txs {
		if r.Code != validate.BadPayload {
			t.Fatalf("hostile query %q: %v (%s)", hostile[i], r.Code, r.Reason)
		}
	}
	after, _, _ := n.members[1].ch.StateHash(ctx)
	if !bytes.Equal(before, after) {
		t.Fatal("the state changed")
	}
	n.sameState()
}

// Owns knows the channel's committed headers and bodies, nothing else.
func TestOwns(t *testing.T) {
	n := newNetwork(t)
	ev := n.cut(n.invoke("put", "k", `{"a": 1}`))
	sb, err := n.members[2].ch.Block(ctx, ev.Number)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		id   cid.Cid
		want bool
	}{{sb.CID, true}, {sb.Block.Body.Cid, true}, {n.members[2].ch.Genesis(), true}, {codec.CIDOf([]byte("other")), false}} {
		got, err := n.members[2].ch.Owns(ctx, c.id)
		if err != nil || got != c.want {
			t.Fatalf("Owns(%s) = %v %v, want %v", c.id, got, err, c.want)
		}
	}
}

// The orderer's own commit of a block it built (CommitBuilt) validates
// every transaction as any member does: in a block of 150, checked in
// several signature batches, each damaged signature fails alone and the
// orderer's copy ends the same as the members'.
func TestCommitBuiltValidatesTransactions(t *testing.T) {
	n := newNetwork(t)
	a := n.orderer()
	var txs [][]byte
	var want []validate.Code
	for i := range 150 {
		t1 := n.invoke("put", fmt.Sprintf("k%d", i), `{"v": 1}`)
		code := validate.Valid
		switch i {
		case 3, 100:
			t1 = reencode(t, t1, func(c *tx.Transaction) {
				c.ProposalSig = bytes.Clone(c.ProposalSig)
				c.ProposalSig[7] ^= 1
			})
			code = validate.BadSignature
		case 70, 149:
			t1 = reencode(t, t1, func(c *tx.Transaction) {
				e := c.Endorsements[0]
				e.Sig = bytes.Clone(e.Sig)
				e.Sig[40] ^= 2
				c.Endorsements[0] = e
			})
			code = validate.BadSignature
		}
		txs = append(txs, t1)
		want = append(want, code)
	}
	h, head, err := a.ch.Digest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b, err := block.Build("cars", h, head, txs, time.Now(), a.id)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := a.ch.CommitBuilt(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	wantCodes(t, ev, want...)
	for _, m := range n.members[1:] {
		if err := m.ch.CatchUp(ctx, b.CID, a.store); err != nil {
			t.Fatal(err)
		}
	}
	n.sameState()
	// A block built by someone who is not an orderer is refused.
	forged, err := block.Build("cars", h+1, b.CID, txs[:1], time.Now(), n.members[1].id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.ch.CommitBuilt(ctx, forged); !errors.Is(err, ErrBadBlock) {
		t.Fatalf("a block built by a non-orderer: %v", err)
	}
}
