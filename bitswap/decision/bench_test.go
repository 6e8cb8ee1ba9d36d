package decision

import (
	"fmt"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"
)

// BenchmarkNextTask hands out and completes tasks for peers with 100
// queued wants each (64 KiB blocks, 16 to a batch): 1000 peers is the
// case to watch; 100 and 10000 show the cost does not grow with the number
// of peers. Half the peers give back what they take; the others go into
// debt and get frozen, so the lottery, freezing and both rings are used.
func BenchmarkNextTask(b *testing.B) {
	for _, peers := range []int{100, 1000, 10000} {
		b.Run(fmt.Sprintf("peers=%d/wants=100", peers), func(b *testing.B) { benchNextTask(b, peers, 100) })
	}
}

func benchNextTask(b *testing.B, peers, wants int) {
	const size = 64 << 10
	e := newEngine(b, Config{Rand: seeded(1)})
	ids := make([]peer.ID, peers)
	lists := make([][]Want, peers)
	for i := range ids {
		ids[i] = peer.ID(fmt.Sprintf("peer-%05d", i))
		lists[i] = wantBlocks(testCIDs(i*wants, wants), size)
	}
	gives := func(p peer.ID) bool { return p[len(p)-1]%2 == 0 }
	fill := func() {
		for i, p := range ids {
			e.WantsReceived(p, true, lists[i], t0)
		}
	}
	fill()
	b.ReportAllocs()
	var batches, blocks int
	for b.Loop() {
		t, ok := e.NextTask(t0)
		if !ok {
			b.StopTimer()
			fill()
			b.StartTimer()
			continue
		}
		batches++
		blocks += len(t.Blocks)
		e.TaskDone(t, len(t.Blocks), len(t.Blocks)*size, t0)
		if gives(t.Peer) {
			e.BlocksReceived(t.Peer, len(t.Blocks), len(t.Blocks)*size, t0)
		}
	}
	if batches > 0 {
		b.ReportMetric(float64(blocks)/float64(batches), "blocks/task")
	}
}

// BenchmarkWantsReceived measures taking in a 100-entry want-list.
func BenchmarkWantsReceived(b *testing.B) {
	e := newEngine(b, Config{})
	cs := testCIDs(0, 100)
	ws := wantBlocks(cs, 1024)
	b.ReportAllocs()
	for b.Loop() {
		e.WantsReceived("p", true, ws, t0)
		e.WantsReceived("p", true, nil, t0)
	}
}
