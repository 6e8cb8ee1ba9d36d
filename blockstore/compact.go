package blockstore

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
)

// CompactThreshold is the fraction of dead bytes (deleted or superseded
// blocks, tombstones, damaged tails) at which Compact rewrites a sealed
// pack. It bounds space amplification at 1/(1-0.3) ≈ 1.43.
const CompactThreshold = 0.3

// minCompactSize is the size below which the active pack is not retired
// for compaction: rewriting a tiny pack frees little.
const minCompactSize = 1 << 20

// deadEnough reports whether p has CompactThreshold dead bytes (mu or wmu).
func deadEnough(p *pack) bool {
	body := p.size - packHeaderLen
	return body <= 0 || float64(body-p.live) >= CompactThreshold*float64(body)
}

// CompactStats reports what Compact did.
type CompactStats struct {
	Packs      int   // packs rewritten and removed
	MovedBytes int64 // live bytes copied to the active pack
	FreedBytes int64 // disk bytes given back
}

// Compact reclaims the space of deleted blocks: every sealed pack with at
// least CompactThreshold dead bytes has its live blocks (and the tombstones
// still needed) copied to the active pack, which is then synced, and is
// removed. Repo GC calls it after deleting blocks. Writers wait while a
// pack is being rewritten; readers do not.
//
// A crash during Compact loses nothing: the copies and the originals are
// both valid and the next Compact removes the originals.
func (s *PackStore) Compact(ctx context.Context) (CompactStats, error) {
	var st CompactStats
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if err := s.writable(); err != nil {
		return st, err
	}
	// An active pack that is mostly dead is retired so it can be compacted
	// too (a small repo may never fill a pack).
	if a := s.active; a.size >= minCompactSize && deadEnough(a) {
		if err := s.rotate(); err != nil {
			return st, err
		}
	}
	if err := s.syncLocked(); err != nil { // seal full packs first
		return st, err
	}
	var todo []*pack
	s.mu.RLock()
	for _, p := range s.packs {
		if p == s.active {
			continue
		}
		if deadEnough(p) {
			todo = append(todo, p)
		}
	}
	s.mu.RUnlock()
	slices.SortFunc(todo, func(a, b *pack) int { return int(a.num) - int(b.num) })
	for _, p := range todo {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		moved, err := s.compactPack(p)
		if err != nil {
			return st, err
		}
		st.Packs++
		st.MovedBytes += moved
		st.FreedBytes += p.size
	}
	return st, nil
}

// compactPack rewrites one sealed pack (wmu held).
func (s *PackStore) compactPack(p *pack) (int64, error) {
	entries, err := s.packEntries(p)
	if err != nil {
		return 0, err
	}
	var recs []record
	var moved, batch int64
	flush := func() error {
		err := s.appendRecords(recs)
		recs, batch = recs[:0], 0
		return err
	}
	for _, e := range entries {
		switch e.kind {
		case recBlock:
			if l, ok := s.index[e.key]; !ok || l.pack != p.num || l.off != e.off {
				continue // deleted or superseded
			}
			rec := make([]byte, e.recordSize())
			if _, err := p.f.ReadAt(rec, e.recordStart()); err != nil {
				return moved, fmt.Errorf("compacting pack %s: reading: %w", packName(p.num), err)
			}
			data, err := readRecordData(rec, e.key)
			if err != nil {
				return moved, fmt.Errorf("compacting pack %s: block %s at offset %d: %v: %w; delete that block (repo verify lists it) and compact again",
					packName(p.num), CIDOf([]byte(e.key)), e.recordStart(), err, ErrCorrupt)
			}
			recs = append(recs, record{kind: recBlock, key: e.key, data: data})
			moved += int64(len(data))
			batch += int64(len(data))
		case recTombstone:
			// Needed only while the pack it shadows exists and the key has
			// not been stored again since.
			if _, live := s.index[e.key]; live || e.val == p.num {
				continue
			}
			if _, exists := s.packs[e.val]; !exists {
				continue
			}
			recs = append(recs, record{kind: recTombstone, key: e.key, target: e.val})
		}
		if batch >= maxChunkBytes {
			if err := flush(); err != nil {
				return moved, err
			}
		}
	}
	if err := flush(); err != nil {
		return moved, err
	}
	if err := s.syncLocked(); err != nil {
		return moved, err
	}
	if p.live != 0 {
		// The index holds blocks the pack's record list did not show (its
		// index file went bad since open): keep the pack.
		return moved, fmt.Errorf("compacting pack %s: %d live bytes were not found in its record list; the pack is kept, run repo verify",
			packName(p.num), p.live)
	}
	s.mu.Lock()
	delete(s.packs, p.num)
	s.mu.Unlock()
	p.readers.Wait()
	p.f.Close()
	// The index goes first: a pack without an index is rescanned at open,
	// an index without a pack is just removed.
	if err := os.Remove(filepath.Join(s.dir, indexName(p.num))); err != nil && !os.IsNotExist(err) {
		return moved, fmt.Errorf("removing compacted pack's index: %w", err)
	}
	if err := os.Remove(filepath.Join(s.dir, packName(p.num))); err != nil {
		return moved, fmt.Errorf("removing compacted pack: %w", err)
	}
	return moved, s.syncDir()
}

// packEntries returns the records of a sealed pack from its index, or by
// scanning it when the index is unreadable.
func (s *PackStore) packEntries(p *pack) ([]indexEntry, error) {
	if b, err := os.ReadFile(filepath.Join(s.dir, indexName(p.num))); err == nil {
		if size, entries, err := decodeIndex(b, p.num); err == nil && size == p.size {
			return entries, nil
		}
	}
	res, err := scanPack(p.f, p.size, p.num)
	if err != nil {
		return nil, fmt.Errorf("compacting pack %s: %w", packName(p.num), err)
	}
	return res.entries, nil
}
