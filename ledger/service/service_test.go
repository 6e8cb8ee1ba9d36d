package service

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"

	"node/blockstore"
	"node/ledger"
	"node/ledger/chaincode"
	"node/ledger/codec"
	"node/ledger/tx"
	"node/ledger/validate"
)

// Two organisations on three real libp2p hosts: B joins A's channel
// through the protocol and Bitswap, both invoke (each endorsement needs
// the other), and they end with the same state. A transfer whose asset
// does not exist fails at endorsement with the chaincode's error.
func TestJoinAndInvokeAcrossNodes(t *testing.T) {
	a, b, d := newNode(t, "A"), newNode(t, "B"), newNode(t, "D")
	cfg := carsConfig(t, a, b, d)
	if _, err := a.m.Create(ctx, "cars", cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := b.m.Join(ctx, "cars", a.addrInfo()); err != nil {
		t.Fatalf("B joining: %v", err)
	}
	r, err := a.m.Invoke(ctx, "cars", InvokeRequest{Function: "put", Args: []string{"car1", `{"owner": "Ann", "docType": "vehicle"}`}})
	if err != nil || r.Code != validate.Valid {
		t.Fatalf("A's first put: %+v %v", r, err)
	}
	// D joins later: it fetches the blocks committed before.
	info, err := d.m.Join(ctx, "cars", a.addrInfo())
	if err != nil {
		t.Fatalf("D joining: %v", err)
	}
	if info.Height != 2 || info.Ordering {
		t.Fatalf("D joined at %+v, want height 2, not ordering", info)
	}
	var wg sync.WaitGroup
	results := make([]*InvokeResult, 10)
	errs := make([]error, 10)
	for i := range 10 {
		client := []*node{a, b}[i%2]
		wg.Go(func() {
			results[i], errs[i] = client.m.Invoke(ctx, "cars", InvokeRequest{Function: "put",
				Args: []string{fmt.Sprintf("car%02d", 10+i), fmt.Sprintf(`{"owner": "o%d", "docType": "vehicle"}`, i%3)}})
		})
	}
	wg.Wait()
	for i := range results {
		if errs[i] != nil || results[i].Code != validate.Valid {
			t.Fatalf("invoke %d: %+v %v", i, results[i], errs[i])
		}
	}
	r, err = b.m.Invoke(ctx, "cars", InvokeRequest{Function: "transfer", Args: []string{"car1", "Bob"}})
	if err != nil || r.Code != validate.Valid {
		t.Fatalf("B's transfer: %+v %v", r, err)
	}
	sameState(t, "cars", a, b, d)
	for _, n := range []*node{a, b, d} {
		ch, _ := n.m.Channel(ctx, "cars")
		v, _, err := ch.Get(ctx, "docs", "car1")
		if err != nil || !strings.Contains(string(v), `"owner":"Bob"`) {
			t.Fatalf("%s: car1 = %s %v", n.name, v, err)
		}
		// Every block's transactions carry both organisations' endorsements.
		sb, err := ch.Head(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if v := ViewBlock(ctx, ch, sb); len(v.Txs) != 1 || len(v.Txs[0].Endorsers) != 2 || v.Txs[0].Code != "VALID" {
			t.Fatalf("%s: head block %+v", n.name, v)
		}
	}
	_, err = b.m.Invoke(ctx, "cars", InvokeRequest{Function: "transfer", Args: []string{"nope", "Bob"}})
	if !errors.Is(err, chaincode.ErrChaincode) {
		t.Fatalf("transfer of a missing asset: %v, want a chaincode error", err)
	}
	// D is a committer, not a client: it may not invoke.
	if _, err := d.m.Invoke(ctx, "cars", InvokeRequest{Function: "put", Args: []string{"x", "{}"}}); !errors.Is(err, ledger.ErrNotAllowed) {
		t.Fatalf("a committer invoking: %v", err)
	}
}

// Each operation of the protocol is refused to a peer without the role it
// needs, with an answer that says so; a stranger cannot fetch the
// channel's blocks through Bitswap, though it can fetch public blocks
// from the same node.
func TestRolesAreEnforced(t *testing.T) {
	a, b, d, stranger := newNode(t, "A"), newNode(t, "B"), newNode(t, "D"), newNode(t, "stranger")
	if _, err := a.m.Create(ctx, "cars", carsConfig(t, a, b, d)); err != nil {
		t.Fatal(err)
	}
	for _, n := range []*node{b, d} {
		if _, err := n.m.Join(ctx, "cars", a.addrInfo()); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.m.Invoke(ctx, "cars", InvokeRequest{Function: "put", Args: []string{"car1", `{"owner": "Ann"}`}}); err != nil {
		t.Fatal(err)
	}
	chA, _ := a.m.Channel(ctx, "cars")
	_, head, _ := chA.Digest(ctx)
	if err := stranger.m.opts.Host.Connect(ctx, a.addrInfo()); err != nil {
		t.Fatal(err)
	}
	// A real transaction, to submit from the wrong peers.
	sp, _ := tx.NewProposal(b.id, "cars", "docs", "put", []string{"k", `{"a": 1}`})
	chB, _ := b.m.Channel(ctx, "cars")
	ra, err := chA.Endorse(ctx, sp)
	if err != nil {
		t.Fatal(err)
	}
	rb, err := chB.Endorse(ctx, sp)
	if err != nil {
		t.Fatal(err)
	}
	tr, _ := tx.Assemble(sp, []*tx.ProposalResponse{ra, rb})
	tb, _ := tr.Marshal()
	spb, _ := sp.Marshal()
	info, _ := (&Info{Genesis: codec.L(chA.Genesis()), Head: codec.L(head), Height: 2}).Marshal()

	cases := []struct {
		from *node
		to   *node
		req  Request
		want string
	}{
		{stranger, a, Request{Op: OpInfo, Channel: "cars"}, "is not a member of channel cars"},
		{stranger, a, Request{Op: OpEndorse, Channel: "cars", Data: spb}, "is not a client of channel cars"},
		{stranger, a, Request{Op: OpSubmit, Channel: "cars", Data: tb}, "is not a client of channel cars"},
		{stranger, b, Request{Op: OpAnnounce, Channel: "cars", Data: info}, "is not an orderer of channel cars"},
		{d, a, Request{Op: OpEndorse, Channel: "cars", Data: spb}, "is not a client of channel cars"},
		{d, a, Request{Op: OpSubmit, Channel: "cars", Data: tb}, "is not a client of channel cars"},
		{b, d, Request{Op: OpAnnounce, Channel: "cars", Data: info}, "is not an orderer of channel cars"},
	}
	for _, c := range cases {
		c.from.m.opts.Host.Peerstore().AddAddrs(c.to.peer(), c.to.addrInfo().Addrs, time.Hour)
		_, err := c.from.m.call(ctx, c.to.peer(), &c.req)
		var re *RemoteError
		if !errors.As(err, &re) || !errors.Is(err, ErrDenied) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s %s to %s: %v, want a refusal saying %q", c.from.name, c.req.Op, c.to.name, err, c.want)
		}
	}
	// The stranger's join is refused with the same words.
	if _, err := stranger.m.Join(ctx, "cars", a.addrInfo()); !errors.Is(err, ErrDenied) || !strings.Contains(err.Error(), "not a member") {
		t.Fatalf("a stranger joining: %v", err)
	}
	// Submitting to a member that does not order says who does.
	b.m.opts.Host.Peerstore().AddAddrs(d.peer(), d.addrInfo().Addrs, time.Hour)
	if _, err := b.m.call(ctx, d.peer(), &Request{Op: OpSubmit, Channel: "cars", Data: tb}); err == nil || !strings.Contains(err.Error(), "its orderer is "+a.peer().String()) {
		t.Fatalf("submitting to a committer: %v", err)
	}
	// A channel the node does not have.
	if _, err := b.m.call(ctx, a.peer(), &Request{Op: OpInfo, Channel: "boats"}); !errors.Is(err, ErrNoChannel) {
		t.Fatalf("info on a missing channel: %v", err)
	}
	// The refused submissions left nothing behind; the right client's
	// goes through.
	if _, err := b.m.call(ctx, a.peer(), &Request{Op: OpSubmit, Channel: "cars", Data: tb}); err != nil {
		t.Fatalf("B submitting: %v", err)
	}
	p, _ := sp.Decode()
	waitCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if r, err := chA.WaitTx(waitCtx, p.TxID()); err != nil || r.Code != validate.Valid || r.Block != 2 {
		t.Fatalf("B's submission: %+v %v", r, err)
	}

	// Bitswap: the stranger asks A for the channel's head block and gets
	// nothing; a public block from the same node comes at once.
	public := rawBlock(t, []byte("anyone may have this"))
	if err := a.bs.Store(a.packs).Put(ctx, public); err != nil {
		t.Fatal(err)
	}
	got, err := stranger.bs.Client.GetBlock(withTimeout(t, 10*time.Second), public.CID)
	if err != nil || !bytes.Equal(got, public.Data) {
		t.Fatalf("a public block: %v", err)
	}
	if _, err := stranger.bs.Client.GetBlock(withTimeout(t, 2*time.Second), head); err == nil {
		t.Fatal("the stranger fetched the channel's head block")
	}
	if ok, _ := stranger.packs.Has(ctx, head); ok {
		t.Fatal("the channel's head block reached the stranger's store")
	}
	if !a.m.Private(head) || a.m.Private(public.CID) {
		t.Fatal("Private does not tell channel blocks from public ones")
	}
	// D, a member, may fetch blocks it does not have (D has them all:
	// ask B's Bitswap policy about D instead).
	if !b.m.MayFetch(d.peer(), head) || b.m.MayFetch(stranger.peer(), head) {
		t.Fatal("B's policy: members may fetch, strangers may not")
	}
}

func rawBlock(t testing.TB, data []byte) blockstore.Block {
	mh, err := multihash.Sum(data, multihash.SHA2_256, -1)
	if err != nil {
		t.Fatal(err)
	}
	return blockstore.Block{CID: cid.NewCidV1(cid.Raw, mh), Data: data}
}

func withTimeout(t testing.TB, d time.Duration) context.Context {
	c, cancel := context.WithTimeout(ctx, d)
	t.Cleanup(cancel)
	return c
}
