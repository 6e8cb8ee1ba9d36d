package decision

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	mh "github.com/multiformats/go-multihash"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func testCID(i int) cid.Cid {
	h, err := mh.Sum([]byte(fmt.Sprintf("block %d", i)), mh.SHA2_256, -1)
	if err != nil {
		panic(err)
	}
	return cid.NewCidV1(cid.Raw, h)
}

func testCIDs(from, n int) []cid.Cid {
	cs := make([]cid.Cid, n)
	for i := range cs {
		cs[i] = testCID(from + i)
	}
	return cs
}

func newEngine(t testing.TB, cfg Config) *Engine {
	t.Helper()
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func seeded(seed uint64) func() float64 {
	return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)).Float64
}

// always returns a Rand that always returns v: 0 wins every draw with
// P > 0, 1 loses every draw with P < 1.
func always(v float64) func() float64 { return func() float64 { return v } }

// wantBlock is a want-block for a block we hold.
func wantBlock(c cid.Cid, size int, prio int32) Want {
	return Want{CID: c, Priority: prio, Have: true, Size: size}
}

// wantHave is a want-have for a block we hold.
func wantHave(c cid.Cid, size int, prio int32) Want {
	return Want{CID: c, Priority: prio, WantHave: true, Have: true, Size: size}
}

// wantBlocks makes want-blocks for cs, priorities descending in list order.
func wantBlocks(cs []cid.Cid, size int) []Want {
	ws := make([]Want, len(cs))
	for i, c := range cs {
		ws[i] = wantBlock(c, size, int32(len(cs)-i))
	}
	return ws
}

// next calls NextTask and fails if there is no task.
func next(t *testing.T, e *Engine, now time.Time) Task {
	t.Helper()
	task, ok := e.NextTask(now)
	if !ok {
		t.Fatal("NextTask: no task, want one")
	}
	return task
}

// none fails if NextTask hands out a task.
func none(t *testing.T, e *Engine, now time.Time) {
	t.Helper()
	if task, ok := e.NextTask(now); ok {
		t.Fatalf("NextTask: got %+v, want no task", task)
	}
}

// done reports a task fully sent, counting size bytes per block.
func done(e *Engine, task Task, size int, now time.Time) {
	e.TaskDone(task, len(task.Blocks), len(task.Blocks)*size, now)
}

func ledger(t *testing.T, e *Engine, p peer.ID) LedgerSnapshot {
	t.Helper()
	l, ok := e.Ledger(p)
	if !ok {
		t.Fatalf("no ledger for %s", p)
	}
	return l
}

func sameCIDs(a, b []cid.Cid) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !a[i].Equals(b[i]) {
			return false
		}
	}
	return true
}
