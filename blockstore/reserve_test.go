package blockstore_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"golang.org/x/sys/unix"

	"node/blockstore"
)

// reservingDir is a directory on a file system where the pack store
// reserves space ahead (ext4, XFS), or the test is skipped.
func reservingDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	if st.Type != unix.EXT4_SUPER_MAGIC && st.Type != unix.XFS_SUPER_MAGIC {
		t.Skipf("the temporary directory is not on ext4 or XFS (type %#x): no space is reserved there", st.Type)
	}
	return dir
}

// packFiles are the pack files in dir, in order, with their size and the
// space allocated to each.
func packSpace(t *testing.T, dir string) (sizes, allocated []int64) {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*.pack"))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(names)
	for _, n := range names {
		var st unix.Stat_t
		if err := unix.Stat(n, &st); err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, st.Size)
		allocated = append(allocated, st.Blocks*512)
	}
	return sizes, allocated
}

// roundUp is the most a file of size bytes takes on disk with no reserve:
// its data in 4 KiB blocks, and some blocks of the file system's own (an
// extent tree block when the file is in many pieces), far less than the
// smallest reserve (4 MiB).
func roundUp(size int64) int64 { return (size+4095)&^4095 + 64<<10 }

// While blocks come in, the active pack has space reserved past its end:
// at least what the next writes need, and never more than its own size
// again (or 4 MiB for a small one). A retired pack and a closed store hold
// only their data, and the file sizes (the format) are those of the
// records alone.
func TestActivePackReservesSpaceAhead(t *testing.T) {
	dir := reservingDir(t)
	s := openPack(t, dir, blockstore.PackOptions{PackSize: 24 << 20})
	bs := makeBlocks(0, 30, 1<<20)
	if err := s.PutMany(ctx, bs[:1]); err != nil {
		t.Fatal(err)
	}
	sizes, allocated := packSpace(t, dir)
	if len(sizes) != 1 || allocated[0] < 4<<20 || allocated[0] > roundUp(sizes[0])+4<<20 {
		t.Fatalf("after one 1 MiB block: pack of %d bytes with %d allocated; want about 4 MiB reserved ahead", sizes[0], allocated[0])
	}
	for i := 1; i < 20; i++ {
		if err := s.PutMany(ctx, bs[i:i+1]); err != nil {
			t.Fatal(err)
		}
		sizes, allocated = packSpace(t, dir)
		if ahead := allocated[0] - sizes[0]; ahead <= 0 || allocated[0] > 2*sizes[0]+4<<20 {
			t.Fatalf("after %d MiB: pack of %d bytes with %d allocated; want some space ahead, at most the pack's size again", i+1, sizes[0], allocated[0])
		}
	}
	// Past 24 MiB the pack is retired and a new one takes the writes. The
	// reserve never reaches past the pack size, so a full pack retires
	// with nothing reserved: this fails if the reserve overshoots it.
	if err := s.PutMany(ctx, bs[20:]); err != nil {
		t.Fatal(err)
	}
	sizes, allocated = packSpace(t, dir)
	if len(sizes) != 2 {
		t.Fatalf("%d packs, want 2", len(sizes))
	}
	if allocated[0] > roundUp(sizes[0]) {
		t.Errorf("the retired pack holds %d bytes for %d of data: space stays reserved past its end", allocated[0], sizes[0])
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	sizes, allocated = packSpace(t, dir)
	for i := range sizes {
		if allocated[i] > roundUp(sizes[i]) {
			t.Errorf("after Close, pack %d holds %d bytes for %d of data", i, allocated[i], sizes[i])
		}
	}
	s = openPack(t, dir, blockstore.PackOptions{PackSize: 24 << 20})
	defer s.Close()
	checkAll(t, s, bs)
}

// A crash leaves the active pack's reserve allocated; the next open gives
// it back and the blocks are all there.
func TestOpenReleasesAReserveLeftByACrash(t *testing.T) {
	dir := reservingDir(t)
	s := openPack(t, dir, blockstore.PackOptions{})
	bs := makeBlocks(0, 3, 300<<10)
	if err := s.PutMany(ctx, bs); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// What a crash with space reserved leaves: blocks allocated past the end.
	sizes, _ := packSpace(t, dir)
	names, _ := filepath.Glob(filepath.Join(dir, "*.pack"))
	if len(names) != 1 {
		t.Fatalf("%d packs, want 1", len(names))
	}
	f, err := os.OpenFile(names[0], os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_KEEP_SIZE, sizes[0], 16<<20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if _, allocated := packSpace(t, dir); allocated[0] < 16<<20 {
		t.Fatalf("the simulated reserve is not there: %d bytes allocated", allocated[0])
	}
	s = openPack(t, dir, blockstore.PackOptions{})
	defer s.Close()
	if got, allocated := packSpace(t, dir); got[0] != sizes[0] || allocated[0] > roundUp(sizes[0]) {
		t.Errorf("after open: pack of %d bytes (was %d) with %d allocated; want the reserve given back", got[0], sizes[0], allocated[0])
	}
	checkAll(t, s, bs)
}
