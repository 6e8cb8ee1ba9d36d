package message

import (
	"bufio"
	"errors"
	"fmt"
	"io"

	"github.com/multiformats/go-varint"
)

// readChunk is how much of a message body is allocated before its bytes
// arrive: a peer that announces 4 MiB and sends nothing costs this much,
// and the buffer grows (fourfold, up to the announced length) only as
// bytes come in, so the buffer is at most 64 KiB or four times the bytes
// that arrived (a full message costs three copies: 64 KiB, 256 KiB, 1 MiB).
const readChunk = 64 << 10

// Reader reads length-prefixed messages from a stream. It is not safe for
// concurrent use: one goroutine reads each stream.
type Reader struct {
	br *bufio.Reader
	// Reserve, when set, is called with a message's announced length
	// before its body is read; an error stops the read (returned wrapped)
	// and leaves the stream out of step. The network uses it to account
	// the body with libp2p's resource manager.
	Reserve func(n int) error
}

// NewReader returns a Reader of r with its own buffer.
func NewReader(r io.Reader) *Reader {
	return &Reader{br: bufio.NewReaderSize(r, readChunk)}
}

// ReadMsg reads and decodes the next message. It returns:
//   - io.EOF, unwrapped, when the stream ends cleanly before a message;
//   - an error wrapping io.ErrUnexpectedEOF when it ends inside one (in the
//     length prefix or the body);
//   - an error wrapping ErrInvalid for a bad length prefix (not a minimal
//     unsigned varint of at most 9 bytes), and also ErrTooLarge for a
//     length over MaxMessageSize, refused before anything is allocated;
//     the stream is then out of step and must be closed;
//   - an error wrapping ErrInvalid when the body does not decode (see
//     Unmarshal); the stream is still in step, but the peer misbehaved;
//   - the stream's own read errors, wrapped.
//
// Each message gets its own buffer, which its blocks' Data alias.
func (r *Reader) ReadMsg() (*Message, error) {
	n, err := varint.ReadUvarint(r.br)
	switch {
	case err == io.EOF:
		return nil, io.EOF
	case errors.Is(err, io.ErrUnexpectedEOF):
		return nil, fmt.Errorf("bitswap message: stream ended inside a length prefix: %w", err)
	case errors.Is(err, varint.ErrOverflow), errors.Is(err, varint.ErrNotMinimal):
		return nil, fmt.Errorf("%w: length prefix: %w", ErrInvalid, err)
	case err != nil:
		return nil, fmt.Errorf("reading bitswap message length: %w", err)
	}
	if n > MaxMessageSize {
		return nil, fmt.Errorf("%w: %w: the peer announced %d bytes", ErrInvalid, ErrTooLarge, n)
	}
	if r.Reserve != nil {
		if err := r.Reserve(int(n)); err != nil {
			return nil, fmt.Errorf("bitswap message of %d bytes: %w", n, err)
		}
	}
	buf, err := r.readBody(int(n), r.Reserve != nil)
	if err != nil {
		return nil, err
	}
	return Unmarshal(buf)
}

// readBody reads exactly n bytes (n <= MaxMessageSize) into a new buffer.
// When the bytes were reserved (accounted), the buffer is allocated whole;
// otherwise it grows with what arrives: 64 KiB, 256 KiB, 1 MiB, 4 MiB.
func (r *Reader) readBody(n int, reserved bool) ([]byte, error) {
	first := min(n, readChunk)
	if reserved {
		first = n
	}
	buf := make([]byte, 0, first)
	for len(buf) < n {
		if len(buf) == cap(buf) {
			grown := make([]byte, len(buf), min(4*cap(buf), n))
			copy(grown, buf)
			buf = grown
		}
		k, err := io.ReadFull(r.br, buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+k]
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return nil, fmt.Errorf("bitswap message: stream ended after %d of %d bytes: %w", len(buf), n, err)
			}
			return nil, fmt.Errorf("reading bitswap message: %w", err)
		}
	}
	return buf, nil
}
