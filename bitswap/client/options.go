package client

import (
	"log/slog"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"node/bitswap/message"
)

// Options tune the client. Zero fields take the defaults shown.
type Options struct {
	// WantTimeout is how long a peer sent a want-block may stay silent
	// (no block, no DONT_HAVE, no other blocks or presences from it)
	// before the want moves to the next peer. Default 5s.
	WantTimeout time.Duration
	// SearchDelay is how long a session may go without receiving a block
	// before it widens its search: it re-asks every connected peer and asks
	// the routing for providers. The delay doubles each time, up to
	// MaxSearchDelay, and returns to SearchDelay when a block arrives.
	// It also spaces a session's provider searches. Default 1s.
	SearchDelay time.Duration
	// MaxSearchDelay caps the widening delay. Default 1 minute.
	MaxSearchDelay time.Duration
	// ProviderCount is how many providers a search asks the routing for.
	// Default 10.
	ProviderCount int
	// TickInterval is how often timeouts are checked while something is
	// wanted. Default 100ms.
	TickInterval time.Duration
	// Logger receives the client's logs; default slog.Default().
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.WantTimeout <= 0 {
		o.WantTimeout = 5 * time.Second
	}
	if o.SearchDelay <= 0 {
		o.SearchDelay = time.Second
	}
	if o.MaxSearchDelay < o.SearchDelay {
		o.MaxSearchDelay = max(time.Minute, o.SearchDelay)
	}
	if o.ProviderCount <= 0 {
		o.ProviderCount = 10
	}
	if o.TickInterval <= 0 {
		o.TickInterval = 100 * time.Millisecond
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Stats are the client's counters since it started.
type Stats struct {
	BlocksReceived   uint64 // wanted blocks received, verified and kept
	BytesReceived    uint64
	DupBlocks        uint64 // wanted blocks received again (another peer was first)
	DupBytes         uint64
	Unrequested      uint64 // blocks nobody asked for: dropped
	UnrequestedBytes uint64
	Invalid          uint64 // blocks that did not hash to their CID: dropped
	Errors           uint64 // malformed messages (the peer's stream was reset)
	Wants            int    // CIDs wanted now
	// Peers has the counters of each peer we are or were connected to
	// and that sent us something (or is connected now).
	Peers map[peer.ID]PeerStats
}

// PeerStats are the client's counters for one peer.
type PeerStats struct {
	BlocksReceived   uint64
	BytesReceived    uint64
	DupBlocks        uint64
	DupBytes         uint64
	Unrequested      uint64
	UnrequestedBytes uint64
	Invalid          uint64
	Errors           uint64
	Haves            uint64 // HAVE answers
	DontHaves        uint64 // DONT_HAVE answers
	Timeouts         uint64 // want-blocks it left unanswered past WantTimeout
	Connected        bool
	Version          message.Version // as known or assumed (1.2.0)
}
