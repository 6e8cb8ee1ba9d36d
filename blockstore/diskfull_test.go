package blockstore_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/multiformats/go-multihash"
	"golang.org/x/sys/unix"

	"node/blockstore"
)

// mountTmpfs mounts a tmpfs of the given size ("3m") for the test, or
// skips the test when it cannot (not root, no mount permission).
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a small tmpfs needs root")
	}
	mnt := t.TempDir()
	if err := unix.Mount("tmpfs", mnt, "tmpfs", 0, "size="+size); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(mnt, unix.MNT_DETACH) })
	return mnt
}

// freeBytes is the space the file system holding dir has left.
func freeBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Bavail) * int64(st.Bsize)
}

// TestDiskFull fills a real (tiny tmpfs) file system.
func TestDiskFull(t *testing.T) {
	mnt := mountTmpfs(t, "3m")
	filler := filepath.Join(mnt, "filler")
	if err := os.WriteFile(filler, make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(mnt, "blocks")
	s := openPack(t, dir, blockstore.PackOptions{})
	bs := makeBlocks(0, 40, 200<<10) // 8 MB: more than fits
	stored := 0
	var err error
	for ; stored < len(bs); stored++ {
		if err = s.Put(ctx, bs[stored]); err != nil {
			break
		}
	}
	if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), "disk is full") {
		t.Fatalf("after %d blocks: %v; want an error wrapping ENOSPC that says the disk is full", stored, err)
	}
	if stored == 0 {
		t.Fatal("nothing fit; the test needs a bigger file system")
	}
	t.Logf("%d blocks fit; then: %v", stored, err)
	if ok, _ := s.Has(ctx, bs[stored].CID); ok {
		t.Fatal("the block that did not fit is visible")
	}
	checkAll(t, s, bs[:stored])
	// A batch that does not fit: no partial block becomes visible.
	if err := s.PutMany(ctx, bs[stored:]); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("PutMany on a full disk: %v", err)
	}
	n := countKeys(t, s)
	checkAll(t, s, bs[:n])
	// Freeing space lets puts go on, and nothing partial was left behind:
	// a reopen finds no torn record.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, bs[n]); err != nil {
		t.Fatalf("Put after freeing space: %v", err)
	}
	before := s.Stats()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openPack(t, dir, blockstore.PackOptions{})
	defer s.Close()
	if after := s.Stats(); after != before {
		t.Fatalf("reopen changed the store: %+v -> %+v (a partial record was left)", before, after)
	}
	checkAll(t, s, bs[:n+1])
}

// An add that fills the disk leaves its blocks after the live ones; once
// they are deleted, Compact must give their space back on the full disk.
func TestCompactOnFullDisk(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts blockstore.PackOptions
	}{
		{"one pack", blockstore.PackOptions{}},
		{"small packs", blockstore.PackOptions{PackSize: 600 << 10}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mnt := mountTmpfs(t, "6m")
			dir := filepath.Join(mnt, "blocks")
			s := openPack(t, dir, tc.opts)
			live := makeBlocks(0, 3, 100<<10)
			if err := s.PutMany(ctx, live); err != nil {
				t.Fatal(err)
			}
			if err := s.Sync(ctx); err != nil {
				t.Fatal(err)
			}
			// The add: batches of 256 KiB blocks until the disk is full.
			var err error
			for i := 0; err == nil; i++ {
				if i == 100 {
					t.Fatal("the disk never filled")
				}
				err = s.PutMany(ctx, makeBlocks(1000+8*i, 8, 256<<10))
			}
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("the add failed with %v, want ENOSPC", err)
			}
			// GC: delete every block that is not live.
			keep := map[string]bool{}
			for _, b := range live {
				keep[string(b.CID.Hash())] = true
			}
			var dead []multihash.Multihash
			s.Keys(ctx, func(mh multihash.Multihash) error {
				if !keep[string(mh)] {
					dead = append(dead, mh)
				}
				return nil
			})
			for _, mh := range dead {
				if err := s.Delete(ctx, blockstore.CIDOf(mh)); err != nil {
					t.Fatalf("Delete on the full disk: %v", err)
				}
			}
			before := freeBytes(t, mnt)
			st, err := s.Compact(ctx)
			if err != nil {
				t.Fatalf("Compact on the full disk: %v", err)
			}
			after := freeBytes(t, mnt)
			t.Logf("%d dead blocks; compact %+v; free space %d -> %d", len(dead), st, before, after)
			if after-before < int64(len(dead))*(256<<10)*9/10 {
				t.Fatalf("Compact freed %d bytes of the disk for %d dead blocks of 256 KiB", after-before, len(dead))
			}
			checkAll(t, s, live)
			more := makeBlocks(5000, 8, 256<<10)
			if err := s.PutMany(ctx, more); err != nil {
				t.Fatalf("PutMany after Compact: %v", err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s = openPack(t, dir, tc.opts)
			defer s.Close()
			checkAll(t, s, append(live, more...))
			if n := countKeys(t, s); n != len(live)+len(more) {
				t.Fatalf("Keys gave %d after reopen, want %d", n, len(live)+len(more))
			}
		})
	}
}

// When only a copy can free space and the disk has no room for it,
// Compact changes nothing and says how much space it needs.
func TestCompactCopyNeedsSpace(t *testing.T) {
	mnt := mountTmpfs(t, "4m")
	dir := filepath.Join(mnt, "blocks")
	s := openPack(t, dir, blockstore.PackOptions{})
	defer s.Close()
	dead := makeBlocks(0, 8, 100<<10)
	live := makeBlocks(100, 4, 100<<10)
	if err := s.PutMany(ctx, append(slices.Clone(dead), live...)); err != nil {
		t.Fatal(err)
	}
	deleteAll(t, s, dead) // the dead blocks come first: no dead tail to cut
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	filler := filepath.Join(mnt, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	for err == nil {
		_, err = f.Write(make([]byte, 64<<10))
	}
	f.Close()
	statsBefore := s.Stats()
	_, err = s.Compact(ctx)
	if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), "needs") {
		t.Fatalf("Compact with no room to copy: %v; want an ENOSPC error saying how much space it needs", err)
	}
	t.Logf("Compact: %v", err)
	if got := s.Stats(); got != statsBefore {
		t.Fatalf("a refused Compact changed the store: %+v -> %+v", statsBefore, got)
	}
	checkAll(t, s, live)
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	st, err := s.Compact(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Packs != 1 || st.FreedBytes < 8*(100<<10) {
		t.Fatalf("Compact with room: %+v", st)
	}
	checkAll(t, s, live)
	checkGone(t, s, dead)
}
