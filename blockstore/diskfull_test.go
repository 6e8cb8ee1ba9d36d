package blockstore_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"node/blockstore"
)

// TestDiskFull fills a real (tiny tmpfs) file system.
func TestDiskFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a small tmpfs needs root")
	}
	mnt := t.TempDir()
	if err := unix.Mount("tmpfs", mnt, "tmpfs", 0, "size=3m"); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(mnt, unix.MNT_DETACH) })
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
