package decision

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
)

const (
	peerA = peer.ID("peer-a")
	peerB = peer.ID("peer-b")
	peerC = peer.ID("peer-c")
	peerD = peer.ID("peer-d")
)

func TestServeProbabilityCurve(t *testing.T) {
	for _, tc := range []struct{ r, p float64 }{
		{0, 0.997527},
		{0.5, 0.989013},
		{1, 0.952574},
		{1.5, 0.817574},
		{2, 0.5},
		{3, 0.047426},
		{4, 0.002473},
		{10, 6.1e-11},
		{1e6, 0},
	} {
		if got := ServeProbability(tc.r); math.Abs(got-tc.p) > 1e-6 {
			t.Errorf("P(%v) = %.6f, want %.6f", tc.r, got, tc.p)
		}
	}
	for r := 0.0; r < 10; r += 0.01 {
		if ServeProbability(r+0.01) >= ServeProbability(r) {
			t.Fatalf("P not decreasing at r = %v", r)
		}
	}
}

func TestDebtRatioAndFreeAllowance(t *testing.T) {
	e := newEngine(t, Config{FreeAllowance: 1000})
	e.PeerConnected(peerA, t0)
	l := ledger(t, e, peerA)
	if !l.FirstExchange.IsZero() || l.DebtRatio != 0 {
		t.Fatalf("fresh ledger: %+v", l)
	}

	e.TaskDone(Task{Peer: peerA}, 1, 1000, t0.Add(time.Second))
	l = ledger(t, e, peerA)
	if l.BytesSent != 1000 || l.BlocksSent != 1 || l.DebtRatio != 0 || l.ServeProbability != ServeProbability(0) {
		t.Fatalf("within the allowance: %+v", l)
	}
	if !l.FirstExchange.Equal(t0.Add(time.Second)) {
		t.Fatalf("first exchange %v", l.FirstExchange)
	}

	// 1000 bytes beyond the allowance, 499 received: r = 1000 / 500 = 2.
	e.TaskDone(Task{Peer: peerA}, 1, 1000, t0.Add(2*time.Second))
	e.BlocksReceived(peerA, 1, 499, t0.Add(3*time.Second))
	l = ledger(t, e, peerA)
	if l.DebtRatio != 2 || math.Abs(l.ServeProbability-0.5) > 1e-12 {
		t.Fatalf("r = %v, P = %v; want 2 and 0.5", l.DebtRatio, l.ServeProbability)
	}
	if l.BytesReceived != 499 || l.BlocksReceived != 1 || !l.LastExchange.Equal(t0.Add(3*time.Second)) {
		t.Fatalf("ledger %+v", l)
	}

	// No allowance: every byte counts.
	e = newEngine(t, Config{FreeAllowance: -1})
	e.PeerConnected(peerA, t0)
	e.TaskDone(Task{Peer: peerA}, 1, 100, t0)
	if l := ledger(t, e, peerA); l.DebtRatio != 100 {
		t.Fatalf("no allowance: r = %v, want 100", l.DebtRatio)
	}

	// Default allowance is 1 MiB.
	e = newEngine(t, Config{})
	e.PeerConnected(peerA, t0)
	e.TaskDone(Task{Peer: peerA}, 4, 1<<20, t0)
	if l := ledger(t, e, peerA); l.DebtRatio != 0 {
		t.Fatalf("default allowance: r = %v after 1 MiB, want 0", l.DebtRatio)
	}
	e.TaskDone(Task{Peer: peerA}, 1, 10, t0)
	if l := ledger(t, e, peerA); l.DebtRatio != 10 {
		t.Fatalf("default allowance: r = %v after 1 MiB + 10, want 10", l.DebtRatio)
	}
}

func TestTaskMergingAndUpgrade(t *testing.T) {
	c := testCID(1)
	for _, tc := range []struct {
		name       string
		wants      [][]Want
		blocks     int
		haves      int
		wantlisted bool
	}{
		{"want-have of a large block answers HAVE", [][]Want{{wantHave(c, 4096, 1)}}, 0, 1, false},
		{"want-have then want-block is one block task", [][]Want{{wantHave(c, 4096, 1)}, {wantBlock(c, 4096, 1)}}, 1, 0, false},
		{"both in one message", [][]Want{{wantHave(c, 4096, 1), wantBlock(c, 4096, 1)}}, 1, 0, false},
		{"want-block is not downgraded by want-have", [][]Want{{wantBlock(c, 4096, 1)}, {wantHave(c, 4096, 1)}}, 1, 0, false},
		{"repeated want-block is one task", [][]Want{{wantBlock(c, 4096, 1)}, {wantBlock(c, 4096, 1)}}, 1, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEngine(t, Config{Rand: always(0)})
			for _, ws := range tc.wants {
				e.WantsReceived(peerA, false, ws, t0)
			}
			if l := ledger(t, e, peerA); l.QueuedTasks != 1 || l.Wants != 1 {
				t.Fatalf("queued %d tasks for %d wants, want 1 and 1", l.QueuedTasks, l.Wants)
			}
			task := next(t, e, t0)
			if len(task.Blocks) != tc.blocks || len(task.Haves) != tc.haves || len(task.DontHaves) != 0 {
				t.Fatalf("task %+v: want %d blocks, %d haves", task, tc.blocks, tc.haves)
			}
			wantSize := 4096
			if tc.blocks == 0 {
				wantSize = len(c.KeyString()) + 2
			}
			if task.Size != wantSize {
				t.Fatalf("task size %d, want %d", task.Size, wantSize)
			}
			none(t, e, t0)
			if got := len(e.WantlistOf(peerA)); got != 0 {
				t.Fatalf("want-list has %d entries after the answer, want 0", got)
			}
		})
	}
}

func TestCancel(t *testing.T) {
	e := newEngine(t, Config{Rand: always(0)})
	a, b, c := testCID(1), testCID(2), testCID(3)
	e.WantsReceived(peerA, false, []Want{wantBlock(a, 100, 3), wantBlock(b, 100, 2), {CID: c, SendDontHave: true}}, t0)
	e.WantsReceived(peerA, false, []Want{{CID: a, Cancel: true}, {CID: testCID(99), Cancel: true}}, t0)
	task := next(t, e, t0)
	if !sameCIDs(task.Blocks, []cid.Cid{b}) || !sameCIDs(task.DontHaves, []cid.Cid{c}) {
		t.Fatalf("after cancel of a: %+v", task)
	}
	none(t, e, t0)
	// c waits after DONT_HAVE; a cancel removes it, so its arrival wakes nothing.
	e.WantsReceived(peerA, false, []Want{{CID: c, Cancel: true}}, t0)
	e.BlockAdded(c, 100, t0)
	none(t, e, t0)
	if s := e.Stats(); s.Wants != 0 || s.QueuedTasks != 0 {
		t.Fatalf("stats after cancels: %+v", s)
	}
}

func TestFullWantlistReplaces(t *testing.T) {
	e := newEngine(t, Config{Rand: always(0)})
	a, b, c, d := testCID(1), testCID(2), testCID(3), testCID(4)
	e.WantsReceived(peerA, false, []Want{wantBlock(a, 100, 1), wantBlock(b, 100, 1), {CID: d}}, t0)
	e.WantsReceived(peerA, true, []Want{wantBlock(b, 100, 1), wantBlock(c, 100, 2)}, t0)
	wl := e.WantlistOf(peerA)
	if len(wl) != 2 || !wl[0].CID.Equals(c) || !wl[1].CID.Equals(b) {
		t.Fatalf("want-list after full replace: %+v", wl)
	}
	task := next(t, e, t0)
	if !sameCIDs(task.Blocks, []cid.Cid{c, b}) {
		t.Fatalf("blocks %v, want [c b]", task.Blocks)
	}
	// d was dropped, so its arrival serves nobody.
	e.BlockAdded(d, 100, t0)
	none(t, e, t0)

	// An empty full list clears everything.
	e.WantsReceived(peerA, false, []Want{wantBlock(a, 100, 1)}, t0)
	e.WantsReceived(peerA, true, nil, t0)
	none(t, e, t0)
	if wl := e.WantlistOf(peerA); len(wl) != 0 {
		t.Fatalf("want-list after empty full list: %+v", wl)
	}
}

func TestPrioritiesWithinPeer(t *testing.T) {
	const size = 100
	e := newEngine(t, Config{TargetMessageSize: size, Rand: always(0)})
	a, b, c, d := testCID(1), testCID(2), testCID(3), testCID(4)
	e.WantsReceived(peerA, false, []Want{wantBlock(a, size, 1), wantBlock(b, size, 5), wantBlock(c, size, 3), wantBlock(d, size, 5)}, t0)
	wl := e.WantlistOf(peerA)
	for i, want := range []cid.Cid{b, d, c, a} {
		if !wl[i].CID.Equals(want) || !wl[i].Queued || !wl[i].WantBlock {
			t.Fatalf("want-list[%d] = %+v, want %v queued", i, wl[i], want)
		}
	}
	// A later want raises a's priority above everyone.
	e.WantsReceived(peerA, false, []Want{wantBlock(a, size, 10)}, t0)
	for _, want := range []cid.Cid{a, b, d, c} {
		task := next(t, e, t0)
		if !sameCIDs(task.Blocks, []cid.Cid{want}) {
			t.Fatalf("got %v, want %v", task.Blocks, want)
		}
		done(e, task, size, t0)
	}
	none(t, e, t0)
}

// Three peers with equal standing take turns: the serve order is a strict
// rotation and, at every point, counts differ by at most one.
func TestRoundRobinThreeEqualPeers(t *testing.T) {
	const size = 1 << 18
	for _, cfg := range []Config{
		{Strategy: Fair, TargetMessageSize: size, Rand: func() float64 { panic("fair strategy drew") }},
		{Strategy: Reciprocal, TargetMessageSize: size, Rand: always(0)},
	} {
		t.Run(string(cfg.Strategy), func(t *testing.T) {
			e := newEngine(t, cfg)
			peers := []peer.ID{peerA, peerB, peerC}
			for i, p := range peers {
				e.WantsReceived(p, false, wantBlocks(testCIDs(i*1000, 100), size), t0)
			}
			count := map[peer.ID]int{}
			for round := range 300 {
				task := next(t, e, t0)
				if task.Peer != peers[round%3] {
					t.Fatalf("round %d served %s, want %s", round, task.Peer, peers[round%3])
				}
				if len(task.Blocks) != 1 {
					t.Fatalf("round %d: %d blocks", round, len(task.Blocks))
				}
				count[task.Peer]++
				lo, hi := 1<<30, 0
				for _, p := range peers {
					lo, hi = min(lo, count[p]), max(hi, count[p])
				}
				if hi-lo > 1 {
					t.Fatalf("round %d: counts %v differ by more than 1", round, count)
				}
				done(e, task, size, t0)
			}
			none(t, e, t0)
		})
	}
}

func TestSmallBlockWantHaveAnsweredWithBlock(t *testing.T) {
	e := newEngine(t, Config{Rand: always(0)})
	small, large := testCID(1), testCID(2)
	e.WantsReceived(peerA, false, []Want{wantHave(small, SmallBlockSize, 2), wantHave(large, SmallBlockSize+1, 1)}, t0)
	task := next(t, e, t0)
	if !sameCIDs(task.Blocks, []cid.Cid{small}) || !sameCIDs(task.Haves, []cid.Cid{large}) {
		t.Fatalf("task %+v: want block for the 1 KiB block, HAVE for the larger one", task)
	}
	if task.Size != SmallBlockSize+len(large.KeyString())+2 {
		t.Fatalf("size %d", task.Size)
	}
}

func TestDontHaveOnlyWhenAsked(t *testing.T) {
	e := newEngine(t, Config{Rand: always(0)})
	silent, asked := testCID(1), testCID(2)
	e.WantsReceived(peerA, false, []Want{{CID: silent, Priority: 2}, {CID: asked, Priority: 1, SendDontHave: true}}, t0)
	task := next(t, e, t0)
	if len(task.Blocks) != 0 || len(task.Haves) != 0 || !sameCIDs(task.DontHaves, []cid.Cid{asked}) {
		t.Fatalf("task %+v: want only DONT_HAVE for the asked CID", task)
	}
	e.TaskDone(task, 0, 0, t0)
	none(t, e, t0)
	// Both still wait in the want-list, nothing queued.
	wl := e.WantlistOf(peerA)
	if len(wl) != 2 || wl[0].Queued || wl[1].Queued {
		t.Fatalf("want-list %+v: want two waiting entries", wl)
	}
	// Asking again without the flag keeps the flag from before.
	e.WantsReceived(peerA, false, []Want{{CID: asked, Priority: 1}}, t0)
	if task := next(t, e, t0); !sameCIDs(task.DontHaves, []cid.Cid{asked}) {
		t.Fatalf("repeat: %+v", task)
	}
}

func TestOutstandingBytesLimit(t *testing.T) {
	const size = 1000
	e := newEngine(t, Config{TargetMessageSize: size, MaxOutstandingBytesPerPeer: 2 * size, Rand: always(0)})
	e.WantsReceived(peerA, false, wantBlocks(testCIDs(0, 10), size), t0)
	t1 := next(t, e, t0)
	t2 := next(t, e, t0)
	none(t, e, t0)
	if l := ledger(t, e, peerA); l.OutstandingBytes != 2*size || l.QueuedTasks != 8 {
		t.Fatalf("at the limit: %+v", l)
	}
	// Another peer is not held up.
	e.WantsReceived(peerB, false, wantBlocks(testCIDs(100, 1), size), t0)
	if task := next(t, e, t0); task.Peer != peerB {
		t.Fatalf("served %s, want peer B", task.Peer)
	}
	none(t, e, t0)
	done(e, t1, size, t0)
	if task := next(t, e, t0); task.Peer != peerA {
		t.Fatalf("after TaskDone served %s, want peer A", task.Peer)
	}
	none(t, e, t0)
	done(e, t2, size, t0)
	next(t, e, t0)

	// The batch is cut to the room left under the limit.
	e = newEngine(t, Config{TargetMessageSize: 4 * size, MaxOutstandingBytesPerPeer: 5 * size, Rand: always(0)})
	e.WantsReceived(peerA, false, wantBlocks(testCIDs(0, 10), size), t0)
	if task := next(t, e, t0); len(task.Blocks) != 4 || task.PendingBytes != 6*size {
		t.Fatalf("first batch %d blocks, pending %d; want 4 and %d", len(task.Blocks), task.PendingBytes, 6*size)
	}
	if task := next(t, e, t0); len(task.Blocks) != 1 {
		t.Fatalf("second batch %d blocks, want 1 (room for one)", len(task.Blocks))
	}
	none(t, e, t0)
}

func TestMaxWantsPerPeer(t *testing.T) {
	e := newEngine(t, Config{MaxWantsPerPeer: 3, Rand: always(0)})
	cs := testCIDs(0, 6)
	if dropped := e.WantsReceived(peerA, false, wantBlocks(cs[:5], 10), t0); dropped != 2 {
		t.Fatalf("dropped %d, want 2", dropped)
	}
	wl := e.WantlistOf(peerA)
	if len(wl) != 3 || !wl[0].CID.Equals(cs[0]) || !wl[2].CID.Equals(cs[2]) {
		t.Fatalf("want-list %+v: want the first three", wl)
	}
	// Updating an entry already held is not a new entry.
	if dropped := e.WantsReceived(peerA, false, []Want{wantBlock(cs[1], 10, 9)}, t0); dropped != 0 {
		t.Fatalf("update dropped %d", dropped)
	}
	// After a cancel there is room for one more.
	if dropped := e.WantsReceived(peerA, false, []Want{{CID: cs[0], Cancel: true}, wantBlock(cs[5], 10, 1), wantBlock(cs[4], 10, 1)}, t0); dropped != 1 {
		t.Fatalf("dropped %d, want 1", dropped)
	}
	// A full list replaces first, so it may hold up to the limit.
	if dropped := e.WantsReceived(peerA, true, wantBlocks(cs[3:6], 10), t0); dropped != 0 {
		t.Fatalf("full list dropped %d", dropped)
	}
	if s := e.Stats(); s.WantsDropped != 3 || s.Wants != 3 {
		t.Fatalf("stats %+v", s)
	}
	// The limit is per peer.
	if dropped := e.WantsReceived(peerB, false, wantBlocks(cs[:3], 10), t0); dropped != 0 {
		t.Fatalf("peer B dropped %d", dropped)
	}
}

func TestBlockAddedWakesWaitingWants(t *testing.T) {
	e := newEngine(t, Config{Rand: always(0)})
	c, other := testCID(1), testCID(2)
	// v1 dag-pb CID of the same multihash as c: the same bytes.
	cPB := cid.NewCidV1(cid.DagProtobuf, c.Hash())
	e.WantsReceived(peerA, false, []Want{{CID: c, SendDontHave: true}}, t0)
	if task := next(t, e, t0); !sameCIDs(task.DontHaves, []cid.Cid{c}) {
		t.Fatalf("A: %+v, want DONT_HAVE", task)
	}
	e.WantsReceived(peerB, false, []Want{{CID: cPB}}, t0)
	e.WantsReceived(peerC, false, []Want{{CID: c, WantHave: true}}, t0)
	e.WantsReceived(peerD, false, []Want{{CID: other, SendDontHave: true}}, t0)
	e.TaskDone(next(t, e, t0), 0, 0, t0) // D's DONT_HAVE
	none(t, e, t0)

	e.BlockAdded(c, 4096, t0)
	got := map[peer.ID]Task{}
	for task, ok := e.NextTask(t0); ok; task, ok = e.NextTask(t0) {
		got[task.Peer] = task
	}
	if len(got) != 3 {
		t.Fatalf("served %d peers, want A, B and C: %v", len(got), got)
	}
	if !sameCIDs(got[peerA].Blocks, []cid.Cid{c}) || len(got[peerA].DontHaves) != 0 {
		t.Fatalf("A: %+v", got[peerA])
	}
	if !sameCIDs(got[peerB].Blocks, []cid.Cid{cPB}) {
		t.Fatalf("B wanted the dag-pb CID, got %+v", got[peerB])
	}
	if !sameCIDs(got[peerC].Haves, []cid.Cid{c}) {
		t.Fatalf("C (want-have, 4 KiB block): %+v", got[peerC])
	}

	// A queued DONT_HAVE is replaced by the block when it arrives first.
	e.WantsReceived(peerA, false, []Want{{CID: other, SendDontHave: true}}, t0)
	e.BlockAdded(other, 10, t0)
	for task, ok := e.NextTask(t0); ok; task, ok = e.NextTask(t0) {
		if len(task.DontHaves) != 0 || !sameCIDs(task.Blocks, []cid.Cid{other}) {
			t.Fatalf("%s: %+v, want the block only", task.Peer, task)
		}
	}
}

func TestDisconnectDropsTasksKeepsLedger(t *testing.T) {
	const size = 1000
	e := newEngine(t, Config{TargetMessageSize: size, MaxOutstandingBytesPerPeer: size, Rand: always(0)})
	cs := testCIDs(0, 4)
	e.WantsReceived(peerA, false, wantBlocks(cs, size), t0)
	t1 := next(t, e, t0)
	e.PeerDisconnected(peerA, t0)
	none(t, e, t0)
	if wl := e.WantlistOf(peerA); len(wl) != 0 {
		t.Fatalf("want-list after disconnect: %+v", wl)
	}
	l := ledger(t, e, peerA)
	if l.Connected || l.QueuedTasks != 0 || l.OutstandingBytes != 0 {
		t.Fatalf("ledger after disconnect: %+v", l)
	}
	if s := e.Stats(); s.Wants != 0 || s.QueuedTasks != 0 || s.Peers != 0 || s.Ledgers != 1 {
		t.Fatalf("stats after disconnect: %+v", s)
	}
	e.BlockAdded(cs[1], size, t0)
	none(t, e, t0)
	e.BlocksReceived(peerA, 1, 7, t0) // something to recognise the ledger by

	// Reconnect within the retention: the ledger is the same one.
	e.Tick(t0.Add(DefaultLedgerRetention - time.Nanosecond))
	e.PeerConnected(peerA, t0.Add(DefaultLedgerRetention-time.Nanosecond))
	if l := ledger(t, e, peerA); !l.Connected || l.BytesReceived != 7 {
		t.Fatalf("after reconnect: %+v", l)
	}
	e.WantsReceived(peerA, false, wantBlocks(cs[2:], size), t0)
	t2 := next(t, e, t0)
	none(t, e, t0)
	// The task from before the disconnect lands in the ledger but does not
	// free the new task's room.
	done(e, t1, size, t0)
	if l := ledger(t, e, peerA); l.BytesSent != size || l.OutstandingBytes != size {
		t.Fatalf("after the old task: %+v", l)
	}
	none(t, e, t0)
	done(e, t2, size, t0)
	next(t, e, t0)

	// Past the retention the ledger is forgotten.
	t1h := t0.Add(time.Minute)
	e.PeerDisconnected(peerA, t1h)
	e.Tick(t1h.Add(DefaultLedgerRetention))
	if _, ok := e.Ledger(peerA); ok {
		t.Fatal("ledger kept past the retention")
	}
	if s := e.Stats(); s.Ledgers != 0 || s.BytesSent != 2*size {
		t.Fatalf("stats %+v: totals should survive the ledger", s)
	}
}

func TestLedgersAndStats(t *testing.T) {
	e := newEngine(t, Config{TrustedPeers: []peer.ID{peerC}, Rand: always(0)})
	for _, p := range []peer.ID{peerC, peerA, peerB} {
		e.PeerConnected(p, t0)
	}
	e.WantsReceived(peerB, false, wantBlocks(testCIDs(0, 2), 10), t0)
	done(e, next(t, e, t0), 10, t0)
	e.BlocksReceived(peerA, 3, 300, t0)
	ls := e.Ledgers()
	if len(ls) != 3 || ls[0].Peer != peerA || ls[1].Peer != peerB || ls[2].Peer != peerC {
		t.Fatalf("ledgers not sorted by peer: %+v", ls)
	}
	if ls[0].BytesReceived != 300 || ls[1].BlocksSent != 2 || !ls[2].Trusted || ls[2].ServeProbability != 1 {
		t.Fatalf("ledgers %+v", ls)
	}
	s := e.Stats()
	if s.BlocksSent != 2 || s.BytesSent != 20 || s.BlocksReceived != 3 || s.BytesReceived != 300 || s.Peers != 3 {
		t.Fatalf("stats %+v", s)
	}
}

func TestConfig(t *testing.T) {
	for _, tc := range []struct {
		cfg Config
		err string
	}{
		{Config{Strategy: "greedy"}, "unknown strategy"},
		{Config{MaxWantsPerPeer: -1}, "MaxWantsPerPeer"},
		{Config{ThawAfter: -time.Second}, "ThawAfter"},
		{Config{FreezeBelow: 0.6}, "FreezeBelow"},
		{Config{ThawAbove: 1.5}, "ThawAbove"},
	} {
		if _, err := New(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("New(%+v) = %v, want an error about %s", tc.cfg, err, tc.err)
		}
	}
	e := newEngine(t, Config{})
	c := e.cfg
	if c.Strategy != Reciprocal || c.FreeAllowance != DefaultFreeAllowance || c.MaxWantsPerPeer != DefaultMaxWantsPerPeer ||
		c.MaxOutstandingBytesPerPeer != DefaultMaxOutstandingBytesPerPeer || c.TargetMessageSize != DefaultTargetMessageSize ||
		c.FreezeBelow != DefaultFreezeBelow || c.ThawAbove != DefaultThawAbove || c.FreezeAfterRounds != DefaultFreezeAfterRounds ||
		c.ThawAfter != DefaultThawAfter || c.LedgerRetention != DefaultLedgerRetention || c.Rand == nil {
		t.Fatalf("defaults not applied: %+v", c)
	}
	if s, err := ParseStrategy("fair"); err != nil || s != Fair {
		t.Fatalf("ParseStrategy(fair) = %v, %v", s, err)
	}
}
