package client

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"

	"node/blockstore"
)

// Session fetches related blocks (one DAG, one file): it remembers which
// peers sent it blocks or said HAVE and asks them first. Its methods are
// safe for concurrent use; it ends when the context given to NewSession
// does.
type Session struct {
	c   *Client
	id  sessionID
	ctx context.Context
}

// sessionState is the loop's record of a session's callers.
type sessionState struct {
	waiters map[string][]*waiter // by multihash
	stop    func() bool          // unregisters the session's context watch
}

// waiter is one GetBlocks call: the blocks it still waits for go to out,
// which has room for all of them, and out is closed when none remain or
// the call ends.
type waiter struct {
	sid       sessionID
	order     []string           // keys, in the caller's order
	remaining map[string]cid.Cid // key -> CID the caller asked for
	out       chan blockstore.Block
	buf       []byte      // GetBlockBuffer's: the block is copied here when it fits
	stop      func() bool // unregisters the context watch
	done      bool
}

func (w *waiter) finish() {
	if w.done {
		return
	}
	w.done = true
	close(w.out)
	if w.stop != nil {
		w.stop()
	}
}

func (ss *sessionState) closeAll() {
	for _, ws := range ss.waiters {
		for _, w := range ws {
			w.finish()
		}
	}
	clear(ss.waiters)
	if ss.stop != nil {
		ss.stop()
	}
}

// NewSession starts a session that lasts until ctx ends.
func (c *Client) NewSession(ctx context.Context) *Session {
	s := &Session{c: c, id: sessionID(c.nextSID.Add(1)), ctx: ctx}
	c.do(func() {
		ss := &sessionState{waiters: map[string][]*waiter{}}
		c.sessions[s.id] = ss
		ss.stop = context.AfterFunc(ctx, func() { c.do(func() { c.closeSession(s.id) }) })
	})
	return s
}

// GetBlock fetches one block in a session of its own. See Session.GetBlock.
func (c *Client) GetBlock(ctx context.Context, k cid.Cid) ([]byte, error) {
	return c.GetBlockBuffer(ctx, k, nil)
}

// GetBlockBuffer fetches one block in a session of its own, into buf when
// it fits (see Session.GetBlockBuffer).
func (c *Client) GetBlockBuffer(ctx context.Context, k cid.Cid, buf []byte) ([]byte, error) {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	return c.NewSession(sctx).GetBlockBuffer(ctx, k, buf)
}

// GetBlock fetches the block of k from peers, verifies it against k,
// stores it and returns its bytes (shared with other callers that wanted
// the same block: do not modify them). It waits until the block arrives
// or ctx ends; the error then wraps ctx.Err(). Identity CIDs are answered
// from the CID itself.
func (s *Session) GetBlock(ctx context.Context, k cid.Cid) ([]byte, error) {
	return s.GetBlockBuffer(ctx, k, nil)
}

// GetBlockBuffer is GetBlock copying the block into buf when cap(buf)
// holds it (the returned data then lies in buf, and no other caller sees
// it); otherwise the bytes are shared as GetBlock's. Once it returns,
// nothing writes to buf any more: the caller may reuse it.
func (s *Session) GetBlockBuffer(ctx context.Context, k cid.Cid, buf []byte) ([]byte, error) {
	if err := blockstore.CheckCID(k); err != nil {
		return nil, fmt.Errorf("bitswap: cannot fetch %s: %w", k, err)
	}
	// The channel yields the block or is closed, both on the loop: after
	// either, no delivery can copy into buf (see deliver).
	b, ok := <-s.getBlocks(ctx, []cid.Cid{k}, buf)
	if ok {
		return b.Data, nil
	}
	switch {
	case ctx.Err() != nil:
		return nil, fmt.Errorf("bitswap: block %s not received: %w", k, ctx.Err())
	case s.ctx.Err() != nil:
		return nil, fmt.Errorf("bitswap: block %s not received, the session ended: %w", k, s.ctx.Err())
	default:
		return nil, fmt.Errorf("bitswap: block %s not received: %w", k, ErrClosed)
	}
}

// GetBlocks fetches blocks and sends each on the returned channel as it
// arrives, in any order, under the CID it was asked by; a CID asked twice
// (or under two CIDs with one multihash) comes once. The channel is closed
// when all have come or ctx, the session or the client ends. CIDs that
// fail blockstore.CheckCID are left out. All the wants go out at once, so
// many round trips overlap.
func (s *Session) GetBlocks(ctx context.Context, cids []cid.Cid) <-chan blockstore.Block {
	return s.getBlocks(ctx, cids, nil)
}

func (s *Session) getBlocks(ctx context.Context, cids []cid.Cid, buf []byte) <-chan blockstore.Block {
	w := &waiter{sid: s.id, remaining: make(map[string]cid.Cid, len(cids)), buf: buf}
	var inline []blockstore.Block
	seen := make(map[string]bool, len(cids))
	for _, k := range cids {
		key := string(k.Hash())
		if seen[key] || blockstore.CheckCID(k) != nil {
			continue
		}
		seen[key] = true
		if data, ok := identityData(k); ok {
			inline = append(inline, blockstore.Block{CID: k, Data: data})
			continue
		}
		w.remaining[key] = k
		w.order = append(w.order, key)
	}
	w.out = make(chan blockstore.Block, len(inline)+len(w.order))
	for _, b := range inline {
		w.out <- b
	}
	if len(w.order) == 0 {
		close(w.out)
		return w.out
	}
	if !s.c.do(func() { s.c.addWaiter(w, ctx) }) {
		close(w.out)
	}
	return w.out
}

func identityData(k cid.Cid) ([]byte, bool) {
	if k.Prefix().MhType != multihash.IDENTITY {
		return nil, false
	}
	dm, err := multihash.Decode(k.Hash())
	if err != nil {
		return nil, false
	}
	return dm.Digest, true
}

// addWaiter (on the loop) registers a GetBlocks call and wants its blocks.
func (c *Client) addWaiter(w *waiter, ctx context.Context) {
	ss := c.sessions[w.sid]
	if ss == nil || ctx.Err() != nil {
		w.finish()
		return
	}
	keys := make([]cid.Cid, len(w.order))
	for i, key := range w.order {
		ss.waiters[key] = append(ss.waiters[key], w)
		keys[i] = w.remaining[key]
	}
	c.core.want(w.sid, keys, time.Now())
	w.stop = context.AfterFunc(ctx, func() { c.do(func() { c.release(w) }) })
}

// release (on the loop) ends a GetBlocks call whose context ended.
func (c *Client) release(w *waiter) {
	if w.done {
		return
	}
	ss := c.sessions[w.sid]
	var keys []cid.Cid
	for _, key := range w.order {
		k, ok := w.remaining[key]
		if !ok {
			continue
		}
		keys = append(keys, k)
		if ss != nil {
			ss.waiters[key] = slices.DeleteFunc(ss.waiters[key], func(x *waiter) bool { return x == w })
			if len(ss.waiters[key]) == 0 {
				delete(ss.waiters, key)
			}
		}
	}
	c.core.cancel(w.sid, keys, time.Now())
	w.finish()
}

// closeSession (on the loop) ends a session whose context ended.
func (c *Client) closeSession(sid sessionID) {
	ss := c.sessions[sid]
	if ss == nil {
		return
	}
	ss.closeAll()
	delete(c.sessions, sid)
	c.core.closeSession(sid)
}

// deliver (on the loop) hands stored blocks to the callers waiting.
//
// A waiter with a buffer large enough gets its block copied there; others
// get the received bytes themselves, and deliver reports that it shared
// them (the message they lie in must then be kept). Only the loop writes
// into a waiter's buffer, and only while the waiter is not done: once its
// channel has yielded or been closed, the buffer is the caller's again.
func (c *Client) deliver(ds []delivery, data map[string][]byte) (shared bool) {
	for _, d := range ds {
		for _, sid := range d.sids {
			ss := c.sessions[sid]
			if ss == nil {
				continue
			}
			for _, w := range ss.waiters[d.key] {
				k, ok := w.remaining[d.key]
				if !ok || w.done {
					continue
				}
				delete(w.remaining, d.key)
				b := data[d.key]
				if len(b) > 0 && cap(w.buf) >= len(b) {
					b = append(w.buf[:0], b...)
				} else {
					shared = true
				}
				w.out <- blockstore.Block{CID: k, Data: b}
				if len(w.remaining) == 0 {
					w.finish()
				}
			}
			delete(ss.waiters, d.key)
		}
	}
	return shared
}
