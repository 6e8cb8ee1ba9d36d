package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"node/bitswap/decision"
	"node/bitswap/message"
	"node/blockstore"
)

// Store is what the server reads blocks from. A store that also has
// GetBuffer (blockstore.BufferGetter) has large blocks read into pooled buffers,
// reused once the message carrying them has been written.
type Store interface {
	Get(ctx context.Context, c cid.Cid) ([]byte, error)
	Size(ctx context.Context, c cid.Cid) (int, error)
}

// Access decides which peers may fetch which blocks: the ledger keeps a
// channel's blocks to its members. A block a peer may not fetch is
// answered as if we did not have it.
type Access interface {
	MayFetch(p peer.ID, c cid.Cid) bool
}

// Net sends messages to peers. SendMessage must not keep m, or anything
// it points to, after it returns: the blocks' buffers are then reused.
type Net interface {
	SendMessage(ctx context.Context, p peer.ID, m *message.Message) error
}

// maxInflight bounds the tasks handed out and not yet sent, over all
// peers. Each peer with work has its own sender goroutine, so a slow or
// stalled peer holds up only its own answers; the engine's per-peer limit
// on outstanding bytes keeps one peer from taking all of them.
const maxInflight = 64

// Server answers other peers' want-lists.
type Server struct {
	net   Net
	store Store
	log   *slog.Logger

	access atomic.Pointer[Access] // nil: every peer may fetch every block
	bufs   blockstore.BufferPool  // block buffers of the peer senders
	engine *decision.Engine       // owned by run
	events chan func(now time.Time)
	done   chan taskResult
	stop   chan struct{}
	exited chan struct{}
}

type taskResult struct {
	task          decision.Task
	blocks, bytes int
}

// New returns a server; Run starts it.
func New(net Net, store Store, cfg decision.Config, log *slog.Logger) (*Server, error) {
	e, err := decision.New(cfg)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	return &Server{
		net: net, store: store, log: log, engine: e,
		events: make(chan func(time.Time), 256),
		done:   make(chan taskResult, maxInflight),
		stop:   make(chan struct{}),
		exited: make(chan struct{}),
	}, nil
}

// Run serves until ctx ends.
func (s *Server) Run(ctx context.Context) {
	defer close(s.exited)
	workCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	queues := map[peer.ID]chan decision.Task{} // a sender goroutine each
	perPeer := map[peer.ID]int{}               // tasks queued or being sent
	inflight := 0
	for {
		for inflight < maxInflight {
			t, ok := s.engine.NextTask(time.Now())
			if !ok {
				break
			}
			q := queues[t.Peer]
			if q == nil {
				q = make(chan decision.Task, maxInflight)
				queues[t.Peer] = q
				go s.peerSender(workCtx, q)
			}
			q <- t // room for maxInflight tasks: never blocks
			perPeer[t.Peer]++
			inflight++
		}
		select {
		case f := <-s.events:
			f(time.Now())
		case r := <-s.done:
			inflight--
			if perPeer[r.task.Peer]--; perPeer[r.task.Peer] == 0 {
				close(queues[r.task.Peer]) // its sender exits
				delete(queues, r.task.Peer)
				delete(perPeer, r.task.Peer)
			}
			s.engine.TaskDone(r.task, r.blocks, r.bytes, time.Now())
		case now := <-tick.C:
			s.engine.Tick(now)
		case <-ctx.Done():
			return
		}
	}
}

// do runs f on the owner goroutine and waits for it.
func (s *Server) do(ctx context.Context, f func(now time.Time)) error {
	done := make(chan struct{})
	select {
	case s.events <- func(now time.Time) { f(now); close(done) }:
	case <-s.exited:
		return errors.New("bitswap server stopped")
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-done:
		return nil
	case <-s.exited:
		return errors.New("bitswap server stopped")
	case <-ctx.Done():
		return ctx.Err()
	}
}

// post runs f on the owner goroutine without waiting, unless the server
// has stopped.
func (s *Server) post(f func(now time.Time)) {
	select {
	case s.events <- f:
	case <-s.exited:
	}
}

// peerSender sends one peer's tasks in order until its queue is closed.
// It reads the next task's blocks while the last message is being written.
func (s *Server) peerSender(ctx context.Context, q <-chan decision.Task) {
	ready := make(chan built, 1)
	go func() {
		defer close(ready)
		for t := range q {
			b := s.build(ctx, t)
			select {
			case ready <- b:
			case <-ctx.Done():
				s.putBuffers(b.bufs) // dropped unsent
				return
			}
		}
	}()
	for b := range ready {
		blocks, bytes := 0, 0
		if !b.m.Empty() {
			if err := s.net.SendMessage(ctx, b.t.Peer, b.m); err != nil && !errors.Is(err, message.ErrNotRepresentable) {
				s.log.Debug("bitswap: sending to a peer failed", "peer", b.t.Peer, "err", err)
			} else {
				blocks, bytes = len(b.m.Blocks), b.bytes
			}
		}
		// SendMessage has returned (written, or given up): nothing reads
		// the blocks any more.
		s.putBuffers(b.bufs)
		select {
		case s.done <- taskResult{task: b.t, blocks: blocks, bytes: bytes}:
		case <-ctx.Done():
			// A message left in ready is dropped with its buffers: the
			// garbage collector takes them.
			return
		}
	}
}

// SetAccess sets the policy on who may fetch what (nil: anyone anything).
// It applies to wants received from then on and to every block not yet
// sent.
func (s *Server) SetAccess(a Access) {
	if a == nil {
		s.access.Store(nil)
		return
	}
	s.access.Store(&a)
}

// mayFetch applies the access policy.
func (s *Server) mayFetch(p peer.ID, c cid.Cid) bool {
	a := s.access.Load()
	return a == nil || (*a).MayFetch(p, c)
}

// built is a task's message, ready to send.
type built struct {
	t     decision.Task
	m     *message.Message
	bytes int       // of the blocks
	bufs  []*[]byte // pooled buffers the blocks lie in, put back once sent
}

// build reads one task's blocks into its message.
// The access policy is checked again here: a block stored after the want
// arrived is handed out by the engine to whoever wanted it.
func (s *Server) build(ctx context.Context, t decision.Task) built {
	p := t.Peer
	m := &message.Message{PendingBytes: int32(min(t.PendingBytes, 1<<31-1))}
	b := built{t: t, m: m}
	for _, c := range t.Blocks {
		if !s.mayFetch(p, c) {
			m.Presences = append(m.Presences, message.Presence{CID: c, Type: message.DontHave})
			continue
		}
		data, buf, err := s.read(ctx, c)
		if buf != nil {
			b.bufs = append(b.bufs, buf)
		}
		if err != nil {
			// Gone since the want was resolved (GC), or unreadable: say
			// we do not have it rather than sending nothing.
			if !errors.Is(err, blockstore.ErrNotFound) {
				s.log.Warn("bitswap: cannot read a wanted block", "cid", c, "err", err)
			}
			m.Presences = append(m.Presences, message.Presence{CID: c, Type: message.DontHave})
			continue
		}
		m.Blocks = append(m.Blocks, blockstore.Block{CID: c, Data: data})
		b.bytes += len(data)
	}
	for _, c := range t.Haves {
		typ := message.Have
		if !s.mayFetch(p, c) {
			typ = message.DontHave
		}
		m.Presences = append(m.Presences, message.Presence{CID: c, Type: typ})
	}
	for _, c := range t.DontHaves {
		m.Presences = append(m.Presences, message.Presence{CID: c, Type: message.DontHave})
	}
	return b
}

// read reads a block: a large one into a pooled buffer, returned as buf
// (also on error) to be put back once nothing reads data any more.
func (s *Server) read(ctx context.Context, c cid.Cid) (data []byte, buf *[]byte, err error) {
	if g, ok := s.store.(blockstore.BufferGetter); ok {
		if size, err := s.store.Size(ctx, c); err == nil {
			if buf = s.bufs.Get(size); buf != nil {
				data, err = g.GetBuffer(ctx, c, *buf)
				return data, buf, err
			}
		}
	}
	data, err = s.store.Get(ctx, c)
	return data, nil, err
}

// ReceiveMessage takes a peer's want-list and credits every block it sent
// to its ledger: for a server used alone. Next to a client, use
// ReceiveWants and credit only the blocks the client wanted (Credit).
func (s *Server) ReceiveMessage(ctx context.Context, from peer.ID, m *message.Message) {
	n := 0
	for _, b := range m.Blocks {
		n += len(b.Data)
	}
	s.Credit(from, len(m.Blocks), n)
	s.ReceiveWants(ctx, from, m)
}

// Credit records blocks a peer gave us in its ledger.
func (s *Server) Credit(from peer.ID, blocks, bytes int) {
	if blocks == 0 {
		return
	}
	s.post(func(now time.Time) { s.engine.BlocksReceived(from, blocks, bytes, now) })
}

// ReceiveWants takes a peer's want-list. Whether we have each wanted block
// is looked up here, in the receiving goroutine, so the engine never
// touches the store.
func (s *Server) ReceiveWants(ctx context.Context, from peer.ID, m *message.Message) {
	// A message handled after its peer hung up must not bring the peer
	// back: its wants would be kept, and answered, forever.
	if c, ok := s.net.(interface{ Connected(peer.ID) bool }); ok && !c.Connected(from) {
		return
	}
	if len(m.Wantlist) == 0 && !m.Full {
		return
	}
	wants := make([]decision.Want, 0, len(m.Wantlist))
	for _, e := range m.Wantlist {
		w := decision.Want{
			CID: e.CID, Priority: e.Priority, Cancel: e.Cancel,
			WantHave: e.WantType == message.WantHave, SendDontHave: e.SendDontHave,
		}
		if !e.Cancel && s.mayFetch(from, e.CID) {
			if size, err := s.store.Size(ctx, e.CID); err == nil {
				w.Have, w.Size = true, size
			}
		}
		wants = append(wants, w)
	}
	full := m.Full
	s.post(func(now time.Time) {
		if dropped := s.engine.WantsReceived(from, full, wants, now); dropped > 0 {
			// More wants than a peer may queue: a flood. Its streams are
			// reset (what it had queued stays, within the limit).
			s.log.Debug("bitswap: peer flooded us with wants", "peer", from, "dropped", dropped)
			if r, ok := s.net.(interface{ ResetPeer(peer.ID) }); ok {
				r.ResetPeer(from)
			}
		}
	})
}

// PeerConnected and PeerDisconnected keep the engine's view of peers.
func (s *Server) PeerConnected(p peer.ID) {
	s.post(func(now time.Time) { s.engine.PeerConnected(p, now) })
}

func (s *Server) PeerDisconnected(p peer.ID) {
	s.post(func(now time.Time) { s.engine.PeerDisconnected(p, now) })
}

// BlockAdded tells the server a block is now stored, so peers waiting for
// it get it.
func (s *Server) BlockAdded(c cid.Cid, size int) {
	s.post(func(now time.Time) { s.engine.BlockAdded(c, size, now) })
}

// Ledgers returns every peer's ledger.
func (s *Server) Ledgers(ctx context.Context) ([]decision.LedgerSnapshot, error) {
	var out []decision.LedgerSnapshot
	err := s.do(ctx, func(time.Time) { out = s.engine.Ledgers() })
	return out, err
}

// Ledger returns one peer's ledger.
func (s *Server) Ledger(ctx context.Context, p peer.ID) (decision.LedgerSnapshot, error) {
	var out decision.LedgerSnapshot
	var ok bool
	if err := s.do(ctx, func(time.Time) { out, ok = s.engine.Ledger(p) }); err != nil {
		return out, err
	}
	if !ok {
		return out, fmt.Errorf("no ledger with peer %s", p)
	}
	return out, nil
}

// WantlistOf returns what a peer wants from us.
func (s *Server) WantlistOf(ctx context.Context, p peer.ID) ([]decision.WantEntry, error) {
	var out []decision.WantEntry
	err := s.do(ctx, func(time.Time) { out = s.engine.WantlistOf(p) })
	return out, err
}

// Stats returns the engine's totals.
func (s *Server) Stats(ctx context.Context) (decision.Stats, error) {
	var out decision.Stats
	err := s.do(ctx, func(time.Time) { out = s.engine.Stats() })
	return out, err
}

// ReceiveError logs a peer that sent a malformed message (its stream was
// reset by the network layer).
func (s *Server) ReceiveError(from peer.ID, err error) {
	s.log.Debug("bitswap: malformed message", "peer", from, "err", err)
}
