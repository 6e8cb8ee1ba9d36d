package p2p

import (
	"context"
	"net"
	"sync"
	"sync/atomic"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/core/sec"
	tptu "github.com/libp2p/go-libp2p/p2p/net/upgrader"
	libp2ptls "github.com/libp2p/go-libp2p/p2p/security/tls"

	"node/internal/bufpool"
)

// TLS carries at most 16 KiB of data in a record, and crypto/tls writes
// each record to the connection with a write of its own: a 64 KiB yamux
// frame costs four write system calls, and on a fast link each one costs
// the sender (and, on loopback, the receiver's TCP processing too) far
// more than the bytes themselves: sending 2 GiB over loopback in writes of
// 16 KiB took twice the CPU of writes of 64 KiB. So the TLS transport here
// is libp2p's with one change: the records of one large Write are gathered
// in a buffer and go to the TCP connection in one write. The bytes on the
// wire are the same records in the same order; only the system calls are
// fewer.

// maxRecordPayload is the most data one TLS record carries (RFC 8446,
// 5.1). A Write of no more than this is one record and is not gathered.
const maxRecordPayload = 16 << 10

// recordOverhead bounds what TLS 1.3 adds to a record of AES-GCM or
// ChaCha20-Poly1305: a 5-byte header, the content type and a 16-byte tag.
const recordOverhead = 5 + 1 + 16

// gatherBuffers hold the records of one gathered Write: a yamux frame of
// up to MaxFrame fits in the 260 KiB class, one of go-yamux's default
// 64 KiB in the 68 KiB class. A larger Write gets a
// buffer of its own, which is not kept.
var gatherBuffers = bufpool.New(68<<10, 260<<10)

// newGatheringTLS is libp2p's TLS transport (same protocol ID, same
// handshake) whose connections gather the records of each large Write.
// It has libp2ptls.New's signature, for libp2p.Security.
func newGatheringTLS(id protocol.ID, key crypto.PrivKey, muxers []tptu.StreamMuxer) (*gatheringTLS, error) {
	t, err := libp2ptls.New(id, key, muxers)
	if err != nil {
		return nil, err
	}
	return &gatheringTLS{t}, nil
}

type gatheringTLS struct{ sec.SecureTransport }

func (t *gatheringTLS) SecureInbound(ctx context.Context, insecure net.Conn, p peer.ID) (sec.SecureConn, error) {
	return gathered(insecure, func(c net.Conn) (sec.SecureConn, error) { return t.SecureTransport.SecureInbound(ctx, c, p) })
}

func (t *gatheringTLS) SecureOutbound(ctx context.Context, insecure net.Conn, p peer.ID) (sec.SecureConn, error) {
	return gathered(insecure, func(c net.Conn) (sec.SecureConn, error) { return t.SecureTransport.SecureOutbound(ctx, c, p) })
}

// gathered runs a TLS handshake over insecure with a gatherConn between
// them, and returns the connection that gathers large writes.
func gathered(insecure net.Conn, handshake func(net.Conn) (sec.SecureConn, error)) (sec.SecureConn, error) {
	g := &gatherConn{Conn: insecure}
	c, err := handshake(g)
	if err != nil {
		return nil, err
	}
	return &gatheredConn{SecureConn: c, g: g}, nil
}

// gatheredConn is a TLS connection over a gatherConn: a large Write's
// records are gathered and written together once TLS has made them all.
type gatheredConn struct {
	sec.SecureConn
	g *gatherConn

	wmu sync.Mutex // one gathered Write at a time
}

func (c *gatheredConn) Write(b []byte) (int, error) {
	if len(b) <= maxRecordPayload {
		return c.SecureConn.Write(b)
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.g.begin(len(b) + (len(b)/maxRecordPayload+1)*recordOverhead); err != nil {
		return 0, err
	}
	n, err := c.SecureConn.Write(b)
	if ferr := c.g.end(); ferr != nil {
		// TLS made its records but they did not all reach the
		// connection: the stream is broken from here on.
		return 0, ferr
	}
	return n, err
}

// Close closes the connection. crypto/tls skips its close alert and closes
// the socket at once when a Write is in flight (the write may be blocked on
// a peer that stopped reading); a gathered Write is in flight until its
// records are written, after TLS's Write has returned, so Close does the
// same for it. Otherwise the alert would wait for the blocked write, and
// Close with it, for TLS's 5-second alert deadline.
func (c *gatheredConn) Close() error {
	if c.g.gathering.Load() {
		c.g.Conn.Close()
	}
	return c.SecureConn.Close()
}

// gatherConn is the TCP connection under TLS. Between begin and end the
// records TLS writes are kept in a buffer, which end writes in one go;
// otherwise writes pass straight through. mu is held across writes to the
// connection, so records reach it in the order TLS made them even when a
// record from another goroutine (a close alert) comes in between.
type gatherConn struct {
	net.Conn

	gathering atomic.Bool // from begin to end: a gathered Write is in flight

	mu  sync.Mutex // guards buf and err; serialises writes to Conn
	buf *[]byte    // gathered records; nil when not gathering
	// err is the first failed write to Conn. TLS does not see a failed
	// gathered write (its records were taken), and after one the stream
	// ends in part of a record, so every later write fails with it, as
	// crypto/tls makes its own write errors permanent.
	err error
}

func (g *gatherConn) Write(b []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.err != nil {
		return 0, g.err
	}
	if g.buf != nil {
		*g.buf = append(*g.buf, b...)
		return len(b), nil
	}
	n, err := g.Conn.Write(b)
	if err != nil {
		g.err = err
	}
	return n, err
}

// begin starts gathering, into a buffer of at least size bytes, unless
// the connection is already broken: then it returns why.
func (g *gatherConn) begin(size int) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.err != nil {
		return g.err
	}
	b := gatherBuffers.Get(size)
	if b == nil {
		own := make([]byte, 0, size)
		b = &own
	}
	g.gathering.Store(true)
	g.buf = b
	return nil
}

// end writes what was gathered to the connection and stops gathering.
func (g *gatherConn) end() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	defer g.gathering.Store(false)
	b := g.buf
	g.buf = nil
	err := g.err
	if err == nil && len(*b) > 0 {
		if _, err = g.Conn.Write(*b); err != nil {
			g.err = err
		}
	}
	gatherBuffers.Put(b) // keeps only buffers of its class
	return err
}
