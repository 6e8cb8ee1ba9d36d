package namesys

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/routing"

	"node/ipns"
)

// Routing is the part of the DHT the name system uses: putting a record
// and searching for the records stored under a key. *kaddht.IpfsDHT (what
// package dht returns) satisfies it. SearchValue must stream ever better
// values and close the channel when the search ends.
type Routing interface {
	PutValue(ctx context.Context, key string, value []byte, opts ...routing.Option) error
	SearchValue(ctx context.Context, key string, opts ...routing.Option) (<-chan []byte, error)
}

// Store is the node's local key/value store, where the records it
// publishes are kept. *repo.Datastore satisfies it; Get of an absent key
// must return an error wrapping repo.ErrNotFound.
type Store interface {
	Get(key string) ([]byte, error)
	Put(key string, value []byte) error
}

// Keys gives the private keys records are signed with. *repo.Keystore
// satisfies it ("self" is the node's identity); Get of an unknown name
// should return an error wrapping repo.ErrNoSuchKey (the republisher then
// stops republishing that key).
type Keys interface {
	Get(name string) (crypto.PrivKey, error)
}

// Defaults for the zero fields of Config.
const (
	// DefaultCacheSize is the number of resolutions cached.
	DefaultCacheSize = 128
	// DefaultRepublishPeriod is how often own records are re-signed and
	// put again.
	DefaultRepublishPeriod = 4 * time.Hour
	// DefaultDHTQuorum is how many DHT answers a resolution waits for
	// before it stops searching (as other IPFS implementations do).
	DefaultDHTQuorum = 16
	// DefaultRetryDelay is how soon the republisher tries again after a
	// failed DHT put (at start the DHT often has no peers yet).
	DefaultRetryDelay = time.Minute
)

// MaxDepth is the most names a resolution follows (a name whose record
// points at another name, and so on) before it gives up.
const MaxDepth = 32

// SelfKey is the key Publish signs with when no key name is given: the
// node's identity.
const SelfKey = "self"

// Errors a caller can act on, besides ipns.ErrNotFound (no record, or no
// DNSLink), ipns.ErrInvalidName (not a name) and the context's errors,
// which every method passes through.
var (
	// ErrCycle: a name's records lead back to a name already on the way.
	ErrCycle = errors.New("namesys: names point at each other in a cycle")
	// ErrDepthLimit: a recursive resolution followed MaxDepth names
	// without reaching an /ipfs path.
	ErrDepthLimit = errors.New("namesys: too many names to follow (depth limit 32)")
	// ErrMultipleDNSLink: a domain has several different dnslink TXT
	// records, so which one counts is undefined.
	ErrMultipleDNSLink = errors.New("namesys: several different DNSLink records")
	// ErrDNS: the DNS lookup itself failed (server unreachable, refused,
	// failing); the domain may still have a DNSLink.
	ErrDNS = errors.New("namesys: DNS lookup failed")
	// ErrPutFailed: Publish signed and stored the record locally, but
	// could not put it into the DHT. The republisher retries.
	ErrPutFailed = errors.New("namesys: record stored locally but not put into the DHT")
	// ErrCorruptIndex: the list of keys to republish, kept in the local
	// store, cannot be read.
	ErrCorruptIndex = errors.New("namesys: the index of published keys is corrupt")
)

// Config configures a NameSystem. Zero fields take the defaults.
type Config struct {
	// Routing is the DHT; nil means offline: names resolve from the cache
	// and the local store only, and Publish stores locally only.
	Routing Routing
	// Store keeps the records this node publishes and the list of keys it
	// republishes. Required.
	Store Store
	// Keys gives the signing keys. Required for Publish and Republish.
	Keys Keys

	// CacheSize is how many resolved names are cached; 0 means
	// DefaultCacheSize, a negative value turns the cache off.
	CacheSize int
	// Lifetime is how long a published record stays valid unless
	// PublishOptions say otherwise; 0 means ipns.DefaultLifetime (48h).
	Lifetime time.Duration
	// TTL is how long resolvers may cache a published record unless
	// PublishOptions say otherwise; 0 means ipns.DefaultTTL (5m).
	TTL time.Duration
	// RepublishPeriod is how often Republish re-signs own records; 0
	// means DefaultRepublishPeriod (4h). A record whose lifetime is
	// shorter than twice the period is republished at half its lifetime.
	RepublishPeriod time.Duration
	// DHTQuorum is how many DHT answers a resolution collects before it
	// stops the search; 0 means DefaultDHTQuorum.
	DHTQuorum int

	// DNSResolver is the "host:port" of the DNS server asked for DNSLink
	// TXT records; "" means the servers in /etc/resolv.conf.
	DNSResolver string

	// Now is the clock records are signed and checked with; nil means
	// time.Now.
	Now func() time.Time
	// Log receives the name system's logs; nil means slog.Default().
	Log *slog.Logger
}

// PublishOptions tune one Publish. Zero fields take the Config's values.
type PublishOptions struct {
	// Lifetime is how long the record stays valid.
	Lifetime time.Duration
	// TTL is how long resolvers may cache it.
	TTL time.Duration
}

// ResolveOptions tune one Resolve.
type ResolveOptions struct {
	// Depth is how many names to follow: 1 resolves one step (the result
	// may be another /ipns path), 0 follows names until an /ipfs path, up
	// to MaxDepth.
	Depth int
	// NoCache skips the cache on the way in; the answer still refreshes
	// it.
	NoCache bool
}

// Result is a resolved name.
type Result struct {
	// Path is what the name points at: "/ipfs/CID[/path]", or, when the
	// depth ran out first, "/ipns/NAME[/path]".
	Path string
	// TTL is how long the answer may be cached: the smallest TTL along
	// the way, never past a record's validity.
	TTL time.Duration
}

// NameSystem publishes and resolves names. Its methods are safe for
// concurrent use.
type NameSystem struct {
	routing    Routing
	store      Store
	keys       Keys
	cache      *cache // nil when caching is off
	dns        *dnsResolver
	lifetime   time.Duration
	ttl        time.Duration
	period     time.Duration
	quorum     int
	retryDelay time.Duration
	now        func() time.Time
	log        *slog.Logger

	// after makes the republisher's timers; time.After unless a test
	// drives the loop by hand.
	after func(time.Duration) <-chan time.Time

	// wake tells the republisher a key was published (buffered, 1).
	wake chan struct{}

	locksMu sync.Mutex // guards nameLocks
	// nameLocks serialize publishing per name, so sequence numbers never
	// repeat. Entries are never removed: a node publishes few names.
	nameLocks map[ipns.Name]*sync.Mutex

	indexMu sync.Mutex // guards the read-modify-write of the published-keys index in the store

	// bg runs background repairs (re-putting a newer record found
	// during a resolution); Close cancels and waits for them.
	bgCtx    context.Context
	bgCancel context.CancelFunc
	bgMu     sync.Mutex // guards closed and the bg.Add calls (no Add after Close's Wait)
	closed   bool
	bg       sync.WaitGroup
}

// New returns a NameSystem. Config.Store is required.
func New(cfg Config) (*NameSystem, error) {
	if cfg.Store == nil {
		return nil, errors.New("namesys: Config.Store is required")
	}
	for what, d := range map[string]time.Duration{"Lifetime": cfg.Lifetime, "TTL": cfg.TTL, "RepublishPeriod": cfg.RepublishPeriod} {
		if d < 0 {
			return nil, fmt.Errorf("namesys: Config.%s is %v: want 0 (the default) or more", what, d)
		}
	}
	if cfg.DHTQuorum < 0 {
		return nil, fmt.Errorf("namesys: Config.DHTQuorum is %d: want 0 (the default) or more", cfg.DHTQuorum)
	}
	dnsr, err := newDNSResolver(cfg.DNSResolver)
	if err != nil {
		return nil, err
	}
	ns := &NameSystem{
		routing:    cfg.Routing,
		store:      cfg.Store,
		keys:       cfg.Keys,
		dns:        dnsr,
		lifetime:   orDefault(cfg.Lifetime, ipns.DefaultLifetime),
		ttl:        orDefault(cfg.TTL, ipns.DefaultTTL),
		period:     orDefault(cfg.RepublishPeriod, DefaultRepublishPeriod),
		quorum:     cfg.DHTQuorum,
		retryDelay: DefaultRetryDelay,
		now:        cfg.Now,
		log:        cfg.Log,
		after:      time.After,
		wake:       make(chan struct{}, 1),
		nameLocks:  map[ipns.Name]*sync.Mutex{},
	}
	if ns.quorum == 0 {
		ns.quorum = DefaultDHTQuorum
	}
	if ns.now == nil {
		ns.now = time.Now
	}
	if ns.log == nil {
		ns.log = slog.Default()
	}
	ns.log = ns.log.With("subsystem", "namesys")
	switch {
	case cfg.CacheSize == 0:
		ns.cache = newCache(DefaultCacheSize)
	case cfg.CacheSize > 0:
		ns.cache = newCache(cfg.CacheSize)
	}
	ns.bgCtx, ns.bgCancel = context.WithCancel(context.Background())
	return ns, nil
}

// Close stops background work (repairs of stale DHT records started by
// resolutions) and waits for it. Republish stops with its own context.
func (ns *NameSystem) Close() error {
	ns.bgMu.Lock()
	ns.closed = true
	ns.bgMu.Unlock()
	ns.bgCancel()
	ns.bg.Wait()
	return nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// lockName returns the publishing lock of a name, locked.
func (ns *NameSystem) lockName(n ipns.Name) *sync.Mutex {
	ns.locksMu.Lock()
	mu := ns.nameLocks[n]
	if mu == nil {
		mu = new(sync.Mutex)
		ns.nameLocks[n] = mu
	}
	ns.locksMu.Unlock()
	mu.Lock()
	return mu
}

// ctxErr returns ctx's error wrapped with what was being done, or nil. A
// deadline that has passed counts even before ctx notices it, since an
// I/O deadline set from it may fire first.
func ctxErr(ctx context.Context, doing string) error {
	err := ctx.Err()
	if d, ok := ctx.Deadline(); ok && err == nil && !time.Now().Before(d) {
		err = context.DeadlineExceeded
	}
	if err != nil {
		return fmt.Errorf("%s: %w", doing, err)
	}
	return nil
}
