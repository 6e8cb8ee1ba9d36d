package decision

import (
	"time"

	"github.com/ipfs/go-cid"
)

// taskKind is what a queued want will be answered with.
type taskKind uint8

const (
	kindNone     taskKind = iota // not queued: waiting for the block
	kindBlock                    // send the block
	kindHave                     // send HAVE
	kindDontHave                 // send DONT_HAVE
)

// want is one entry of a peer's want-list, and the queued task for it when
// kind != kindNone (one task per CID: later wants update it in place).
type want struct {
	peer         *peerState
	c            cid.Cid
	key          string // c.KeyString(): the want-list key
	mh           string // multihash bytes, the index key; set when first indexed
	indexed      bool   // in Engine.byHash (we lack the block)
	mark         uint64 // last full want-list that kept it
	priority     int32
	seq          uint64 // arrival order, FIFO among equal priorities
	wantBlock    bool   // want-block (else want-have); never downgraded
	sendDontHave bool
	have         bool // we hold the block (as the glue told us)
	size         int  // its size when have
	kind         taskKind
	idx          int // index in peer's taskHeap, -1 when not queued
}

// cost is what the task counts against message size and outstanding bytes.
func (w *want) cost() int {
	if w.kind == kindBlock {
		return max(w.size, 1)
	}
	// A block presence is about a CID and a type on the wire.
	return len(w.key) + 2
}

// taskHeap orders a peer's queued tasks: higher priority first, then
// arrival order.
type taskHeap []*want

func (h taskHeap) Len() int { return len(h) }
func (h taskHeap) Less(i, j int) bool {
	if h[i].priority != h[j].priority {
		return h[i].priority > h[j].priority
	}
	return h[i].seq < h[j].seq
}
func (h taskHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].idx = i
	h[j].idx = j
}
func (h *taskHeap) Push(x any) {
	w := x.(*want)
	w.idx = len(*h)
	*h = append(*h, w)
}
func (h *taskHeap) Pop() any {
	old := *h
	w := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	w.idx = -1
	return w
}

// timeHeap is a min-heap of peers by a time they carry (frozenAt for the
// thaw queue, disconnectedAt for the ledger expiry queue), with each peer
// knowing its index so it can be removed in O(log n).
type timeHeap struct {
	items []*peerState
	at    func(*peerState) time.Time
	index func(*peerState) *int
}

func (h *timeHeap) Len() int { return len(h.items) }
func (h *timeHeap) Less(i, j int) bool {
	a, b := h.items[i], h.items[j]
	if ta, tb := h.at(a), h.at(b); !ta.Equal(tb) {
		return ta.Before(tb)
	}
	return a.id < b.id
}
func (h *timeHeap) Swap(i, j int) {
	h.items[i], h.items[j] = h.items[j], h.items[i]
	*h.index(h.items[i]) = i
	*h.index(h.items[j]) = j
}
func (h *timeHeap) Push(x any) {
	p := x.(*peerState)
	*h.index(p) = len(h.items)
	h.items = append(h.items, p)
}
func (h *timeHeap) Pop() any {
	p := h.items[len(h.items)-1]
	h.items[len(h.items)-1] = nil
	h.items = h.items[:len(h.items)-1]
	*h.index(p) = -1
	return p
}
func (h *timeHeap) peek() *peerState { return h.items[0] }
