package fuse

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"node/unixfs"
)

// dagHandle reads an open file of immutable content.
//
// The first read, and any read that does not start where the previous one
// ended, fetches only the blocks it touches. A read that continues the
// previous one is served by a stream that fetches up to 64 blocks ahead
// per level of the file's tree, so a sequential reader finds its next
// blocks already on the way, and whose bytes go to the kernel without
// being copied.
//
// Each block fetch is bounded by ReadTimeout (a read that needs a block
// nobody serves fails with EIO). An interrupted read (the reader got a
// signal) returns EINTR at once and leaves the stream as it stood, for
// the retry that Go and most C libraries make after EINTR; the stream
// stops when the handle is released, so a reader killed with Ctrl-C
// cancels its fetches.
type dagHandle struct {
	fsys *mountFS
	node *unixfs.Node
	size int64

	mu   sync.Mutex // guards next and st; reads of one handle run one at a time
	next int64      // where the last read ended
	st   *stream    // the sequential stream, or nil
}

var (
	_ fs.FileReader   = (*dagHandle)(nil)
	_ fs.FileReleaser = (*dagHandle)(nil)
	_ fs.FileFlusher  = (*dagHandle)(nil)
	_ fs.FileLseeker  = (*dagHandle)(nil)
)

func newDagHandle(fsys *mountFS, node *unixfs.Node) (*dagHandle, error) {
	if !node.IsFile() {
		return nil, fmt.Errorf("%s is a %s: %w", node.CID, node.FS.Type, unixfs.ErrNotFile)
	}
	return &dagHandle{fsys: fsys, node: node, size: int64(node.FileSize())}, nil
}

func (h *dagHandle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if off >= h.size || len(dest) == 0 {
		return fuse.ReadResultData(nil), 0
	}
	want := int(min(int64(len(dest)), h.size-off))
	if off == 0 || off != h.next {
		// Not a continuation: fetch only what this read touches.
		h.stopStream()
		n := 0
		err := unixfs.ReadRange(ctx, h.fsys.g, h.node, uint64(off), uint64(off)+uint64(want), func(b []byte) error {
			n += copy(dest[n:], b)
			return nil
		})
		if err != nil {
			return nil, h.fsys.errno(ctx, fmt.Sprintf("reading %s at %d", h.node.CID, off), err)
		}
		h.next = off + int64(n)
		return fuse.ReadResultData(dest[:n]), 0
	}
	if h.st == nil || h.st.next != off {
		h.stopStream()
		h.st = newStream(h.fsys.ctx, h.fsys.g, h.node, off)
	}
	// Each fetch of the stream is bounded by ReadTimeout; this bounds the
	// wait in case the getter does not honour its context.
	timer := time.NewTimer(2 * h.fsys.cfg.ReadTimeout)
	defer timer.Stop()
	bufs, err := h.st.read(ctx, want, timer.C)
	switch {
	case err == nil:
		h.next = h.st.next
		return fuse.ReadResultVector(bufs), 0
	case ctx.Err() != nil:
		return nil, syscall.EINTR // the stream stays, for the retry
	case errors.Is(err, errStalled):
		h.stopStream()
		h.fsys.log.Warn("read timed out", "cid", h.node.CID, "offset", off, "timeout", h.fsys.cfg.ReadTimeout)
		return nil, syscall.EIO
	}
	h.stopStream()
	return nil, h.fsys.errno(ctx, fmt.Sprintf("reading %s at %d", h.node.CID, off), err)
}

func (h *dagHandle) stopStream() {
	if h.st != nil {
		h.st.close()
		h.st = nil
	}
}

// Flush: nothing to flush. On the read-only /ipfs mount it answers ENOSYS,
// which tells the kernel to stop sending FLUSH at every close; on /ipns
// the writable files of local need FLUSH, so it answers OK.
func (h *dagHandle) Flush(ctx context.Context) syscall.Errno {
	if h.fsys.noFlush {
		return syscall.ENOSYS
	}
	return 0
}

// Lseek answers ENOSYS, which makes the kernel seek by itself from then
// on: files here have no holes, so SEEK_DATA and SEEK_HOLE need no
// round trip (cp asks both for every file it copies).
func (h *dagHandle) Lseek(ctx context.Context, off uint64, whence uint32) (uint64, syscall.Errno) {
	return 0, syscall.ENOSYS
}

func (h *dagHandle) Release(ctx context.Context) syscall.Errno {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.stopStream()
	return 0
}
