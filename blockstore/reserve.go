package blockstore

import (
	"errors"
	"io/fs"
	"syscall"

	"golang.org/x/sys/unix"
)

// Reserving space ahead of the active pack's end.
//
// A buffered write to new space costs the file system a delayed-allocation
// reservation for every page it adds; into space already allocated to the
// file (fallocate, as unwritten extents that read as zeros) it costs
// about a quarter less CPU per byte (measured here on ext4: 1 GiB of
// 256 KiB writes, 0.37–0.45 s of CPU against 0.48–0.55 s). Fetching a
// large file stores every block it receives, so the active pack keeps
// space reserved ahead of its end. The reservation doubles with the pack,
// from reserveMin up to the pack size, so a small repository holds at
// most reserveMin more than its data and a large one at most its active
// pack's size again. It is given back (a same-size ftruncate frees what
// lies past the end) when the pack is retired or the store closes, and at
// open for a reservation a crash left behind. The file's size, and so
// the pack format, never changes.

// reserveMin is the first reservation of a pack, and the least one.
const reserveMin = 4 << 20

// reserveFreeMargin is the free space a reservation leaves at least: no
// space is reserved on a nearly full disk, where what is held ahead could
// make another write (an index, the datastore) fail. (Compaction counts
// the reserve as room for its copies, which land there.)
const reserveFreeMargin = 256 << 20

// reservesSpace reports whether the file system holding dir is one where
// reserving space makes writes cheaper: ext4 and XFS. On tmpfs, for one,
// fallocate fills the memory with zeroed pages ahead of time instead.
func reservesSpace(dir string) bool {
	var st unix.Statfs_t
	if unix.Statfs(dir, &st) != nil {
		return false
	}
	switch st.Type {
	case unix.EXT4_SUPER_MAGIC, unix.XFS_SUPER_MAGIC:
		return true
	}
	return false
}

// reserve makes sure the space of p up to end is allocated, reserving
// ahead (wmu held). It is only a hint: when the space cannot be reserved
// the write goes on without it, and a write that does not fit reports the
// full disk itself.
func (s *PackStore) reserve(p *pack, end int64) {
	if !s.reserving || end <= p.reservedTo {
		return
	}
	from := max(p.reservedTo, p.size)
	to := min(max(end, from+max(reserveMin, from)), max(end, s.opts.PackSize))
	var st unix.Statfs_t
	if unix.Fstatfs(int(p.f.Fd()), &st) != nil || int64(st.Bavail)*int64(st.Bsize) < to-from+reserveFreeMargin {
		return
	}
	err := unix.Fallocate(int(p.f.Fd()), unix.FALLOC_FL_KEEP_SIZE, from, to-from)
	if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS) {
		s.reserving = false
		return
	}
	// Also after another error (ENOSPC, EDQUOT): the file system may have
	// allocated part of the range, which releaseReserve then gives back;
	// and this step is not tried again.
	p.reservedTo = to
}

// reserved is the space held ahead of the active pack's end (wmu held).
func (s *PackStore) reserved() int64 {
	return max(0, s.active.reservedTo-s.active.size)
}

// releaseReserve gives back the space reserved past p's end (wmu held, or
// at open). A failure only leaves the space held until the next open.
func (s *PackStore) releaseReserve(p *pack) {
	if s.reserving && p.reservedTo > p.size {
		_ = p.truncate(p.size) // a same-size truncate frees the blocks past the end
	}
	p.reservedTo = p.size
}

// allocated is the space the file system gives the file st describes.
func allocated(st fs.FileInfo) int64 {
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		return sys.Blocks * 512
	}
	return 0
}

// truncate cuts p's file at size, which also frees whatever space was
// reserved past it. The caller updates p.size.
func (p *pack) truncate(size int64) error {
	p.reservedTo = size
	return p.f.Truncate(size)
}
