package blockstore

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"syscall"

	"golang.org/x/sys/unix"
)

// CompactThreshold is the fraction of dead bytes (deleted or superseded
// blocks, tombstones, damaged tails) at which Compact rewrites a pack by
// copying its live records. It bounds space amplification at
// 1/(1-0.3) ≈ 1.43.
const CompactThreshold = 0.3

// minCompactSize is the size below which the active pack is not retired
// for a copying compaction: rewriting a tiny pack frees little.
const minCompactSize = 1 << 20

// copyMargin is the free space Compact wants beyond the bytes it copies
// (file system blocks, pack headers, index files of packs the copies fill).
const copyMargin = 64 << 10

// deadEnough reports whether p has CompactThreshold dead bytes (mu or wmu).
func deadEnough(p *pack) bool {
	body := p.size - packHeaderLen
	return body <= 0 || float64(body-p.live) >= CompactThreshold*float64(body)
}

// CompactStats reports what Compact did.
type CompactStats struct {
	Packs      int   // packs removed: entirely dead, or rewritten by copying
	Trimmed    int   // packs whose dead tail was cut off
	MovedBytes int64 // live bytes copied to the active pack
	FreedBytes int64 // disk bytes given back
}

// Compact gives back the space of deleted blocks, in two steps.
//
// First, without needing any free space: every pack, the active one
// included, whose records from some offset on are all dead (deleted or
// superseded blocks, and tombstones no longer needed once the records
// they kill are gone too) is truncated at that offset; a sealed pack left
// with nothing is removed. This is what frees a full disk after a failed
// add, whose blocks sit at the end of the active pack.
//
// Then every sealed pack with at least CompactThreshold dead bytes (and the
// active pack, retired first, when it is over 1 MiB and that dead) has its
// live blocks and needed tombstones copied to the active pack, which is
// synced, and is removed. A copy needs free space: when the disk has too
// little, the pack is left as it is and Compact returns an error wrapping
// ENOSPC that says how much space the copy needs (after doing everything
// else it could).
//
// Repo GC calls it after deleting blocks. Writers wait while it runs;
// readers do not. A crash at any point loses nothing and brings no deleted
// block back (docs/blockstore.md has the argument).
func (s *PackStore) Compact(ctx context.Context) (CompactStats, error) {
	var st CompactStats
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if err := s.writable(); err != nil {
		return st, err
	}
	before := s.diskBytes()
	err := s.compact(ctx, &st)
	st.FreedBytes = before - s.diskBytes()
	return st, err
}

func (s *PackStore) compact(ctx context.Context, st *CompactStats) error {
	// Seal full packs and make every record durable: trimming and copying
	// then only ever remove records that are on the disk.
	if err := s.syncLocked(); err != nil {
		return err
	}
	// Step 1: cut dead tails, oldest pack first (removing a dead old pack
	// can make tombstones at the end of a later one unnecessary).
	for _, p := range s.sortedPacks() {
		if err := ctx.Err(); err != nil {
			return err
		}
		removed, cut, err := s.trimPack(p)
		if removed {
			st.Packs++
		}
		if cut {
			st.Trimmed++
		}
		if err != nil {
			return err
		}
	}
	if s.dirDirty {
		if err := s.syncDir(); err != nil {
			return err
		}
	}

	// Step 2: copy the live records out of packs that are dead enough.
	var short error // the first copy skipped for want of space
	if a := s.active; a.size >= minCompactSize && deadEnough(a) {
		// A small repo may never fill a pack: retire the active pack so it
		// can be rewritten too.
		_, need := s.copyPlan(a, a.entries)
		if err := s.roomFor(a, need); err != nil {
			short = err
		} else {
			if err := s.rotate(); err != nil {
				return err
			}
			if err := s.syncLocked(); err != nil {
				return err
			}
		}
	}
	var todo []*pack
	for _, p := range s.sortedPacks() {
		if p != s.active && deadEnough(p) {
			todo = append(todo, p)
		}
	}
	for _, p := range todo {
		if err := ctx.Err(); err != nil {
			return err
		}
		entries, err := s.packEntries(p)
		if err != nil {
			return err
		}
		plan, need := s.copyPlan(p, entries)
		if err := s.roomFor(p, need); err != nil {
			if short == nil {
				short = err
			}
			continue
		}
		moved, err := s.compactPack(p, plan, need)
		st.MovedBytes += moved
		if err != nil {
			return err
		}
		st.Packs++
	}
	return short
}

// sortedPacks returns the packs in number order (wmu).
func (s *PackStore) sortedPacks() []*pack {
	ps := make([]*pack, 0, len(s.packs))
	for _, p := range s.packs {
		ps = append(ps, p)
	}
	slices.SortFunc(ps, func(a, b *pack) int { return int(a.num) - int(b.num) })
	return ps
}

// diskBytes is the total size of the pack files (wmu).
func (s *PackStore) diskBytes() int64 {
	var n int64
	for _, p := range s.packs {
		n += p.size
	}
	return n
}

// olderDupSource reports whether a pack older than num may hold a dead
// record that no tombstone kills (wmu): while one does, tombstones of num
// are kept, since one of them may be what keeps that record dead.
func (s *PackStore) olderDupSource(num uint32) bool {
	for q := range s.dupSources {
		if q < num {
			return true
		}
	}
	return false
}

// --- step 1: trimming ---------------------------------------------------

// trimPack cuts off the dead tail of p, or removes p (a sealed pack) when
// none of its records is needed. It writes nothing but a new index file
// (wmu held, everything synced).
//
// Crash safety: a truncation is one ftruncate, fdatasynced at once; before
// and after it the pack holds whole records and the same live state. A
// sealed pack's index is rewritten after the truncation: until then the
// old index records the old size, so open sees it is stale and rescans the
// pack. A removal syncs the directory before anything that relies on it.
func (s *PackStore) trimPack(p *pack) (removed, cut bool, err error) {
	sealed := p != s.active
	if p.live == p.size-packHeaderLen && p.size > packHeaderLen {
		return false, false, nil // every byte is a live block
	}
	if sealed && p.trimmed.ok && p.trimmed.live == p.live && p.trimmed.gen == s.packGen {
		return false, false, nil // nothing has died here since the last look
	}
	entries := p.entries
	if sealed {
		if entries, err = s.packEntries(p); err != nil {
			return false, false, err
		}
	}
	i, end := s.deadTail(p, entries)
	if sealed && end == packHeaderLen {
		return true, false, s.removePack(p)
	}
	if end == p.size {
		if sealed {
			p.trimmed.ok, p.trimmed.live, p.trimmed.gen = true, p.live, s.packGen
		}
		return false, false, nil
	}
	path := filepath.Join(s.dir, packName(p.num))
	if err := p.truncate(end); err != nil {
		return false, false, fmt.Errorf("cutting the dead tail off %s: %w", path, err)
	}
	s.mu.Lock()
	p.size = end
	s.mu.Unlock()
	if !sealed {
		p.entries = entries[:i:i]
	}
	if err := unix.Fdatasync(int(p.f.Fd())); err != nil {
		return false, true, fmt.Errorf("syncing %s: %w", path, err)
	}
	if sealed {
		p.entries = entries[:i]
		err := s.writeIndex(p)
		p.entries = nil
		if err != nil {
			// The old index is stale (wrong size): open rescans the pack.
			return false, true, err
		}
	}
	return false, true, nil
}

// deadTail finds where p's dead tail begins: the smallest i such that
// every record from entries[i] on may go, and the offset end of that
// record (p.size when nothing may go). entries lists p's records in file
// order (wmu).
//
// A block record may go when the index does not point to it. A tombstone
// may go when its key is stored again later, or when no record it kills
// survives: the pack it names is gone, or it names p and p keeps no block
// record of its key before the cut. Tombstones are kept while an older
// pack may hold a dead record that no tombstone kills (olderDupSource).
// Bytes no entry covers (damage) stop the search.
func (s *PackStore) deadTail(p *pack, entries []indexEntry) (int, int64) {
	i, end := len(entries), p.size
	olderDups := s.olderDupSource(p.num)
	var own map[string]int64 // keys of tombstones of p's own blocks in the tail
	// ownTomb reports whether e is a tombstone that may go only if the
	// cut lies before every block record of its key in p.
	ownTomb := func(e indexEntry) bool {
		if e.kind != recTombstone || e.val != p.num {
			return false
		}
		_, live := s.index[e.key]
		return !live
	}
scan:
	for i > 0 {
		e := entries[i-1]
		if e.recordEnd() != end {
			break // a gap: bytes no record covers
		}
		if e.kind == recBlock {
			if l, ok := s.index[e.key]; ok && l.pack == p.num && l.off == e.off {
				break // live
			}
		} else if _, live := s.index[e.key]; !live {
			switch {
			case olderDups:
				break scan
			case e.val == p.num:
				if own == nil {
					own = map[string]int64{}
				}
				own[e.key] = math.MaxInt64
			case s.packs[e.val] != nil:
				break scan // it kills a block in a pack that still exists
			}
		}
		end = e.recordStart()
		i--
	}
	if own == nil {
		return i, end
	}
	// The first block record of each such key in p.
	for _, e := range entries {
		if first, ok := own[e.key]; ok && e.kind == recBlock && e.recordStart() < first {
			own[e.key] = e.recordStart()
		}
	}
	// The smallest cut j >= i before which no tombstone it drops has a
	// block record of its key: start(j) <= min of own[key] over the own
	// tombstones from j on.
	best, bestEnd := len(entries), p.size
	limit := int64(math.MaxInt64)
	for j := len(entries) - 1; j >= i; j-- {
		e := entries[j]
		if ownTomb(e) {
			limit = min(limit, own[e.key])
		}
		if e.recordStart() <= limit {
			best, bestEnd = j, e.recordStart()
		}
	}
	return best, bestEnd
}

// removePack closes and deletes a sealed pack and its index, and syncs the
// directory (wmu held). No live block may be in it.
func (s *PackStore) removePack(p *pack) error {
	s.mu.Lock()
	delete(s.packs, p.num)
	s.mu.Unlock()
	p.readers.Wait()
	p.f.Close()
	delete(s.dupSources, p.num)
	s.packGen++
	s.dirDirty = true
	// The index goes first: a pack without an index is rescanned at open,
	// an index without a pack is just removed.
	if err := os.Remove(filepath.Join(s.dir, indexName(p.num))); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("removing the index of pack %s: %w", packName(p.num), err)
	}
	if err := os.Remove(filepath.Join(s.dir, packName(p.num))); err != nil {
		return fmt.Errorf("removing pack %s: %w", packName(p.num), err)
	}
	// Durable before anything relies on the pack being gone (a tombstone
	// of it dropped later).
	return s.syncDir()
}

// --- step 2: copying ----------------------------------------------------

// copyPlan lists the records of p that must outlive it: its live blocks
// and the tombstones still needed once p is gone. need is the free space
// copying them takes (wmu).
func (s *PackStore) copyPlan(p *pack, entries []indexEntry) (plan []indexEntry, need int64) {
	olderDups := s.olderDupSource(p.num)
	for _, e := range entries {
		switch e.kind {
		case recBlock:
			if l, ok := s.index[e.key]; !ok || l.pack != p.num || l.off != e.off {
				continue // deleted or superseded
			}
		case recTombstone:
			// Needed only while the pack it shadows exists and the key has
			// not been stored again since.
			if _, live := s.index[e.key]; live {
				continue
			}
			if !olderDups && (e.val == p.num || s.packs[e.val] == nil) {
				continue
			}
		}
		plan = append(plan, e)
		// The record, and its entry in the index of the pack it lands in.
		need += e.recordSize() + 15 + int64(len(e.key))
	}
	return plan, need
}

// roomFor checks that the file system has room to copy need bytes out of
// p, and says how much is missing when it has not. When the free space
// cannot be read it lets the copy try.
func (s *PackStore) roomFor(p *pack, need int64) error {
	if need == 0 {
		return nil
	}
	var fs unix.Statfs_t
	if err := unix.Statfs(s.dir, &fs); err != nil {
		return nil
	}
	// The copies land in the active pack, first in its reserve.
	avail := int64(fs.Bavail)*int64(fs.Bsize) + s.reserved()
	if want := need + copyMargin; avail < want {
		return fmt.Errorf("compacting pack %s: copying its live blocks out needs %d bytes of free space and the disk has %d; free %d bytes and run the compaction (repo gc) again: %w",
			packName(p.num), want, avail, want-avail, syscall.ENOSPC)
	}
	return nil
}

// compactPack copies the planned records of a sealed pack to the active
// pack, syncs, and removes the pack (wmu held).
func (s *PackStore) compactPack(p *pack, plan []indexEntry, need int64) (int64, error) {
	var recs []record
	var moved, batch int64
	flush := func() error {
		err := s.appendRecords(recs)
		recs, batch = recs[:0], 0
		if err != nil && (errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)) {
			err = fmt.Errorf("compacting pack %s: copying its live blocks out needs about %d bytes of free space: %w",
				packName(p.num), need+copyMargin, err)
		}
		return err
	}
	for _, e := range plan {
		if e.kind == recTombstone {
			recs = append(recs, record{kind: recTombstone, key: e.key, target: e.val})
			continue
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
	return moved, s.removePack(p)
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
