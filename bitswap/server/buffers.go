package server

import (
	"context"
	"sync"

	"github.com/ipfs/go-cid"

	"node/blockstore"
)

// bufferedGetter is a store that reads a block into a buffer it is given
// when the buffer has room (blockstore.PackStore, and WithIdentity over
// it). The returned data may lie in buf.
type bufferedGetter interface {
	GetBuffer(ctx context.Context, c cid.Cid, buf []byte) ([]byte, error)
}

// minPooledBlock: smaller blocks are read with Get. Their allocations are
// cheap, and a pooled buffer sized for 256 KiB would hold far more memory
// than they need while a message waits to be sent.
const minPooledBlock = 64 << 10

// bufferClasses are the block sizes pooled buffers are made for: the
// usual 256 KiB chunk, 1 MiB chunks, and the largest block.
var bufferClasses = [...]int{256 << 10, 1 << 20, blockstore.MaxBlockSize}

// bufferPool hands out buffers to read blocks into, by size class. A
// buffer goes back only once nothing reads it any more: after the message
// carrying its block has been written, or dropped.
type bufferPool struct {
	pools [len(bufferClasses)]sync.Pool // of *[]byte with cap classSize(i)
}

// classSize is the capacity of class i's buffers: the block size plus the
// room the store needs to read the record around it.
func classSize(i int) int { return bufferClasses[i] + blockstore.GetBufferOverhead }

// get returns a buffer that holds a block of size bytes, or nil when such
// a block is not read into pooled buffers.
func (p *bufferPool) get(size int) *[]byte {
	if size < minPooledBlock {
		return nil
	}
	for i, c := range bufferClasses {
		if size <= c {
			if b, ok := p.pools[i].Get().(*[]byte); ok {
				return b
			}
			b := make([]byte, classSize(i))
			return &b
		}
	}
	return nil
}

// put returns buffers from get; nothing may read them afterwards.
func (p *bufferPool) put(bufs []*[]byte) {
	for _, b := range bufs {
		for i := range bufferClasses {
			if cap(*b) == classSize(i) {
				p.pools[i].Put(b)
				break
			}
		}
	}
}
