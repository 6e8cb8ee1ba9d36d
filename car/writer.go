package car

import (
	"bufio"
	"errors"
	"fmt"
	"io"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-varint"

	"node/blockstore"
)

// Writer writes a CARv1 stream: the header, then one section per Put. It
// buffers its output: call Flush when done. It is not safe for concurrent
// use.
type Writer struct {
	w   *bufio.Writer
	err error // sticky: the first write error
}

// NewWriter starts a CARv1 on w with the given roots (at least one, so
// that strict readers accept the file) and buffers its header. Nothing
// reaches w before the buffer fills or Flush is called.
func NewWriter(w io.Writer, roots []cid.Cid) (*Writer, error) {
	if len(roots) == 0 {
		return nil, errors.New("car: a CAR needs at least one root")
	}
	for i, r := range roots {
		if !r.Defined() {
			return nil, fmt.Errorf("car: root %d is an undefined CID", i)
		}
	}
	h := encodeHeader(roots)
	if len(h) > MaxHeaderSize {
		return nil, fmt.Errorf("car: %d roots make a %d-byte header, over the %d-byte limit", len(roots), len(h), MaxHeaderSize)
	}
	cw := &Writer{w: bufio.NewWriterSize(w, 64<<10)}
	cw.write(varint.ToUvarint(uint64(len(h))))
	cw.write(h)
	return cw, cw.err
}

func (cw *Writer) write(b []byte) {
	if cw.err == nil {
		_, cw.err = cw.w.Write(b)
	}
}

// Put writes one section: c and data. It does not hash data: the caller
// vouches that data matches c (readers check). A block over
// blockstore.MaxBlockSize fails with an error wrapping
// blockstore.ErrTooLarge; Put does not deduplicate.
func (cw *Writer) Put(c cid.Cid, data []byte) error {
	if cw.err != nil {
		return cw.err
	}
	if !c.Defined() {
		return errors.New("car: cannot write a block with an undefined CID")
	}
	if err := blockstore.CheckSize(blockstore.Block{CID: c, Data: data}); err != nil {
		return fmt.Errorf("car: %w", err)
	}
	cl := c.ByteLen()
	if cl > MaxCIDSize {
		return fmt.Errorf("car: CID %s is %d bytes, over the %d-byte limit readers accept", c, cl, MaxCIDSize)
	}
	var lb [varint.MaxLenUvarint63]byte
	n := varint.PutUvarint(lb[:], uint64(cl+len(data)))
	cw.write(lb[:n])
	if cw.err == nil {
		_, cw.err = c.WriteBytes(cw.w)
	}
	cw.write(data)
	return cw.err
}

// Flush writes any buffered data to the underlying writer.
func (cw *Writer) Flush() error {
	if cw.err != nil {
		return cw.err
	}
	cw.err = cw.w.Flush()
	return cw.err
}
