package decision

import (
	"fmt"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
)

const (
	chunk = 256 << 10 // the default chunk size: four fill a 1 MiB batch
	tick  = 10 * time.Millisecond
)

// simPeer is a downloader as the server sees it: it keeps window wants in
// flight over content, in order, and gives back giveBack bytes for each
// byte it receives.
type simPeer struct {
	id        peer.ID
	content   []cid.Cid
	window    int
	giveBack  float64
	asked     int
	got       int
	bytes     int
	served    int // rounds it was served in
	doneRound int // round of its last block, -1 until then
}

type inflight struct {
	task Task
	due  int
}

// sim drives an Engine the way the network glue would: each round the
// peers top up their want-lists, the server takes one task and sends it;
// the send completes (TaskDone) latency rounds later.
type sim struct {
	t       *testing.T
	e       *Engine
	size    int
	latency int
	peers   []*simPeer
	byID    map[peer.ID]*simPeer
	flying  []inflight
	now     time.Time
	round   int
	trace   []string
}

func newSim(t *testing.T, cfg Config, latency int) *sim {
	return &sim{t: t, e: newEngine(t, cfg), size: chunk, latency: latency, byID: map[peer.ID]*simPeer{}, now: t0}
}

func (s *sim) add(id peer.ID, content []cid.Cid, giveBack float64) *simPeer {
	p := &simPeer{id: id, content: content, window: 64, giveBack: giveBack, doneRound: -1}
	s.peers = append(s.peers, p)
	s.byID[id] = p
	s.e.PeerConnected(id, s.now)
	return p
}

func (s *sim) disconnect(p *simPeer) {
	s.e.PeerDisconnected(p.id, s.now)
	delete(s.byID, p.id)
	for i, q := range s.peers {
		if q == p {
			s.peers = append(s.peers[:i], s.peers[i+1:]...)
			break
		}
	}
}

func (s *sim) complete(f inflight) {
	n, bytes := len(f.task.Blocks), len(f.task.Blocks)*s.size
	s.e.TaskDone(f.task, n, bytes, s.now)
	p := s.byID[f.task.Peer]
	if p == nil {
		return
	}
	p.got += n
	p.bytes += bytes
	if p.got == len(p.content) {
		p.doneRound = s.round
	}
	if p.giveBack > 0 {
		s.e.BlocksReceived(p.id, n, int(float64(bytes)*p.giveBack), s.now)
	}
}

// step runs one round and reports whether the server sent anything.
func (s *sim) step() (Task, bool) {
	keep := s.flying[:0]
	for _, f := range s.flying {
		if f.due <= s.round {
			s.complete(f)
		} else {
			keep = append(keep, f)
		}
	}
	s.flying = keep
	for _, p := range s.peers {
		if n := min(p.window-(p.asked-p.got), len(p.content)-p.asked); n > 0 {
			ws := make([]Want, n)
			for i := range ws {
				k := p.asked + i
				ws[i] = wantBlock(p.content[k], s.size, int32(len(p.content)-k))
			}
			p.asked += n
			s.e.WantsReceived(p.id, false, ws, s.now)
		}
	}
	task, ok := s.e.NextTask(s.now)
	if ok {
		s.byID[task.Peer].served++
		s.trace = append(s.trace, fmt.Sprintf("%s:%d:%v", task.Peer, len(task.Blocks), task.Blocks[0]))
		f := inflight{task, s.round + s.latency}
		if s.latency == 0 {
			s.complete(f)
		} else {
			s.flying = append(s.flying, f)
		}
	}
	s.round++
	s.now = s.now.Add(tick)
	return task, ok
}

// A reciprocating peer (gives back what it takes) and a freeloader (gives
// nothing) fetch the same 2 GiB from one server at once.
func TestReciprocatorVsFreeloader(t *testing.T) {
	content := testCIDs(0, 8000)
	for _, tc := range []struct {
		name    string
		latency int     // rounds a send takes before TaskDone
		ratio   float64 // reciprocator bytes / freeloader bytes over 1000 rounds, at least
	}{
		// Sends complete at once: the reciprocator can take every round.
		{"instant sends", 0, 100},
		// Sends take 3 rounds: with 2 MiB outstanding the reciprocator can
		// take 2 rounds in 3; the third is kept for it (the server idles)
		// rather than given to the frozen freeloader.
		{"slow sends", 3, 50},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSim(t, Config{Rand: seeded(1)}, tc.latency)
			r := s.add("reciprocator", content, 1)
			f := s.add("freeloader", content, 0)
			for range 1000 {
				if _, ok := s.step(); !ok && !s.hasFlying(r.id) {
					t.Fatalf("round %d: server idle while the reciprocator waits with nothing in flight", s.round)
				}
			}
			t.Logf("1000 rounds: reciprocator %d MiB (%d rounds), freeloader %d MiB (%d rounds)",
				r.bytes>>20, r.served, f.bytes>>20, f.served)
			if float64(r.bytes) < tc.ratio*float64(f.bytes) {
				t.Fatalf("reciprocator got %d bytes, freeloader %d: want at least %.1fx", r.bytes, f.bytes, tc.ratio)
			}
			if f.bytes < DefaultFreeAllowance {
				t.Fatalf("freeloader got %d bytes, less than its free allowance", f.bytes)
			}
			if lf, lr := ledger(t, s.e, f.id), ledger(t, s.e, r.id); !lf.Frozen || lr.Frozen {
				t.Fatalf("frozen: freeloader %v, reciprocator %v; want true, false", lf.Frozen, lr.Frozen)
			}

			// Run to the end: the freeloader finishes, at full speed once alone.
			fGotWhenAlone := -1
			for r.doneRound < 0 || f.doneRound < 0 {
				if s.round > 10000 {
					t.Fatalf("not finished after %d rounds: reciprocator %d, freeloader %d blocks", s.round, r.got, f.got)
				}
				if r.doneRound >= 0 && fGotWhenAlone < 0 {
					fGotWhenAlone = f.got
				}
				alone := r.doneRound >= 0 && len(s.flying) == 0
				task, ok := s.step()
				if alone && (!ok || task.Peer != f.id) {
					t.Fatalf("round %d: freeloader alone and not served", s.round)
				}
			}
			t.Logf("reciprocator done at round %d, freeloader at %d", r.doneRound, f.doneRound)
			if tc.latency == 0 {
				// Alone, it gets a full batch (4 blocks) every round.
				if want := r.doneRound + (len(content)-fGotWhenAlone+3)/4; f.doneRound != want {
					t.Fatalf("freeloader done at round %d, want %d (full speed once alone)", f.doneRound, want)
				}
			}
			if f.got != len(content) || r.got != len(content) {
				t.Fatalf("got %d and %d blocks of %d", r.got, f.got, len(content))
			}
		})
	}
}

func TestDeterministicGivenRand(t *testing.T) {
	run := func() []string {
		s := newSim(t, Config{Rand: seeded(7)}, 2)
		s.add("a", testCIDs(0, 500), 0.5)
		s.add("b", testCIDs(0, 500), 0)
		s.add("c", testCIDs(1000, 500), 2)
		for range 400 {
			s.step()
		}
		return s.trace
	}
	a, b := run(), run()
	if len(a) != len(b) {
		t.Fatalf("traces of %d and %d tasks", len(a), len(b))
	}
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("task %d: %s then %s", i, a[i], b[i])
		}
	}
}

// freezeFreeloader runs a reciprocator and a freeloader until the
// freeloader is frozen and returns the time it was frozen at.
func freezeFreeloader(t *testing.T, s *sim) (r, f *simPeer, frozenAt time.Time) {
	t.Helper()
	r = s.add("reciprocator", testCIDs(0, 4000), 1)
	f = s.add("freeloader", testCIDs(0, 4000), 0)
	for range 100 {
		at := s.now
		s.step()
		if ledger(t, s.e, f.id).Frozen {
			return r, f, at
		}
	}
	t.Fatal("freeloader not frozen after 100 rounds")
	return
}

func TestFrozenPartnerServedOnlyWhenAlone(t *testing.T) {
	s := newSim(t, Config{Rand: seeded(3)}, 0)
	r, f, _ := freezeFreeloader(t, s)
	fBytes := f.bytes
	for range 200 {
		if task, ok := s.step(); !ok || task.Peer != r.id {
			t.Fatalf("round %d: served %v, want the reciprocator", s.round, task.Peer)
		}
	}
	if f.bytes != fBytes {
		t.Fatal("frozen freeloader served while the reciprocator waited")
	}
	if s := s.e.Stats(); s.Frozen != 1 {
		t.Fatalf("stats: %d frozen, want 1", s.Frozen)
	}
	s.disconnect(r)
	for range 50 {
		task, ok := s.step()
		if !ok || task.Peer != f.id || len(task.Blocks) != 4 {
			t.Fatalf("round %d: %+v, want a full batch for the freeloader", s.round, task)
		}
	}
	if !ledger(t, s.e, f.id).Frozen {
		t.Fatal("freeloader thawed without giving back")
	}
}

// A lone downloader from an idle server gets a full batch every round,
// however deep in debt.
func TestLoneDownloaderFullSpeed(t *testing.T) {
	s := newSim(t, Config{FreeAllowance: -1, Rand: seeded(4)}, 0)
	f := s.add("freeloader", testCIDs(0, 2000), 0)
	for range 500 {
		if task, ok := s.step(); !ok || len(task.Blocks) != 4 {
			t.Fatalf("round %d: %+v, want a full batch", s.round, task)
		}
	}
	if f.got != 2000 {
		t.Fatalf("got %d blocks in 500 rounds, want 2000", f.got)
	}
}

func TestThawByGivingBack(t *testing.T) {
	s := newSim(t, Config{Rand: seeded(5)}, 0)
	r, f, _ := freezeFreeloader(t, s)
	l := ledger(t, s.e, f.id)
	// Half of what it took: r = (sent - 1 MiB) / (sent/2 + 1) < 2.
	s.e.BlocksReceived(f.id, 1, int(l.BytesSent/2), s.now)
	if l := ledger(t, s.e, f.id); l.Frozen || l.ServeProbability < DefaultThawAbove {
		t.Fatalf("after giving back: %+v", l)
	}
	// From now on it gives back what it takes, and takes turns again.
	f.giveBack = 1
	counts := map[peer.ID]int{}
	for range 20 {
		task, _ := s.step()
		counts[task.Peer]++
	}
	if counts[f.id] < 8 || counts[r.id] < 8 {
		t.Fatalf("after the thaw: %v, want turns for both", counts)
	}
}

func TestThawAfterTimeForgivesDebt(t *testing.T) {
	s := newSim(t, Config{Rand: seeded(6)}, 0)
	_, f, frozenAt := freezeFreeloader(t, s)
	before := ledger(t, s.e, f.id)
	if before.DebtRatio < 1e6 {
		t.Fatalf("freeloader debt ratio %v", before.DebtRatio)
	}
	s.e.Tick(frozenAt.Add(DefaultThawAfter - time.Nanosecond))
	if !ledger(t, s.e, f.id).Frozen {
		t.Fatal("thawed early")
	}
	s.now = frozenAt.Add(DefaultThawAfter)
	s.e.Tick(s.now)
	after := ledger(t, s.e, f.id)
	if after.Frozen || after.DebtRatio != 0 || after.BytesSent != before.BytesSent {
		t.Fatalf("after the thaw: %+v", after)
	}
	// It gets a fresh allowance at a full share, then freezes again.
	fBytes := f.bytes
	for range 100 {
		s.step()
	}
	if got := f.bytes - fBytes; got < DefaultFreeAllowance || got > DefaultFreeAllowance+2*DefaultTargetMessageSize {
		t.Fatalf("after the thaw the freeloader got %d bytes, want its allowance and at most two batches more", got)
	}
	if !ledger(t, s.e, f.id).Frozen {
		t.Fatal("freeloader not frozen again")
	}
}

func TestTrustedPeerNeverFrozen(t *testing.T) {
	s := newSim(t, Config{TrustedPeers: []peer.ID{"trusted"}, Rand: seeded(8)}, 0)
	r := s.add("reciprocator", testCIDs(0, 4000), 1)
	tr := s.add("trusted", testCIDs(0, 4000), 0)
	for range 400 {
		s.step()
		if ledger(t, s.e, tr.id).Frozen {
			t.Fatalf("round %d: trusted peer frozen", s.round)
		}
	}
	l := ledger(t, s.e, tr.id)
	if l.ServeProbability != 1 || l.DebtRatio < 1e6 {
		t.Fatalf("trusted ledger %+v: want P = 1 with the debt still counted", l)
	}
	if tr.served < 190 || r.served < 190 {
		t.Fatalf("served trusted %d, reciprocator %d of 400 rounds: want about half each", tr.served, r.served)
	}
}

func TestFairStrategy(t *testing.T) {
	s := newSim(t, Config{Strategy: Fair, Rand: func() float64 { panic("fair strategy drew") }}, 0)
	r := s.add("reciprocator", testCIDs(0, 4000), 1)
	f := s.add("freeloader", testCIDs(0, 4000), 0)
	for range 400 {
		s.step()
		if d := r.served - f.served; d < -1 || d > 1 {
			t.Fatalf("round %d: served %d and %d", s.round, r.served, f.served)
		}
	}
	if l := ledger(t, s.e, f.id); l.Frozen || l.ServeProbability != 1 {
		t.Fatalf("fair strategy: %+v", l)
	}
}

// hasFlying reports whether a peer has sends in flight.
func (s *sim) hasFlying(p peer.ID) bool {
	for _, f := range s.flying {
		if f.task.Peer == p {
			return true
		}
	}
	return false
}
