package client

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"node/bitswap/message"
	"node/blockstore"
)

// Net is what the client needs from the Bitswap network
// (*network.Network has it).
type Net interface {
	Self() peer.ID
	SendMessage(ctx context.Context, p peer.ID, m *message.Message) error
	ConnectedPeers() []peer.ID
	Connect(ctx context.Context, ai peer.AddrInfo) error
}

// PeerVersioner is an optional ability of a Net, found by type assertion:
// the Bitswap version negotiated with a peer, when known. Without it a
// peer is taken to speak 1.2.0 until a send proves otherwise (a 1.1.0
// peer reads a want-have as a want-block, so this costs duplicates, not
// blocks).
type PeerVersioner interface {
	PeerVersion(p peer.ID) (message.Version, bool)
}

// Store is where fetched blocks go.
type Store interface {
	PutMany(ctx context.Context, bs []blockstore.Block) error
}

// Routing finds providers (kad-dht's *IpfsDHT has it).
type Routing interface {
	FindProvidersAsync(ctx context.Context, c cid.Cid, count int) <-chan peer.AddrInfo
}

// ErrClosed is wrapped by the errors of fetches cut short by Close.
var ErrClosed = errors.New("bitswap client closed")

// providerSearchTimeout bounds one provider search and its connections.
const providerSearchTimeout = 30 * time.Second

// Client fetches blocks from peers. Its state belongs to one goroutine
// (the loop); every method hands it an event.
type Client struct {
	net      Net
	store    Store
	routing  Routing
	opts     Options
	log      *slog.Logger
	versions PeerVersioner // nil when net has no such ability

	ctx      context.Context // ends at Close
	cancel   context.CancelFunc
	events   chan func() // run by the loop, one at a time
	loopDone chan struct{}
	wg       sync.WaitGroup // searches, connections and senders
	nextSID  atomic.Uint64

	// Owned by the loop goroutine.
	core     *core
	sessions map[sessionID]*sessionState
	outboxes map[peer.ID]*outbox
}

// New returns a client sending through n, storing fetched blocks in store
// and looking for providers through routing (nil: only connected peers
// and those that connect are asked). The owner of n's Receiver must pass
// ReceiveMessage, ReceiveError, PeerConnected and PeerDisconnected on to
// the client (a *Client is a network.Receiver). Close stops it.
func New(n Net, store Store, routing Routing, opts Options) *Client {
	opts = opts.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	c := &Client{
		net: n, store: store, routing: routing, opts: opts,
		log:      opts.Logger.With("subsystem", "bitswap/client"),
		ctx:      ctx,
		cancel:   cancel,
		events:   make(chan func()),
		loopDone: make(chan struct{}),
		core:     newCore(opts),
		sessions: map[sessionID]*sessionState{},
		outboxes: map[peer.ID]*outbox{},
	}
	if v, ok := n.(PeerVersioner); ok {
		c.versions = v
	}
	now := time.Now()
	for _, p := range n.ConnectedPeers() {
		c.core.peerConnected(p, c.versionOf(p), now)
	}
	go c.loop()
	return c
}

// Close stops the client: pending fetches fail with ErrClosed. It waits
// for the client's goroutines.
func (c *Client) Close() error {
	c.cancel()
	<-c.loopDone
	c.wg.Wait()
	return nil
}

func (c *Client) loop() {
	defer close(c.loopDone)
	t := time.NewTicker(c.opts.TickInterval)
	defer t.Stop()
	ticking := true
	for {
		select {
		case fn := <-c.events:
			fn()
		case <-t.C:
			c.core.tick(time.Now())
		case <-c.ctx.Done():
			c.shutdown()
			return
		}
		c.flush()
		if busy := c.core.busy(); busy != ticking {
			if busy {
				t.Reset(c.opts.TickInterval)
			} else {
				t.Stop()
			}
			ticking = busy
		}
	}
}

// do hands fn to the loop; false when the client is closed.
func (c *Client) do(fn func()) bool {
	select {
	case c.events <- fn:
		return true
	case <-c.loopDone:
		return false
	}
}

// call runs fn on the loop and waits for it.
func (c *Client) call(fn func()) bool {
	done := make(chan struct{})
	if !c.do(func() { fn(); close(done) }) {
		return false
	}
	<-done
	return true
}

// flush carries out what the core decided.
func (c *Client) flush() {
	out := c.core.take()
	for p, entries := range out.msgs {
		ob := c.outboxes[p]
		if ob == nil {
			ob = &outbox{c: c, p: p, pending: map[string]int{}}
			c.outboxes[p] = ob
		}
		ob.add(entries)
	}
	for _, s := range out.searches {
		c.startSearch(s)
	}
}

func (c *Client) shutdown() {
	for sid, ss := range c.sessions {
		ss.closeAll()
		delete(c.sessions, sid)
	}
	for p, ob := range c.outboxes {
		ob.clear()
		delete(c.outboxes, p)
	}
}

func (c *Client) versionOf(p peer.ID) message.Version {
	if c.versions != nil {
		if v, ok := c.versions.PeerVersion(p); ok {
			return v
		}
	}
	return 0
}

// ---- network events ----

// ReceiveMessage takes the blocks and presences of a message from a peer
// (its want-list is the server's business). Blocks are hashed against
// their CIDs; those a session wants are stored and handed to it, and their
// wants are cancelled at the other peers asked. The rest are dropped and
// counted against the sender. It returns once the blocks are stored.
func (c *Client) ReceiveMessage(ctx context.Context, from peer.ID, m *message.Message) {
	c.Accept(ctx, from, m)
	m.Release()
}

// Accept is ReceiveMessage, reporting how many wanted blocks (and bytes)
// the message brought: what the sender gave us, for its ledger. It leaves
// releasing the message to the caller, and calls m.Keep when a caller got
// a block in the message's own memory or the store kept it.
func (c *Client) Accept(ctx context.Context, from peer.ID, m *message.Message) (blocks, bytes int) {
	if len(m.Blocks) == 0 && len(m.Presences) == 0 {
		return 0, 0
	}
	valid := m.Blocks
	invalid := 0
	for i, b := range m.Blocks {
		if m.Hashed { // the decoder computed each CID from the data
			break
		}
		if err := blockstore.VerifyBlock(b.CID, b.Data); err != nil {
			if invalid == 0 {
				valid = append([]blockstore.Block(nil), m.Blocks[:i]...)
			}
			invalid++
			c.log.Warn("dropping a block that does not match its CID", "peer", from, "err", err)
			continue
		}
		if invalid > 0 {
			valid = append(valid, b)
		}
	}
	// A message handled after its peer hung up still brings its blocks,
	// but must not make the peer a candidate for wants again.
	gone := false
	if cn, ok := c.net.(interface{ Connected(peer.ID) bool }); ok {
		gone = !cn.Connected(from)
	}
	// One trip to the loop: record what arrived and hand the verified
	// bytes to the waiting callers, then store them here, so the reader
	// goes on while the store writes. Callers that gave a buffer get a
	// copy there, so the message's memory can be reused. (This goroutine
	// is the one that stores, the slowest step of a fetch: it waits for
	// the loop once per message, not twice.)
	var accepted []blockstore.Block
	shared := false
	if !c.call(func() {
		now := time.Now()
		accepted = c.core.received(from, valid, m.Presences, invalid, now)
		if gone {
			c.core.peerDisconnected(from, now)
		}
		if len(accepted) == 0 {
			return
		}
		keys := make([]string, len(accepted))
		byKey := make(map[string][]byte, len(accepted))
		for i, b := range accepted {
			keys[i] = string(b.CID.Hash())
			byKey[keys[i]] = b.Data
		}
		shared = c.deliver(c.core.stored(keys), byKey)
	}) || len(accepted) == 0 {
		return 0, 0
	}
	for _, b := range accepted {
		bytes += len(b.Data)
	}
	if err := c.store.PutMany(c.ctx, accepted); err != nil {
		c.log.Error("storing fetched blocks", "blocks", len(accepted), "err", err)
	}
	if cp, ok := c.store.(blockstore.Copier); shared || !ok || !cp.CopiesData() {
		m.Keep()
	}
	return len(accepted), bytes
}

// ReceiveError counts a malformed message from a peer.
func (c *Client) ReceiveError(from peer.ID, err error) {
	c.log.Debug("malformed message", "peer", from, "err", err)
	c.do(func() { c.core.peerError(from) })
}

// PeerConnected makes a peer a candidate for our wants.
func (c *Client) PeerConnected(p peer.ID) {
	v := c.versionOf(p)
	c.do(func() { c.core.peerConnected(p, v, time.Now()) })
}

// PeerDisconnected moves the wants a peer was serving to others.
func (c *Client) PeerDisconnected(p peer.ID) {
	c.do(func() {
		c.core.peerDisconnected(p, time.Now())
		if ob := c.outboxes[p]; ob != nil {
			ob.clear()
			delete(c.outboxes, p)
		}
	})
}

// ---- introspection ----

// Wantlist lists the CIDs wanted now, oldest first.
func (c *Client) Wantlist() []cid.Cid {
	var out []cid.Cid
	c.call(func() { out = c.core.wantlist() })
	return out
}

// Stats returns the client's counters, with one entry per peer.
func (c *Client) Stats() Stats {
	var st Stats
	c.call(func() { st = c.core.snapshot() })
	return st
}

// ---- provider searches ----

func (c *Client) startSearch(s search) {
	if c.routing == nil {
		return
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		ctx, cancel := context.WithTimeout(c.ctx, providerSearchTimeout)
		defer cancel()
		self := c.net.Self()
		var conns sync.WaitGroup
		for ai := range c.routing.FindProvidersAsync(ctx, s.cid, c.opts.ProviderCount) {
			if ai.ID == "" || ai.ID == self {
				continue
			}
			conns.Add(1)
			go func() {
				defer conns.Done()
				if err := c.net.Connect(ctx, ai); err != nil {
					c.log.Debug("connecting to a provider", "peer", ai.ID, "cid", s.cid, "err", err)
					return
				}
				v := c.versionOf(ai.ID)
				c.do(func() { c.core.providerFound(s.sid, ai.ID, v, s.cid, time.Now()) })
			}()
		}
		conns.Wait()
	}()
}
