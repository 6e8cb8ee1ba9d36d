package decision

import (
	"container/list"
	"math"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// ServeProbability is P(r) = 1 - 1/(1 + exp(6 - 3r)), the chance that a
// peer with debt ratio r is served when its turn comes: about 0.998 at
// r = 0, 0.95 at r = 1, 0.5 at r = 2, 0.05 at r = 3 and 0 for large r.
func ServeProbability(r float64) float64 {
	return 1 - 1/(1+math.Exp(6-3*r))
}

// peerState is everything the engine knows about one peer: its ledger,
// its want-list and queued tasks, and its place in the scheduling rings.
type peerState struct {
	id      peer.ID
	trusted bool
	// blocked: not frozen, with answers queued, but held back until its
	// outstanding bytes are reported sent (counted in Engine.busy).
	blocked bool

	// Ledger.
	bytesSent, bytesRecv   int64
	blocksSent, blocksRecv int64
	// The debt ratio counts exchange since these totals (moved when the
	// debt is forgiven on a timed thaw).
	baseSent, baseRecv          int64
	firstExchange, lastExchange time.Time

	// Freezing.
	frozen    bool
	frozenAt  time.Time
	frozenIdx int // in Engine.thawQueue, -1 when not frozen
	lowRounds int // consecutive draws with P(r) < FreezeBelow

	// Connection.
	connected      bool
	gen            uint64 // renewed on disconnect: stale TaskDone calls free no room
	disconnectedAt time.Time
	goneIdx        int // in Engine.expiryQueue, -1 when connected

	// Wants and tasks.
	wants       map[string]*want // by CID key
	tasks       taskHeap
	queuedBytes int // sum of the costs of queued tasks
	outstanding int // handed out in tasks, not yet reported by TaskDone

	// Scheduling: the ring (active or frozen) the peer waits in when it
	// has tasks and room under the outstanding limit.
	ring *list.List
	elem *list.Element
}

func (ps *peerState) touch(now time.Time) {
	if ps.firstExchange.IsZero() {
		ps.firstExchange = now
	}
	if now.After(ps.lastExchange) {
		ps.lastExchange = now
	}
}

// debtRatio is r = sent / (recv + 1), counting only bytes sent beyond the
// free allowance, both since the debt was last forgiven.
func (ps *peerState) debtRatio(allowance int64) float64 {
	sent := ps.bytesSent - ps.baseSent - allowance
	if sent <= 0 {
		return 0
	}
	return float64(sent) / float64(ps.bytesRecv-ps.baseRecv+1)
}

// LedgerSnapshot is a copy of one peer's ledger and queue state.
type LedgerSnapshot struct {
	Peer           peer.ID
	BytesSent      int64 // block bytes we sent it
	BytesReceived  int64 // block bytes it sent us
	BlocksSent     int64
	BlocksReceived int64
	// DebtRatio is r over the bytes beyond the free allowance since the
	// debt was last forgiven; ServeProbability is P(r) under the strategy
	// (1 for trusted peers and the fair strategy).
	DebtRatio        float64
	ServeProbability float64
	Frozen           bool
	Trusted          bool
	Connected        bool
	FirstExchange    time.Time // zero until a block or byte moves
	LastExchange     time.Time
	Wants            int // entries in its want-list
	QueuedTasks      int // of those, answers queued to send
	OutstandingBytes int // handed out, not yet reported sent
}

// Stats are engine-wide totals for `node stats bitswap`.
type Stats struct {
	BlocksSent, BytesSent         int64
	BlocksReceived, BytesReceived int64
	WantsDropped                  int64 // entries refused by MaxWantsPerPeer
	Peers                         int   // connected peers
	Ledgers                       int   // ledgers held, connected or not
	Frozen                        int   // frozen peers
	Wants                         int   // want-list entries over all peers
	QueuedTasks                   int
}
