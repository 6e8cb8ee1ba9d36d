package blockstore_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/multiformats/go-multihash"

	"node/blockstore"
	"node/blockstore/storetest"
)

var ctx = context.Background()

func openPack(t *testing.T, dir string, opts blockstore.PackOptions) *blockstore.PackStore {
	t.Helper()
	s, err := blockstore.OpenPackStore(dir, opts)
	if err != nil {
		t.Fatalf("OpenPackStore: %v", err)
	}
	return s
}

func TestPackConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) blockstore.Store {
		return openPack(t, t.TempDir(), blockstore.PackOptions{})
	})
}

// Small packs make the suite cross pack boundaries (rotation, sealing).
func TestPackConformanceSmallPacks(t *testing.T) {
	storetest.Run(t, func(t *testing.T) blockstore.Store {
		return openPack(t, t.TempDir(), blockstore.PackOptions{PackSize: 64 << 10, SyncEachWrite: true})
	})
}

func TestVerifiedPackConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) blockstore.Store {
		s, err := blockstore.OpenVerified(t.TempDir(), blockstore.PackOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func makeBlocks(first, n, size int) []blockstore.Block {
	bs := make([]blockstore.Block, n)
	for i := range bs {
		bs[i] = storetest.MakeBlock(uint64(first+i), size)
	}
	return bs
}

func checkAll(t *testing.T, s blockstore.Store, bs []blockstore.Block) {
	t.Helper()
	for _, b := range bs {
		got, err := s.Get(ctx, b.CID)
		if err != nil {
			t.Fatalf("Get %s: %v", b.CID, err)
		}
		if !bytes.Equal(got, b.Data) {
			t.Fatalf("Get %s: wrong bytes", b.CID)
		}
	}
}

func countKeys(t *testing.T, s blockstore.Store) int {
	t.Helper()
	n := 0
	if err := s.Keys(ctx, func(multihash.Multihash) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

func packFiles(t *testing.T, dir, ext string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*"+ext))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(m)
	return m
}

func TestPackReopen(t *testing.T) {
	dir := t.TempDir()
	opts := blockstore.PackOptions{PackSize: 100 << 10}
	s := openPack(t, dir, opts)
	bs := makeBlocks(0, 60, 10<<10) // 600 KiB over ~6 packs
	if err := s.PutMany(ctx, bs); err != nil {
		t.Fatal(err)
	}
	for _, b := range bs[:20] {
		if err := s.Delete(ctx, b.CID); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if n := len(packFiles(t, dir, ".pack")); n < 5 {
		t.Fatalf("%d packs, want several (rotation did not happen)", n)
	}
	if p, i := len(packFiles(t, dir, ".pack")), len(packFiles(t, dir, ".idx")); i != p-1 {
		t.Fatalf("%d packs and %d indexes: every pack but the active one should be sealed", p, i)
	}
	s = openPack(t, dir, opts)
	checkAll(t, s, bs[20:])
	for _, b := range bs[:20] {
		if ok, _ := s.Has(ctx, b.CID); ok {
			t.Fatalf("deleted block %s came back after reopen", b.CID)
		}
	}
	if n := countKeys(t, s); n != 40 {
		t.Fatalf("Keys gave %d after reopen, want 40", n)
	}
	s.Close()

	// Without the indexes, open rescans the packs and rewrites them.
	for _, f := range packFiles(t, dir, ".idx") {
		os.Remove(f)
	}
	s = openPack(t, dir, opts)
	checkAll(t, s, bs[20:])
	if n := countKeys(t, s); n != 40 {
		t.Fatalf("Keys gave %d after rescanning, want 40", n)
	}
	s.Close()
	if len(packFiles(t, dir, ".idx")) == 0 {
		t.Fatal("open did not rewrite the missing indexes")
	}

	// A damaged index is ignored and the pack rescanned.
	idx := packFiles(t, dir, ".idx")[0]
	b, _ := os.ReadFile(idx)
	b[len(b)/2] ^= 1
	os.WriteFile(idx, b, 0o644)
	s = openPack(t, dir, opts)
	checkAll(t, s, bs[20:])
	s.Close()
}

func TestPackLock(t *testing.T) {
	dir := t.TempDir()
	s := openPack(t, dir, blockstore.PackOptions{})
	_, err := blockstore.OpenPackStore(dir, blockstore.PackOptions{})
	if !errors.Is(err, blockstore.ErrLocked) {
		t.Fatalf("second open: %v, want ErrLocked", err)
	}
	s.Close()
	s = openPack(t, dir, blockstore.PackOptions{})
	s.Close()
	if _, err := s.Get(ctx, storetest.MakeBlock(1, 1).CID); !errors.Is(err, blockstore.ErrClosed) {
		t.Fatalf("Get after Close: %v, want ErrClosed", err)
	}
	if err := s.Put(ctx, storetest.MakeBlock(1, 1)); !errors.Is(err, blockstore.ErrClosed) {
		t.Fatalf("Put after Close: %v, want ErrClosed", err)
	}
}

// activePack returns the path of the highest-numbered pack.
func activePack(t *testing.T, dir string) string {
	ps := packFiles(t, dir, ".pack")
	return ps[len(ps)-1]
}

func TestPackTornTail(t *testing.T) {
	dir, bs := writtenPack(t, blockstore.PackOptions{})
	path := activePack(t, dir)
	st, _ := os.Stat(path)
	// A crash in the middle of writing the last record.
	if err := os.Truncate(path, st.Size()-100); err != nil {
		t.Fatal(err)
	}
	s := openPack(t, dir, blockstore.PackOptions{})
	checkAll(t, s, bs[:9])
	if ok, _ := s.Has(ctx, bs[9].CID); ok {
		t.Fatal("the torn block is visible")
	}
	if err := s.Put(ctx, bs[9]); err != nil {
		t.Fatal(err)
	}
	checkAll(t, s, bs)
	s.Close()

	// A power cut that left zeros after the last good record.
	f, _ := os.OpenFile(activePack(t, dir), os.O_APPEND|os.O_WRONLY, 0)
	f.Write(make([]byte, 8192))
	f.Close()
	s = openPack(t, dir, blockstore.PackOptions{})
	checkAll(t, s, bs)
	more := makeBlocks(100, 3, 3000)
	if err := s.PutMany(ctx, more); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openPack(t, dir, blockstore.PackOptions{})
	defer s.Close()
	checkAll(t, s, append(bs, more...))
	if n := len(packFiles(t, dir, ".pack")); n != 1 {
		t.Fatalf("%d packs: cutting a torn tail should keep appending to the same pack", n)
	}
}

// flipIn flips one bit of the first copy of needle in the file at path.
func flipIn(t *testing.T, path string, needle []byte) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(b, needle)
	if i < 0 {
		t.Fatalf("bytes to damage not found in %s", path)
	}
	b[i] ^= 0x40
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// checkDamaged checks that Get of b fails with ErrCorrupt naming it, and
// that Has and Keys still show it (so repo verify reports it).
func checkDamaged(t *testing.T, s *blockstore.PackStore, b blockstore.Block) {
	t.Helper()
	_, err := s.Get(ctx, b.CID)
	if !errors.Is(err, blockstore.ErrCorrupt) || !strings.Contains(err.Error(), b.CID.String()) {
		t.Fatalf("Get of the damaged block: %v, want ErrCorrupt naming %s", err, b.CID)
	}
	if ok, _ := s.Has(ctx, b.CID); !ok {
		t.Fatal("Has does not show the damaged block")
	}
	listed := false
	s.Keys(ctx, func(mh multihash.Multihash) error {
		listed = listed || bytes.Equal(mh, b.CID.Hash())
		return nil
	})
	if !listed {
		t.Fatal("Keys does not list the damaged block")
	}
}

// One flipped bit in a block of the active pack damages that block only:
// every block before and after it still reads back, and appends go on.
func TestPackDamagedRecordInActivePack(t *testing.T) {
	dir, bs := writtenPack(t, blockstore.PackOptions{})
	path := activePack(t, dir)
	size := fileSize(t, path)
	flipIn(t, path, bs[5].Data[100:200])

	s := openPack(t, dir, blockstore.PackOptions{})
	checkDamaged(t, s, bs[5])
	others := append(slices.Clone(bs[:5]), bs[6:]...)
	checkAll(t, s, others)
	if n := countKeys(t, s); n != 10 {
		t.Fatalf("Keys gave %d, want 10", n)
	}
	if got := fileSize(t, path); got != size {
		t.Fatalf("open changed the pack from %d to %d bytes", size, got)
	}
	more := makeBlocks(100, 5, 3000)
	if err := s.PutMany(ctx, more); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if n := len(packFiles(t, dir, ".pack")); n != 1 {
		t.Fatalf("%d packs: appends should go on in the same pack", n)
	}
	s = openPack(t, dir, blockstore.PackOptions{})
	checkDamaged(t, s, bs[5])
	checkAll(t, s, append(others, more...))
	if n := countKeys(t, s); n != 15 {
		t.Fatalf("Keys gave %d after a second reopen, want 15", n)
	}
	// Putting the damaged block again (fetching it anew) repairs it, for
	// good: the good copy comes after the damaged one.
	if err := s.Put(ctx, bs[5]); err != nil {
		t.Fatal(err)
	}
	checkAll(t, s, bs)
	s.Close()
	s = openPack(t, dir, blockstore.PackOptions{})
	defer s.Close()
	checkAll(t, s, append(bs, more...))
	if n := countKeys(t, s); n != 15 {
		t.Fatalf("Keys gave %d after the repair, want 15", n)
	}
}

// The same holds for a sealed pack that lost its index and is rebuilt by
// scanning.
func TestPackDamagedRecordInUnindexedPack(t *testing.T) {
	dir := t.TempDir()
	opts := blockstore.PackOptions{PackSize: 40 << 10}
	s := openPack(t, dir, opts)
	bs := makeBlocks(0, 30, 5000)
	if err := s.PutMany(ctx, bs); err != nil {
		t.Fatal(err)
	}
	s.Close()
	packs := packFiles(t, dir, ".pack")
	if len(packs) < 3 {
		t.Fatalf("%d packs, want at least 3", len(packs))
	}
	os.Remove(strings.TrimSuffix(packs[0], ".pack") + ".idx")
	flipIn(t, packs[0], bs[3].Data[100:200]) // a block in the middle of pack 1
	for round := 0; round < 2; round++ {     // rebuilt by scanning, then from the new index
		s = openPack(t, dir, opts)
		checkDamaged(t, s, bs[3])
		checkAll(t, s, append(slices.Clone(bs[:3]), bs[4:]...))
		if n := countKeys(t, s); n != 30 {
			t.Fatalf("round %d: Keys gave %d, want 30", round, n)
		}
		s.Close()
		if _, err := os.Stat(strings.TrimSuffix(packs[0], ".pack") + ".idx"); err != nil {
			t.Fatalf("the index was not rebuilt: %v", err)
		}
	}
}

// Damage that does not frame a record (here a record's length) hides the
// records after it: the pack is sealed as it is, its bytes kept.
func TestPackUnframedDamageIsKeptAside(t *testing.T) {
	dir, bs := writtenPack(t, blockstore.PackOptions{})
	path := activePack(t, dir)
	b, _ := os.ReadFile(path)
	i := bytes.Index(b, bs[5].CID.Hash()) // block 5's key; its header is just before
	if i < 0 {
		t.Fatal("block 5 not found in the pack")
	}
	b[i-3] ^= 0x01 // the data length: 5000 -> 5000+256
	os.WriteFile(path, b, 0o644)

	s := openPack(t, dir, blockstore.PackOptions{})
	checkAll(t, s, bs[:5])
	for _, b := range bs[5:] {
		if ok, _ := s.Has(ctx, b.CID); ok {
			t.Fatal("a block after unframed damage is visible")
		}
	}
	if got, _ := os.ReadFile(path); len(got) != len(b) {
		t.Fatalf("open cut a damaged pack from %d to %d bytes; it must keep it for recovery", len(b), len(got))
	}
	// The damaged pack is sealed; new blocks go to a new pack.
	if err := s.PutMany(ctx, bs[5:]); err != nil {
		t.Fatal(err)
	}
	checkAll(t, s, bs)
	s.Close()
	if n := len(packFiles(t, dir, ".pack")); n != 2 {
		t.Fatalf("%d packs, want 2", n)
	}
	s = openPack(t, dir, blockstore.PackOptions{})
	defer s.Close()
	checkAll(t, s, bs)
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

func TestPackGetDetectsBitRot(t *testing.T) {
	opts := blockstore.PackOptions{PackSize: 20 << 10}
	dir, bs := writtenPack(t, opts)
	// Damage a block in a sealed pack: open trusts the index, Get checks.
	first := packFiles(t, dir, ".pack")[0]
	b, _ := os.ReadFile(first)
	i := bytes.Index(b, bs[1].Data[10:100])
	if i < 0 {
		t.Fatal("block 1 not in the first pack")
	}
	b[i] ^= 1
	os.WriteFile(first, b, 0o644)
	s := openPack(t, dir, opts)
	defer s.Close()
	_, err := s.Get(ctx, bs[1].CID)
	if !errors.Is(err, blockstore.ErrCorrupt) || !strings.Contains(err.Error(), bs[1].CID.String()) {
		t.Fatalf("Get of a damaged block: %v, want ErrCorrupt naming %s", err, bs[1].CID)
	}
	checkAll(t, s, bs[2:])
	// Compacting around a damaged block refuses and names it; deleting it
	// lets compaction go on.
	for _, b := range bs[2:4] {
		s.Delete(ctx, b.CID)
	}
	if _, err := s.Compact(ctx); !errors.Is(err, blockstore.ErrCorrupt) {
		t.Fatalf("Compact over a damaged block: %v, want ErrCorrupt", err)
	}
	s.Delete(ctx, bs[1].CID)
	if _, err := s.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	checkAll(t, s, append(bs[:1:1], bs[4:]...))
}

func TestPackCompact(t *testing.T) {
	dir := t.TempDir()
	opts := blockstore.PackOptions{PackSize: 64 << 10}
	s := openPack(t, dir, opts)
	bs := makeBlocks(0, 200, 4000) // ~800 KiB, ~13 packs
	if err := s.PutMany(ctx, bs); err != nil {
		t.Fatal(err)
	}
	before := s.Stats()
	var kept, gone []blockstore.Block
	for i, b := range bs {
		if i%2 == 0 {
			if err := s.Delete(ctx, b.CID); err != nil {
				t.Fatal(err)
			}
			gone = append(gone, b)
		} else {
			kept = append(kept, b)
		}
	}
	st, err := s.Compact(ctx)
	if err != nil {
		t.Fatal(err)
	}
	after := s.Stats()
	t.Logf("compact: %+v; disk %d -> %d bytes", st, before.DiskBytes, after.DiskBytes)
	if st.Packs == 0 || after.DiskBytes > before.DiskBytes*7/10 {
		t.Fatalf("compaction freed too little: disk %d -> %d bytes (%+v)", before.DiskBytes, after.DiskBytes, st)
	}
	checkAll(t, s, kept)
	// Re-put one deleted block: it must survive the tombstone being copied
	// or dropped by later compactions.
	if err := s.Put(ctx, gone[0]); err != nil {
		t.Fatal(err)
	}
	for _, b := range kept[:50] {
		s.Delete(ctx, b.CID)
	}
	if _, err := s.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openPack(t, dir, opts)
	defer s.Close()
	checkAll(t, s, append(kept[50:], gone[0]))
	for _, b := range append(gone[1:], kept[:50]...) {
		if ok, _ := s.Has(ctx, b.CID); ok {
			t.Fatalf("deleted block %s came back after compaction and reopen", b.CID)
		}
	}
	if n := countKeys(t, s); n != len(kept)-50+1 {
		t.Fatalf("Keys gave %d, want %d", n, len(kept)-50+1)
	}
}

// A crash between copying a pack's blocks and removing it leaves both
// copies; nothing is lost and the next Compact removes the original.
func TestPackCompactInterrupted(t *testing.T) {
	dir := t.TempDir()
	opts := blockstore.PackOptions{PackSize: 32 << 10}
	s := openPack(t, dir, opts)
	bs := makeBlocks(0, 40, 4000)
	if err := s.PutMany(ctx, bs); err != nil {
		t.Fatal(err)
	}
	for _, b := range bs[:4] {
		s.Delete(ctx, b.CID)
	}
	s.Close()
	first := packFiles(t, dir, ".pack")[0]
	saved, _ := os.ReadFile(first)
	savedIdx, _ := os.ReadFile(strings.TrimSuffix(first, ".pack") + ".idx")
	s = openPack(t, dir, opts)
	if st, err := s.Compact(ctx); err != nil || st.Packs == 0 {
		t.Fatalf("Compact: %+v, %v", st, err)
	}
	s.Close()
	// Put the compacted pack back, as if the crash came before its removal.
	os.WriteFile(first, saved, 0o644)
	os.WriteFile(strings.TrimSuffix(first, ".pack")+".idx", savedIdx, 0o644)
	s = openPack(t, dir, opts)
	defer s.Close()
	checkAll(t, s, bs[4:])
	if n := countKeys(t, s); n != 36 {
		t.Fatalf("Keys gave %d, want 36", n)
	}
	if _, err := s.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(first); !os.IsNotExist(err) {
		t.Fatal("the duplicate pack was not removed by the next Compact")
	}
	checkAll(t, s, bs[4:])
}

func TestPackConcurrentCompact(t *testing.T) {
	dir := t.TempDir()
	s := openPack(t, dir, blockstore.PackOptions{PackSize: 32 << 10})
	defer s.Close()
	bs := makeBlocks(0, 200, 2000)
	if err := s.PutMany(ctx, bs); err != nil {
		t.Fatal(err)
	}
	for _, b := range bs[:100] {
		s.Delete(ctx, b.CID)
	}
	done := make(chan error)
	go func() {
		_, err := s.Compact(ctx)
		done <- err
	}()
	// Read while compaction moves blocks and closes packs.
	for i := 0; i < 5; i++ {
		checkAll(t, s, bs[100:])
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	checkAll(t, s, bs[100:])
}

func TestPackRejectsOversizedWithoutWriting(t *testing.T) {
	dir := t.TempDir()
	s := openPack(t, dir, blockstore.PackOptions{})
	defer s.Close()
	before := s.Stats()
	big := storetest.MakeBlock(1, blockstore.MaxBlockSize+1)
	if err := s.Put(ctx, big); !errors.Is(err, blockstore.ErrTooLarge) {
		t.Fatal(err)
	}
	if after := s.Stats(); after.DiskBytes != before.DiskBytes {
		t.Fatalf("an oversized put wrote %d bytes", after.DiskBytes-before.DiskBytes)
	}
}

func TestOpenRejectsForeignFile(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "00000001.pack"), []byte("this is not a pack file at all"), 0o644)
	_, err := blockstore.OpenPackStore(dir, blockstore.PackOptions{})
	if err == nil || !strings.Contains(err.Error(), "not a pack") {
		t.Fatalf("open over a foreign file: %v", err)
	}
}

// A repo smaller than one pack still gets its space back.
func TestPackCompactActivePack(t *testing.T) {
	s := openPack(t, t.TempDir(), blockstore.PackOptions{})
	defer s.Close()
	bs := makeBlocks(0, 64, 32<<10) // 2 MiB, one pack
	if err := s.PutMany(ctx, bs); err != nil {
		t.Fatal(err)
	}
	for _, b := range bs[:40] {
		s.Delete(ctx, b.CID)
	}
	before := s.Stats()
	if _, err := s.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	after := s.Stats()
	if after.DiskBytes > before.DiskBytes/2 {
		t.Fatalf("disk %d -> %d bytes after deleting 40 of 64 blocks and compacting", before.DiskBytes, after.DiskBytes)
	}
	checkAll(t, s, bs[40:])
}

// A power cut just after a rotation can tear the end of the pack before
// the active one (its index is written only at the next Sync).
func TestPackTornTailBeforeRotation(t *testing.T) {
	dir := t.TempDir()
	opts := blockstore.PackOptions{PackSize: 40 << 10}
	s := openPack(t, dir, opts)
	bs := makeBlocks(0, 12, 9000)
	for _, b := range bs {
		if err := s.Put(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	packs := packFiles(t, dir, ".pack")
	if len(packs) < 3 {
		t.Fatalf("%d packs, want at least 3", len(packs))
	}
	// Pack 2 lost its index and its last 50 bytes.
	os.Remove(strings.TrimSuffix(packs[1], ".pack") + ".idx")
	st, _ := os.Stat(packs[1])
	os.Truncate(packs[1], st.Size()-50)
	s = openPack(t, dir, opts)
	defer s.Close()
	if got, _ := os.Stat(packs[1]); got.Size() >= st.Size()-50 {
		t.Fatal("the torn tail of the rotated pack was not cut")
	}
	n := countKeys(t, s)
	if n != len(bs)-1 {
		t.Fatalf("%d blocks after the tear, want %d (all but the torn one)", n, len(bs)-1)
	}
	if err := s.PutMany(ctx, bs); err != nil {
		t.Fatal(err)
	}
	checkAll(t, s, bs)
}

// writtenPack writes ten 5000-byte blocks into a new store and closes it,
// for tests that then damage the files.
func writtenPack(t *testing.T, opts blockstore.PackOptions) (dir string, bs []blockstore.Block) {
	t.Helper()
	dir = t.TempDir()
	s := openPack(t, dir, opts)
	bs = makeBlocks(0, 10, 5000)
	if err := s.PutMany(ctx, bs); err != nil {
		t.Fatal(err)
	}
	s.Close()
	return dir, bs
}
