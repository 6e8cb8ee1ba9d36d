package blockstore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"
	"golang.org/x/sys/unix"
)

// DefaultPackSize is the size at which a pack is sealed and a new one begun.
const DefaultPackSize = 256 << 20

// ErrLocked is returned by OpenPackStore when another process (or another
// open in this process) holds the store.
var ErrLocked = errors.New("block store is in use by another process")

// ErrClosed is returned by every method after Close.
var ErrClosed = errors.New("block store is closed")

// PackOptions tunes a PackStore. The zero value is the default.
type PackOptions struct {
	// PackSize is the size at which the active pack is sealed and a new one
	// begun; 0 means DefaultPackSize. Small values are for tests.
	PackSize int64
	// SyncEachWrite makes every Put, PutMany and Delete durable before it
	// returns (an fdatasync each). By default writes are durable at Sync
	// and Close.
	SyncEachWrite bool
	// Logger receives warnings about damage found and repaired at open.
	// nil means slog.Default().
	Logger *slog.Logger
}

// PackStore is the on-disk Store: blocks appended to pack files, found
// through an in-memory index keyed by multihash. See doc.go for its
// guarantees and docs/blockstore.md for the format.
type PackStore struct {
	dir  string
	opts PackOptions
	log  *slog.Logger
	lock *os.File // holds the flock on dir/LOCK for the store's life

	// wmu serialises everything that changes the store: appends to the
	// active pack, rotation, sealing, Sync, Delete, Compact and Close. It
	// guards active, unsealed, dirDirty, broken, damaged, dupSources,
	// packGen and the scratch buffers. Only wmu holders change index and
	// packs, so a wmu holder may read them without mu.
	wmu      sync.Mutex
	active   *pack
	unsealed []*pack // full packs whose index is written at the next Sync
	dirDirty bool    // files were created or removed since dir was fsynced
	broken   error   // a failed write that could not be undone
	// damaged holds the keys whose live record open found damaged (a bad
	// crc between good records). Putting such a block again appends a
	// good copy instead of keeping the damaged one.
	damaged map[string]bool
	// dupSources holds the packs that may hold a dead record of a key
	// superseded by a later record of the same key with no tombstone in
	// between (a compaction copied it and the original was not removed
	// yet, or a damaged block was put again). While such a pack exists, a
	// tombstone of a later pack may be what keeps the old record dead, so
	// trimming keeps those tombstones (compact.go).
	dupSources map[uint32]bool
	// packGen changes whenever a pack is removed or dupSources grows: the
	// events that can make a tombstone droppable or needed (compact.go).
	packGen uint64
	hdrBuf  []byte
	iovs    [][]byte
	// reserving: the active pack keeps space reserved ahead of its end
	// (reserve.go); off where the file system gains nothing from it.
	reserving bool

	// mu guards index, packs and closed. Readers hold it shared while they
	// look up a block; writers hold it exclusively while they publish.
	mu     sync.RWMutex
	index  map[string]loc
	packs  map[uint32]*pack
	closed bool
}

// loc is where a block's data lives.
type loc struct {
	pack uint32
	n    uint32 // data length
	off  int64  // offset of the data in the pack
}

// pack is one pack file.
type pack struct {
	num uint32
	f   *os.File
	// size is the file's length: fixed once sealed; for the active pack it
	// grows under wmu.
	size int64
	// reservedTo is where the space allocated to the active pack ends,
	// past size while some is reserved ahead (wmu; reserve.go).
	reservedTo int64
	// live is the bytes of its block records the index points to (mu).
	live int64
	// entries lists the records appended since open, kept for the active
	// and unsealed packs so sealing can write the index (wmu).
	entries []indexEntry
	// readers counts Gets reading f, so compaction closes f after them.
	readers sync.WaitGroup
	// trimmed remembers the last time Compact found nothing to cut off
	// this sealed pack: its live bytes and the store's packGen then (wmu).
	trimmed struct {
		ok   bool
		live int64
		gen  uint64
	}
}

func packName(num uint32) string  { return fmt.Sprintf("%08x.pack", num) }
func indexName(num uint32) string { return fmt.Sprintf("%08x.idx", num) }

// OpenPackStore opens (creating if needed) the pack store in dir. It takes
// an exclusive lock on dir/LOCK, loads the index of every sealed pack, and
// scans the active pack, cutting off a torn tail left by a crash.
func OpenPackStore(dir string, opts PackOptions) (*PackStore, error) {
	if opts.PackSize <= 0 {
		opts.PackSize = DefaultPackSize
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	s := &PackStore{dir: dir, opts: opts, log: log.With("subsystem", "blockstore", "dir", dir),
		index: map[string]loc{}, packs: map[uint32]*pack{},
		damaged: map[string]bool{}, dupSources: map[uint32]bool{}}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating block store directory: %w", err)
	}
	lf, err := os.OpenFile(filepath.Join(dir, "LOCK"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening block store lock: %w", err)
	}
	if err := unix.Flock(int(lf.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		lf.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("%s: %w; stop the other process (or close the other handle) first", dir, ErrLocked)
		}
		return nil, fmt.Errorf("locking %s: %w", lf.Name(), err)
	}
	s.lock = lf
	s.reserving = reservesSpace(dir)
	if err := s.load(); err != nil {
		s.closeFiles()
		return nil, err
	}
	return s, nil
}

// OpenVerified opens the pack store in dir wrapped by Verifying, so every
// Get re-hashes the block. This is the constructor the node uses.
func OpenVerified(dir string, opts PackOptions) (Store, error) {
	s, err := OpenPackStore(dir, opts)
	if err != nil {
		return nil, err
	}
	return Verifying(s), nil
}

func (s *PackStore) load() error {
	des, err := os.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("reading block store directory: %w", err)
	}
	var nums []uint32
	idx := map[uint32]bool{}
	for _, de := range des {
		name := de.Name()
		if strings.HasSuffix(name, ".tmp") { // an index being written at a crash
			if err := os.Remove(filepath.Join(s.dir, name)); err != nil {
				return fmt.Errorf("removing leftover %s: %w", name, err)
			}
			continue
		}
		base, ext, ok := strings.Cut(name, ".")
		n, err := strconv.ParseUint(base, 16, 32)
		if !ok || err != nil || len(base) != 8 {
			continue
		}
		switch ext {
		case "pack":
			nums = append(nums, uint32(n))
		case "idx":
			idx[uint32(n)] = true
		}
	}
	slices.Sort(nums)
	for n := range idx { // an index whose pack compaction removed
		if _, ok := slices.BinarySearch(nums, n); !ok {
			if err := os.Remove(filepath.Join(s.dir, indexName(n))); err != nil {
				return fmt.Errorf("removing orphan index: %w", err)
			}
		}
	}
	for i, num := range nums {
		if err := s.loadPack(num, i == len(nums)-1); err != nil {
			return err
		}
	}
	for k, l := range s.index {
		s.packs[l.pack].live += recHeaderLen + int64(len(k)) + int64(l.n)
	}
	if s.active == nil {
		next := uint32(1)
		if len(nums) > 0 {
			next = nums[len(nums)-1] + 1
		}
		if err := s.newActive(next); err != nil {
			return err
		}
	}
	if s.dirDirty {
		return s.syncDir()
	}
	return nil
}

// loadPack loads one pack: from its index if it has a valid one, otherwise
// by scanning it. The last pack without an index becomes the active pack.
func (s *PackStore) loadPack(num uint32, last bool) error {
	path := filepath.Join(s.dir, packName(num))
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("opening pack: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("opening pack: %w", err)
	}
	p := &pack{num: num, f: f, size: st.Size()}
	s.packs[num] = p
	if b, err := os.ReadFile(filepath.Join(s.dir, indexName(num))); err == nil {
		size, entries, err := decodeIndex(b, num)
		if err == nil && size == p.size {
			s.replay(p, entries)
			return nil
		}
		s.log.Warn("pack index is damaged or stale; rescanning the pack", "pack", num, "err", err)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("reading pack index: %w", err)
	}
	// A pack without a good index may have been the active one: space
	// allocated past its end is then a reserve a crash left behind (or
	// the last block's rounding), which releaseReserve below gives back.
	p.reservedTo = max(p.size, allocated(st))
	res, err := scanPack(f, p.size, num)
	if err != nil {
		return fmt.Errorf("scanning %s: %w; the file is not a readable pack (move it aside to open the store)", path, err)
	}
	s.replay(p, res.entries)
	if res.damaged > 0 {
		for _, e := range res.entries {
			if e.damaged {
				s.log.Warn("pack holds a damaged record (bad crc); the records around it are kept; run repo verify",
					"pack", num, "offset", e.recordStart(), "cid", CIDOf([]byte(e.key)))
			}
		}
		if n := res.damaged - countDamaged(res.entries); n > 0 {
			s.log.Warn("pack holds damaged records whose key is unreadable; they are skipped", "pack", num, "count", n)
		}
	}
	if res.bad != nil && res.tornTail {
		// A crash while appending (the last pack, or the one before it
		// when the crash came just after a rotation).
		s.log.Info("cut a torn write off a pack", "pack", num,
			"offset", res.end, "bytes", p.size-res.end, "reason", res.bad)
		if res.end < packHeaderLen {
			if _, err := f.WriteAt(packHeader(num), 0); err != nil {
				return fmt.Errorf("rewriting pack header: %w", err)
			}
			res.end = packHeaderLen
		}
		if err := p.truncate(res.end); err != nil {
			return fmt.Errorf("cutting torn tail of %s: %w", path, err)
		}
		if err := unix.Fdatasync(int(f.Fd())); err != nil {
			return fmt.Errorf("syncing %s: %w", path, err)
		}
		p.size = res.end
		res.bad = nil
	}
	// A scanned pack was the active one when the store last ran (or it
	// was retired just before a crash): give back what a crash left
	// reserved past its end.
	s.releaseReserve(p)
	if last && res.bad == nil {
		p.entries = res.entries
		s.active = p
		return nil
	}
	if res.bad != nil {
		s.log.Warn("pack is damaged: records after the damage are ignored; run repo verify",
			"pack", num, "offset", res.end, "ignored_bytes", p.size-res.end, "reason", res.bad)
	}
	// Seal it as it is: a pack left unsealed by a crash, or a damaged one.
	p.entries = res.entries
	if err := s.writeIndex(p); err != nil {
		return err
	}
	p.entries = nil
	return nil
}

func (s *PackStore) replay(p *pack, entries []indexEntry) {
	for _, e := range entries {
		if e.kind == recBlock {
			if old, ok := s.index[e.key]; ok && old.pack != p.num {
				s.dupSources[old.pack] = true
			}
			s.index[e.key] = loc{pack: p.num, n: e.val, off: e.off}
			if e.damaged {
				s.damaged[e.key] = true
			} else {
				delete(s.damaged, e.key)
			}
		} else {
			delete(s.index, e.key)
			delete(s.damaged, e.key)
		}
	}
}

func countDamaged(entries []indexEntry) int {
	n := 0
	for _, e := range entries {
		if e.damaged {
			n++
		}
	}
	return n
}

// newActive creates pack num and makes it the active pack (wmu or load).
func (s *PackStore) newActive(num uint32) error {
	path := filepath.Join(s.dir, packName(num))
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o644)
	if err != nil {
		return fmt.Errorf("creating pack: %w", diskFull(err))
	}
	if _, err := f.WriteAt(packHeader(num), 0); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("creating pack %s: %w", path, diskFull(err))
	}
	p := &pack{num: num, f: f, size: packHeaderLen}
	s.mu.Lock()
	s.packs[num] = p
	s.mu.Unlock()
	s.active = p
	s.dirDirty = true
	return nil
}

// writeIndex makes p's records durable and writes its index (wmu or load).
func (s *PackStore) writeIndex(p *pack) error {
	if err := unix.Fdatasync(int(p.f.Fd())); err != nil {
		return fmt.Errorf("syncing pack %s: %w", packName(p.num), err)
	}
	final := filepath.Join(s.dir, indexName(p.num))
	tmp := final + ".tmp"
	if err := writeFileSync(tmp, encodeIndex(p.num, p.size, p.entries)); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing index of pack %s: %w", packName(p.num), diskFull(err))
	}
	if err := os.Rename(tmp, final); err != nil {
		return fmt.Errorf("writing index of pack %s: %w", packName(p.num), err)
	}
	s.dirDirty = true
	return nil
}

func writeFileSync(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func (s *PackStore) syncDir() error {
	d, err := os.Open(s.dir)
	if err != nil {
		return fmt.Errorf("syncing block store directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing block store directory: %w", err)
	}
	s.dirDirty = false
	return nil
}

// diskFull adds advice to an out-of-space error, keeping it wrapped.
func diskFull(err error) error {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return fmt.Errorf("the disk is full, free some space and retry: %w", err)
	}
	return err
}

// --- reads --------------------------------------------------------------

// lookup finds c's block and registers a reader on its pack; the caller
// must call p.readers.Done.
func (s *PackStore) lookup(c cid.Cid) (loc, *pack, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return loc{}, nil, ErrClosed
	}
	l, ok := s.index[Key(c)]
	if !ok {
		return loc{}, nil, NotFound(c)
	}
	p := s.packs[l.pack]
	if p == nil { // a broken invariant; fail the read, not the process
		return loc{}, nil, fmt.Errorf("block %s: index points to missing pack %s: %w", c, packName(l.pack), ErrCorrupt)
	}
	p.readers.Add(1)
	return l, p, nil
}

// Get returns a copy of the block's bytes. It checks the record's CRC-32C
// and key, so bytes damaged on disk give an error wrapping ErrCorrupt.
func (s *PackStore) Get(_ context.Context, c cid.Cid) ([]byte, error) {
	return s.get(c, nil)
}

// get reads c's block into buf when its capacity holds the whole record
// (see GetBuffer), into a new slice otherwise.
func (s *PackStore) get(c cid.Cid, buf []byte) ([]byte, error) {
	for attempt := 0; ; attempt++ {
		l, data, err := s.read(c, buf)
		if err == nil || attempt == 2 {
			return data, err
		}
		// A Delete and a Compact may have cut the record off (or moved
		// it) between the lookup and the read: only a failure on a record
		// the index still points to is the disk's fault.
		s.mu.RLock()
		now, ok := s.index[Key(c)]
		closed := s.closed
		s.mu.RUnlock()
		if closed || (ok && now == l) {
			return nil, err
		}
		if !ok {
			return nil, NotFound(c)
		}
	}
}

// read reads c's record once, into buf when it has room, and returns
// where it was found.
func (s *PackStore) read(c cid.Cid, buf []byte) (loc, []byte, error) {
	l, p, err := s.lookup(c)
	if err != nil {
		return l, nil, err
	}
	defer p.readers.Done()
	key := Key(c)
	var rec []byte
	if need := recHeaderLen + len(key) + int(l.n); cap(buf) >= need {
		rec = buf[:need]
	} else {
		rec = make([]byte, need)
	}
	start := l.off - recHeaderLen - int64(len(key))
	if _, err := p.f.ReadAt(rec, start); err != nil {
		return l, nil, fmt.Errorf("reading block %s from pack %s at offset %d: %w", c, packName(l.pack), start, err)
	}
	data, err := readRecordData(rec, key)
	if err != nil {
		return l, nil, fmt.Errorf("block %s in pack %s at offset %d: %v: %w; delete it and fetch it again",
			c, packName(l.pack), start, err, ErrCorrupt)
	}
	return l, data, nil
}

func (s *PackStore) Has(_ context.Context, c cid.Cid) (bool, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return false, ErrClosed
	}
	_, ok := s.index[Key(c)]
	return ok, nil
}

func (s *PackStore) Size(_ context.Context, c cid.Cid) (int, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return 0, ErrClosed
	}
	l, ok := s.index[Key(c)]
	if !ok {
		return 0, NotFound(c)
	}
	return int(l.n), nil
}

// Keys calls fn for every stored multihash. It works on a snapshot of the
// keys taken at the start, so fn may use the store.
func (s *PackStore) Keys(ctx context.Context, fn func(multihash.Multihash) error) error {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return ErrClosed
	}
	keys := make([]string, 0, len(s.index))
	for k := range s.index {
		keys = append(keys, k)
	}
	s.mu.RUnlock()
	for i, k := range keys {
		if i%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if err := fn(multihash.Multihash(k)); err != nil {
			return err
		}
	}
	return nil
}

// --- writes -------------------------------------------------------------

// record is a record waiting to be appended.
type record struct {
	kind   byte
	key    string
	data   []byte // block data
	target uint32 // tombstone: the pack that held the block
}

func (s *PackStore) writable() error {
	if s.active == nil {
		return ErrClosed
	}
	if s.broken != nil {
		return fmt.Errorf("block store is unusable after a failed write (%v); reopen it", s.broken)
	}
	return nil
}

func (s *PackStore) Put(ctx context.Context, b Block) error { return s.PutMany(ctx, []Block{b}) }

// PutMany appends the blocks that are not already stored. Each block is
// atomic: after a crash it is wholly present or absent. The blocks are
// durable once Sync (or Close) returns, or at once with SyncEachWrite.
func (s *PackStore) PutMany(ctx context.Context, bs []Block) error {
	for _, b := range bs {
		if err := CheckSize(b); err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if err := s.writable(); err != nil {
		return err
	}
	recs := make([]record, 0, len(bs))
	var seen map[string]bool
	if len(bs) > 1 {
		seen = make(map[string]bool, len(bs))
	}
	for _, b := range bs {
		k := Key(b.CID)
		// wmu holder: index is stable. A block open found damaged is
		// written again, so putting it repairs it.
		if _, ok := s.index[k]; (ok && !s.damaged[k]) || seen[k] {
			continue
		}
		if seen != nil {
			seen[k] = true
		}
		recs = append(recs, record{kind: recBlock, key: k, data: b.Data})
	}
	if err := s.appendRecords(recs); err != nil {
		return fmt.Errorf("storing %d blocks: %w", len(recs), err)
	}
	if s.opts.SyncEachWrite && len(recs) > 0 {
		return s.syncLocked()
	}
	return nil
}

// Delete removes the block by appending a tombstone. The deletion is
// durable at the next Sync; its space comes back when Compact rewrites the
// pack that held the block.
func (s *PackStore) Delete(_ context.Context, c cid.Cid) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if err := s.writable(); err != nil {
		return err
	}
	l, ok := s.index[Key(c)]
	if !ok {
		return nil
	}
	if err := s.appendRecords([]record{{kind: recTombstone, key: Key(c), target: l.pack}}); err != nil {
		return fmt.Errorf("deleting %s: %w", c, err)
	}
	if s.opts.SyncEachWrite {
		return s.syncLocked()
	}
	return nil
}

// maxChunk bounds one pwritev: records (2 iovecs each) and bytes.
const (
	maxChunkRecs  = 500
	maxChunkBytes = 1 << 20
)

// appendRecords writes recs to the active pack in chunks, publishing each
// chunk to the index once it is written (wmu held).
func (s *PackStore) appendRecords(recs []record) error {
	for len(recs) > 0 {
		if s.active.size >= s.opts.PackSize {
			if err := s.rotate(); err != nil {
				return err
			}
		}
		// A chunk ends at maxChunkRecs, maxChunkBytes or the pack's end.
		room := min(int64(maxChunkBytes), s.opts.PackSize-s.active.size)
		n, bytes := 0, int64(0)
		for n < len(recs) && n < maxChunkRecs {
			next := int64(recHeaderLen + len(recs[n].key) + len(recs[n].data))
			if n > 0 && bytes+next > room {
				break
			}
			bytes += next
			n++
		}
		if err := s.appendChunk(recs[:n]); err != nil {
			return err
		}
		recs = recs[n:]
	}
	return nil
}

func (s *PackStore) appendChunk(recs []record) error {
	p := s.active
	s.hdrBuf = s.hdrBuf[:0]
	s.iovs = s.iovs[:0]
	starts := make([]int, len(recs))
	for i := range recs {
		r := &recs[i]
		if r.kind == recTombstone {
			r.data = binary.LittleEndian.AppendUint32(nil, r.target)
		}
		starts[i] = len(s.hdrBuf)
		s.hdrBuf = appendRecordHeader(s.hdrBuf, r.kind, []byte(r.key), r.data)
	}
	for i := range recs {
		end := len(s.hdrBuf)
		if i+1 < len(recs) {
			end = starts[i+1]
		}
		s.iovs = append(s.iovs, s.hdrBuf[starts[i]:end])
		if len(recs[i].data) > 0 {
			s.iovs = append(s.iovs, recs[i].data)
		}
	}
	s.reserve(p, p.size+written(recs))
	if err := pwritevAll(int(p.f.Fd()), s.iovs, p.size); err != nil {
		// Cut off whatever part of the chunk reached the file, so no
		// partial record stays behind the next one.
		if terr := p.truncate(p.size); terr != nil {
			s.broken = fmt.Errorf("write failed (%v) and cutting the partial write failed: %w", err, terr)
		}
		clear(s.iovs)
		return fmt.Errorf("appending to pack %s: %w", filepath.Join(s.dir, packName(p.num)), diskFull(err))
	}
	clear(s.iovs) // do not keep callers' buffers alive
	off := p.size
	// Start writing the chunk back to the disk now, without waiting: the
	// next Sync then finds little left to do, so a large import's disk
	// writes overlap its hashing instead of following it. (A hint; an
	// error here changes nothing that Sync does not check.)
	// Only for large chunks (imports): for a trickle of small writes (blocks
	// from the network) starting writeback each time costs more than it
	// saves.
	if n := written(recs); n >= writebackMin {
		_ = unix.SyncFileRange(int(p.f.Fd()), off, n, unix.SYNC_FILE_RANGE_WRITE)
	}
	s.mu.Lock()
	for _, r := range recs {
		dataOff := off + recHeaderLen + int64(len(r.key))
		size := recHeaderLen + int64(len(r.key)) + int64(len(r.data))
		e := indexEntry{kind: r.kind, key: r.key, off: dataOff}
		if old, ok := s.index[r.key]; ok {
			s.packs[old.pack].live -= recHeaderLen + int64(len(r.key)) + int64(old.n)
			delete(s.index, r.key)
			if r.kind == recBlock && old.pack != p.num && !s.dupSources[old.pack] {
				// A compaction copy, or a damaged block put again: the
				// old record stays in its pack with no tombstone.
				s.dupSources[old.pack] = true
				s.packGen++
			}
		}
		delete(s.damaged, r.key)
		if r.kind == recBlock {
			e.val = uint32(len(r.data))
			s.index[r.key] = loc{pack: p.num, n: e.val, off: dataOff}
			p.live += size
		} else {
			e.val = r.target
		}
		p.entries = append(p.entries, e)
		off += size
	}
	p.size = off
	s.mu.Unlock()
	return nil
}

// pwritevAll writes iovs at off, continuing after short writes.
func pwritevAll(fd int, iovs [][]byte, off int64) error {
	for len(iovs) > 0 {
		batch := iovs[:min(len(iovs), 1024)]
		n, err := unix.Pwritev(fd, batch, off)
		if err != nil {
			return err
		}
		if n == 0 {
			return syscall.EIO
		}
		off += int64(n)
		for n > 0 {
			if n >= len(iovs[0]) {
				n -= len(iovs[0])
				iovs = iovs[1:]
			} else {
				iovs[0] = iovs[0][n:]
				n = 0
			}
		}
	}
	return nil
}

// rotate retires the full active pack (its index is written at the next
// Sync) and starts the next one (wmu held).
func (s *PackStore) rotate() error {
	old := s.active
	if err := s.newActive(old.num + 1); err != nil {
		s.active = old
		return err
	}
	s.releaseReserve(old)
	s.unsealed = append(s.unsealed, old)
	return nil
}

// Sync makes every write so far durable: it syncs the active pack, writes
// the indexes of packs filled since the last Sync, and syncs the directory.
// A completed add calls it; after it returns the blocks survive a power cut.
func (s *PackStore) Sync(_ context.Context) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if err := s.writable(); err != nil {
		return err
	}
	return s.syncLocked()
}

func (s *PackStore) syncLocked() error {
	for len(s.unsealed) > 0 {
		p := s.unsealed[0]
		if err := s.writeIndex(p); err != nil {
			return err
		}
		p.entries = nil
		s.unsealed = s.unsealed[1:]
	}
	if err := unix.Fdatasync(int(s.active.f.Fd())); err != nil {
		return fmt.Errorf("syncing pack %s: %w", packName(s.active.num), err)
	}
	if s.dirDirty {
		return s.syncDir()
	}
	return nil
}

// Close syncs and closes the store and releases its lock. The store must
// not be used after.
func (s *PackStore) Close() error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.active == nil {
		return nil
	}
	var err error
	if s.broken == nil {
		s.releaseReserve(s.active)
		err = s.syncLocked()
	}
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	for _, p := range s.packs {
		p.readers.Wait()
	}
	s.closeFiles()
	s.active = nil
	return err
}

func (s *PackStore) closeFiles() {
	for _, p := range s.packs {
		p.f.Close()
	}
	if s.lock != nil {
		unix.Flock(int(s.lock.Fd()), unix.LOCK_UN)
		s.lock.Close()
		s.lock = nil
	}
}

// PackStats describes the store's contents.
type PackStats struct {
	Blocks    int   // stored blocks
	LiveBytes int64 // bytes of live records (data plus headers and keys)
	DiskBytes int64 // total size of the pack files
	Packs     int   // number of pack files
}

// Stats returns counts for repo stat.
func (s *PackStore) Stats() PackStats {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.mu.RLock()
	defer s.mu.RUnlock()
	st := PackStats{Blocks: len(s.index), Packs: len(s.packs)}
	for _, p := range s.packs {
		st.LiveBytes += p.live
		st.DiskBytes += p.size
	}
	return st
}

// writebackMin is the chunk size from which an append starts writeback.
const writebackMin = 4 << 20

// written is the number of bytes a chunk of records takes in a pack.
func written(recs []record) int64 {
	var n int64
	for _, r := range recs {
		n += recHeaderLen + int64(len(r.key)) + int64(len(r.data))
	}
	return n
}
