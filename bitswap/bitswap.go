package bitswap

import (
	"context"
	"errors"
	"log/slog"
	"sync"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"node/bitswap/client"
	"node/bitswap/decision"
	"node/bitswap/message"
	"node/bitswap/network"
	"node/bitswap/server"
	"node/blockstore"
)

// Bitswap is the running exchange.
type Bitswap struct {
	Net    *network.Network
	Server *server.Server
	Client *client.Client
	log    *slog.Logger
}

// New returns the exchange of h over store: the server answers from it
// and the client stores what it fetches there (through Store, so the
// server learns of it). routing finds providers (nil: connected peers
// only).
func New(h host.Host, st blockstore.Store, routing client.Routing, cfg decision.Config, log *slog.Logger) (*Bitswap, error) {
	if log == nil {
		log = slog.Default()
	}
	n := network.New(h, log)
	srv, err := server.New(n, st, cfg, log)
	if err != nil {
		return nil, err
	}
	b := &Bitswap{Net: n, Server: srv, log: log}
	b.Client = client.New(n, &store{Store: st, bs: b}, routing, client.Options{Logger: log})
	return b, nil
}

// Start runs the server and begins receiving, until ctx ends.
func (b *Bitswap) Start(ctx context.Context) {
	go b.Server.Run(ctx)
	b.Net.Start(b)
	context.AfterFunc(ctx, func() {
		b.Net.Stop()
		b.Client.Close()
	})
}

// ReceiveMessage hands a message to both halves. Only the blocks the
// client wanted count as given in the sender's ledger: unrequested or
// duplicate blocks cannot buy a peer credit.
func (b *Bitswap) ReceiveMessage(ctx context.Context, from peer.ID, m *message.Message) {
	if len(m.Blocks) > 0 || len(m.Presences) > 0 {
		blocks, bytes := b.Client.Accept(ctx, from, m)
		b.Server.Credit(from, blocks, bytes)
	}
	b.Server.ReceiveWants(ctx, from, m)
	m.Release() // handled: its memory serves the next message, unless kept
}

// ReceiveError counts and logs a peer's malformed message.
func (b *Bitswap) ReceiveError(from peer.ID, err error) {
	b.Client.ReceiveError(from, err)
	b.Server.ReceiveError(from, err)
}

// PeerConnected tells both halves.
func (b *Bitswap) PeerConnected(p peer.ID) {
	b.Client.PeerConnected(p)
	b.Server.PeerConnected(p)
}

// PeerDisconnected tells both halves.
func (b *Bitswap) PeerDisconnected(p peer.ID) {
	b.Client.PeerDisconnected(p)
	b.Server.PeerDisconnected(p)
}

// Store wraps a block store: Get falls back to fetching from the network,
// and every block put is announced to the server (peers waiting for it get
// it).
func (b *Bitswap) Store(s blockstore.Store) blockstore.Store { return &store{Store: s, bs: b} }

type store struct {
	blockstore.Store
	bs    *Bitswap
	fetch fetcher // nil: the client, each block in a session of its own
}

// fetcher gets blocks from the network: the client or one of its
// sessions.
type fetcher interface {
	GetBlockBuffer(ctx context.Context, c cid.Cid, buf []byte) ([]byte, error)
}

func (s *store) fetcher() fetcher {
	if s.fetch != nil {
		return s.fetch
	}
	return s.bs.Client
}

// Session is the store with the blocks it misses fetched in one client
// session (see blockstore.Sessions), until ctx ends. The client session
// starts at the first miss: a read of local blocks (most gateway
// requests) costs the client nothing.
func (s *store) Session(ctx context.Context) blockstore.Getter {
	in := *s
	in.fetch = &lazySession{ctx: ctx, c: s.bs.Client}
	return &in
}

// lazySession is a client session started on first use.
type lazySession struct {
	ctx  context.Context
	c    *client.Client
	once sync.Once
	s    *client.Session
}

func (l *lazySession) GetBlockBuffer(ctx context.Context, c cid.Cid, buf []byte) ([]byte, error) {
	l.once.Do(func() { l.s = l.c.NewSession(l.ctx) })
	return l.s.GetBlockBuffer(ctx, c, buf)
}

func (s *store) Get(ctx context.Context, c cid.Cid) ([]byte, error) {
	return s.GetBuffer(ctx, c, nil)
}

// GetBuffer is Get reading into buf (see blockstore.BufferGetter): from
// the wrapped store, or copied from the network when the block fits.
func (s *store) GetBuffer(ctx context.Context, c cid.Cid, buf []byte) ([]byte, error) {
	var data []byte
	var err error
	if g, ok := s.Store.(blockstore.BufferGetter); ok && buf != nil {
		data, err = g.GetBuffer(ctx, c, buf)
	} else {
		data, err = s.Store.Get(ctx, c)
	}
	if err == nil || !errors.Is(err, blockstore.ErrNotFound) {
		return data, err
	}
	return s.fetcher().GetBlockBuffer(ctx, c, buf)
}

// CopiesData forwards to the wrapped store.
func (s *store) CopiesData() bool {
	c, ok := s.Store.(blockstore.Copier)
	return ok && c.CopiesData()
}

func (s *store) Put(ctx context.Context, blk blockstore.Block) error {
	return s.PutMany(ctx, []blockstore.Block{blk})
}

func (s *store) PutMany(ctx context.Context, bs []blockstore.Block) error {
	if err := s.Store.PutMany(ctx, bs); err != nil {
		return err
	}
	for _, blk := range bs {
		s.bs.Server.BlockAdded(blk.CID, len(blk.Data))
	}
	return nil
}

// Sync forwards to the wrapped store.
func (s *store) Sync(ctx context.Context) error {
	if y, ok := s.Store.(interface{ Sync(context.Context) error }); ok {
		return y.Sync(ctx)
	}
	return nil
}
