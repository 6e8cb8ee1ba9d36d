package p2p

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/sec"
	libp2ptls "github.com/libp2p/go-libp2p/p2p/security/tls"

	"node/internal/testutil"
)

// countingConn counts the writes that reach a TCP connection. Told to,
// it fails one write, or stalls writes until it is closed (a peer that
// stopped reading).
type countingConn struct {
	net.Conn
	writes atomic.Int64

	failNext  atomic.Bool
	stall     atomic.Bool
	stalled   chan struct{} // closed when a write has stalled
	closed    chan struct{}
	closeOnce sync.Once
}

var errInjected = errors.New("injected write failure")

func (c *countingConn) Write(b []byte) (int, error) {
	c.writes.Add(1)
	if c.failNext.CompareAndSwap(true, false) {
		return 0, errInjected
	}
	if c.stall.Load() {
		close(c.stalled)
		<-c.closed
		return 0, net.ErrClosed
	}
	return c.Conn.Write(b)
}

func (c *countingConn) Close() error {
	c.closeOnce.Do(func() { close(c.closed) })
	return c.Conn.Close()
}

type transportFunc func(t *testing.T, key crypto.PrivKey) sec.SecureTransport

func gathering(t *testing.T, key crypto.PrivKey) sec.SecureTransport {
	tr, err := newGatheringTLS(libp2ptls.ID, key, nil)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func plainTLS(t *testing.T, key crypto.PrivKey) sec.SecureTransport {
	tr, err := libp2ptls.New(libp2ptls.ID, key, nil)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// securedPair connects two TLS endpoints over loopback TCP. The dialer's
// writes to its TCP connection are counted.
func securedPair(t *testing.T, newTransport transportFunc) (client, server sec.SecureConn, counted *countingConn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ck, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	sk, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	serverID, err := peer.IDFromPrivateKey(sk)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	type accepted struct {
		c   sec.SecureConn
		err error
	}
	done := make(chan accepted, 1)
	go func() {
		raw, err := l.Accept()
		if err != nil {
			done <- accepted{nil, err}
			return
		}
		c, err := newTransport(t, sk).SecureInbound(ctx, raw, "")
		done <- accepted{c, err}
	}()
	raw, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	counted = &countingConn{Conn: raw, stalled: make(chan struct{}), closed: make(chan struct{})}
	client, err = newTransport(t, ck).SecureOutbound(ctx, counted, serverID)
	if err != nil {
		t.Fatal(err)
	}
	a := <-done
	if a.err != nil {
		t.Fatal(a.err)
	}
	t.Cleanup(func() { client.Close(); a.c.Close() })
	return client, a.c, counted
}

// A write of a whole yamux frame (MaxFrame) is many TLS records; they
// reach the TCP connection in one write, and the peer reads the same
// bytes. Plain crypto/tls writes each record on its own, which is what
// gathering saves.
func TestGatheredWriteIsOneSystemCall(t *testing.T) {
	for _, tc := range []struct {
		name       string
		transport  transportFunc
		wantWrites func(n int64) bool
		want       string
	}{
		{"gathering", gathering, func(n int64) bool { return n == 1 }, "1"},
		{"plain crypto/tls", plainTLS, func(n int64) bool { return n >= MaxFrame/maxRecordPayload }, fmt.Sprintf("at least %d", MaxFrame/maxRecordPayload)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client, server, counted := securedPair(t, tc.transport)
			// Past TLS's first 128 KiB, whose records are kept small.
			warmUp := testutil.RandomBytes(1, 256<<10)
			frame := testutil.RandomBytes(2, MaxFrame)
			got := make(chan []byte, 1)
			go func() {
				b := make([]byte, len(warmUp)+len(frame))
				if _, err := io.ReadFull(server, b); err != nil {
					t.Error(err)
				}
				got <- b
			}()
			if _, err := client.Write(warmUp); err != nil {
				t.Fatal(err)
			}
			before := counted.writes.Load()
			if n, err := client.Write(frame); err != nil || n != len(frame) {
				t.Fatalf("Write = %d, %v", n, err)
			}
			if w := counted.writes.Load() - before; !tc.wantWrites(w) {
				t.Errorf("a %d KiB Write made %d writes to the TCP connection, want %s", MaxFrame>>10, w, tc.want)
			}
			if b := <-got; !bytes.Equal(b, append(warmUp, frame...)) {
				t.Error("the peer read other bytes than were written")
			}
		})
	}
}

// Writes from many goroutines at once, large and small, each arrive whole
// and in one piece: gathering keeps every Write's records together and in
// TLS's order.
func TestGatheredConcurrentWritesStayWhole(t *testing.T) {
	client, server, _ := securedPair(t, gathering)
	const writers, perWriter = 8, 40
	sizes := []int{12, 3000, 16 << 10, 16<<10 + 1, 64 << 10, 200 << 10}
	message := func(w, i int) []byte {
		size := sizes[(w+i)%len(sizes)]
		m := make([]byte, 8+size)
		binary.BigEndian.PutUint32(m, uint32(w<<16|i))
		binary.BigEndian.PutUint32(m[4:], uint32(size))
		copy(m[8:], testutil.RandomBytes(uint64(w<<16|i), size))
		return m
	}
	read := make(chan error, 1)
	go func() {
		seen := map[uint32]bool{}
		for range writers * perWriter {
			var hdr [8]byte
			if _, err := io.ReadFull(server, hdr[:]); err != nil {
				read <- err
				return
			}
			id, size := binary.BigEndian.Uint32(hdr[:]), binary.BigEndian.Uint32(hdr[4:])
			body := make([]byte, size)
			if _, err := io.ReadFull(server, body); err != nil {
				read <- err
				return
			}
			if want := message(int(id>>16), int(id&0xffff)); seen[id] || !bytes.Equal(append(hdr[:], body...), want) {
				read <- fmt.Errorf("message %d of writer %d arrived broken or twice", id&0xffff, id>>16)
				return
			}
			seen[id] = true
		}
		read <- nil
	}()
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				if _, err := client.Write(message(w, i)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := <-read; err != nil {
		t.Fatal(err)
	}
}

// When the TCP connection fails, a gathered Write reports it and writes
// nothing: its records never left the buffer.
func TestGatheredWriteReportsAFailedConnection(t *testing.T) {
	client, _, counted := securedPair(t, gathering)
	counted.Conn.Close()
	n, err := client.Write(testutil.RandomBytes(3, 64<<10))
	if err == nil || !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Write on a closed connection = %d, %v; want net.ErrClosed", n, err)
	}
	if n != 0 {
		t.Errorf("Write reported %d bytes written", n)
	}
}

// A gathered Write that failed leaves part of a record on the wire: every
// later write fails too, small ones included, as with crypto/tls's own
// write errors. (Otherwise the peer would read on into garbage.)
func TestGatheredWriteFailureIsPermanent(t *testing.T) {
	client, _, counted := securedPair(t, gathering)
	counted.failNext.Store(true)
	if _, err := client.Write(testutil.RandomBytes(4, 64<<10)); !errors.Is(err, errInjected) {
		t.Fatalf("gathered Write = %v, want the injected failure", err)
	}
	if _, err := client.Write([]byte("hello")); !errors.Is(err, errInjected) {
		t.Errorf("a later small Write = %v, want the same failure", err)
	}
	if _, err := client.Write(testutil.RandomBytes(5, 64<<10)); !errors.Is(err, errInjected) {
		t.Errorf("a later large Write = %v, want the same failure", err)
	}
}

// Close does not wait for a gathered Write stuck on a peer that stopped
// reading: like crypto/tls with a Write in flight, it closes the socket,
// which ends the Write. (Waiting, the close alert would queue behind the
// stuck write.)
func TestCloseEndsAStuckGatheredWrite(t *testing.T) {
	client, _, counted := securedPair(t, gathering)
	counted.stall.Store(true)
	wrote := make(chan error, 1)
	go func() {
		_, err := client.Write(testutil.RandomBytes(6, 64<<10))
		wrote <- err
	}()
	<-counted.stalled // the records are being written, and stuck
	closed := make(chan error, 1)
	go func() { closed <- client.Close() }()
	select {
	case <-closed:
	case <-time.After(3 * time.Second): // crypto/tls's alert deadline is 5 s
		t.Fatal("Close waited for the stuck write")
	}
	if err := <-wrote; err == nil {
		t.Error("the stuck Write reported success after Close")
	}
}

// The records of yamux's largest frame fit a pooled gather buffer (a
// larger frame would get a new buffer for every write).
func TestMuxerFramesFitTheGatherBuffers(t *testing.T) {
	frame := int(muxer().MaxMessageSize)
	b := gatherBuffers.Get(frame + (frame/maxRecordPayload+1)*recordOverhead)
	if b == nil {
		t.Fatalf("the records of a %d-byte frame do not fit a pooled gather buffer", frame)
	}
	gatherBuffers.Put(b)
}
