package client

import (
	"crypto/sha256"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multihash"

	"node/bitswap/message"
	"node/blockstore"
)

// Unit tests of the deterministic core: events in, entries and searches
// out, no network and no clock.

var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

const (
	pA peer.ID = "peer-A"
	pB peer.ID = "peer-B"
	pC peer.ID = "peer-C"
)

func testOpts() Options {
	return Options{WantTimeout: 5 * time.Second, SearchDelay: time.Second, MaxSearchDelay: 8 * time.Second}
}

// blk makes a block and its CIDv0.
func blk(i int) blockstore.Block {
	data := []byte(fmt.Sprintf("block %d", i))
	sum := sha256.Sum256(data)
	mh, _ := multihash.Encode(sum[:], multihash.SHA2_256)
	return blockstore.Block{CID: cid.NewCidV0(mh), Data: data}
}

func newTestCore(t *testing.T, peers ...peer.ID) *core {
	t.Helper()
	c := newCore(testOpts())
	for _, p := range peers {
		c.peerConnected(p, message.V120, t0)
	}
	c.take()
	return c
}

// entriesOf returns what was sent to p, in order.
func entriesOf(o output, p peer.ID) []message.Entry { return o.msgs[p] }

func kinds(es []message.Entry) []string {
	var out []string
	for _, e := range es {
		switch {
		case e.Cancel:
			out = append(out, "cancel")
		case e.WantType == message.WantBlock:
			out = append(out, "block")
		default:
			out = append(out, "have")
		}
	}
	return out
}

// only asserts that each peer got exactly these kinds of entries.
func only(t *testing.T, o output, want map[peer.ID][]string) {
	t.Helper()
	got := map[peer.ID][]string{}
	for p, es := range o.msgs {
		got[p] = kinds(es)
	}
	if want == nil {
		want = map[peer.ID][]string{}
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("sent %v, want %v", got, want)
	}
}

func TestWantBlockToOnePeerWantHaveToRest(t *testing.T) {
	c := newTestCore(t, pA, pB, pC)
	b := blk(1)
	c.want(1, []cid.Cid{b.CID}, t0)
	o := c.take()
	only(t, o, map[peer.ID][]string{pA: {"block"}, pB: {"have"}, pC: {"have"}})
	for _, p := range []peer.ID{pA, pB, pC} {
		e := entriesOf(o, p)[0]
		if !e.SendDontHave || !e.CID.Equals(b.CID) || e.Cancel {
			t.Fatalf("entry to %s: %+v", p, e)
		}
	}
	if len(o.searches) != 0 {
		t.Fatalf("searched with connected peers at hand: %v", o.searches)
	}
}

func TestManyWantsGoOutTogether(t *testing.T) {
	c := newTestCore(t, pA, pB)
	var cids []cid.Cid
	for i := range 16 {
		cids = append(cids, blk(i).CID)
	}
	c.want(1, cids, t0)
	o := c.take()
	// The least loaded peer gets each want-block: they alternate.
	blocks := 0
	for _, p := range []peer.ID{pA, pB} {
		es := entriesOf(o, p)
		if len(es) != 16 {
			t.Fatalf("%s got %d entries in one batch, want 16", p, len(es))
		}
		for i, e := range es {
			if i > 0 && e.Priority >= es[i-1].Priority {
				t.Fatalf("priorities not decreasing in asking order: %d then %d", es[i-1].Priority, e.Priority)
			}
			if e.WantType == message.WantBlock {
				blocks++
			}
		}
	}
	if blocks != 16 {
		t.Fatalf("%d want-blocks for 16 wants", blocks)
	}
	if c.peers[pA].load != 8 || c.peers[pB].load != 8 {
		t.Fatalf("want-blocks not spread: A %d, B %d", c.peers[pA].load, c.peers[pB].load)
	}
}

func TestHaveUpgradesToWantBlock(t *testing.T) {
	c := newTestCore(t, pA, pB, pC)
	b := blk(1)
	c.want(1, []cid.Cid{b.CID}, t0) // A: want-block (a guess), B and C: want-have
	c.take()
	c.received(pB, nil, []message.Presence{{CID: b.CID, Type: message.Have}}, 0, t0.Add(time.Millisecond))
	o := c.take()
	only(t, o, map[peer.ID][]string{pB: {"block"}})
	// A second HAVE adds nothing: a peer that said HAVE is serving it.
	c.received(pC, nil, []message.Presence{{CID: b.CID, Type: message.Have}}, 0, t0.Add(2*time.Millisecond))
	only(t, c.take(), nil)
	// The HAVE peer joined the session: the next want goes to it as want-block,
	// and want-haves only to the session's peers.
	b2 := blk(2)
	c.want(1, []cid.Cid{b2.CID}, t0.Add(3*time.Millisecond))
	o = c.take()
	if es := entriesOf(o, pA); len(es) != 0 {
		t.Fatalf("a peer outside the session was asked: %v", kinds(es))
	}
	if k := kinds(entriesOf(o, pB)); len(k) != 1 || k[0] != "block" {
		if k2 := kinds(entriesOf(o, pC)); len(k2) != 1 || k2[0] != "block" {
			t.Fatalf("no want-block to a session peer: B %v, C %v", k, k2)
		}
	}
}

func TestDontHaveMovesToNextPeer(t *testing.T) {
	c := newTestCore(t, pA, pB, pC)
	b := blk(1)
	c.want(1, []cid.Cid{b.CID}, t0)
	c.take()
	// C said HAVE before the target answered; A (the target) says DONT_HAVE.
	c.received(pC, nil, []message.Presence{{CID: b.CID, Type: message.Have}}, 0, t0)
	only(t, c.take(), map[peer.ID][]string{pC: {"block"}})
	c.received(pC, nil, []message.Presence{{CID: b.CID, Type: message.DontHave}}, 0, t0)
	only(t, c.take(), nil) // A is still serving it
	c.received(pA, nil, []message.Presence{{CID: b.CID, Type: message.DontHave}}, 0, t0)
	only(t, c.take(), map[peer.ID][]string{pB: {"block"}})
	// B too: nobody is left, so the session looks for providers.
	c.received(pB, nil, []message.Presence{{CID: b.CID, Type: message.DontHave}}, 0, t0)
	o := c.take()
	only(t, o, nil)
	if len(o.searches) != 1 || !o.searches[0].cid.Equals(b.CID) || o.searches[0].sid != 1 {
		t.Fatalf("searches %v", o.searches)
	}
}

func TestTimeoutMovesOnAndWidens(t *testing.T) {
	c := newTestCore(t, pA, pB)
	b := blk(1)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	searches := func(want int) {
		t.Helper()
		if o := c.take(); len(o.searches) != want || len(o.msgs) != 0 {
			t.Fatalf("searches %v (want %d), msgs %v", o.searches, want, o.msgs)
		}
	}
	c.want(1, []cid.Cid{b.CID}, t0)
	only(t, c.take(), map[peer.ID][]string{pA: {"block"}, pB: {"have"}})
	// No block for SearchDelay: widen (everyone was asked already) and search.
	c.tick(at(time.Second - 1))
	searches(0)
	c.tick(at(time.Second))
	searches(1)
	// B keeps talking (about something else); A stays silent.
	c.received(pB, nil, []message.Presence{{CID: blk(99).CID, Type: message.DontHave}}, 0, at(4*time.Second))
	c.tick(at(3 * time.Second)) // the delay doubled: 2 s after the first widening
	searches(1)
	c.tick(at(5*time.Second - 1))
	searches(0)
	// A's want-block times out: B gets it.
	c.tick(at(5 * time.Second))
	only(t, c.take(), map[peer.ID][]string{pB: {"block"}})
	if got := c.snapshot().Peers[pA].Timeouts; got != 1 {
		t.Fatalf("A timeouts %d", got)
	}
	// Widening at 7 s forgets A's timeout and asks it again (want-have:
	// B is serving the want).
	c.tick(at(7 * time.Second))
	o := c.take()
	only(t, o, map[peer.ID][]string{pA: {"have"}})
	if len(o.searches) != 1 {
		t.Fatalf("searches %v", o.searches)
	}
	// B times out 5 s after its want-block: A gets it and says DONT_HAVE.
	c.tick(at(10 * time.Second))
	only(t, c.take(), map[peer.ID][]string{pA: {"block"}})
	c.received(pA, nil, []message.Presence{{CID: b.CID, Type: message.DontHave}}, 0, at(10*time.Second))
	searches(1) // nobody left to ask
	// The delay is capped at MaxSearchDelay (8 s): the next widening at 15 s.
	c.tick(at(15*time.Second - 1))
	searches(0)
	c.tick(at(15 * time.Second))
	o = c.take()
	only(t, o, map[peer.ID][]string{pA: {"block"}, pB: {"have"}})
	if len(o.searches) != 1 {
		t.Fatalf("searches %v", o.searches)
	}
}

func TestBlockCancelsAtEveryPeerAsked(t *testing.T) {
	c := newTestCore(t, pA, pB, pC)
	b := blk(1)
	c.want(1, []cid.Cid{b.CID}, t0)
	c.take()
	acc := c.received(pB, []blockstore.Block{b}, nil, 0, t0)
	if len(acc) != 1 || !acc[0].CID.Equals(b.CID) {
		t.Fatalf("accepted %v", acc)
	}
	only(t, c.take(), map[peer.ID][]string{pA: {"cancel"}, pC: {"cancel"}})
	// The same block again, before and after it is stored: duplicates.
	if acc := c.received(pC, []blockstore.Block{b}, nil, 0, t0); len(acc) != 0 {
		t.Fatal("a second copy was accepted")
	}
	ds := c.stored([]string{string(b.CID.Hash())})
	if len(ds) != 1 || !reflect.DeepEqual(ds[0].sids, []sessionID{1}) {
		t.Fatalf("deliveries %v", ds)
	}
	c.received(pA, []blockstore.Block{b}, nil, 0, t0)
	st := c.snapshot()
	if st.BlocksReceived != 1 || st.DupBlocks != 2 || st.Unrequested != 0 || st.Wants != 0 {
		t.Fatalf("stats %+v", st)
	}
	if st.Peers[pB].BlocksReceived != 1 || st.Peers[pC].DupBlocks != 1 || st.Peers[pA].DupBlocks != 1 {
		t.Fatalf("per-peer stats %+v", st.Peers)
	}
	if c.peers[pA].load != 0 {
		t.Fatalf("A's load %d after the want ended", c.peers[pA].load)
	}
}

func TestUnrequestedAndInvalidCounted(t *testing.T) {
	c := newTestCore(t, pA)
	if acc := c.received(pA, []blockstore.Block{blk(7)}, nil, 2, t0); len(acc) != 0 {
		t.Fatal("an unrequested block was accepted")
	}
	ps := c.snapshot().Peers[pA]
	if ps.Unrequested != 1 || ps.UnrequestedBytes != uint64(len(blk(7).Data)) || ps.Invalid != 2 {
		t.Fatalf("%+v", ps)
	}
}

func TestMatchByMultihash(t *testing.T) {
	c := newTestCore(t, pA)
	b := blk(1)
	v1 := cid.NewCidV1(cid.Raw, b.CID.Hash())
	c.want(1, []cid.Cid{v1}, t0)
	if e := entriesOf(c.take(), pA); len(e) != 1 || !e[0].CID.Equals(v1) {
		t.Fatalf("sent %v", e)
	}
	// A 1.0.0 peer sends it back as CIDv0.
	acc := c.received(pA, []blockstore.Block{b}, nil, 0, t0)
	if len(acc) != 1 || !acc[0].CID.Equals(v1) {
		t.Fatalf("accepted %v, want the block under %s", acc, v1)
	}
}

func TestRefcountedWants(t *testing.T) {
	c := newTestCore(t, pA, pB)
	b := blk(1)
	c.want(1, []cid.Cid{b.CID}, t0)
	c.want(1, []cid.Cid{b.CID}, t0) // a second caller in the same session
	c.want(2, []cid.Cid{b.CID}, t0) // and one in another
	o := c.take()
	only(t, o, map[peer.ID][]string{pA: {"block"}, pB: {"have"}})
	if len(c.wantlist()) != 1 {
		t.Fatalf("wantlist %v", c.wantlist())
	}
	c.cancel(1, []cid.Cid{b.CID}, t0)
	c.closeSession(2)
	only(t, c.take(), nil)
	if len(c.wantlist()) != 1 {
		t.Fatal("want dropped while a caller still wants it")
	}
	c.cancel(1, []cid.Cid{b.CID}, t0)
	only(t, c.take(), map[peer.ID][]string{pA: {"cancel"}, pB: {"cancel"}})
	if len(c.wantlist()) != 0 || c.peers[pA].load != 0 {
		t.Fatalf("wantlist %v, load %d", c.wantlist(), c.peers[pA].load)
	}
	// A cancelled want's block is unrequested.
	c.received(pA, []blockstore.Block{b}, nil, 0, t0)
	if c.snapshot().Unrequested != 1 {
		t.Fatal("block of a cancelled want not counted as unrequested")
	}
}

func TestSessionPrefersPeersThatSentBlocks(t *testing.T) {
	c := newTestCore(t, pA, pB, pC)
	b1, b2, b3 := blk(1), blk(2), blk(3)
	c.want(1, []cid.Cid{b1.CID}, t0)
	c.take()
	c.received(pC, []blockstore.Block{b1}, nil, 0, t0)
	c.stored([]string{string(b1.CID.Hash())})
	c.take()
	c.want(1, []cid.Cid{b2.CID, b3.CID}, t0)
	only(t, c.take(), map[peer.ID][]string{pC: {"block", "block"}})
	// Another session knows nothing yet: it broadcasts.
	c.want(2, []cid.Cid{blk(4).CID}, t0)
	only(t, c.take(), map[peer.ID][]string{pA: {"block"}, pB: {"have"}, pC: {"have"}})
}

func TestOldVersionsGetWantBlockOnly(t *testing.T) {
	c := newCore(testOpts())
	c.peerConnected(pA, message.V120, t0)
	c.peerConnected(pB, message.V110, t0)
	c.peerConnected(pC, message.V100, t0)
	c.take()
	b := blk(1)
	c.want(1, []cid.Cid{b.CID}, t0)
	o := c.take()
	// A (lowest ID) gets the want-block; B and C can only be asked with want-block.
	only(t, o, map[peer.ID][]string{pA: {"block"}, pB: {"block"}, pC: {"block"}})
	if e := entriesOf(o, pB)[0]; e.SendDontHave {
		t.Fatal("send-dont-have to a 1.1.0 peer")
	}
	// A CID 1.0.0 cannot carry is not sent to C.
	mh, _ := multihash.Sum([]byte("x"), multihash.BLAKE3, 32)
	c.want(1, []cid.Cid{cid.NewCidV1(cid.Raw, mh)}, t0)
	o = c.take()
	if len(entriesOf(o, pC)) != 0 {
		t.Fatalf("1.0.0 peer sent a blake3 want: %v", entriesOf(o, pC))
	}

	// A peer taken for 1.2.0 turns out to be 1.1.0: its want-have was a want-block.
	c2 := newTestCore(t, pA, pB)
	c2.want(1, []cid.Cid{b.CID}, t0)
	c2.take()
	c2.setVersion(pB, message.V110, t0)
	if c2.peers[pB].load != 1 {
		t.Fatalf("B's load %d, want 1", c2.peers[pB].load)
	}
	c2.want(1, []cid.Cid{blk(2).CID}, t0) // B is not a session peer: not asked for want-have
	for _, e := range entriesOf(c2.take(), pB) {
		if e.WantType == message.WantHave {
			t.Fatal("want-have to a 1.1.0 peer")
		}
	}
}

func TestDisconnectMovesWant(t *testing.T) {
	c := newTestCore(t, pA, pB)
	b := blk(1)
	c.want(1, []cid.Cid{b.CID}, t0)
	c.take()
	c.peerDisconnected(pA, t0)
	only(t, c.take(), map[peer.ID][]string{pB: {"block"}})
	// A reconnects: the want is served, so it is not bothered, unless
	// the want broadcasts (it does: it was a guess from the start).
	c.peerConnected(pA, message.V120, t0)
	only(t, c.take(), map[peer.ID][]string{pA: {"have"}})
}

func TestNoPeersSearchesAtOnce(t *testing.T) {
	c := newCore(testOpts())
	b := blk(1)
	c.want(1, []cid.Cid{b.CID}, t0)
	o := c.take()
	if len(o.msgs) != 0 || len(o.searches) != 1 {
		t.Fatalf("msgs %v searches %v", o.msgs, o.searches)
	}
	c.providerFound(1, pB, message.V120, b.CID, t0.Add(time.Millisecond))
	only(t, c.take(), map[peer.ID][]string{pB: {"block"}})
}

func TestSendFailedMovesOn(t *testing.T) {
	c := newTestCore(t, pA, pB)
	b := blk(1)
	c.want(1, []cid.Cid{b.CID}, t0)
	c.take()
	c.sendFailed(pA, t0)
	only(t, c.take(), map[peer.ID][]string{pB: {"block"}})
	c.want(1, []cid.Cid{blk(2).CID}, t0)
	if es := entriesOf(c.take(), pA); len(es) != 0 {
		t.Fatalf("a peer we cannot reach was asked again: %v", kinds(es))
	}
}

// The same events give the same decisions.
func TestDeterministic(t *testing.T) {
	run := func() []output {
		c := newCore(testOpts())
		var outs []output
		for i := range 20 {
			c.peerConnected(peer.ID(fmt.Sprintf("peer-%02d", (i*7)%20)), message.V120, t0)
		}
		outs = append(outs, c.take())
		var cids []cid.Cid
		for i := range 40 {
			cids = append(cids, blk(i).CID)
		}
		c.want(1, cids[:20], t0)
		c.want(2, cids[10:], t0)
		outs = append(outs, c.take())
		for i := range 40 {
			p := peer.ID(fmt.Sprintf("peer-%02d", i%20))
			c.received(p, nil, []message.Presence{{CID: cids[i], Type: message.PresenceType(i % 2)}}, 0, t0.Add(time.Duration(i)*time.Millisecond))
			outs = append(outs, c.take())
		}
		c.tick(t0.Add(6 * time.Second))
		outs = append(outs, c.take())
		c.peerDisconnected("peer-03", t0.Add(7*time.Second))
		outs = append(outs, c.take())
		return outs
	}
	a, b := run(), run()
	if !reflect.DeepEqual(a, b) {
		t.Fatal("two runs of the same events differ")
	}
}
