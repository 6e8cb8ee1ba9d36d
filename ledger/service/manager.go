package service

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"node/blockstore"
	"node/ledger"
	"node/ledger/chaincode"
	"node/ledger/config"
	"node/ledger/identity"
)

var (
	// ErrNoChannel is returned for a channel this node does not have (or a
	// peer that does not have it).
	ErrNoChannel = errors.New("no such channel")
	// ErrDenied is wrapped when a peer refuses an operation because this
	// node lacks the role it needs (or is not a member at all).
	ErrDenied = errors.New("refused")
	// ErrOffline is returned when an operation needs the network and the
	// node has none.
	ErrOffline = errors.New("this needs the network: start `node daemon` (online) first")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("ledger service closed")
	// ErrUnreachable is wrapped when no peer could do what an operation
	// needs (all endorsers of an organisation failed, the orderer cannot
	// be reached).
	ErrUnreachable = errors.New("unreachable")
)

// LocalStore reads this node's own blocks, never the network.
type LocalStore interface {
	Get(ctx context.Context, c cid.Cid) ([]byte, error)
	Has(ctx context.Context, c cid.Cid) (bool, error)
}

// BlockStore is where channel blocks are written and, when missing
// locally, fetched: the daemon's Bitswap-backed store (its Put tells
// Bitswap of the new block; its Get fetches from peers).
type BlockStore interface {
	Get(ctx context.Context, c cid.Cid) ([]byte, error)
	Put(ctx context.Context, b blockstore.Block) error
}

// PeerRouting finds a peer's addresses (the DHT).
type PeerRouting interface {
	FindPeer(ctx context.Context, p peer.ID) (peer.AddrInfo, error)
}

// Options configure a Manager.
type Options struct {
	// Root holds one directory per channel (the repository's ledger/).
	Root     string
	Identity *identity.Identity
	Local    LocalStore
	Blocks   BlockStore
	// Pins keeps each channel's chain from garbage collection (nil: no
	// pins, for tests with a store that is never collected).
	Pins Pinner
	// Host is the libp2p host; nil offline (channels then work only when
	// this node alone orders and endorses).
	Host    host.Host
	Routing PeerRouting // optional
	// Chaincodes are the contracts this node runs (nil: docs only).
	Chaincodes map[string]chaincode.Chaincode
	Logger     *slog.Logger

	// SyncInterval is how often a member asks the orderer for the head
	// when no announcement came (default 30 s).
	SyncInterval time.Duration
	// RequestTimeout bounds one protocol request (default 30 s).
	RequestTimeout time.Duration
}

// Manager is the node's ledger service: the channels it keeps, the
// orderers it runs, the protocol it speaks, who may fetch which blocks.
type Manager struct {
	opts    Options
	log     *slog.Logger
	access  *registry
	ctx     context.Context // background work; ends at Close
	cancel  context.CancelFunc
	notify  *network.NotifyBundle
	streams streamPool // open streams to other peers, for reuse

	// mu guards channels, joining and closed.
	mu       sync.Mutex
	channels map[string]*channel
	joining  map[string]bool // channels being joined (not open yet)
	closed   bool
}

// New makes a Manager. Channels are opened on first use, or all at once
// by Start.
func New(opts Options) (*Manager, error) {
	if opts.Root == "" || opts.Identity == nil || opts.Local == nil || opts.Blocks == nil {
		return nil, errors.New("ledger service: Root, Identity, Local and Blocks are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.SyncInterval <= 0 {
		opts.SyncInterval = 30 * time.Second
	}
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = 30 * time.Second
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Manager{opts: opts, log: opts.Logger.With("subsystem", "ledger"), access: newRegistry(),
		ctx: ctx, cancel: cancel, channels: map[string]*channel{}, joining: map[string]bool{}}, nil
}

// Start opens every channel kept under Root, registers their blocks for
// MayFetch, starts the orderers this node runs and the members' sync, and
// speaks the protocol on the host.
func (m *Manager) Start(ctx context.Context) error {
	names, err := m.names()
	if err != nil {
		return err
	}
	for _, name := range names {
		if _, err := m.get(ctx, name); err != nil {
			return fmt.Errorf("opening ledger channel %s: %w", name, err)
		}
	}
	m.access.setReady()
	if h := m.opts.Host; h != nil {
		h.SetStreamHandler(ProtocolID, m.handleStream)
		h.SetStreamHandler(ProtocolReuse, m.handleReuse)
		m.notify = &network.NotifyBundle{ConnectedF: func(_ network.Network, c network.Conn) { m.connected(c.RemotePeer()) }}
		h.Network().Notify(m.notify)
	}
	return nil
}

// Close stops the orderers (cutting what is pending), the sync and the
// protocol, and closes every channel.
func (m *Manager) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	chans := make([]*channel, 0, len(m.channels))
	for _, c := range m.channels {
		chans = append(chans, c)
	}
	m.mu.Unlock()
	if h := m.opts.Host; h != nil {
		h.RemoveStreamHandler(ProtocolID)
		h.RemoveStreamHandler(ProtocolReuse)
		m.streams.closeAll()
		if m.notify != nil {
			h.Network().StopNotify(m.notify)
		}
	}
	m.cancel()
	var errs []error
	for _, c := range chans {
		errs = append(errs, c.close())
	}
	return errors.Join(errs...)
}

// MayFetch implements the Bitswap server's access policy: a channel's
// blocks go only to its members.
func (m *Manager) MayFetch(p peer.ID, c cid.Cid) bool { return m.access.mayFetch(p, c) }

// Private reports whether c is a block of one of this node's channels
// (never to be announced to the DHT).
func (m *Manager) Private(c cid.Cid) bool { return m.access.private(c) }

// Self is this node's peer ID.
func (m *Manager) Self() peer.ID { return m.opts.Identity.PeerID() }

func (m *Manager) dir(name string) string { return filepath.Join(m.opts.Root, name) }

// names lists the channels kept under Root.
func (m *Manager) names() ([]string, error) {
	ents, err := os.ReadDir(m.opts.Root)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing ledger channels: %w", err)
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() && config.ValidName(e.Name()) {
			if _, err := os.Stat(filepath.Join(m.opts.Root, e.Name(), "state.db")); err == nil {
				out = append(out, e.Name())
			}
		}
	}
	slices.Sort(out)
	return out, nil
}

// get returns an open channel, opening it if it is kept here.
func (m *Manager) get(ctx context.Context, name string) (*channel, error) {
	if !config.ValidName(name) {
		return nil, fmt.Errorf("%w: %q is not a valid channel name (1-64 letters, digits, '_', '.', '-')", ErrNoChannel, name)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrClosed
	}
	if c, ok := m.channels[name]; ok {
		return c, nil
	}
	if m.joining[name] {
		return nil, fmt.Errorf("%w: channel %q is being joined", ErrNoChannel, name)
	}
	ch, err := ledger.Open(ctx, m.ledgerOptions(name))
	if errors.Is(err, ledger.ErrNotChannel) {
		return nil, fmt.Errorf("%w: this node has no channel %q (`node ledger channel list` shows those it has)", ErrNoChannel, name)
	}
	if err != nil {
		return nil, err
	}
	c, err := m.startChannel(ctx, ch, nil)
	if err != nil {
		ch.Close()
		return nil, err
	}
	m.channels[name] = c
	return c, nil
}

// Channel returns the channel's ledger, for queries.
func (m *Manager) Channel(ctx context.Context, name string) (*ledger.Channel, error) {
	c, err := m.get(ctx, name)
	if err != nil {
		return nil, err
	}
	return c.ch, nil
}

// ledgerOptions are a channel's options: blocks are registered as the
// channel's before they are stored.
func (m *Manager) ledgerOptions(name string) ledger.Options {
	return ledger.Options{
		Dir:        m.dir(name),
		Store:      &channelStore{m: m, name: name},
		Identity:   m.opts.Identity,
		Chaincodes: m.opts.Chaincodes,
		Logger:     m.opts.Logger,
	}
}

// channelStore is a channel's view of the block store: reads are local,
// writes register the block as the channel's first.
type channelStore struct {
	m    *Manager
	name string
}

func (s *channelStore) Get(ctx context.Context, c cid.Cid) ([]byte, error) {
	return s.m.opts.Local.Get(ctx, c)
}

func (s *channelStore) Has(ctx context.Context, c cid.Cid) (bool, error) {
	return s.m.opts.Local.Has(ctx, c)
}

func (s *channelStore) Put(ctx context.Context, b blockstore.Block) error {
	s.m.access.add(s.name, b.CID)
	return s.m.opts.Blocks.Put(ctx, b)
}

// fetcher fetches a channel's blocks from the network, registering each
// as the channel's before asking for it.
type fetcher struct {
	m      *Manager
	name   string
	pushed *pushedBlocks // blocks the orderer pushed; nil when joining
}

func (f *fetcher) Get(ctx context.Context, c cid.Cid) ([]byte, error) {
	f.m.access.add(f.name, c)
	if b := f.pushed.take(c); b != nil {
		return b, nil
	}
	if f.m.opts.Host == nil {
		return f.m.opts.Local.Get(ctx, c)
	}
	return f.m.opts.Blocks.Get(ctx, c)
}

// Create makes a new channel; cfg nil makes the one-organisation channel
// in which this node has every role.
func (m *Manager) Create(ctx context.Context, name string, cfg *config.Config) (*ChannelInfo, error) {
	if cfg == nil {
		if !config.ValidName(name) {
			return nil, fmt.Errorf("%w: channel name %q: use 1-64 letters, digits, '_', '.', '-'", config.ErrInvalid, name)
		}
		cfg = config.Default(name, m.Self())
	}
	if cfg.Channel == "" {
		cfg.Channel = name
	}
	if cfg.Channel != name {
		return nil, fmt.Errorf("%w: the config is for channel %q, not %q", config.ErrInvalid, cfg.Channel, name)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrClosed
	}
	if _, ok := m.channels[name]; ok || m.joining[name] {
		return nil, fmt.Errorf("%w: channel %s", ledger.ErrExists, name)
	}
	ch, err := ledger.Create(ctx, m.ledgerOptions(name), cfg)
	if err != nil {
		return nil, err
	}
	c, err := m.startChannel(ctx, ch, nil)
	if err != nil {
		ch.Close()
		return nil, err
	}
	m.channels[name] = c
	return c.info(ctx, false)
}

// Join makes this node's copy of a channel another member keeps: it asks
// that member (via, whose addresses are remembered to reach the channel
// later) for the genesis and head, fetches the blocks through Bitswap and
// commits them.
func (m *Manager) Join(ctx context.Context, name string, via peer.AddrInfo) (*ChannelInfo, error) {
	if m.opts.Host == nil {
		return nil, ErrOffline
	}
	if !config.ValidName(name) {
		return nil, fmt.Errorf("%w: channel name %q", config.ErrInvalid, name)
	}
	if via.ID == m.Self() {
		return nil, errors.New("the peer to join through is this node itself: give another member's address")
	}
	m.opts.Host.Peerstore().AddAddrs(via.ID, via.Addrs, time.Hour)
	if err := m.opts.Host.Connect(ctx, via); err != nil {
		return nil, fmt.Errorf("%w: connecting to %s: %w", ErrUnreachable, via.ID, err)
	}
	data, err := m.call(ctx, via.ID, &Request{Op: OpInfo, Channel: name})
	if err != nil {
		return nil, err
	}
	info, err := DecodeInfo(data)
	if err != nil {
		return nil, err
	}
	if err := m.reserve(name); err != nil {
		return nil, err
	}
	defer m.release(name)
	ch, err := ledger.Join(ctx, m.ledgerOptions(name), info.Genesis.Cid, &fetcher{m: m, name: name})
	if err != nil {
		return nil, fmt.Errorf("joining channel %s: %w", name, err)
	}
	if !ch.Members().IsMember(m.Self()) {
		ch.Close()
		os.RemoveAll(m.dir(name))
		return nil, fmt.Errorf("%w: this node (%s) is not a member of channel %s", ledger.ErrNotAllowed, m.Self(), name)
	}
	if err := savePeers(m.dir(name), []peer.AddrInfo{via}); err != nil {
		m.log.Warn("remembering the address joined through failed", "err", err)
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		ch.Close()
		return nil, ErrClosed
	}
	c, err := m.startChannel(ctx, ch, []peer.AddrInfo{via})
	if err != nil {
		m.mu.Unlock()
		ch.Close()
		return nil, err
	}
	m.channels[name] = c
	m.mu.Unlock()
	m.learnAddrs(c, info)
	if err := c.catchUp(ctx, info.Head.Cid); err != nil {
		return nil, fmt.Errorf("joined channel %s, but catching up to its head %s failed (it will be retried): %w", name, info.Head.Cid, err)
	}
	return c.info(ctx, false)
}

// reserve marks a channel as being joined, so that nothing opens it
// meanwhile; it fails if the channel exists.
func (m *Manager) reserve(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	if _, ok := m.channels[name]; ok || m.joining[name] {
		return fmt.Errorf("%w: channel %s", ledger.ErrExists, name)
	}
	if _, err := os.Stat(filepath.Join(m.dir(name), "state.db")); err == nil {
		return fmt.Errorf("%w: channel %s", ledger.ErrExists, name)
	}
	m.joining[name] = true
	return nil
}

func (m *Manager) release(name string) {
	m.mu.Lock()
	delete(m.joining, name)
	m.mu.Unlock()
}

// ChannelInfo describes a channel as this node keeps it.
type ChannelInfo struct {
	Name    string `json:"name"`
	Genesis string `json:"genesis"`
	Height  uint64 `json:"height"`
	Head    string `json:"head"`
	// StateHash (hex) is equal on members that committed the same
	// blocks; only Info computes it (it reads the whole state).
	StateHash     string         `json:"stateHash,omitempty"`
	Orderer       string         `json:"orderer"`
	Ordering      bool           `json:"ordering"` // this node runs the channel's orderer
	Roles         []config.Role  `json:"roles"`    // this node's roles
	Policy        string         `json:"endorsementPolicy"`
	Chaincodes    []string       `json:"chaincodes"`
	BlockCutting  config.Cutting `json:"blockCutting"`
	Organizations []config.Org   `json:"organizations"`
}

// List describes every channel kept here.
func (m *Manager) List(ctx context.Context) ([]ChannelInfo, error) {
	names, err := m.names()
	if err != nil {
		return nil, err
	}
	out := []ChannelInfo{}
	for _, n := range names {
		c, err := m.get(ctx, n)
		if err != nil {
			return nil, err
		}
		i, err := c.info(ctx, false)
		if err != nil {
			return nil, err
		}
		out = append(out, *i)
	}
	return out, nil
}

// Info describes one channel, with its state hash.
func (m *Manager) Info(ctx context.Context, name string) (*ChannelInfo, error) {
	c, err := m.get(ctx, name)
	if err != nil {
		return nil, err
	}
	return c.info(ctx, true)
}

func (c *channel) info(ctx context.Context, withHash bool) (*ChannelInfo, error) {
	var hash []byte
	height, head, err := c.ch.Digest(ctx)
	// The hash and the digest are read apart: read again if a block was
	// committed in between.
	for try := 0; withHash && err == nil && try < 5; try++ {
		var at uint64
		if hash, at, err = c.ch.StateHash(ctx); err != nil || at == height {
			break
		}
		height, head, err = c.ch.Digest(ctx)
	}
	if err != nil {
		return nil, err
	}
	cfg := c.ch.Config()
	me := c.m.Self()
	var roles []config.Role
	for _, r := range config.AllRoles {
		if c.ix.Has(me, r) {
			roles = append(roles, r)
		}
	}
	i := &ChannelInfo{Name: c.name, Genesis: c.ch.Genesis().String(), Height: height, Head: head.String(),
		Orderer: c.ordererID.String(), Ordering: c.solo != nil, Roles: roles, Policy: cfg.EndorsementPolicy,
		Chaincodes: cfg.Chaincodes, BlockCutting: cfg.BlockCutting, Organizations: cfg.Organizations}
	if withHash {
		i.StateHash = hex.EncodeToString(hash)
	}
	return i, nil
}
