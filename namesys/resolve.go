package namesys

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	kaddht "github.com/libp2p/go-libp2p-kad-dht"

	"node/ipath"
	"node/ipns"
)

// repairTimeout bounds a background re-put of a newer record.
const repairTimeout = time.Minute

// nameKind tells IPNS names from DNSLink domains.
type nameKind int

const (
	kindIPNS nameKind = iota
	kindDNS
)

// classify tells what a name is: an IPNS name ("k51...", "bafz...", a
// peer ID) or a DNS domain. It returns the cache key of the name (the
// "k51..." form, or the lower-case domain without a trailing dot).
func classify(s string) (string, nameKind, error) {
	if n, err := ipns.ParseName(s); err == nil {
		return n.String(), kindIPNS, nil
	}
	if d, ok := domainName(s); ok {
		return d, kindDNS, nil
	}
	return "", 0, fmt.Errorf("%w: %q is neither an IPNS name (k51...) nor a DNS domain name", ipns.ErrInvalidName, s)
}

// Resolve resolves one name: an IPNS name ("k51...", "bafz...", a peer
// ID) or a domain with a DNSLink; a leading "/ipns/" is allowed. See
// ResolveOptions for the depth. Each step looks in the cache (unless
// NoCache), then, for an IPNS name, in the local store, then in the DHT;
// a domain asks DNS for the TXT record at _dnslink.<domain>.
//
// Errors wrap ipns.ErrNotFound (no valid record), ipns.ErrInvalidName,
// ErrCycle, ErrDepthLimit, ErrMultipleDNSLink, ErrDNS, or the context's
// error.
func (ns *NameSystem) Resolve(ctx context.Context, name string, opts ResolveOptions) (Result, error) {
	s := strings.TrimPrefix(name, ipns.NamespacePrefix)
	if s == "" || strings.Contains(s, "/") {
		return Result{}, fmt.Errorf("resolve: %w: %q is not a single name (ResolvePath takes paths)", ipns.ErrInvalidName, name)
	}
	return ns.resolve(ctx, s, "", opts)
}

// ResolvePath turns "/ipns/NAME/rest..." into "/ipfs/CID/rest...",
// following names recursively, and returns how long the answer may be
// cached. "/ipfs/..." paths come back unchanged with a TTL of 0 (they never
// change); a bare "CID/rest" comes back as "/ipfs/CID/rest". The rest of
// the path is kept as written (trailing slash included). Errors are
// Resolve's, or wrap ipath.ErrInvalid for a malformed path.
func (ns *NameSystem) ResolvePath(ctx context.Context, p string) (string, time.Duration, error) {
	pp, err := ipath.Parse(p)
	if err != nil {
		return "", 0, fmt.Errorf("resolve: %w", err)
	}
	if pp.Namespace == "ipfs" {
		if strings.HasPrefix(p, "/ipfs/") {
			return p, 0, nil
		}
		return "/ipfs/" + p, 0, nil
	}
	rest := p[len(ipns.NamespacePrefix)+len(pp.Name):]
	res, err := ns.resolve(ctx, pp.Name, rest, ResolveOptions{})
	if err != nil {
		return "", 0, err
	}
	return res.Path, res.TTL, nil
}

// resolve follows name (with rest appended to what it points at) as far
// as opts.Depth allows.
func (ns *NameSystem) resolve(ctx context.Context, name, rest string, opts ResolveOptions) (Result, error) {
	limit, recursive := MaxDepth, opts.Depth <= 0
	if !recursive && opts.Depth < limit {
		limit = opts.Depth
	}
	ttl := time.Duration(math.MaxInt64)
	var chain []string // names followed so far, for cycle detection and errors
	for {
		key, kind, err := classify(name)
		if err != nil {
			return Result{}, fmt.Errorf("resolve %s: %w", describeChain(chain, name), err)
		}
		if len(chain) == limit {
			if recursive {
				return Result{}, fmt.Errorf("resolve %s: %w", describeChain(chain, name), ErrDepthLimit)
			}
			return Result{Path: ipns.NamespacePrefix + name + rest, TTL: ttl}, nil
		}
		for _, k := range chain {
			if k == key {
				return Result{}, fmt.Errorf("resolve %s: %w", describeChain(chain, key), ErrCycle)
			}
		}
		chain = append(chain, key)
		value, t, err := ns.resolveOnce(ctx, key, kind, opts.NoCache)
		if err != nil {
			if len(chain) > 1 {
				return Result{}, fmt.Errorf("resolve %s: %w", describeChain(chain[:len(chain)-1], key), err)
			}
			return Result{}, err
		}
		ttl = min(ttl, t)
		// value is canonical (normalizeValue).
		if after, ok := strings.CutPrefix(value, "/ipfs/"); ok {
			return Result{Path: "/ipfs/" + after + rest, TTL: ttl}, nil
		}
		next := strings.TrimPrefix(value, ipns.NamespacePrefix)
		if i := strings.IndexByte(next, '/'); i >= 0 {
			next, rest = next[:i], next[i:]+rest
		}
		name = next
	}
}

// describeChain writes the names followed so far for an error message.
func describeChain(chain []string, last string) string {
	if len(chain) == 0 {
		return "/ipns/" + last
	}
	return "/ipns/" + strings.Join(append(chain, last), " -> /ipns/")
}

// resolveOnce resolves one step: the value a name points at and how long
// that answer may be cached.
func (ns *NameSystem) resolveOnce(ctx context.Context, key string, kind nameKind, noCache bool) (string, time.Duration, error) {
	now := ns.now()
	if !noCache {
		if v, ttl, ok := ns.cache.get(key, now); ok {
			return v, ttl, nil
		}
	}
	var value string
	var expires time.Time
	switch kind {
	case kindIPNS:
		name, err := ipns.ParseName(key)
		if err != nil {
			return "", 0, err // classify made key from a parsed name
		}
		rec, _, err := ns.findRecord(ctx, name, now)
		if err != nil {
			return "", 0, err
		}
		if value, err = normalizeValue(rec.Value()); err != nil {
			return "", 0, fmt.Errorf("resolve /ipns/%s: the record points at an invalid path: %w", key, err)
		}
		expires = expiry(rec, now)
	case kindDNS:
		v, ttl, err := ns.dns.resolve(ctx, key)
		if err != nil {
			return "", 0, fmt.Errorf("resolve /ipns/%s: %w", key, err)
		}
		value, expires = v, now.Add(ttl)
	}
	ns.cache.put(key, value, expires, now)
	return value, max(expires.Sub(now), 0), nil
}

// Record returns the signed record of an IPNS name, as serialized: the
// local one if this node holds a valid one, else the best valid record in
// the DHT. Errors wrap ipns.ErrNotFound or ipns.ErrInvalidName (a domain
// has no record).
func (ns *NameSystem) Record(ctx context.Context, name string) ([]byte, error) {
	s := strings.TrimPrefix(name, ipns.NamespacePrefix)
	n, err := ipns.ParseName(s)
	if err != nil {
		if _, ok := domainName(s); ok {
			return nil, fmt.Errorf("record: %w: %q is a DNSLink domain; only IPNS names (k51...) have records", ipns.ErrInvalidName, s)
		}
		return nil, fmt.Errorf("record: %w", err)
	}
	now := ns.now()
	rec, raw, err := ns.findRecord(ctx, n, now)
	if err != nil {
		return nil, err
	}
	if value, err := normalizeValue(rec.Value()); err == nil {
		ns.cache.put(n.String(), value, expiry(rec, now), now)
	}
	return raw, nil
}

// findRecord finds the record of name valid at now: the local one, else
// the best in the DHT.
func (ns *NameSystem) findRecord(ctx context.Context, name ipns.Name, now time.Time) (*ipns.Record, []byte, error) {
	rec, raw, err := ns.localRecord(name)
	if err != nil {
		ns.log.Warn("reading a local record", "name", name.String(), "err", err)
	}
	if rec != nil {
		err := ipns.Validate(name, rec, now)
		if err == nil {
			return rec, raw, nil
		}
		ns.log.Debug("local record not usable", "name", name.String(), "err", err)
	}
	if ns.routing == nil {
		return nil, nil, fmt.Errorf("resolve /ipns/%s: %w (offline: only records published from this node resolve)", name, ipns.ErrNotFound)
	}
	return ns.searchDHT(ctx, name, now)
}

// searchDHT asks the DHT for name's records and returns the best valid
// one: the highest sequence, then the latest validity. The DHT itself
// (kad-dht) puts the best record back to the peers of the lookup that
// answered an older one when the search runs to its end; when the search
// stops at the quorum it does not, so if an older record was seen the best
// one is put again here, in the background.
func (ns *NameSystem) searchDHT(ctx context.Context, name ipns.Name, now time.Time) (*ipns.Record, []byte, error) {
	key := name.RoutingKey()
	ch, err := ns.routing.SearchValue(ctx, key, kaddht.Quorum(ns.quorum))
	if err != nil {
		if cerr := ctxErr(ctx, "resolve /ipns/"+name.String()); cerr != nil {
			return nil, nil, cerr
		}
		return nil, nil, fmt.Errorf("resolve /ipns/%s: searching the DHT: %w", name, err)
	}
	var best *ipns.Record
	var bestRaw []byte
	stale := false
	for b := range ch {
		rec, err := ipns.Unmarshal(b)
		if err == nil {
			err = ipns.Validate(name, rec, now)
		}
		if err != nil {
			ns.log.Debug("ignoring an invalid record from the DHT", "name", name.String(), "err", err)
			continue
		}
		switch {
		case best == nil:
			best, bestRaw = rec, b
		case ipns.Compare(rec, best) > 0:
			best, bestRaw, stale = rec, b, true
		case ipns.Compare(rec, best) < 0:
			stale = true
		}
	}
	if best == nil {
		if err := ctxErr(ctx, "resolve /ipns/"+name.String()); err != nil {
			return nil, nil, err
		}
		return nil, nil, fmt.Errorf("resolve /ipns/%s: %w", name, ipns.ErrNotFound)
	}
	if stale {
		ns.repair(key, bestRaw)
	}
	return best, bestRaw, nil
}

// repair puts a record again, in the background, so the peers closest to
// its key hold it.
func (ns *NameSystem) repair(key string, value []byte) {
	ns.bgMu.Lock()
	defer ns.bgMu.Unlock()
	if ns.closed {
		return
	}
	ns.bg.Add(1)
	go func() {
		defer ns.bg.Done()
		ctx, cancel := context.WithTimeout(ns.bgCtx, repairTimeout)
		defer cancel()
		if err := ns.routing.PutValue(ctx, key, value); err != nil && !errors.Is(err, context.Canceled) {
			ns.log.Debug("re-putting a newer record", "err", err)
		}
	}()
}
