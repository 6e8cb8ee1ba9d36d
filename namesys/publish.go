package namesys

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	kaddht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p/core/crypto"

	"node/ipath"
	"node/ipns"
)

// Publish signs a record pointing the name of key keyName ("" means
// SelfKey) at value ("/ipfs/CID[/path]", a bare CID, or "/ipns/NAME[/path]"),
// stores it locally and puts it into the DHT. It returns the name and the
// record.
//
// The sequence number is one more than the highest seen for the name: in
// the local store (which survives restarts) and, when online, in the DHT.
// So a new record always replaces the old ones, even one published from
// another node with the same key.
//
// If only the DHT put fails, the record is published locally (resolutions
// on this node see it) and the error wraps ErrPutFailed; the name and
// record are returned with it, and Republish puts it again later.
func (ns *NameSystem) Publish(ctx context.Context, keyName, value string, opts PublishOptions) (ipns.Name, *ipns.Record, error) {
	if keyName == "" {
		keyName = SelfKey
	}
	lifetime, ttl := orDefault(opts.Lifetime, ns.lifetime), orDefault(opts.TTL, ns.ttl)
	if lifetime < 0 || ttl < 0 {
		return ipns.Name{}, nil, fmt.Errorf("publish: lifetime %v and TTL %v must not be negative", opts.Lifetime, opts.TTL)
	}
	value, err := normalizeValue(value)
	if err != nil {
		return ipns.Name{}, nil, fmt.Errorf("publish: %w", err)
	}
	if ns.keys == nil {
		return ipns.Name{}, nil, errors.New("publish: the name system has no keystore (Config.Keys)")
	}
	sk, err := ns.keys.Get(keyName)
	if err != nil {
		return ipns.Name{}, nil, fmt.Errorf("publish: key %q: %w", keyName, err)
	}
	name, err := ipns.NameFromPublicKey(sk.GetPublic())
	if err != nil {
		return ipns.Name{}, nil, fmt.Errorf("publish: key %q: %w", keyName, err)
	}
	rec, err := ns.sign(ctx, keyName, sk, name, value, lifetime, ttl)
	if rec != nil {
		// The republisher may have a new name to track.
		select {
		case ns.wake <- struct{}{}:
		default:
		}
	}
	return name, rec, err
}

// normalizeValue checks a value to publish and returns its canonical form:
// "/ipfs/CID[/path]" or "/ipns/NAME[/path]" with a valid name or domain.
func normalizeValue(value string) (string, error) {
	p, err := ipath.Parse(value)
	if err != nil {
		return "", fmt.Errorf("value: %w", err)
	}
	if p.Namespace == "ipns" {
		if _, _, err := classify(p.Name); err != nil {
			return "", fmt.Errorf("value %q: %w", value, err)
		}
	}
	return p.String(), nil
}

// sign makes, stores and puts the next record of name, signed with sk.
// An empty value means "the current value again" (republishing): the
// value and TTL of the newest local record are kept.
func (ns *NameSystem) sign(ctx context.Context, keyName string, sk crypto.PrivKey, name ipns.Name, value string, lifetime, ttl time.Duration) (*ipns.Record, error) {
	mu := ns.lockName(name)
	defer mu.Unlock()

	// The highest sequence number seen so far: local record, index, DHT.
	var seq uint64
	seen := false
	see := func(s uint64) {
		if !seen || s > seq {
			seq, seen = s, true
		}
	}
	local, _, err := ns.localRecord(name)
	if err != nil {
		return nil, fmt.Errorf("publish %s: %w", name, err)
	}
	if local != nil {
		see(local.Sequence())
	}
	ns.indexMu.Lock()
	ix, err := ns.loadIndex()
	ns.indexMu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("publish %s: %w", name, err)
	}
	if e, ok := ix.Keys[keyName]; ok && e.Name == name {
		see(e.Seq)
	}
	if value == "" {
		if local == nil {
			return nil, fmt.Errorf("republish %s: no local record to republish: %w", name, ipns.ErrNotFound)
		}
		value, ttl = local.Value(), local.TTL()
	}
	if ns.routing != nil {
		s, found, err := ns.dhtSequence(ctx, name)
		if err != nil {
			return nil, fmt.Errorf("publish %s: %w", name, err)
		}
		if found {
			see(s)
		}
	}
	next := uint64(0)
	if seen {
		if seq >= math.MaxInt64 {
			return nil, fmt.Errorf("publish %s: the sequence number %d cannot grow any more; publish with a new key", name, seq)
		}
		next = seq + 1
	}

	now := ns.now()
	rec, err := ipns.NewRecord(sk, value, next, now.Add(lifetime), ttl)
	if err != nil {
		return nil, fmt.Errorf("publish %s: %w", name, err)
	}
	b, err := rec.Marshal()
	if err != nil {
		return nil, fmt.Errorf("publish %s: %w", name, err)
	}
	if err := ns.store.Put(recordKey(name), b); err != nil {
		return nil, fmt.Errorf("publish %s: storing the record: %w", name, err)
	}
	if err := ns.updateIndex(func(ix *index) {
		ix.Keys[keyName] = indexEntry{Name: name, Seq: next, Lifetime: lifetime}
	}); err != nil {
		return nil, fmt.Errorf("publish %s: %w", name, err)
	}
	ns.cache.put(name.String(), value, expiry(rec, now), now)

	if ns.routing != nil {
		if err := ns.routing.PutValue(ctx, name.RoutingKey(), b); err != nil {
			return rec, fmt.Errorf("publish %s: %w: %w", name, ErrPutFailed, err)
		}
	}
	return rec, nil
}

// dhtSequence returns the highest sequence number among the records of
// name the DHT holds whose signature verifies (expired or not).
func (ns *NameSystem) dhtSequence(ctx context.Context, name ipns.Name) (uint64, bool, error) {
	ch, err := ns.routing.SearchValue(ctx, name.RoutingKey(), kaddht.Quorum(ns.quorum))
	if err != nil {
		if cerr := ctxErr(ctx, "searching the DHT for the current record"); cerr != nil {
			return 0, false, cerr
		}
		ns.log.Debug("searching the DHT for the current sequence number", "name", name.String(), "err", err)
		return 0, false, nil
	}
	now := ns.now()
	var seq uint64
	found := false
	for b := range ch {
		rec, err := ipns.Unmarshal(b)
		if err == nil {
			err = ipns.Validate(name, rec, now)
		}
		if err != nil && !errors.Is(err, ipns.ErrExpired) {
			continue
		}
		if !found || rec.Sequence() > seq {
			seq, found = rec.Sequence(), true
		}
	}
	if err := ctxErr(ctx, "searching the DHT for the current record"); err != nil {
		return 0, false, err
	}
	return seq, found, nil
}

// expiry is when a resolution of rec made at now stops being usable:
// after its TTL, and never past its validity.
func expiry(rec *ipns.Record, now time.Time) time.Time {
	e := now.Add(rec.TTL())
	if v := rec.Validity(); v.Before(e) {
		e = v
	}
	return e
}
