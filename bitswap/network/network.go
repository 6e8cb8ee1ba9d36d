package network

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	ma "github.com/multiformats/go-multiaddr"

	"node/bitswap/message"
)

// errSenderClosed: the peer's sender was dropped (disconnect, Stop) while
// a message waited for it; SendMessage retries with a new one.
var errSenderClosed = errors.New("bitswap sender closed")

// SendTimeout bounds writing one message to a peer.
const SendTimeout = 30 * time.Second

// Receiver is told what arrives from peers. Its methods may be called from
// many goroutines at once (one per inbound stream).
type Receiver interface {
	ReceiveMessage(ctx context.Context, from peer.ID, m *message.Message)
	// ReceiveError reports a peer whose message was malformed; its stream
	// has been reset.
	ReceiveError(from peer.ID, err error)
	PeerConnected(p peer.ID)
	PeerDisconnected(p peer.ID)
}

// Network is Bitswap's view of the libp2p host.
type Network struct {
	h   host.Host
	log *slog.Logger

	mu       sync.Mutex // guards senders, inbound and r
	senders  map[peer.ID]*sender
	inbound  map[peer.ID]map[network.Stream]struct{}
	stopped  bool
	r        Receiver
	notifiee *network.NotifyBundle

	// notifyMu serialises connection reports and guards reported: the
	// peers the receiver was last told are connected. The receiver never
	// calls back into the network while holding it.
	notifyMu sync.Mutex
	reported map[peer.ID]bool
}

// New returns the network of h; Start begins receiving.
func New(h host.Host, log *slog.Logger) *Network {
	if log == nil {
		log = slog.Default()
	}
	return &Network{h: h, log: log, senders: map[peer.ID]*sender{}, reported: map[peer.ID]bool{}, inbound: map[peer.ID]map[network.Stream]struct{}{}}
}

// Self is this node's peer ID.
func (n *Network) Self() peer.ID { return n.h.ID() }

// Start registers the protocol handlers and connection notifications.
func (n *Network) Start(r Receiver) {
	n.mu.Lock()
	n.r = r
	n.mu.Unlock()
	for _, id := range message.Protocols {
		n.h.SetStreamHandler(id, n.handleStream)
	}
	// Notifications arrive on libp2p's goroutines, possibly out of order
	// (a Connected delivered after the Disconnected that followed it). So
	// each one only says "look again": the live state is read and, when
	// it differs from what the receiver was last told, reported, one peer
	// at a time (notifyMu), so the receiver always ends with the truth.
	n.notifiee = &network.NotifyBundle{
		ConnectedF:    func(_ network.Network, c network.Conn) { n.recheck(c.RemotePeer()) },
		DisconnectedF: func(_ network.Network, c network.Conn) { n.recheck(c.RemotePeer()) },
	}
	n.h.Network().Notify(n.notifiee)
	for _, p := range n.h.Network().Peers() {
		n.recheck(p)
	}
}

// recheck tells the receiver p's live connection state if it changed
// since the last report.
func (n *Network) recheck(p peer.ID) {
	n.notifyMu.Lock()
	defer n.notifyMu.Unlock()
	n.mu.Lock()
	r, stopped := n.r, n.stopped
	n.mu.Unlock()
	if r == nil || stopped {
		return
	}
	live := n.Connected(p)
	if live == n.reported[p] {
		return
	}
	if live {
		n.reported[p] = true
		r.PeerConnected(p)
		return
	}
	delete(n.reported, p)
	n.dropSender(p)
	r.PeerDisconnected(p)
}

// Stop removes the handlers and closes outbound streams.
func (n *Network) Stop() {
	for _, id := range message.Protocols {
		n.h.RemoveStreamHandler(id)
	}
	if n.notifiee != nil {
		n.h.Network().StopNotify(n.notifiee)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.stopped = true
	for p, s := range n.senders {
		go s.close()
		delete(n.senders, p)
	}
}

// ResetPeer resets every stream p has opened to us: for a peer that
// misbehaves (floods us with wants). It may open new ones.
func (n *Network) ResetPeer(p peer.ID) {
	n.mu.Lock()
	var ss []network.Stream
	for s := range n.inbound[p] {
		ss = append(ss, s)
	}
	n.mu.Unlock()
	for _, s := range ss {
		s.Reset()
	}
}

// Connected reports whether p has an open connection now.
func (n *Network) Connected(p peer.ID) bool {
	return n.h.Network().Connectedness(p) == network.Connected
}

// ConnectedPeers lists the peers with an open connection.
func (n *Network) ConnectedPeers() []peer.ID { return n.h.Network().Peers() }

// Connect dials a peer found by the DHT.
func (n *Network) Connect(ctx context.Context, p peer.AddrInfo) error { return n.h.Connect(ctx, p) }

// AddAddrs remembers addresses of a peer for a while.
func (n *Network) AddAddrs(p peer.ID, addrs []ma.Multiaddr) {
	n.h.Peerstore().AddAddrs(p, addrs, 10*time.Minute)
}

func (n *Network) handleStream(s network.Stream) {
	version, ok := message.VersionOf(s.Protocol())
	if !ok {
		s.Reset()
		return
	}
	_ = version // inbound messages decode the same way for every version
	from := s.Conn().RemotePeer()
	n.mu.Lock()
	r := n.r
	if n.inbound[from] == nil {
		n.inbound[from] = map[network.Stream]struct{}{}
	}
	n.inbound[from][s] = struct{}{}
	n.mu.Unlock()
	defer func() {
		n.mu.Lock()
		delete(n.inbound[from], s)
		if len(n.inbound[from]) == 0 {
			delete(n.inbound, from)
		}
		n.mu.Unlock()
	}()
	// One goroutine reads and decodes (decrypting and hashing), another
	// hands messages on (storing blocks): the next message is read while
	// the last one is being stored. In order, and at most a few ahead.
	//
	// Each message's body is reserved with the stream's resource scope
	// while it is read, queued and handled, so libp2p's limits see what
	// Bitswap holds. When the scope is full the reader waits for the
	// queue to drain and tries once more; a message that does not fit even
	// then ends the stream.
	type inbound struct {
		m        *message.Message
		reserved int
	}
	scope := s.Scope()
	msgs := make(chan inbound, 4)
	var queued sync.WaitGroup
	go func() {
		for in := range msgs {
			r.ReceiveMessage(context.Background(), from, in.m)
			scope.ReleaseMemory(in.reserved)
			queued.Done()
		}
	}()
	defer close(msgs)
	rd := message.NewReader(s)
	reserved := 0
	rd.Reserve = func(size int) error {
		err := scope.ReserveMemory(size, network.ReservationPriorityAlways)
		if err != nil {
			queued.Wait()
			err = scope.ReserveMemory(size, network.ReservationPriorityAlways)
		}
		if err == nil {
			reserved = size
		}
		return err
	}
	for {
		reserved = 0
		m, err := rd.ReadMsg()
		if err != nil {
			scope.ReleaseMemory(reserved)
			if errors.Is(err, io.EOF) {
				s.Close()
				return
			}
			if errors.Is(err, message.ErrInvalid) {
				r.ReceiveError(from, err)
			} else {
				n.log.Debug("bitswap stream ended", "peer", from, "err", err)
			}
			s.Reset()
			return
		}
		queued.Add(1)
		msgs <- inbound{m, reserved}
	}
}

// SendMessage sends m to p over the peer's outbound stream, opening one
// (and connecting) if needed. A failed write is retried once on a new
// stream.
func (n *Network) SendMessage(ctx context.Context, p peer.ID, m *message.Message) error {
	var err error
	for attempt := 0; attempt < 2; attempt++ {
		s := n.senderFor(p)
		if err = s.send(ctx, n.h, m); err == nil {
			return nil
		}
		var nr *message.NotRepresentableError
		if errors.As(err, &nr) || errors.Is(err, message.ErrInvalid) || ctx.Err() != nil {
			return err
		}
		if !errors.Is(err, errSenderClosed) {
			n.dropSender(p)
		}
	}
	return err
}

func (n *Network) senderFor(p peer.ID) *sender {
	n.mu.Lock()
	defer n.mu.Unlock()
	s, ok := n.senders[p]
	if !ok {
		s = &sender{peer: p, closed: n.stopped}
		if !n.stopped {
			n.senders[p] = s
		}
	}
	return s
}

func (n *Network) dropSender(p peer.ID) {
	n.mu.Lock()
	s, ok := n.senders[p]
	delete(n.senders, p)
	n.mu.Unlock()
	if ok {
		// A write in progress holds the sender's lock for up to its
		// timeout: do not make the caller (libp2p's notifier) wait.
		go s.close()
	}
}

// sendBufferSize is the buffer between message.WriteMsg and the stream:
// yamux's largest frame (64 KiB). WriteMsg writes the small parts of a
// message (length, want-list, block headers, presences) as separate
// writes and each block's data as one write; through this buffer the
// small parts go out together with the start of the next block, in one
// frame and one TLS record instead of many tiny ones, and the rest of a
// large block goes to the stream without another copy. The buffers are
// pooled and held only while a message is written, so idle peers cost
// none.
const sendBufferSize = 64 << 10

var sendBuffers = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, sendBufferSize) }}

// sender owns the outbound stream to one peer.
type sender struct {
	peer peer.ID

	mu      sync.Mutex // guards stream, version and closed; serialises writes
	stream  network.Stream
	version message.Version
	closed  bool // dropped from the map: it must not open a stream again
}

func (s *sender) send(ctx context.Context, h host.Host, m *message.Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("sending to %s: %w", s.peer, errSenderClosed)
	}
	if s.stream == nil {
		st, err := h.NewStream(network.WithAllowLimitedConn(ctx, "bitswap"), s.peer, protocols()...)
		if err != nil {
			return fmt.Errorf("opening a bitswap stream to %s: %w", s.peer, err)
		}
		v, _ := message.VersionOf(st.Protocol())
		s.stream, s.version = st, v
		go refuseReplies(st)
	}
	deadline := time.Now().Add(SendTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	s.stream.SetWriteDeadline(deadline)
	w := sendBuffers.Get().(*bufio.Writer)
	w.Reset(s.stream)
	defer func() {
		w.Reset(nil) // drop the stream and anything left unsent
		sendBuffers.Put(w)
	}()
	err := message.WriteMsg(w, m, s.version)
	var nr *message.NotRepresentableError
	if err != nil && !errors.As(err, &nr) {
		s.resetStream()
		return fmt.Errorf("sending to %s: %w", s.peer, err)
	}
	// What could not be carried was left out; the rest goes out.
	if ferr := w.Flush(); ferr != nil {
		s.resetStream()
		return fmt.Errorf("sending to %s: writing bitswap message: %w", s.peer, ferr)
	}
	if err != nil {
		return fmt.Errorf("sending to %s: %w", s.peer, err)
	}
	return nil
}

// refuseReplies resets an outbound stream as soon as the peer sends
// anything on it. Peers answer on streams of their own, never on ours, and
// yamux grants every stream a window (p2p.StreamWindow) of which libp2p's
// resource manager sees only the first 256 KiB: unread, a peer could park
// that much memory here for as long as it stays connected. The next send
// opens a new stream. It returns once the stream is closed or reset.
func refuseReplies(st network.Stream) {
	var b [1]byte
	if n, _ := st.Read(b[:]); n > 0 {
		st.Reset()
	}
}

// resetStream drops a stream whose write failed. The caller holds s.mu.
func (s *sender) resetStream() {
	s.stream.Reset()
	s.stream = nil
}

func (s *sender) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if s.stream != nil {
		s.stream.Close()
		s.stream = nil
	}
}

func protocols() []protocol.ID { return message.Protocols }

// PeerVersion is the Bitswap version a peer negotiated on our outbound
// stream, or, before one is open, the newest version it announced
// (identify), so the client knows whether it understands want-have.
func (n *Network) PeerVersion(p peer.ID) (message.Version, bool) {
	n.mu.Lock()
	s, ok := n.senders[p]
	n.mu.Unlock()
	if ok {
		s.mu.Lock()
		v := s.version
		s.mu.Unlock()
		if v.Valid() {
			return v, true
		}
	}
	protos, err := n.h.Peerstore().SupportsProtocols(p, message.Protocols...)
	if err != nil || len(protos) == 0 {
		return 0, false
	}
	best := message.Version(0)
	for _, id := range protos {
		if v, ok := message.VersionOf(id); ok && v > best {
			best = v
		}
	}
	return best, best.Valid()
}
