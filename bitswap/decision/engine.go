package decision

import (
	"cmp"
	"container/heap"
	"container/list"
	"slices"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Want is one want-list entry as received from a peer, with Have and Size
// filled in by the caller from the local block store.
type Want struct {
	CID          cid.Cid
	Priority     int32
	Cancel       bool
	WantHave     bool // want-have; false means want-block
	SendDontHave bool
	Have         bool // we hold the block
	Size         int  // its size in bytes, when Have
}

// Task is a batch of answers for one peer: the caller reads the blocks,
// sends one message, then calls TaskDone with the task.
type Task struct {
	Peer      peer.ID
	Blocks    []cid.Cid // send these blocks (CIDs as the peer asked for them)
	Haves     []cid.Cid // send HAVE
	DontHaves []cid.Cid // send DONT_HAVE
	// Size is what the task counts against the peer's outstanding bytes:
	// the block sizes plus a small cost per presence.
	Size int
	// PendingBytes is what is still queued for the peer after this task
	// (the message's pendingBytes field).
	PendingBytes int
	gen          uint64
}

// WantEntry is one entry of a peer's want-list as WantlistOf reports it.
type WantEntry struct {
	CID          cid.Cid
	Priority     int32
	WantBlock    bool // want-block; false means want-have
	SendDontHave bool
	Queued       bool // an answer is queued; false: waiting for the block
}

// Engine is the decision engine. It is not safe for concurrent use: one
// goroutine owns it and feeds it events in order.
type Engine struct {
	cfg     Config
	trusted map[peer.ID]bool
	peers   map[peer.ID]*peerState
	byHash  map[string]map[*want]struct{} // multihash -> wants for blocks we lack
	seq     uint64                        // last number given out by nextSeq

	active *list.List // ready non-frozen peers, round-robin order
	// busy counts non-frozen peers with answers queued that wait for their
	// outstanding bytes: they are not ready, but they are not done either,
	// so the slot they will want is not given to a frozen or losing peer.
	busy   int
	frozen *list.List // ready frozen peers, round-robin order

	thawQueue   timeHeap // frozen peers by frozenAt
	expiryQueue timeHeap // disconnected peers by disconnectedAt

	totals      Stats // the counters; the gauges are computed by Stats
	wantCount   int
	queuedCount int
}

// New returns an engine, or an error naming a bad Config field.
func New(cfg Config) (*Engine, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	e := &Engine{
		cfg:     cfg,
		trusted: make(map[peer.ID]bool, len(cfg.TrustedPeers)),
		peers:   make(map[peer.ID]*peerState),
		byHash:  make(map[string]map[*want]struct{}),
		active:  list.New(),
		frozen:  list.New(),
		thawQueue: timeHeap{
			at:    func(p *peerState) time.Time { return p.frozenAt },
			index: func(p *peerState) *int { return &p.frozenIdx },
		},
		expiryQueue: timeHeap{
			at:    func(p *peerState) time.Time { return p.disconnectedAt },
			index: func(p *peerState) *int { return &p.goneIdx },
		},
	}
	for _, p := range cfg.TrustedPeers {
		e.trusted[p] = true
	}
	return e, nil
}

// Tick applies what time alone changes: timed thaws and the expiry of
// disconnected peers' ledgers. Every other method with a now does it too.
func (e *Engine) Tick(now time.Time) {
	for e.thawQueue.Len() > 0 {
		ps := e.thawQueue.peek()
		if now.Before(ps.frozenAt.Add(e.cfg.ThawAfter)) {
			break
		}
		e.thaw(ps, true)
	}
	for e.expiryQueue.Len() > 0 {
		ps := e.expiryQueue.peek()
		if now.Before(ps.disconnectedAt.Add(e.cfg.LedgerRetention)) {
			break
		}
		heap.Pop(&e.expiryQueue)
		if ps.frozen {
			heap.Remove(&e.thawQueue, ps.frozenIdx)
		}
		delete(e.peers, ps.id)
	}
}

// nextSeq numbers wants (arrival order) and peer connections (so a task
// from an earlier connection, even of a forgotten ledger, is recognised).
func (e *Engine) nextSeq() uint64 {
	e.seq++
	return e.seq
}

// peer returns the state of p, creating it if needed; connect marks it
// connected (events that only a connected peer can cause).
func (e *Engine) peer(p peer.ID, connect bool) *peerState {
	ps := e.peers[p]
	if ps == nil {
		ps = &peerState{
			id:        p,
			trusted:   e.trusted[p],
			frozenIdx: -1,
			goneIdx:   -1,
			wants:     make(map[string]*want),
			connected: true,
			gen:       e.nextSeq(),
		}
		e.peers[p] = ps
		return ps
	}
	if connect && !ps.connected {
		ps.connected = true
		if ps.goneIdx >= 0 {
			heap.Remove(&e.expiryQueue, ps.goneIdx)
		}
	}
	return ps
}

// PeerConnected records a connection to p (a known ledger is kept).
func (e *Engine) PeerConnected(p peer.ID, now time.Time) {
	e.Tick(now)
	e.peer(p, true)
}

// PeerDisconnected drops p's want-list and queued tasks and forgets what
// was outstanding; its ledger stays for LedgerRetention.
func (e *Engine) PeerDisconnected(p peer.ID, now time.Time) {
	e.Tick(now)
	ps := e.peers[p]
	if ps == nil || !ps.connected {
		return
	}
	for _, w := range ps.wants {
		e.removeWant(ps, w)
	}
	ps.connected = false
	ps.gen = e.nextSeq()
	ps.outstanding = 0
	ps.disconnectedAt = now
	heap.Push(&e.expiryQueue, ps)
	e.updateReady(ps, false)
}

// WantsReceived applies a want-list message from p. A full list replaces
// p's want-list; a cancel removes the want and its queued answer; other
// entries add a want or update it (priority; want-have never downgrades a
// want-block). New entries past MaxWantsPerPeer are dropped, in message
// order; the count of dropped entries is returned.
func (e *Engine) WantsReceived(p peer.ID, full bool, entries []Want, now time.Time) (dropped int) {
	e.Tick(now)
	ps := e.peer(p, true)
	if full {
		// Mark the wants the new list keeps, drop the rest.
		mark := e.nextSeq()
		for _, en := range entries {
			if w := ps.wants[en.CID.KeyString()]; w != nil && !en.Cancel {
				w.mark = mark
			}
		}
		for _, w := range ps.wants {
			if w.mark != mark {
				e.removeWant(ps, w)
			}
		}
	}
	for _, en := range entries {
		if !en.CID.Defined() {
			continue
		}
		key := en.CID.KeyString()
		w := ps.wants[key]
		if en.Cancel {
			if w != nil {
				e.removeWant(ps, w)
			}
			continue
		}
		if w == nil {
			if len(ps.wants) >= e.cfg.MaxWantsPerPeer {
				dropped++
				continue
			}
			w = &want{peer: ps, c: en.CID, key: key, seq: e.nextSeq(), idx: -1}
			ps.wants[key] = w
			e.wantCount++
		}
		w.priority = en.Priority
		w.wantBlock = w.wantBlock || !en.WantHave
		w.sendDontHave = w.sendDontHave || en.SendDontHave
		e.setHave(w, en.Have, en.Size)
		e.schedule(ps, w)
	}
	e.totals.WantsDropped += int64(dropped)
	e.updateReady(ps, false)
	return dropped
}

// BlocksReceived credits p's ledger with blocks and bytes it sent us. A
// frozen peer that has given back enough (P(r) >= ThawAbove) thaws.
func (e *Engine) BlocksReceived(p peer.ID, blocks, bytes int, now time.Time) {
	e.Tick(now)
	ps := e.peer(p, true)
	ps.blocksRecv += int64(blocks)
	ps.bytesRecv += int64(bytes)
	e.totals.BlocksReceived += int64(blocks)
	e.totals.BytesReceived += int64(bytes)
	ps.touch(now)
	if ps.frozen && e.serveProbability(ps) >= e.cfg.ThawAbove {
		e.thaw(ps, false)
	}
}

// BlockAdded tells the engine we now hold c (size bytes): every connected
// peer whose want-list has a CID with the same multihash gets its answer
// queued (the block, or HAVE for a want-have of a block over
// SmallBlockSize), replacing a queued DONT_HAVE.
func (e *Engine) BlockAdded(c cid.Cid, size int, now time.Time) {
	e.Tick(now)
	set := e.byHash[string(c.Hash())]
	if len(set) == 0 {
		return
	}
	ws := make([]*want, 0, len(set))
	for w := range set {
		ws = append(ws, w)
	}
	// Map order is random; the order peers join the ring must not be.
	slices.SortFunc(ws, func(a, b *want) int {
		return cmp.Or(cmp.Compare(a.peer.id, b.peer.id), cmp.Compare(a.seq, b.seq))
	})
	for _, w := range ws {
		e.setHave(w, true, size)
		e.schedule(w.peer, w)
		e.updateReady(w.peer, false)
	}
}

// NextTask picks the next peer to serve and hands out a batch for it, or
// reports false when no peer is waiting (no queued answers, or all at their
// outstanding limit). The batch counts against the peer's outstanding
// bytes until TaskDone.
func (e *Engine) NextTask(now time.Time) (Task, bool) {
	e.Tick(now)
	ps := e.pick(now)
	if ps == nil {
		return Task{}, false
	}
	return e.serve(ps), true
}

// TaskDone reports that the caller finished with t: sentBlocks blocks of
// sentBytes bytes in total went out (fewer than t.Blocks if a block was
// gone or the send failed). It releases t.Size of the peer's outstanding
// bytes and credits the ledger with what was sent.
func (e *Engine) TaskDone(t Task, sentBlocks, sentBytes int, now time.Time) {
	e.Tick(now)
	ps := e.peers[t.Peer]
	if ps == nil {
		return
	}
	if sentBlocks > 0 || sentBytes > 0 {
		ps.blocksSent += int64(sentBlocks)
		ps.bytesSent += int64(sentBytes)
		e.totals.BlocksSent += int64(sentBlocks)
		e.totals.BytesSent += int64(sentBytes)
		ps.touch(now)
	}
	if t.gen == ps.gen {
		ps.outstanding = max(ps.outstanding-t.Size, 0)
		e.updateReady(ps, false)
	}
}

// Ledger returns p's ledger, if the engine holds one.
func (e *Engine) Ledger(p peer.ID) (LedgerSnapshot, bool) {
	ps := e.peers[p]
	if ps == nil {
		return LedgerSnapshot{}, false
	}
	return e.snapshot(ps), true
}

// Ledgers returns every ledger held, sorted by peer ID.
func (e *Engine) Ledgers() []LedgerSnapshot {
	out := make([]LedgerSnapshot, 0, len(e.peers))
	for _, ps := range e.peers {
		out = append(out, e.snapshot(ps))
	}
	slices.SortFunc(out, func(a, b LedgerSnapshot) int { return cmp.Compare(a.Peer, b.Peer) })
	return out
}

// WantlistOf returns what p wants from us, highest priority first (then in
// arrival order).
func (e *Engine) WantlistOf(p peer.ID) []WantEntry {
	ps := e.peers[p]
	if ps == nil {
		return nil
	}
	ws := make([]*want, 0, len(ps.wants))
	for _, w := range ps.wants {
		ws = append(ws, w)
	}
	slices.SortFunc(ws, func(a, b *want) int {
		return cmp.Or(cmp.Compare(b.priority, a.priority), cmp.Compare(a.seq, b.seq))
	})
	out := make([]WantEntry, len(ws))
	for i, w := range ws {
		out[i] = WantEntry{CID: w.c, Priority: w.priority, WantBlock: w.wantBlock, SendDontHave: w.sendDontHave, Queued: w.idx >= 0}
	}
	return out
}

// Stats returns the engine-wide totals.
func (e *Engine) Stats() Stats {
	s := e.totals
	s.Ledgers = len(e.peers)
	s.Frozen = e.thawQueue.Len()
	s.Wants = e.wantCount
	s.QueuedTasks = e.queuedCount
	for _, ps := range e.peers {
		if ps.connected {
			s.Peers++
		}
	}
	return s
}

func (e *Engine) snapshot(ps *peerState) LedgerSnapshot {
	return LedgerSnapshot{
		Peer:             ps.id,
		BytesSent:        ps.bytesSent,
		BytesReceived:    ps.bytesRecv,
		BlocksSent:       ps.blocksSent,
		BlocksReceived:   ps.blocksRecv,
		DebtRatio:        ps.debtRatio(e.cfg.FreeAllowance),
		ServeProbability: e.serveProbability(ps),
		Frozen:           ps.frozen,
		Trusted:          ps.trusted,
		Connected:        ps.connected,
		FirstExchange:    ps.firstExchange,
		LastExchange:     ps.lastExchange,
		Wants:            len(ps.wants),
		QueuedTasks:      ps.tasks.Len(),
		OutstandingBytes: ps.outstanding,
	}
}

// reciprocal reports whether the ledger counts for ps.
func (e *Engine) reciprocal(ps *peerState) bool {
	return e.cfg.Strategy == Reciprocal && !ps.trusted
}

func (e *Engine) serveProbability(ps *peerState) float64 {
	if !e.reciprocal(ps) {
		return 1
	}
	return ServeProbability(ps.debtRatio(e.cfg.FreeAllowance))
}

// schedule queues, updates or unqueues the answer to w from what we know.
func (e *Engine) schedule(ps *peerState, w *want) {
	kind := kindNone
	switch {
	case w.have && (w.wantBlock || w.size <= SmallBlockSize):
		kind = kindBlock
	case w.have:
		kind = kindHave
	case w.sendDontHave:
		kind = kindDontHave
	}
	if w.idx >= 0 {
		ps.queuedBytes -= w.cost()
		if kind == kindNone {
			heap.Remove(&ps.tasks, w.idx)
			e.queuedCount--
			w.kind = kindNone
			return
		}
		w.kind = kind
		ps.queuedBytes += w.cost()
		heap.Fix(&ps.tasks, w.idx)
		return
	}
	if kind == kindNone {
		return
	}
	w.kind = kind
	ps.queuedBytes += w.cost()
	heap.Push(&ps.tasks, w)
	e.queuedCount++
}

// removeWant deletes w from ps's want-list, its queue and the index.
func (e *Engine) removeWant(ps *peerState, w *want) {
	if w.idx >= 0 {
		ps.queuedBytes -= w.cost()
		heap.Remove(&ps.tasks, w.idx)
		e.queuedCount--
	}
	delete(ps.wants, w.key)
	e.wantCount--
	e.setHave(w, true, w.size) // out of the index
}

// setHave records whether we hold w's block. Wants for blocks we lack are
// indexed by multihash, for BlockAdded; the others need no index, which
// keeps the common path (wants we can serve) off the big shared map.
func (e *Engine) setHave(w *want, have bool, size int) {
	w.have, w.size = have, size
	if have == !w.indexed {
		return
	}
	if w.mh == "" {
		w.mh = string(w.c.Hash())
	}
	set := e.byHash[w.mh]
	if have {
		delete(set, w)
		if len(set) == 0 {
			delete(e.byHash, w.mh)
		}
		w.indexed = false
		return
	}
	if set == nil {
		set = make(map[*want]struct{}, 1)
		e.byHash[w.mh] = set
	}
	set[w] = struct{}{}
	w.indexed = true
}

// updateReady puts ps in the ring it belongs to (active or frozen) when it
// is waiting to be served, takes it out otherwise; toBack sends it to the
// back of its ring (it was just served).
func (e *Engine) updateReady(ps *peerState, toBack bool) {
	wanting := ps.connected && ps.tasks.Len() > 0
	ready := wanting && ps.outstanding < e.cfg.MaxOutstandingBytesPerPeer
	if blocked := wanting && !ready && !ps.frozen; blocked != ps.blocked {
		ps.blocked = blocked
		if blocked {
			e.busy++
		} else {
			e.busy--
		}
	}
	if !ready {
		if ps.elem != nil {
			ps.ring.Remove(ps.elem)
			ps.ring, ps.elem = nil, nil
		}
		return
	}
	ring := e.active
	if ps.frozen {
		ring = e.frozen
	}
	if ps.elem != nil && ps.ring == ring {
		if toBack {
			ring.MoveToBack(ps.elem)
		}
		return
	}
	if ps.elem != nil {
		ps.ring.Remove(ps.elem)
	}
	ps.ring, ps.elem = ring, ring.PushBack(ps)
}

// pick chooses the peer to serve. Non-frozen peers come first, in ring
// order: the front peer is served with probability P(r); if the draw
// loses, it goes to the back and the next one draws. A peer whose P(r) is
// under FreezeBelow in FreezeAfterRounds consecutive draws is frozen. If
// every draw loses (at most maxDrawsPerTask of them), the drawn peer with
// the best P(r) is served anyway. Frozen peers are served, in turn, only
// when no other peer is waiting.
func (e *Engine) pick(now time.Time) *peerState {
	var best *peerState
	bestP := -1.0
	for draws := min(e.active.Len(), maxDrawsPerTask); draws > 0; draws-- {
		ps := e.active.Front().Value.(*peerState)
		p := e.serveProbability(ps)
		if p >= 1 || e.cfg.Rand() < p {
			if p >= e.cfg.FreezeBelow {
				ps.lowRounds = 0
			}
			return ps
		}
		e.active.MoveToBack(ps.elem)
		if p >= e.cfg.FreezeBelow {
			ps.lowRounds = 0
		} else if ps.lowRounds++; ps.lowRounds >= e.cfg.FreezeAfterRounds {
			e.freeze(ps, now)
			continue
		}
		if p > bestP {
			best, bestP = ps, p
		}
	}
	if e.busy > 0 {
		// Every draw lost, but another peer is only waiting for its own
		// sends to finish: keep the slot for it rather than hand it to a
		// peer that lost its draw or is frozen.
		return nil
	}
	if best != nil {
		return best
	}
	if e.active.Len() > 0 {
		// Every peer drawn was frozen, but unfrozen ones still wait.
		return e.active.Front().Value.(*peerState)
	}
	if e.frozen.Len() > 0 {
		return e.frozen.Front().Value.(*peerState)
	}
	return nil
}

func (e *Engine) freeze(ps *peerState, now time.Time) {
	ps.frozen = true
	ps.frozenAt = now
	ps.lowRounds = 0
	heap.Push(&e.thawQueue, ps)
	e.updateReady(ps, false)
}

// thaw unfreezes ps; forgive restarts its debt count (a timed thaw).
func (e *Engine) thaw(ps *peerState, forgive bool) {
	heap.Remove(&e.thawQueue, ps.frozenIdx)
	ps.frozen = false
	ps.lowRounds = 0
	if forgive {
		ps.baseSent, ps.baseRecv = ps.bytesSent, ps.bytesRecv
	}
	e.updateReady(ps, false)
}

// serve hands out ps's next batch: tasks in queue order while they fit in
// min(TargetMessageSize, room under the outstanding limit), at least one.
// Blocks and HAVEs fulfil the want (it leaves the want-list); a DONT_HAVE
// leaves the want waiting for BlockAdded.
func (e *Engine) serve(ps *peerState) Task {
	budget := min(e.cfg.TargetMessageSize, e.cfg.MaxOutstandingBytesPerPeer-ps.outstanding)
	t := Task{Peer: ps.id, gen: ps.gen}
	for n := 0; ps.tasks.Len() > 0; n++ {
		w := ps.tasks[0]
		cost := w.cost()
		if n > 0 && t.Size+cost > budget {
			break
		}
		heap.Pop(&ps.tasks)
		e.queuedCount--
		ps.queuedBytes -= cost
		t.Size += cost
		switch w.kind {
		case kindBlock:
			t.Blocks = append(t.Blocks, w.c)
			e.removeWant(ps, w)
		case kindHave:
			t.Haves = append(t.Haves, w.c)
			e.removeWant(ps, w)
		case kindDontHave:
			t.DontHaves = append(t.DontHaves, w.c)
			w.kind = kindNone
		}
	}
	ps.outstanding += t.Size
	t.PendingBytes = ps.queuedBytes
	e.updateReady(ps, true)
	return t
}
