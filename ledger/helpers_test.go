package ledger

import (
	"context"
	"log/slog"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"node/blockstore"
	"node/ledger/block"
	"node/ledger/config"
	"node/ledger/identity"
	"node/ledger/ledgertest"
	"node/ledger/tx"
	"node/ledger/validate"
)

var ctx = context.Background()

var quiet = slog.New(slog.DiscardHandler)

// member is one organisation's peer: its own keys, pack store and state.
type member struct {
	name  string
	id    *identity.Identity
	dir   string
	store *blockstore.PackStore
	ch    *Channel
}

func (m *member) opts() Options {
	return Options{Dir: filepath.Join(m.dir, "channel"), Store: m.store, Identity: m.id, Logger: quiet}
}

// openStore opens the member's pack store.
func (m *member) openStore(t testing.TB) {
	t.Helper()
	s, err := blockstore.OpenPackStore(filepath.Join(m.dir, "blocks"), blockstore.PackOptions{PackSize: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	m.store = s
}

// close closes the member's channel and store.
func (m *member) close(t testing.TB) {
	t.Helper()
	if m.ch != nil {
		if err := m.ch.Close(); err != nil {
			t.Fatal(err)
		}
		m.ch = nil
	}
	if m.store != nil {
		if err := m.store.Close(); err != nil {
			t.Fatal(err)
		}
		m.store = nil
	}
}

// reopen opens the store and the channel again after close.
func (m *member) reopen(t testing.TB) {
	t.Helper()
	m.openStore(t)
	ch, err := Open(ctx, m.opts())
	if err != nil {
		t.Fatal(err)
	}
	m.ch = ch
}

func newMember(t testing.TB, name string) *member {
	t.Helper()
	id, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	m := &member{name: name, id: id, dir: t.TempDir()}
	m.openStore(t)
	t.Cleanup(func() { m.close(t) })
	return m
}

// network is a channel shared by several members; members[0] orders.
type network struct {
	t       testing.TB
	cfg     *config.Config
	members []*member
}

func (n *network) orderer() *member { return n.members[0] }

// newNetwork makes channel "cars": Org1 = A (every role), Org2 = B
// (endorser, committer, client) and C (committer), policy AND(Org1, Org2).
// A creates the channel; B and C join through A's store.
func newNetwork(t testing.TB) *network {
	t.Helper()
	a, b, c := newMember(t, "A"), newMember(t, "B"), newMember(t, "C")
	cfg := &config.Config{
		Channel: "cars",
		Organizations: []config.Org{
			{Name: "Org1", Members: []config.Member{{Peer: a.id.PeerID().String(), Roles: config.AllRoles}}},
			{Name: "Org2", Members: []config.Member{
				{Peer: b.id.PeerID().String(), Roles: []config.Role{config.RoleEndorser, config.RoleCommitter, config.RoleClient}},
				{Peer: c.id.PeerID().String(), Roles: []config.Role{config.RoleCommitter}},
			}},
		},
		EndorsementPolicy: "AND('Org1', 'Org2')",
		BlockCutting:      config.Cutting{MaxTransactions: 500, Timeout: "50ms"},
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	var err error
	a.ch, err = Create(ctx, a.opts(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []*member{b, c} {
		m.ch, err = Join(ctx, m.opts(), a.ch.Genesis(), a.store)
		if err != nil {
			t.Fatal(err)
		}
	}
	return &network{t: t, cfg: cfg, members: []*member{a, b, c}}
}

// propose makes a signed proposal from client.
func propose(t testing.TB, client *member, fn string, args ...string) *tx.SignedProposal {
	t.Helper()
	sp, err := tx.NewProposal(client.id, "cars", "docs", fn, args)
	if err != nil {
		t.Fatal(err)
	}
	return sp
}

// endorse collects the endorsers' responses and assembles the transaction.
func endorse(t testing.TB, sp *tx.SignedProposal, endorsers ...*member) []byte {
	t.Helper()
	var rs []*tx.ProposalResponse
	for _, e := range endorsers {
		r, err := e.ch.Endorse(ctx, sp)
		if err != nil {
			t.Fatalf("%s endorsing: %v", e.name, err)
		}
		rs = append(rs, r)
	}
	tr, err := tx.Assemble(sp, rs)
	if err != nil {
		t.Fatal(err)
	}
	b, err := tr.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// invoke proposes from members[0] and has A and B endorse.
func (n *network) invoke(fn string, args ...string) []byte {
	n.t.Helper()
	return endorse(n.t, propose(n.t, n.members[0], fn, args...), n.members[0], n.members[1])
}

// cut makes the next block from txs (signed by the orderer A, put in A's
// store) and brings every member up to it through the stores: each member
// fetches what it lacks from A's store. It returns A's commit event.
func (n *network) cut(txs ...[]byte) *BlockEvent {
	n.t.Helper()
	a := n.orderer()
	h, head, err := a.ch.Digest(ctx)
	if err != nil {
		n.t.Fatal(err)
	}
	b, err := block.Build("cars", h, head, txs, time.Now(), a.id)
	if err != nil {
		n.t.Fatal(err)
	}
	if b.Body != nil {
		if err := a.store.Put(ctx, blockstore.Block{CID: b.BodyCID, Data: b.Body}); err != nil {
			n.t.Fatal(err)
		}
	}
	if err := a.store.Put(ctx, blockstore.Block{CID: b.CID, Data: b.Bytes}); err != nil {
		n.t.Fatal(err)
	}
	events, cancel := a.ch.Subscribe(4)
	defer cancel()
	for _, m := range n.members {
		if m.ch == nil {
			continue // offline
		}
		if err := m.ch.CatchUp(ctx, b.CID, a.store); err != nil {
			n.t.Fatalf("%s catching up to block %d: %v", m.name, h, err)
		}
	}
	ev := <-events
	if ev.Number != h {
		n.t.Fatalf("event for block %d, want %d", ev.Number, h)
	}
	return &ev
}

func codes(ev *BlockEvent) []validate.Code {
	var out []validate.Code
	for _, t := range ev.Txs {
		out = append(out, t.Code)
	}
	return out
}

func wantCodes(t testing.TB, ev *BlockEvent, want ...validate.Code) {
	t.Helper()
	if got := codes(ev); !slices.Equal(got, want) {
		var reasons []string
		for _, x := range ev.Txs {
			reasons = append(reasons, x.Reason)
		}
		t.Fatalf("codes %v, want %v (reasons %q)", got, want, reasons)
	}
}

// sameState checks every online member has the same height, head and
// state hash.
func (n *network) sameState() {
	n.t.Helper()
	var ref []byte
	var refH uint64
	var refHead cid.Cid
	for i, m := range n.members {
		if m.ch == nil {
			continue
		}
		h, hh, err := m.ch.StateHash(ctx)
		if err != nil {
			n.t.Fatal(err)
		}
		_, head, _ := m.ch.Digest(ctx)
		if i == 0 {
			ref, refH, refHead = h, hh, head
			continue
		}
		if string(h) != string(ref) || hh != refH || !head.Equals(refHead) {
			n.t.Fatalf("%s: height %d head %s, want %d %s; state hashes equal: %v", m.name, hh, head, refH, refHead, string(h) == string(ref))
		}
	}
}

// loadCarDealer puts the five documents through transactions in one block.
func (n *network) loadCarDealer() {
	n.t.Helper()
	keys, docs := ledgertest.CarDealerKeys, ledgertest.CarDealer()
	var txs [][]byte
	for _, k := range keys {
		txs = append(txs, n.invoke("put", k, string(docs[k])))
	}
	ev := n.cut(txs...)
	wantCodes(n.t, ev, validate.Valid, validate.Valid, validate.Valid, validate.Valid, validate.Valid)
}

// signAs adds a second endorsement by id to A's response (id's keys sign
// the same payload).
func signAs(t testing.TB, sp *tx.SignedProposal, r *tx.ProposalResponse, id *identity.Identity) []byte {
	t.Helper()
	pl, err := tx.DecodePayload(r.Payload)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := tx.NewProposalResponse(id, pl)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := tx.Assemble(sp, []*tx.ProposalResponse{r, r2})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := tr.Marshal()
	return b
}
