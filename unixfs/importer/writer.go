package importer

import (
	"context"
	"sync"

	"node/blockstore"
)

// batchSize is how many bytes of blocks are gathered before a write.
const batchSize = 8 << 20

// batchWriter gathers blocks into batches and writes them from one
// background goroutine, so hashing goes on while the store writes. At
// most two batches wait, which bounds the memory an import holds.
type batchWriter struct {
	ctx     context.Context
	p       Putter
	batches chan batch
	done    chan struct{}
	failed  chan struct{} // closed by the writer goroutine after it sets err
	err     error         // set once, by the writer goroutine, before failed or done is closed

	cur batch // owned by the importer's goroutine
}

type batch struct {
	blocks []blockstore.Block
	bufs   []*[]byte
	bytes  int
}

func newBatchWriter(ctx context.Context, p Putter) *batchWriter {
	w := &batchWriter{ctx: ctx, p: p, batches: make(chan batch, 2), done: make(chan struct{}), failed: make(chan struct{})}
	go w.run()
	return w
}

func (w *batchWriter) run() {
	defer close(w.done)
	for b := range w.batches {
		if w.err == nil {
			if w.err = w.p.PutMany(w.ctx, b.blocks); w.err != nil {
				close(w.failed) // stop the import now, not at the end
			}
		}
		for _, buf := range b.bufs {
			putBuf(buf)
		}
	}
}

// put queues a block; buf, if not nil, is recycled once the block is written.
func (w *batchWriter) put(b blockstore.Block, buf *[]byte) error {
	select {
	case <-w.failed:
		return w.err
	default:
	}
	w.cur.blocks = append(w.cur.blocks, b)
	if buf != nil {
		w.cur.bufs = append(w.cur.bufs, buf)
	}
	w.cur.bytes += len(b.Data)
	if w.cur.bytes >= batchSize {
		return w.flush()
	}
	return nil
}

func (w *batchWriter) flush() error {
	if len(w.cur.blocks) == 0 {
		return nil
	}
	select {
	case w.batches <- w.cur:
	case <-w.failed:
		return w.err
	case <-w.ctx.Done():
		return w.ctx.Err()
	}
	w.cur = batch{}
	return nil
}

// close writes what is left and waits for the writer.
func (w *batchWriter) close() error {
	err := w.flush()
	close(w.batches)
	<-w.done
	if w.err != nil {
		return w.err
	}
	return err
}

// chunkPool recycles chunk buffers of the most recent chunk size.
var chunkPool sync.Pool

func getBuf(size int) *[]byte {
	if b, ok := chunkPool.Get().(*[]byte); ok && cap(*b) >= size {
		*b = (*b)[:size]
		return b
	}
	b := make([]byte, size)
	return &b
}

func putBuf(b *[]byte) { chunkPool.Put(b) }
