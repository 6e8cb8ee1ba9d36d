package importer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"

	"github.com/ipfs/go-cid"

	"google.golang.org/protobuf/encoding/protowire"

	"node/blockstore"
	"node/dagpb"
	"node/unixfs"
)

// Putter receives the blocks an import produces. It must not keep the
// slices it is given after PutMany returns: the importer reuses them.
type Putter interface {
	PutMany(ctx context.Context, bs []blockstore.Block) error
}

// Node is an imported file, directory or symlink: what a parent directory
// needs to link to it.
type Node struct {
	CID cid.Cid
	// Tsize is the cumulative size of the DAG: block bytes under the root.
	Tsize uint64
	// FileSize is the number of content bytes (0 for directories).
	FileSize uint64
}

// Importer turns files into UnixFS DAGs and hands the blocks to a Putter
// in batches written by a background goroutine. It is not safe for
// concurrent use; Close it to flush the last batch and learn of any error
// writing blocks.
type Importer struct {
	opts Options
	out  *batchWriter
	// Progress, if set, is called with the number of file bytes consumed.
	Progress func(n int64)
}

// New returns an importer writing to p.
func New(ctx context.Context, opts Options, p Putter) (*Importer, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	return &Importer{opts: opts, out: newBatchWriter(ctx, p)}, nil
}

// Close flushes pending blocks and returns the first error from writing.
func (im *Importer) Close() error { return im.out.close() }

// AddFile reads r to its end and returns the root of its file DAG.
func (im *Importer) AddFile(ctx context.Context, r io.Reader) (Node, error) {
	fb := &fileBuilder{im: im}
	if err := im.chunks(ctx, r, fb.addLeaf); err != nil {
		return Node{}, err
	}
	return fb.finish()
}

// leaf is a chunk made into a block, ready to be written and linked.
type leaf struct {
	block    blockstore.Block
	fileSize uint64
	buf      *[]byte // the pooled chunk buffer to recycle once written
}

// chunks cuts r into chunks, makes each a leaf block (in parallel when the
// input spans several chunks) and calls emit with the leaves in order.
func (im *Importer) chunks(ctx context.Context, r io.Reader, emit func(leaf) error) error {
	first, eof, err := im.readChunk(r)
	if err != nil {
		return err
	}
	if eof {
		// Zero or one chunk: no pipeline needed.
		return emit(im.makeLeaf(first))
	}

	workers := max(runtime.GOMAXPROCS(0), 1)
	type job struct {
		c    chunk
		done chan leaf
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	work := make(chan job)
	ordered := make(chan job, 2*workers+2)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for j := range work {
				j.done <- im.makeLeaf(j.c)
			}
		})
	}

	// The producer reads chunks and hands them out; this goroutine
	// collects the leaves in order.
	var readErr error
	go func() {
		defer close(ordered)
		defer close(work)
		c := first
		for {
			j := job{c: c, done: make(chan leaf, 1)}
			select {
			case ordered <- j:
			case <-ctx.Done():
				return
			}
			work <- j
			if eof {
				return
			}
			c, eof, readErr = im.readChunk(r)
			if readErr != nil {
				return
			}
			if eof && c.n == 0 {
				putBuf(c.mem)
				return
			}
		}
	}()

	var emitErr error
	for j := range ordered {
		l := <-j.done
		if emitErr == nil {
			emitErr = emit(l)
			if emitErr != nil {
				cancel()
			}
		}
	}
	wg.Wait()
	if emitErr != nil {
		return emitErr
	}
	if readErr != nil {
		return readErr
	}
	return ctx.Err()
}

// A chunk's bytes sit in a pooled buffer after leafHeadroom bytes and
// before leafTailroom bytes, so that a dag-pb leaf can be framed around
// them in place, without copying the chunk.
const (
	leafHeadroom = 32 // 0x0a len 0x08 0x02 0x12 len: at most 1+10+2+1+10 bytes
	leafTailroom = 16 // 0x18 filesize: at most 1+10 bytes
)

// chunk is n bytes of input in a pooled buffer.
type chunk struct {
	mem *[]byte
	n   int
}

func (c chunk) data() []byte { return (*c.mem)[leafHeadroom : leafHeadroom+c.n] }

// readChunk reads one chunk. eof reports that r has no more data after it.
// The chunk is empty only when r was empty.
func (im *Importer) readChunk(r io.Reader) (c chunk, eof bool, err error) {
	c.mem = getBuf(leafHeadroom + im.opts.ChunkSize + leafTailroom)
	c.n, err = io.ReadFull(r, (*c.mem)[leafHeadroom:leafHeadroom+im.opts.ChunkSize])
	switch {
	case err == nil:
		return c, false, nil
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return c, true, nil
	default:
		putBuf(c.mem)
		return chunk{}, false, fmt.Errorf("reading input: %w", err)
	}
}

// makeLeaf turns a chunk into a leaf block, in place: the block's bytes
// are the chunk's buffer, recycled once the block is written.
func (im *Importer) makeLeaf(c chunk) leaf {
	if im.opts.RawLeaves {
		data := c.data()
		return leaf{block: blockstore.Block{CID: im.opts.rawCID(data), Data: data}, fileSize: uint64(c.n), buf: c.mem}
	}
	block := frameLeaf(*c.mem, c.n)
	return leaf{block: blockstore.Block{CID: im.opts.nodeCID(block), Data: block}, fileSize: uint64(c.n), buf: c.mem}
}

// frameLeaf writes the dag-pb and UnixFS framing of a file leaf around the
// n chunk bytes at mem[leafHeadroom:] and returns the encoded block, the
// same bytes as dagpb.Encode(&dagpb.Node{Data: unixfs.Data{Type: TFile,
// Data: chunk, filesize: n}.Encode()}).
func frameLeaf(mem []byte, n int) []byte {
	size := uint64(n)
	// UnixFS Data: 0x08 0x02 [0x12 varint(n) chunk] 0x18 varint(n)
	inner := 2 + 1 + protowire.SizeVarint(size)
	var head [leafHeadroom]byte
	h := head[:0]
	if n > 0 {
		inner += 1 + protowire.SizeVarint(size) + n
	}
	h = protowire.AppendTag(h, 1, protowire.BytesType) // PBNode.Data
	h = protowire.AppendVarint(h, uint64(inner))
	h = append(h, 0x08, byte(unixfs.TFile)) // Type
	if n > 0 {
		h = protowire.AppendTag(h, 2, protowire.BytesType)
		h = protowire.AppendVarint(h, size)
	}
	start := leafHeadroom - len(h)
	copy(mem[start:], h)
	tail := mem[leafHeadroom+n : leafHeadroom+n]
	tail = protowire.AppendTag(tail, 3, protowire.VarintType)
	tail = protowire.AppendVarint(tail, size)
	return mem[start : leafHeadroom+n+len(tail)]
}

// putNode encodes a dag-pb node, queues it for writing and returns its link.
func (im *Importer) putNode(n *dagpb.Node, fileSize uint64) (Node, error) {
	block := dagpb.Encode(n)
	tsize := uint64(len(block))
	for _, l := range n.Links {
		tsize += l.Tsize
	}
	c := im.opts.nodeCID(block)
	if err := im.out.put(blockstore.Block{CID: c, Data: block}, nil); err != nil {
		return Node{}, err
	}
	return Node{CID: c, Tsize: tsize, FileSize: fileSize}, nil
}

// fileBuilder lays leaves out as a balanced tree: every internal node has
// up to MaxLinks children, all leaves sit at the same depth, and the tree
// is filled from the left, exactly as the reference importer does. It
// keeps one partly filled node per level, so memory is O(depth*MaxLinks).
type fileBuilder struct {
	im     *Importer
	levels [][]Node // levels[0] holds leaves, levels[i] nodes of height i
}

func (fb *fileBuilder) addLeaf(l leaf) error {
	if err := fb.im.out.put(l.block, l.buf); err != nil {
		return err
	}
	if fb.im.Progress != nil {
		fb.im.Progress(int64(l.fileSize))
	}
	n := Node{CID: l.block.CID, Tsize: uint64(len(l.block.Data)), FileSize: l.fileSize}
	return fb.push(0, n)
}

// push appends n to a level, closing the level into a parent node when full.
func (fb *fileBuilder) push(level int, n Node) error {
	if level == len(fb.levels) {
		fb.levels = append(fb.levels, make([]Node, 0, fb.im.opts.MaxLinks))
	}
	fb.levels[level] = append(fb.levels[level], n)
	if len(fb.levels[level]) < fb.im.opts.MaxLinks {
		return nil
	}
	parent, err := fb.close(level)
	if err != nil {
		return err
	}
	return fb.push(level+1, parent)
}

// close makes the nodes of a level the children of a new file node.
func (fb *fileBuilder) close(level int) (Node, error) {
	children := fb.levels[level]
	fsd := unixfs.Data{Type: unixfs.TFile, HasFileSize: true, BlockSizes: make([]uint64, len(children))}
	links := make([]dagpb.Link, len(children))
	for i, c := range children {
		fsd.FileSize += c.FileSize
		fsd.BlockSizes[i] = c.FileSize
		links[i] = dagpb.Link{Hash: c.CID, Tsize: c.Tsize}
	}
	fb.levels[level] = children[:0]
	return fb.im.putNode(&dagpb.Node{Links: links, Data: fsd.Encode()}, fsd.FileSize)
}

// finish closes the partly filled levels from the bottom up. A lone node
// with nothing above it is the root; a lone node below others is wrapped,
// so that every leaf ends at the same depth.
func (fb *fileBuilder) finish() (Node, error) {
	for level := 0; level < len(fb.levels); level++ {
		pending := fb.levels[level]
		if len(pending) == 0 {
			continue
		}
		if len(pending) == 1 && !fb.anyAbove(level) {
			return pending[0], nil
		}
		parent, err := fb.close(level)
		if err != nil {
			return Node{}, err
		}
		if level+1 == len(fb.levels) {
			fb.levels = append(fb.levels, nil)
		}
		fb.levels[level+1] = append(fb.levels[level+1], parent)
	}
	return Node{}, errors.New("importer: no leaves") // chunks always emits one
}

func (fb *fileBuilder) anyAbove(level int) bool {
	for _, l := range fb.levels[level+1:] {
		if len(l) > 0 {
			return true
		}
	}
	return false
}

// AddSymlink stores a UnixFS symlink node.
func (im *Importer) AddSymlink(target string) (Node, error) {
	fsd := unixfs.Data{Type: unixfs.TSymlink, Data: []byte(target)}
	return im.putNode(&dagpb.Node{Data: fsd.Encode()}, 0)
}
