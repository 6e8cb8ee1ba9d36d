package message

import (
	"bufio"
	"errors"
	"fmt"
	"io"

	"github.com/multiformats/go-varint"

	"node/internal/bufpool"
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

// prefixBuffer is the Reader's own buffer: enough for a length prefix and
// the small messages (wants, presences) that follow it. A larger body is
// read straight into its own buffer; only the bytes the buffer already
// holds, at most this many, are copied twice.
const prefixBuffer = 4 << 10

// NewReader returns a Reader of r with its own buffer.
func NewReader(r io.Reader) *Reader {
	return &Reader{br: bufio.NewReaderSize(r, prefixBuffer)}
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
// Each message gets its own buffer, which its blocks' Data alias. With
// Reserve set, a message of 32 KiB or more is read into a pooled buffer
// that serves a later message once it is released (Message.Release).
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
	if r.Reserve == nil || n < minPooledBody {
		// Unaccounted bytes arrive before they are allocated; small
		// bodies cost less than a pooled buffer would hold.
		buf, err := r.readBody(int(n))
		if err != nil {
			return nil, err
		}
		return Unmarshal(buf)
	}
	// The bytes are accounted: the body is read whole into a pooled
	// buffer, which the receiver hands back with Release.
	body := bodies.Get(int(n)) // n <= MaxMessageSize, the largest class
	*body = (*body)[:n]
	if err := r.readFull(*body); err != nil {
		bodies.Put(body)
		return nil, err
	}
	m, err := Unmarshal(*body)
	if err != nil {
		bodies.Put(body)
		return nil, err
	}
	m.body = body
	return m, nil
}

// readBody reads exactly n bytes (n <= MaxMessageSize) into a new buffer
// that grows with what arrives (64 KiB, 256 KiB, 1 MiB, 4 MiB), so a peer
// that announces a large message and sends little costs little.
func (r *Reader) readBody(n int) ([]byte, error) {
	buf := make([]byte, 0, min(n, readChunk))
	for len(buf) < n {
		if len(buf) == cap(buf) {
			grown := make([]byte, len(buf), min(4*cap(buf), n))
			copy(grown, buf)
			buf = grown
		}
		if err := r.readFull(buf[len(buf):cap(buf)]); err != nil {
			return nil, err
		}
		buf = buf[:cap(buf)]
	}
	return buf, nil
}

// readFull fills p from the stream.
func (r *Reader) readFull(p []byte) error {
	k, err := io.ReadFull(r.br, p)
	if err == nil {
		return nil
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("bitswap message: stream ended %d bytes short: %w", len(p)-k, err)
	}
	return fmt.Errorf("reading bitswap message: %w", err)
}

// minPooledBody: smaller messages (wants, presences, small blocks) get a
// buffer of their own size.
const minPooledBody = 32 << 10

// bodies holds buffers for received messages, in classes from a few
// blocks' worth up to the largest message (servers aim at about 1 MiB per
// message). It is shared by every Reader: messages are released by
// whoever handles them, on other goroutines than the reader's.
var bodies = bufpool.New(64<<10, 288<<10, 1<<20+64<<10, MaxMessageSize)
