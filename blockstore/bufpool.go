package blockstore

import (
	"context"

	"github.com/ipfs/go-cid"

	"node/internal/bufpool"
)

// BufferGetter is a store that can read a block into a buffer the caller
// provides (PackStore, WithIdentity over it, and the network fetcher):
// when cap(buf) is at least the block's size plus GetBufferOverhead, the
// returned data lies in buf's backing array; otherwise it is a slice of
// its own, possibly shared with other callers (never to be modified).
// With buffers from a BufferPool, reading many large blocks allocates
// nothing per block.
type BufferGetter interface {
	GetBuffer(ctx context.Context, c cid.Cid, buf []byte) ([]byte, error)
}

// Copier is a store that copies the data of the blocks it is given (to
// disk) instead of keeping the caller's slices, when CopiesData says so: a
// caller may then reuse its buffers as soon as Put or PutMany returns.
type Copier interface {
	CopiesData() bool
}

// CopiesData is true: pack records are written out, and nothing keeps the
// slices they came from.
func (s *PackStore) CopiesData() bool { return true }

// CopiesData asks the wrapped store (identity blocks are never stored).
func (s identityStore) CopiesData() bool {
	c, ok := s.Store.(Copier)
	return ok && c.CopiesData()
}

// MinPooledBlock: smaller blocks are read with Get. Their allocations are
// cheap, and a pooled buffer sized for 256 KiB would hold far more memory
// than they need.
const MinPooledBlock = 64 << 10

// bufferClasses are the block sizes pooled buffers are made for: the
// usual 256 KiB chunk, 1 MiB chunks (each with room for the dag-pb and
// UnixFS framing around the chunk: a 256 KiB leaf block is 262,158
// bytes), and the largest block.
var bufferClasses = [...]int{256<<10 + 1<<10, 1<<20 + 4<<10, MaxBlockSize}

// BufferPool hands out buffers to read blocks into with GetBuffer, by size
// class. A buffer goes back (Put) only once nothing reads the block in it
// any more. Every BufferPool draws on one set of buffers, so a buffer one
// user puts back serves another; the zero value is ready to use and safe
// for concurrent use.
type BufferPool struct{}

// classSize is the capacity of class i's buffers: the block size plus the
// room GetBuffer needs to read the record around it.
func classSize(i int) int { return bufferClasses[i] + GetBufferOverhead }

var blockBuffers = bufpool.New(classSize(0), classSize(1), classSize(2))

// Get returns an empty buffer with room for a block of size bytes, or nil
// when blocks of that size are not pooled (under MinPooledBlock, or over
// MaxBlockSize).
func (BufferPool) Get(size int) *[]byte {
	if size < MinPooledBlock || size > MaxBlockSize {
		return nil
	}
	return blockBuffers.Get(size + GetBufferOverhead)
}

// Put returns a buffer from Get; nothing may read it afterwards. Buffers
// of other capacities are left to the garbage collector.
func (BufferPool) Put(b *[]byte) { blockBuffers.Put(b) }
