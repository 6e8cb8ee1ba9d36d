package unixfs

import (
	"context"
	"fmt"
	"io"

	"node/blockstore"
	"node/dagpb"
)

// prefetch is how many sibling blocks a read fetches ahead, per level of
// the tree (at most 32 MiB of 256 KiB leaves). Fetches run concurrently, so
// hashing and, over the network, round trips overlap. Between two daemons
// on loopback (bench/exchange, 1 GiB): 64 gave 166–218 MB/s, 128 gives
// 256–279 MB/s, 256 255–296 MB/s with a higher peak RSS (139 MB).
const prefetch = 128

// ReadRange calls emit with the file's bytes from offset start up to end
// (exclusive; end beyond the file means its end), in order. It fetches only
// the blocks that hold bytes of the range, up to `prefetch` of them ahead
// at each level of the tree. The slices passed to emit are the blocks' own
// bytes, never reused: a caller may keep them (the FUSE mount hands them to
// the kernel without copying) but must not modify them.
func ReadRange(ctx context.Context, g Getter, file *Node, start, end uint64, emit func([]byte) error) error {
	if !file.IsFile() {
		return fmt.Errorf("%s is a %s: %w", file.CID, file.FS.Type, ErrNotFile)
	}
	size := file.FileSize()
	end = min(end, size)
	if start >= end {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	return walkFile(ctx, walk{g: g, emit: emit}, file, 0, start, end, 0)
}

// WriteRange writes the file's bytes from offset start up to end to w, as
// ReadRange emits them. Since a Writer must not keep what it is given,
// large blocks are read into reused buffers when g can read into a buffer
// (blockstore.BufferGetter): reading a large file then allocates next to
// nothing per block.
func WriteRange(ctx context.Context, g Getter, file *Node, start, end uint64, w io.Writer) error {
	if !file.IsFile() {
		return fmt.Errorf("%s is a %s: %w", file.CID, file.FS.Type, ErrNotFile)
	}
	end = min(end, file.FileSize())
	if start >= end {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wk := walk{g: g, emit: func(b []byte) error {
		_, err := w.Write(b)
		return err
	}}
	if bg, ok := g.(blockstore.BufferGetter); ok {
		wk.bg = bg
	}
	return walkFile(ctx, wk, file, 0, start, end, 0)
}

// readBuffers are the buffers WriteRange reads blocks into.
var readBuffers blockstore.BufferPool

// walk is what a walk over a file's tree uses throughout.
type walk struct {
	g    Getter
	emit func([]byte) error
	// bg, when set, reads large blocks into readBuffers: emit does not
	// keep what it is given.
	bg blockstore.BufferGetter
}

// get fetches and decodes a child. With pooled reads, buf is the buffer
// its block may lie in: it goes back to readBuffers once nothing uses the
// child any more (nil when none was taken).
func (wk walk) get(ctx context.Context, l dagpb.Link, bytes uint64) (n *Node, buf *[]byte, err error) {
	// A leaf's block is its Tsize: its bytes and a few of framing. The
	// size is capped by the bytes the child holds, so buffers in flight
	// stay in proportion to the file's bytes in flight whatever Tsize a
	// hostile DAG claims (a block larger than its buffer is read into a
	// new slice instead).
	size := bytes + 1<<10
	if l.Tsize > 0 {
		size = min(l.Tsize, size)
	}
	if wk.bg != nil && size <= blockstore.MaxBlockSize {
		buf = readBuffers.Get(int(size))
	}
	if buf == nil {
		n, err = Get(ctx, wk.g, l.Hash)
		return n, nil, err
	}
	data, err := wk.bg.GetBuffer(ctx, l.Hash, *buf)
	if err != nil {
		readBuffers.Put(buf)
		return nil, nil, err
	}
	n, err = Decode(l.Hash, data)
	if err != nil {
		readBuffers.Put(buf)
		return nil, nil, err
	}
	return n, buf, nil
}

// maxFileDepth bounds recursion through hostile DAGs.
const maxFileDepth = 64

// walkFile emits the bytes of node (which begins at file offset base)
// that fall in [start, end).
func walkFile(ctx context.Context, wk walk, n *Node, base, start, end uint64, depth int) error {
	if depth > maxFileDepth {
		return fmt.Errorf("%s: %w: file DAG nested too deep", n.CID, ErrInvalid)
	}
	if !n.IsFile() {
		return fmt.Errorf("%s: %w: a file links to a %s", n.CID, ErrInvalid, n.FS.Type)
	}
	// A node's own data comes before its children's.
	data := n.FS.Data
	if len(data) > 0 && base < end && base+uint64(len(data)) > start {
		lo := max(start, base) - base
		hi := min(end, base+uint64(len(data))) - base
		if err := wk.emit(data[lo:hi]); err != nil {
			return err
		}
	}
	pos := base + uint64(len(data))

	// The children that overlap the range.
	type child struct {
		i    int
		base uint64
	}
	var want []child
	for i, bs := range n.FS.BlockSizes {
		if pos >= end {
			break
		}
		// A child holding no bytes overlaps no range: fetching it would
		// only cost a round trip, and hostile DAGs can share empty
		// children millions of times over.
		if bs > 0 && pos+bs > start {
			want = append(want, child{i, pos})
		}
		pos += bs
	}
	if len(want) == 0 {
		return nil
	}

	type result struct {
		n   *Node
		buf *[]byte // the child's block lies here: put back once walked
		err error
	}
	fetch := func(i int) chan result {
		ch := make(chan result, 1)
		go func() {
			c, buf, err := wk.get(ctx, n.Links[i], n.FS.BlockSizes[i])
			ch <- result{c, buf, err}
		}()
		return ch
	}
	pending := make([]chan result, len(want))
	for k := 0; k < len(want) && k < prefetch; k++ {
		pending[k] = fetch(want[k].i)
	}
	for k, w := range want {
		var r result
		select {
		case r = <-pending[k]:
		case <-ctx.Done():
			return ctx.Err()
		}
		pending[k] = nil
		if k+prefetch < len(want) {
			pending[k+prefetch] = fetch(want[k+prefetch].i)
		}
		if r.err != nil {
			return r.err
		}
		if got, declared := r.n.FileSize(), n.FS.BlockSizes[w.i]; got != declared {
			return fmt.Errorf("%s: %w: child %s holds %d bytes but its parent says %d", n.CID, ErrInvalid, r.n.CID, got, declared)
		}
		if err := walkFile(ctx, wk, r.n, w.base, start, end, depth+1); err != nil {
			return err
		}
		readBuffers.Put(r.buf) // emitted: nothing reads the child any more
	}
	return nil
}

// File reads a UnixFS file: io.Reader, io.Seeker, io.ReaderAt and
// io.WriterTo. Sequential reads stream through a prefetching walk; ReadAt
// and reads after a Seek fetch only the blocks they touch.
type File struct {
	ctx  context.Context
	g    Getter
	node *Node
	size int64
	off  int64

	// stream is the sequential reader started at streamOff, or nil.
	stream    *io.PipeReader
	streamOff int64
	cancel    context.CancelFunc
}

// NewFile returns a reader of a file node.
func NewFile(ctx context.Context, g Getter, n *Node) (*File, error) {
	if !n.IsFile() {
		return nil, fmt.Errorf("%s is a %s: %w", n.CID, n.FS.Type, ErrNotFile)
	}
	return &File{ctx: ctx, g: g, node: n, size: int64(n.FileSize())}, nil
}

// Size is the file's length in bytes.
func (f *File) Size() int64 { return f.size }

// Read reads sequentially, prefetching ahead.
func (f *File) Read(p []byte) (int, error) {
	if f.off >= f.size {
		return 0, io.EOF
	}
	if f.stream == nil || f.streamOff != f.off {
		f.stopStream()
		f.startStream()
	}
	n, err := f.stream.Read(p)
	f.off += int64(n)
	f.streamOff = f.off
	if err == io.EOF && f.off < f.size {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

func (f *File) startStream() {
	ctx, cancel := context.WithCancel(f.ctx)
	pr, pw := io.Pipe()
	start := uint64(f.off)
	go func() {
		err := ReadRange(ctx, f.g, f.node, start, uint64(f.size), func(b []byte) error {
			_, err := pw.Write(b)
			return err
		})
		pw.CloseWithError(err)
	}()
	f.stream, f.streamOff, f.cancel = pr, f.off, cancel
}

func (f *File) stopStream() {
	if f.stream != nil {
		f.cancel()
		f.stream.Close()
		f.stream = nil
	}
}

// Seek sets the offset of the next Read.
func (f *File) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += f.off
	case io.SeekEnd:
		offset += f.size
	default:
		return f.off, fmt.Errorf("seek: invalid whence %d", whence)
	}
	if offset < 0 {
		return f.off, fmt.Errorf("seek: negative offset %d", offset)
	}
	f.off = offset
	return offset, nil
}

// ReadAt reads len(p) bytes at off, fetching only the blocks it needs.
func (f *File) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("read at negative offset %d", off)
	}
	if off >= f.size {
		return 0, io.EOF
	}
	n := 0
	err := ReadRange(f.ctx, f.g, f.node, uint64(off), uint64(off)+uint64(len(p)), func(b []byte) error {
		n += copy(p[n:], b)
		return nil
	})
	if err == nil && n < len(p) {
		err = io.EOF
	}
	return n, err
}

// WriteTo writes the rest of the file to w.
func (f *File) WriteTo(w io.Writer) (int64, error) {
	f.stopStream()
	var n int64
	err := ReadRange(f.ctx, f.g, f.node, uint64(f.off), uint64(f.size), func(b []byte) error {
		m, err := w.Write(b)
		n += int64(m)
		return err
	})
	f.off += n
	return n, err
}

// Close stops any prefetching.
func (f *File) Close() error {
	f.stopStream()
	return nil
}
