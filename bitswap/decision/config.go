package decision

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// Strategy says how the engine weighs peers against each other.
type Strategy string

const (
	// Reciprocal serves a peer with probability P(r) of its debt ratio and
	// freezes peers that keep taking without giving. The default.
	Reciprocal Strategy = "reciprocal"
	// Fair ignores the ledger: every waiting peer is served in turn (P = 1)
	// and nobody is frozen.
	Fair Strategy = "fair"
)

// ParseStrategy turns a config string into a Strategy. The empty string is
// the default, Reciprocal.
func ParseStrategy(s string) (Strategy, error) {
	switch Strategy(s) {
	case "", Reciprocal:
		return Reciprocal, nil
	case Fair:
		return Fair, nil
	}
	return "", fmt.Errorf("decision: unknown strategy %q (use %q or %q)", s, Reciprocal, Fair)
}

// Defaults for the zero fields of Config. doc.go explains the choices.
const (
	DefaultFreeAllowance              = 1 << 20 // 1 MiB: four 256 KiB chunks
	DefaultMaxWantsPerPeer            = 1024
	DefaultMaxOutstandingBytesPerPeer = 2 << 20 // two batches in flight
	DefaultTargetMessageSize          = 1 << 20
	DefaultFreezeBelow                = 0.1 // P(r) < 0.1 means r > 2.73
	DefaultFreezeAfterRounds          = 8
	DefaultThawAbove                  = 0.5 // P(r) >= 0.5 means r <= 2
	DefaultThawAfter                  = time.Minute
	DefaultLedgerRetention            = time.Hour
)

// SmallBlockSize is the largest block sent in place of a HAVE when a peer
// asks want-have: the block costs about as much as the answer.
const SmallBlockSize = 1024

// maxDrawsPerTask bounds the lottery draws one NextTask makes among
// non-frozen peers, so a call stays O(1) in the number of peers whatever
// their probabilities; when every draw loses, the drawn peer with the best
// probability is served (the server never idles while someone waits).
const maxDrawsPerTask = 32

// Config sets up an Engine. Zero fields take the defaults above.
type Config struct {
	// Strategy is Reciprocal (default) or Fair.
	Strategy Strategy
	// FreeAllowance is how many bytes we send a peer (since its debt was
	// last forgiven) before its debt ratio counts. Zero means the default;
	// negative means no allowance.
	FreeAllowance int64
	// TrustedPeers are always served with P = 1 and never frozen.
	TrustedPeers []peer.ID
	// MaxWantsPerPeer caps a peer's want-list; new entries past it are
	// dropped (WantsReceived reports how many).
	MaxWantsPerPeer int
	// MaxOutstandingBytesPerPeer: a peer with this many bytes handed out in
	// tasks and not yet reported by TaskDone gets nothing more until then.
	MaxOutstandingBytesPerPeer int
	// TargetMessageSize is how many bytes one task carries: tasks are added
	// while they fit (a single larger block still goes alone).
	TargetMessageSize int
	// FreezeBelow and FreezeAfterRounds: a peer whose P(r) is under
	// FreezeBelow in FreezeAfterRounds consecutive draws becomes frozen.
	FreezeBelow       float64
	FreezeAfterRounds int
	// ThawAbove: a frozen peer that gives back enough to lift P(r) to
	// ThawAbove or more thaws at once.
	ThawAbove float64
	// ThawAfter: a peer frozen this long thaws and its debt is forgiven
	// (counted afresh, with a new free allowance).
	ThawAfter time.Duration
	// LedgerRetention is how long the ledger of a disconnected peer is
	// kept; a reconnect within it finds the old ledger.
	LedgerRetention time.Duration
	// Rand returns a number in [0, 1). The engine calls it once per draw
	// for a peer whose P(r) is below 1, and nowhere else. Default:
	// math/rand/v2's Float64.
	Rand func() float64
}

func (c Config) withDefaults() (Config, error) {
	s, err := ParseStrategy(string(c.Strategy))
	if err != nil {
		return c, err
	}
	c.Strategy = s
	if c.FreeAllowance == 0 {
		c.FreeAllowance = DefaultFreeAllowance
	} else if c.FreeAllowance < 0 {
		c.FreeAllowance = 0
	}
	for _, f := range []struct {
		name string
		v    *int
		def  int
	}{
		{"MaxWantsPerPeer", &c.MaxWantsPerPeer, DefaultMaxWantsPerPeer},
		{"MaxOutstandingBytesPerPeer", &c.MaxOutstandingBytesPerPeer, DefaultMaxOutstandingBytesPerPeer},
		{"TargetMessageSize", &c.TargetMessageSize, DefaultTargetMessageSize},
		{"FreezeAfterRounds", &c.FreezeAfterRounds, DefaultFreezeAfterRounds},
	} {
		if *f.v < 0 {
			return c, fmt.Errorf("decision: %s is %d, must not be negative", f.name, *f.v)
		}
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	for _, f := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"ThawAfter", &c.ThawAfter, DefaultThawAfter},
		{"LedgerRetention", &c.LedgerRetention, DefaultLedgerRetention},
	} {
		if *f.v < 0 {
			return c, fmt.Errorf("decision: %s is %v, must not be negative", f.name, *f.v)
		}
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	if c.FreezeBelow == 0 {
		c.FreezeBelow = DefaultFreezeBelow
	}
	if c.ThawAbove == 0 {
		c.ThawAbove = DefaultThawAbove
	}
	if !(c.FreezeBelow > 0 && c.FreezeBelow < c.ThawAbove && c.ThawAbove <= 1) {
		return c, fmt.Errorf("decision: need 0 < FreezeBelow (%v) < ThawAbove (%v) <= 1", c.FreezeBelow, c.ThawAbove)
	}
	if c.Rand == nil {
		c.Rand = rand.Float64
	}
	return c, nil
}
