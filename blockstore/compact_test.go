package blockstore_test

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"node/blockstore"
)

const (
	keyLen     = 34 // sha2-256 multihash
	tombSize   = 12 + keyLen + 4
	headerSize = 16
)

func recSize(b blockstore.Block) int64 { return int64(12 + keyLen + len(b.Data)) }

func deleteAll(t *testing.T, s blockstore.Store, bs []blockstore.Block) {
	t.Helper()
	for _, b := range bs {
		if err := s.Delete(ctx, b.CID); err != nil {
			t.Fatal(err)
		}
	}
}

func checkGone(t *testing.T, s blockstore.Store, bs []blockstore.Block) {
	t.Helper()
	for _, b := range bs {
		if ok, _ := s.Has(ctx, b.CID); ok {
			t.Fatalf("deleted block %s is back", b.CID)
		}
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// The blocks of a failed add sit after the live ones at the end of the
// active pack: Compact cuts them off in place, copying nothing.
func TestPackCompactCutsDeadTailOfActivePack(t *testing.T) {
	dir := t.TempDir()
	s := openPack(t, dir, blockstore.PackOptions{})
	live := makeBlocks(0, 5, 30<<10)
	dead := makeBlocks(100, 40, 30<<10) // 1.2 MB
	if err := s.PutMany(ctx, live); err != nil {
		t.Fatal(err)
	}
	if err := s.PutMany(ctx, dead); err != nil {
		t.Fatal(err)
	}
	deleteAll(t, s, dead)
	st, err := s.Compact(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := int64(headerSize) + 5*recSize(live[0])
	if got := fileSize(t, activePack(t, dir)); got != want || st.MovedBytes != 0 || st.Trimmed != 1 {
		t.Fatalf("after Compact: pack is %d bytes (want %d, the live blocks only), stats %+v", got, want, st)
	}
	if st.FreedBytes != 40*recSize(dead[0])+40*tombSize {
		t.Fatalf("FreedBytes %d, want %d", st.FreedBytes, 40*recSize(dead[0])+40*tombSize)
	}
	checkAll(t, s, live)
	checkGone(t, s, dead)
	more := makeBlocks(200, 3, 1000)
	if err := s.PutMany(ctx, more); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openPack(t, dir, blockstore.PackOptions{})
	defer s.Close()
	checkAll(t, s, append(live, more...))
	checkGone(t, s, dead)
	if n := countKeys(t, s); n != 8 {
		t.Fatalf("Keys gave %d, want 8", n)
	}
}

// Sealed packs: a dead tail is cut (and the index rewritten), an entirely
// dead pack removed, and tombstones of blocks in packs that still exist
// are kept, so no deleted block comes back. Then every intermediate state a
// crash can leave reopens to the same blocks.
func TestPackCompactTrimsSealedPacks(t *testing.T) {
	dir := t.TempDir()
	var logs bytes.Buffer
	opts := blockstore.PackOptions{PackSize: 40 << 10, Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	s := openPack(t, dir, opts)
	bs := makeBlocks(0, 27, 5000) // 9 per pack: packs 1, 2, 3
	if err := s.PutMany(ctx, bs); err != nil {
		t.Fatal(err)
	}
	extra := makeBlocks(100, 4, 1000) // dead blocks in the active pack
	// Deleted: the tail of pack 1, all of pack 2, one block in the middle
	// of pack 3 (its tombstone must stay), then the extra blocks.
	gone := slices.Concat(bs[5:9], bs[9:18], bs[20:21])
	deleteAll(t, s, gone)
	if err := s.PutMany(ctx, extra); err != nil {
		t.Fatal(err)
	}
	deleteAll(t, s, extra)
	gone = append(gone, extra...)
	live := slices.Concat(bs[:5], bs[18:20], bs[21:])
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	packs := packFiles(t, dir, ".pack")
	if len(packs) != 4 {
		t.Fatalf("%d packs, want 4", len(packs))
	}
	idx := func(i int) string { return strings.TrimSuffix(packs[i], ".pack") + ".idx" }
	old := map[string][]byte{}
	for _, p := range append(slices.Clone(packs), idx(0), idx(1)) {
		old[p] = readFile(t, p)
	}

	st, err := s.Compact(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("compact: %+v", st)
	if st.Packs != 1 || st.Trimmed != 2 || st.MovedBytes != 0 {
		t.Fatalf("stats %+v, want pack 2 removed, packs 1 and 4 trimmed, nothing copied", st)
	}
	if _, err := os.Stat(packs[1]); !os.IsNotExist(err) {
		t.Fatal("the dead pack 2 is still there")
	}
	if got, want := fileSize(t, packs[0]), headerSize+5*recSize(bs[0]); got != want {
		t.Fatalf("pack 1 is %d bytes, want %d", got, want)
	}
	if got, want := fileSize(t, packs[2]), int64(len(old[packs[2]])); got != want {
		t.Fatalf("pack 3 (a live tail) changed from %d to %d bytes", want, got)
	}
	// Pack 4 keeps its tombstones up to the last one of a block in a pack
	// that still exists (pack 3): 4 for pack 1, 9 for pack 2, 1 for pack 3.
	if got, want := fileSize(t, packs[3]), int64(headerSize+14*tombSize); got != want {
		t.Fatalf("pack 4 is %d bytes, want %d", got, want)
	}
	checkAll(t, s, live)
	checkGone(t, s, gone)
	s.Close()
	final := map[string][]byte{}
	for _, p := range append(slices.Clone(packs), idx(0)) {
		if b, err := os.ReadFile(p); err == nil {
			final[p] = b
		}
	}
	check := func(state string) {
		t.Helper()
		s := openPack(t, dir, opts)
		defer s.Close()
		checkAll(t, s, live)
		checkGone(t, s, gone)
		if n := countKeys(t, s); n != len(live) {
			t.Fatalf("%s: Keys gave %d, want %d", state, n, len(live))
		}
		if _, err := s.Compact(ctx); err != nil {
			t.Fatalf("%s: Compact: %v", state, err)
		}
		checkAll(t, s, live)
		checkGone(t, s, gone)
	}
	logs.Reset()
	check("after compaction")
	if strings.Contains(logs.String(), "rescanning") {
		t.Fatalf("the rewritten index of pack 1 was not used:\n%s", logs.String())
	}
	restore := func(files map[string][]byte) {
		for p, b := range files {
			writeFile(t, p, b)
		}
	}
	// A crash after pack 1 was cut, before its new index replaced the old.
	restore(final)
	writeFile(t, idx(0), old[idx(0)])
	logs.Reset()
	check("pack 1 cut, old index")
	if !strings.Contains(logs.String(), "rescanning") {
		t.Fatalf("the stale index of pack 1 was trusted:\n%s", logs.String())
	}
	// A crash before the cut of pack 4 reached the disk.
	restore(final)
	writeFile(t, packs[3], old[packs[3]])
	check("pack 4 not cut")
	// A crash before the removal of pack 2 reached the disk.
	restore(final)
	writeFile(t, packs[1], old[packs[1]])
	writeFile(t, idx(1), old[idx(1)])
	writeFile(t, packs[3], old[packs[3]])
	check("pack 2 not removed")
	// A crash before anything.
	restore(old)
	check("nothing done")
}

// A crash in the middle of copying a pack leaves some blocks in both the
// old pack and the active one, with no tombstone between the two copies.
// Deleting such a block and compacting must not let the old copy come
// back, whichever later step a crash interrupts.
func TestPackCompactAfterInterruptedCopy(t *testing.T) {
	dir := t.TempDir()
	opts := blockstore.PackOptions{PackSize: 40 << 10}
	s := openPack(t, dir, opts)
	ks := makeBlocks(0, 9, 5000) // fills pack 1
	if err := s.PutMany(ctx, ks); err != nil {
		t.Fatal(err)
	}
	deleteAll(t, s, ks[:3]) // tombstones open pack 2
	s.Close()
	pack1, pack2 := filepath.Join(dir, "00000001.pack"), filepath.Join(dir, "00000002.pack")
	idx1 := strings.TrimSuffix(pack1, ".pack") + ".idx"
	saved, savedIdx := readFile(t, pack1), readFile(t, idx1)

	s = openPack(t, dir, opts)
	if st, err := s.Compact(ctx); err != nil || st.Packs != 1 || st.MovedBytes != 6*5000 {
		t.Fatalf("Compact: %+v, %v; want pack 1 copied and removed", st, err)
	}
	s.Close()
	// The crash: only the first three copies reached pack 2, pack 1 stays.
	if err := os.Truncate(pack2, headerSize+3*tombSize+3*recSize(ks[0])); err != nil {
		t.Fatal(err)
	}
	writeFile(t, pack1, saved)
	writeFile(t, idx1, savedIdx)

	s = openPack(t, dir, opts)
	checkAll(t, s, ks[3:])
	deleteAll(t, s, ks[3:6]) // the blocks that have two copies
	if _, err := s.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	checkAll(t, s, ks[6:])
	checkGone(t, s, ks[:6])
	s.Close()
	// A crash just before pack 1 was removed at the end of that Compact.
	writeFile(t, pack1, saved)
	writeFile(t, idx1, savedIdx)
	s = openPack(t, dir, opts)
	defer s.Close()
	checkAll(t, s, ks[6:])
	checkGone(t, s, ks[:6])
}

// A tombstone at the end of a pack whose block lies before the cut is
// kept: without it the block would come back at the next open.
func TestPackCompactKeepsTombstoneOfBlockBeforeCut(t *testing.T) {
	dir := t.TempDir()
	s := openPack(t, dir, blockstore.PackOptions{})
	bs := makeBlocks(0, 4, 3000) // A, K, B, X
	if err := s.PutMany(ctx, bs[:3]); err != nil {
		t.Fatal(err)
	}
	deleteAll(t, s, bs[1:2])
	if err := s.Put(ctx, bs[3]); err != nil {
		t.Fatal(err)
	}
	deleteAll(t, s, bs[3:]) // pack: A K B tK X tX
	if _, err := s.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	if got, want := fileSize(t, activePack(t, dir)), headerSize+3*recSize(bs[0])+tombSize; got != want {
		t.Fatalf("pack is %d bytes, want %d: A K B tK", got, want)
	}
	s.Close()
	s = openPack(t, dir, blockstore.PackOptions{})
	defer s.Close()
	checkAll(t, s, []blockstore.Block{bs[0], bs[2]})
	checkGone(t, s, bs[1:2])
	checkGone(t, s, bs[3:])
}
