package client

import (
	"math"
	"slices"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"node/bitswap/message"
	"node/blockstore"
)

// sessionID names a session inside the client.
type sessionID uint64

// core is the client's decision logic: a state machine fed events with the
// current time. It does no I/O, starts no goroutines and reads no clock;
// what it decides (want-list entries to send, provider searches to run)
// accumulates in out, which the owner takes with take. Given the same
// events and times it makes the same decisions. It is not safe for
// concurrent use: one goroutine owns it.
type core struct {
	opts Options

	peers     map[peer.ID]*peerInfo
	connected []peer.ID // sorted, for deterministic choices

	wants map[string]*want // by multihash
	order []*want          // by seq; removed wants are skipped and compacted away
	seq   uint64

	sessions map[sessionID]*session

	// recent remembers the keys of the last blocks delivered, so a late
	// copy counts as a duplicate rather than an unrequested block.
	recent      map[string]struct{}
	recentOrder []string

	totals Stats // without Peers and Wants
	out    output
}

// output is what the core asks its owner to do.
type output struct {
	msgs     map[peer.ID][]message.Entry // want-list changes, in order, per peer
	searches []search                    // provider searches to start
}

// search asks the routing for providers of cid on behalf of a session.
type search struct {
	sid sessionID
	cid cid.Cid
}

// delivery says which sessions wanted a stored block.
type delivery struct {
	key  string
	sids []sessionID
}

type peerInfo struct {
	connected bool
	version   message.Version // assumed 1.2.0 until told otherwise
	failed    bool            // a send failed: not a candidate until it talks or reconnects
	lastRecv  time.Time       // the last message with blocks or presences from it
	load      int             // wants for which it is a live want-block target
	stats     PeerStats
}

// wantPeer is what one peer knows and said about one want.
type wantPeer struct {
	asked    bool      // a want is outstanding at the peer: it gets a cancel
	block    bool      // that want was a want-block
	live     bool      // a want-block awaiting an answer (counted in load)
	at       time.Time // when the want-block was sent
	have     bool      // it said HAVE, or the routing named it a provider
	dontHave bool      // it said DONT_HAVE
	timedOut bool      // it was sent a want-block and stayed silent too long
}

type want struct {
	key       string
	cid       cid.Cid // as first asked: what goes on the wire
	seq       uint64
	refs      map[sessionID]int
	total     int
	peers     map[peer.ID]*wantPeer
	arrived   bool // the block came and is being stored
	removed   bool
	broadcast bool // want-have goes to every connected peer, not only the sessions' peers
}

func (w *want) peer(p peer.ID) *wantPeer {
	wp := w.peers[p]
	if wp == nil {
		wp = &wantPeer{}
		w.peers[p] = wp
	}
	return wp
}

// priority is higher for older wants, so peers serve them in the order asked.
func (w *want) priority() int32 { return math.MaxInt32 - int32(w.seq%math.MaxInt32) }

type session struct {
	id           sessionID
	wants        map[string]*want
	peers        map[peer.ID]*sessionPeer // peers that proved useful: blocks, HAVE, provider records
	lastProgress time.Time                // last block, or when it started wanting after being idle
	lastSearch   time.Time
	idle         time.Duration // how long without progress before widening; doubles each time
}

type sessionPeer struct {
	blocks int
	last   time.Time
}

const (
	tierHave    = iota // said HAVE (or is a provider) for this block
	tierSession        // useful to one of the want's sessions
	tierOther          // any other connected peer
)

// maxRecent bounds the memory of delivered blocks kept for duplicate counts.
const maxRecent = 4096

// maxKnownPeers bounds the disconnected peers whose counters are kept.
const maxKnownPeers = 4096

func newCore(opts Options) *core {
	return &core{
		opts:     opts.withDefaults(),
		peers:    map[peer.ID]*peerInfo{},
		wants:    map[string]*want{},
		sessions: map[sessionID]*session{},
		recent:   map[string]struct{}{},
	}
}

// take returns and clears what the core decided since the last take.
func (c *core) take() output {
	o := c.out
	c.out = output{}
	return o
}

func (c *core) emit(p peer.ID, e message.Entry) {
	if c.out.msgs == nil {
		c.out.msgs = map[peer.ID][]message.Entry{}
	}
	c.out.msgs[p] = append(c.out.msgs[p], e)
}

func (c *core) peer(p peer.ID) *peerInfo {
	pi := c.peers[p]
	if pi == nil {
		pi = &peerInfo{version: message.V120}
		c.peers[p] = pi
	}
	return pi
}

// pending lists the wants still waiting for their block, oldest first.
func (c *core) pending() []*want {
	if len(c.order) > 2*len(c.wants)+32 {
		c.order = slices.DeleteFunc(c.order, func(w *want) bool { return w.removed })
	}
	out := make([]*want, 0, len(c.order))
	for _, w := range c.order {
		if !w.removed && !w.arrived {
			out = append(out, w)
		}
	}
	return out
}

// busy reports whether anything is wanted (the owner ticks only then).
func (c *core) busy() bool { return len(c.wants) > 0 }

// ---- peers ----

// peerConnected adds p as a candidate. v is its Bitswap version when
// known (zero otherwise). Wants that broadcast, and wants no peer is
// serving, go to it at once.
func (c *core) peerConnected(p peer.ID, v message.Version, now time.Time) {
	pi := c.peer(p)
	if v.Valid() && v != pi.version {
		if pi.connected {
			c.setVersion(p, v, now)
		} else {
			pi.version = v
		}
	}
	if pi.connected {
		return
	}
	pi.connected = true
	pi.failed = false
	i, _ := slices.BinarySearch(c.connected, p)
	c.connected = slices.Insert(c.connected, i, p)
	for _, w := range c.pending() {
		c.assign(w, now)
	}
}

// peerDisconnected forgets what p knew of our wants (its side dropped
// them) and moves the wants it was serving to other peers.
func (c *core) peerDisconnected(p peer.ID, now time.Time) {
	pi := c.peers[p]
	if pi == nil || !pi.connected {
		return
	}
	pi.connected = false
	if i, ok := slices.BinarySearch(c.connected, p); ok {
		c.connected = slices.Delete(c.connected, i, i+1)
	}
	var affected []*want
	for _, w := range c.pending() {
		if wp := w.peers[p]; wp != nil {
			live := wp.live
			c.unlive(p, wp)
			delete(w.peers, p)
			if live {
				affected = append(affected, w)
			}
		}
	}
	for _, w := range c.wants { // arrived wants too
		delete(w.peers, p)
	}
	for _, w := range affected {
		c.assign(w, now)
	}
	if pi.stats == (PeerStats{}) || len(c.peers) > maxKnownPeers {
		delete(c.peers, p)
	}
}

// setVersion records the Bitswap version p speaks. A peer found to be on
// 1.0.0 or 1.1.0 read our want-haves as want-blocks: they count as such.
func (c *core) setVersion(p peer.ID, v message.Version, now time.Time) {
	pi := c.peers[p]
	if pi == nil || !v.Valid() || pi.version == v {
		return
	}
	pi.version = v
	if v.SupportsHave() || !pi.connected {
		return
	}
	for _, w := range c.pending() {
		wp := w.peers[p]
		if wp == nil || !wp.asked || wp.block || wp.dontHave || wp.timedOut {
			continue
		}
		if !v.Carries(w.cid) { // it never got this want
			wp.asked, wp.timedOut = false, true
			c.assign(w, now)
			continue
		}
		wp.block, wp.live, wp.at = true, true, now
		pi.load++
	}
}

// sendFailed: a message to p could not be sent. The wants it was to serve
// move on; it is not asked again until it talks to us or reconnects.
func (c *core) sendFailed(p peer.ID, now time.Time) {
	pi := c.peers[p]
	if pi == nil || !pi.connected {
		return
	}
	pi.failed = true
	for _, w := range c.pending() {
		if wp := w.peers[p]; wp != nil && wp.live {
			c.unlive(p, wp)
			wp.timedOut = true
			c.assign(w, now)
		}
	}
}

// peerError counts a malformed message from p (its stream was reset).
func (c *core) peerError(p peer.ID) {
	c.peer(p).stats.Errors++
	c.totals.Errors++
}

func (c *core) unlive(p peer.ID, wp *wantPeer) {
	if wp.live {
		wp.live = false
		c.peers[p].load--
	}
}

// ---- wants and sessions ----

func (c *core) session(sid sessionID, now time.Time) *session {
	s := c.sessions[sid]
	if s == nil {
		s = &session{id: sid, wants: map[string]*want{}, peers: map[peer.ID]*sessionPeer{},
			lastProgress: now, idle: c.opts.SearchDelay}
		c.sessions[sid] = s
	}
	return s
}

// want adds one unit of interest of session sid in each CID and asks
// peers for the new ones.
func (c *core) want(sid sessionID, cids []cid.Cid, now time.Time) {
	s := c.session(sid, now)
	if len(s.wants) == 0 {
		s.lastProgress, s.idle = now, c.opts.SearchDelay
	}
	var touched []*want
	for _, k := range cids {
		key := string(k.Hash())
		w := c.wants[key]
		if w == nil {
			c.seq++
			w = &want{key: key, cid: k, seq: c.seq, refs: map[sessionID]int{}, peers: map[peer.ID]*wantPeer{}}
			c.wants[key] = w
			c.order = append(c.order, w)
		}
		if w.refs[sid] == 0 && !slices.Contains(touched, w) {
			touched = append(touched, w)
		}
		w.refs[sid]++
		w.total++
		s.wants[key] = w
	}
	for _, w := range touched {
		c.assign(w, now)
	}
}

// cancel removes one unit of interest of session sid in each CID. A want
// nobody is interested in any more is cancelled at every peer asked.
func (c *core) cancel(sid sessionID, cids []cid.Cid, now time.Time) {
	s := c.sessions[sid]
	if s == nil {
		return
	}
	for _, k := range cids {
		key := string(k.Hash())
		w := s.wants[key]
		if w == nil {
			continue
		}
		w.refs[sid]--
		w.total--
		if w.refs[sid] <= 0 {
			delete(w.refs, sid)
			delete(s.wants, key)
		}
		if w.total <= 0 && !w.arrived {
			c.drop(w)
		}
	}
}

// closeSession drops all the interest of a session.
func (c *core) closeSession(sid sessionID) {
	s := c.sessions[sid]
	if s == nil {
		return
	}
	keys := make([]string, 0, len(s.wants))
	for key := range s.wants {
		keys = append(keys, key)
	}
	slices.Sort(keys)
	for _, key := range keys {
		w := s.wants[key]
		w.total -= w.refs[sid]
		delete(w.refs, sid)
		if w.total <= 0 && !w.arrived {
			c.drop(w)
		}
	}
	delete(c.sessions, sid)
}

// drop forgets a want nobody needs and cancels it where it was asked.
func (c *core) drop(w *want) {
	for _, p := range c.connected {
		if wp := w.peers[p]; wp != nil {
			c.unlive(p, wp)
			if wp.asked {
				c.emit(p, message.Entry{CID: w.cid, Cancel: true})
			}
		}
	}
	delete(c.wants, w.key)
	w.removed = true
}

// proven reports whether p proved useful to one of w's sessions.
func (c *core) proven(w *want, p peer.ID) bool {
	for sid := range w.refs {
		if s := c.sessions[sid]; s != nil && s.peers[p] != nil {
			return true
		}
	}
	return false
}

// assign makes sure a want is being served: a want-block to the peer most
// likely to have the block (one that said HAVE, else one useful to the
// want's sessions, else any connected peer, the least loaded first), and
// want-haves to the sessions' peers, or to every connected peer when the
// want broadcasts (no session peer yet, or the search was widened). Peers
// on 1.0.0/1.1.0 understand only want-block: they are asked as targets.
// A want no peer can serve any more looks for providers.
func (c *core) assign(w *want, now time.Time) {
	if w.arrived || w.removed {
		return
	}
	live, liveHave := false, false
	for _, wp := range w.peers {
		if wp.live {
			live = true
			liveHave = liveHave || wp.have
		}
	}
	if !liveHave {
		// With a want-block out to a peer that did not say HAVE, a peer
		// that did is worth a second one; otherwise anyone will do.
		if t, tier, ok := c.bestTarget(w, live); ok {
			c.sendBlock(w, t, now)
			live = true
			if tier == tierOther {
				w.broadcast = true
			}
		}
	}
	if !live {
		w.broadcast = true
	}

	var set []peer.ID
	if w.broadcast {
		set = c.connected
	} else {
		for sid := range w.refs {
			if s := c.sessions[sid]; s != nil {
				for p := range s.peers {
					set = append(set, p)
				}
			}
		}
		slices.Sort(set)
		set = slices.Compact(set)
	}
	for _, p := range set {
		pi := c.peers[p]
		if pi == nil || !pi.connected || pi.failed || !pi.version.Carries(w.cid) {
			continue
		}
		wp := w.peers[p]
		if wp != nil && (wp.asked || wp.dontHave || wp.timedOut) {
			continue
		}
		switch {
		case pi.version.SupportsHave():
			wp = w.peer(p)
			wp.asked = true
			c.emit(p, message.Entry{CID: w.cid, Priority: w.priority(), WantType: message.WantHave, SendDontHave: true})
		case w.broadcast:
			c.sendBlock(w, p, now)
			live = true
		}
	}
	if live {
		return
	}
	awaiting := false
	for _, wp := range w.peers {
		if wp.asked && !wp.dontHave && !wp.timedOut {
			awaiting = true
		}
	}
	if !awaiting { // nobody left to ask: look further
		for _, sid := range sortedSessions(w.refs) {
			c.search(c.sessions[sid], w, now)
		}
	}
}

// bestTarget picks the peer to send a want-block for w: the lowest tier,
// then the fewest want-blocks outstanding, then the lowest peer ID.
func (c *core) bestTarget(w *want, onlyHave bool) (peer.ID, int, bool) {
	var best peer.ID
	bestTier, bestLoad, found := 0, 0, false
	for _, p := range c.connected {
		pi := c.peers[p]
		if pi.failed || !pi.version.Carries(w.cid) {
			continue
		}
		wp := w.peers[p]
		if wp != nil && (wp.live || wp.dontHave || wp.timedOut) {
			continue
		}
		tier := tierOther
		switch {
		case wp != nil && wp.have:
			tier = tierHave
		case c.proven(w, p):
			tier = tierSession
		}
		if onlyHave && tier != tierHave {
			continue
		}
		if !found || tier < bestTier || tier == bestTier && pi.load < bestLoad {
			best, bestTier, bestLoad, found = p, tier, pi.load, true
		}
	}
	return best, bestTier, found
}

func (c *core) sendBlock(w *want, p peer.ID, now time.Time) {
	pi := c.peers[p]
	wp := w.peer(p)
	wp.asked, wp.block, wp.at = true, true, now
	if !wp.live {
		wp.live = true
		pi.load++
	}
	c.emit(p, message.Entry{CID: w.cid, Priority: w.priority(), WantType: message.WantBlock,
		SendDontHave: pi.version.SupportsHave()})
}

// search asks for providers on behalf of s, at most once per SearchDelay.
func (c *core) search(s *session, w *want, now time.Time) {
	if s == nil || !s.lastSearch.IsZero() && now.Sub(s.lastSearch) < c.opts.SearchDelay {
		return
	}
	s.lastSearch = now
	c.out.searches = append(c.out.searches, search{sid: s.id, cid: w.cid})
}

func sortedSessions(refs map[sessionID]int) []sessionID {
	ids := make([]sessionID, 0, len(refs))
	for sid := range refs {
		ids = append(ids, sid)
	}
	slices.Sort(ids)
	return ids
}

// ---- what peers tell us ----

// received handles the blocks and presences of one message from p. The
// blocks have been verified against their CIDs (invalid counts those that
// were not). It returns the blocks some session wants, under the CID that
// was asked for, for the owner to store and then report with stored; their
// wants are cancelled at every other peer asked. Other blocks are dropped
// and counted against p: as duplicates when the block was wanted lately,
// as unrequested otherwise.
func (c *core) received(p peer.ID, blocks []blockstore.Block, presences []message.Presence, invalid int, now time.Time) []blockstore.Block {
	pi := c.peer(p)
	if !pi.connected {
		c.peerConnected(p, 0, now)
	}
	pi.lastRecv = now
	pi.failed = false
	pi.stats.Invalid += uint64(invalid)
	c.totals.Invalid += uint64(invalid)

	var accepted []blockstore.Block
	for _, b := range blocks {
		key := string(b.CID.Hash())
		n := uint64(len(b.Data))
		w := c.wants[key]
		if w == nil || w.arrived {
			if _, ok := c.recent[key]; ok || w != nil {
				pi.stats.DupBlocks++
				pi.stats.DupBytes += n
				c.totals.DupBlocks++
				c.totals.DupBytes += n
			} else {
				pi.stats.Unrequested++
				pi.stats.UnrequestedBytes += n
				c.totals.Unrequested++
				c.totals.UnrequestedBytes += n
			}
			continue
		}
		w.arrived = true
		accepted = append(accepted, blockstore.Block{CID: w.cid, Data: b.Data})
		pi.stats.BlocksReceived++
		pi.stats.BytesReceived += n
		c.totals.BlocksReceived++
		c.totals.BytesReceived += n
		for _, q := range c.connected {
			if wp := w.peers[q]; wp != nil {
				c.unlive(q, wp)
				if wp.asked && q != p {
					c.emit(q, message.Entry{CID: w.cid, Cancel: true})
				}
			}
		}
		for sid := range w.refs {
			if s := c.sessions[sid]; s != nil {
				sp := s.peers[p]
				if sp == nil {
					sp = &sessionPeer{}
					s.peers[p] = sp
				}
				sp.blocks++
				sp.last = now
				s.lastProgress, s.idle = now, c.opts.SearchDelay
			}
		}
	}

	for _, pr := range presences {
		w := c.wants[string(pr.CID.Hash())]
		switch pr.Type {
		case message.Have:
			pi.stats.Haves++
		case message.DontHave:
			pi.stats.DontHaves++
		}
		if w == nil || w.arrived {
			continue
		}
		wp := w.peer(p)
		switch pr.Type {
		case message.Have:
			wp.have, wp.dontHave, wp.timedOut = true, false, false
			for sid := range w.refs {
				if s := c.sessions[sid]; s != nil && s.peers[p] == nil {
					s.peers[p] = &sessionPeer{}
				}
			}
		case message.DontHave:
			wp.have, wp.dontHave = false, true
			c.unlive(p, wp)
		}
		c.assign(w, now)
	}
	return accepted
}

// stored reports that the blocks of these keys (returned by received) are
// in the block store. Their wants end; it returns which sessions to hand
// each block to.
func (c *core) stored(keys []string) []delivery {
	var out []delivery
	for _, key := range keys {
		w := c.wants[key]
		if w == nil || !w.arrived {
			continue
		}
		d := delivery{key: key, sids: sortedSessions(w.refs)}
		for _, sid := range d.sids {
			if s := c.sessions[sid]; s != nil {
				delete(s.wants, key)
			}
		}
		delete(c.wants, key)
		w.removed = true
		c.remember(key)
		out = append(out, d)
	}
	return out
}

func (c *core) remember(key string) {
	if _, ok := c.recent[key]; ok {
		return
	}
	if len(c.recentOrder) >= maxRecent {
		delete(c.recent, c.recentOrder[0])
		c.recentOrder = c.recentOrder[1:]
	}
	c.recent[key] = struct{}{}
	c.recentOrder = append(c.recentOrder, key)
}

// providerFound: the routing named p, now connected, as a provider of k
// for session sid. It joins the session and is asked for k first.
func (c *core) providerFound(sid sessionID, p peer.ID, v message.Version, k cid.Cid, now time.Time) {
	c.peerConnected(p, v, now)
	s := c.sessions[sid]
	if s == nil {
		return
	}
	if s.peers[p] == nil {
		s.peers[p] = &sessionPeer{}
	}
	if w := c.wants[string(k.Hash())]; w != nil && !w.arrived {
		if wp := w.peer(p); !wp.dontHave && !wp.timedOut {
			wp.have = true
		}
	}
	for _, w := range c.pending() {
		if w.refs[sid] > 0 {
			c.assign(w, now)
		}
	}
}

// ---- time ----

// tick moves want-blocks whose peer stayed silent past WantTimeout to the
// next peer, and widens the search of sessions without progress for their
// idle delay.
func (c *core) tick(now time.Time) {
	for _, w := range c.pending() {
		changed := false
		for p, wp := range w.peers {
			if !wp.live {
				continue
			}
			pi := c.peers[p]
			last := wp.at
			if pi.lastRecv.After(last) {
				last = pi.lastRecv
			}
			if now.Sub(last) >= c.opts.WantTimeout {
				c.unlive(p, wp)
				wp.timedOut = true
				pi.stats.Timeouts++
				changed = true
			}
		}
		if changed {
			c.assign(w, now)
		}
	}
	ids := make([]sessionID, 0, len(c.sessions))
	for sid := range c.sessions {
		ids = append(ids, sid)
	}
	slices.Sort(ids)
	for _, sid := range ids {
		s := c.sessions[sid]
		if len(s.wants) > 0 && now.Sub(s.lastProgress) >= s.idle {
			c.widen(s, now)
		}
	}
}

// widen re-asks every connected peer (forgetting old DONT_HAVEs and
// timeouts: peers may have the blocks by now) for the session's wants and
// looks for providers of the oldest one. The delay before the next
// widening doubles, up to MaxSearchDelay.
func (c *core) widen(s *session, now time.Time) {
	var oldest *want
	for _, w := range c.pending() {
		if w.refs[s.id] == 0 {
			continue
		}
		if oldest == nil {
			oldest = w
		}
		for p, wp := range w.peers {
			if wp.dontHave || wp.timedOut {
				c.unlive(p, wp)
				wp.asked, wp.block, wp.dontHave, wp.timedOut = false, false, false, false
			}
		}
		w.broadcast = true
		c.assign(w, now)
	}
	if oldest == nil {
		return
	}
	c.search(s, oldest, now)
	s.lastProgress = now
	s.idle = min(2*s.idle, c.opts.MaxSearchDelay)
}

// ---- introspection ----

func (c *core) wantlist() []cid.Cid {
	var out []cid.Cid
	for _, w := range c.order {
		if !w.removed {
			out = append(out, w.cid)
		}
	}
	return out
}

func (c *core) snapshot() Stats {
	st := c.totals
	st.Wants = len(c.wants)
	st.Peers = make(map[peer.ID]PeerStats, len(c.peers))
	for p, pi := range c.peers {
		ps := pi.stats
		ps.Connected = pi.connected
		ps.Version = pi.version
		st.Peers[p] = ps
	}
	return st
}
