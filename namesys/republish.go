package namesys

import (
	"context"
	"errors"
	"maps"
	"slices"
	"time"

	"node/ipns"
	"node/repo"
)

// Republish keeps this node's names alive until ctx ends: it re-signs
// every name published through this node (the index in the local store)
// with the same value and TTL, the next sequence number and a fresh
// validity (the lifetime the publisher asked for), stores it and puts it
// into the DHT. It does so at once, then each name again RepublishPeriod
// after its last signing, or at half its lifetime when that is sooner, so
// a record never expires while the node runs. A failed DHT put is retried
// after DefaultRetryDelay. A key removed from the keystore (or replaced
// by another key of the same name) is dropped from the index.
func (ns *NameSystem) Republish(ctx context.Context) {
	retry := map[string]time.Time{} // key name -> when to try again after a failure
	// Publishes so far are covered by republishing everything now.
	select {
	case <-ns.wake:
	default:
	}
	first := true
	for {
		now := ns.now()
		next := ns.republishDue(ctx, now, first, retry)
		first = false
		wait := ns.period
		if !next.IsZero() {
			wait = max(next.Sub(now), 0)
		}
		select {
		case <-ctx.Done():
			return
		case <-ns.after(wait):
		case <-ns.wake:
		}
	}
}

// republishDue republishes the names that are due at now (all of them
// when all is set) and returns when the next one is due (zero when none
// is tracked). retry holds the retry times of failed keys; it is updated.
func (ns *NameSystem) republishDue(ctx context.Context, now time.Time, all bool, retry map[string]time.Time) time.Time {
	ns.indexMu.Lock()
	ix, err := ns.loadIndex()
	ns.indexMu.Unlock()
	if err != nil {
		ns.log.Error("republishing: cannot read the published keys", "err", err)
		return now.Add(ns.period)
	}
	var next time.Time
	soonest := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	for _, keyName := range slices.Sorted(maps.Keys(ix.Keys)) {
		if ctx.Err() != nil {
			return next
		}
		e := ix.Keys[keyName]
		rec, _, err := ns.localRecord(e.Name)
		if err != nil || rec == nil {
			ns.log.Warn("republishing: no local record for a published key; publish it again", "key", keyName, "name", e.Name.String(), "err", err)
			continue
		}
		due := ns.dueTime(rec, e.Lifetime)
		if r, ok := retry[keyName]; ok && r.Before(due) {
			due = r
		}
		if !all && now.Before(due) {
			soonest(due)
			continue
		}
		done, err := ns.republishKey(ctx, keyName, e)
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return next
			}
			ns.log.Warn("republishing failed; will retry", "key", keyName, "name", e.Name.String(), "err", err, "retry_in", ns.retryDelay)
			retry[keyName] = now.Add(ns.retryDelay)
			soonest(retry[keyName])
		case done != nil:
			delete(retry, keyName)
			soonest(ns.dueTime(done, e.Lifetime))
			ns.log.Info("republished", "key", keyName, "name", e.Name.String(), "seq", done.Sequence())
		default:
			delete(retry, keyName)
		}
	}
	return next
}

// dueTime is when a record signed for lifetime should be signed again:
// RepublishPeriod after it was signed, or half its lifetime if sooner.
func (ns *NameSystem) dueTime(rec *ipns.Record, lifetime time.Duration) time.Time {
	signed := rec.Validity().Add(-lifetime)
	return signed.Add(min(ns.period, lifetime/2))
}

// republishKey re-signs the record of one published key. It returns nil
// and no error when the key is gone (and drops it from the index).
func (ns *NameSystem) republishKey(ctx context.Context, keyName string, e indexEntry) (*ipns.Record, error) {
	if ns.keys == nil {
		return nil, errors.New("the name system has no keystore (Config.Keys)")
	}
	sk, err := ns.keys.Get(keyName)
	if errors.Is(err, repo.ErrNoSuchKey) {
		ns.log.Info("key removed from the keystore; no longer republishing its name", "key", keyName, "name", e.Name.String())
		return nil, ns.dropKey(keyName, e.Name)
	}
	if err != nil {
		return nil, err
	}
	name, err := ipns.NameFromPublicKey(sk.GetPublic())
	if err != nil {
		return nil, err
	}
	if name != e.Name {
		ns.log.Info("key replaced in the keystore; no longer republishing the old name", "key", keyName, "name", e.Name.String())
		return nil, ns.dropKey(keyName, e.Name)
	}
	return ns.sign(ctx, keyName, sk, name, "", e.Lifetime, 0)
}

// dropKey removes a key from the index if it still names name.
func (ns *NameSystem) dropKey(keyName string, name ipns.Name) error {
	return ns.updateIndex(func(ix *index) {
		if e, ok := ix.Keys[keyName]; ok && e.Name == name {
			delete(ix.Keys, keyName)
		}
	})
}
