package p2p_test

import (
	"bytes"
	"context"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	libp2ptls "github.com/libp2p/go-libp2p/p2p/security/tls"

	"node/internal/testutil"
	"node/p2p"
)

func newHost(t testing.TB) host.Host {
	t.Helper()
	sk, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	h, err := p2p.NewHost(p2p.Config{Identity: sk, ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"},
		LowWater: 10, HighWater: 20, GracePeriod: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// A stream's whole receive window is granted when it opens: a sender can
// write StreamWindow/2 bytes that nobody reads yet without waiting. With
// yamux's initial 256 KiB, which go-yamux grows only while the reader
// keeps up, the write would wait for the reader.
func TestStreamWindowIsGrantedAtOnce(t *testing.T) {
	a, b := newHost(t), newHost(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	const proto = "/node-test/window/1.0.0"
	startReading := make(chan struct{})
	var once sync.Once
	start := func() { once.Do(func() { close(startReading) }) }
	t.Cleanup(start) // a failed test must not leave the handler waiting
	type result struct {
		data []byte
		err  error
	}
	received := make(chan result, 1)
	b.SetStreamHandler(proto, func(s network.Stream) {
		defer s.Close()
		<-startReading
		data, err := io.ReadAll(s)
		received <- result{data, err}
	})
	if err := a.Connect(ctx, peer.AddrInfo{ID: b.ID(), Addrs: b.Addrs()}); err != nil {
		t.Fatal(err)
	}
	s, err := a.NewStream(ctx, b.ID(), proto)
	if err != nil {
		t.Fatal(err)
	}
	payload := testutil.RandomBytes(1, p2p.StreamWindow/2)
	written := make(chan error, 1)
	go func() {
		_, err := s.Write(payload)
		written <- err
	}()
	select {
	case err := <-written:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second): // a deadline, not a wait for the write
		t.Fatalf("writing %d bytes to a stream nobody reads yet did not finish: the peer granted less than its window", len(payload))
	}
	start()
	if err := s.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-received:
		if got.err != nil {
			t.Fatalf("reading: %v", got.err)
		}
		if !bytes.Equal(got.data, payload) {
			t.Fatalf("received %d bytes, not the %d written", len(got.data), len(payload))
		}
	case <-ctx.Done():
		t.Fatal("the reader never finished")
	}
}

// Our host's TLS (records of a large write gathered into one system call)
// is plain libp2p TLS on the wire: a stock go-libp2p host that speaks only
// TLS exchanges megabytes with it both ways, byte for byte.
func TestGatheringTLSTalksToStockLibp2p(t *testing.T) {
	ours := newHost(t)
	stock, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"),
		libp2p.Security(libp2ptls.ID, libp2ptls.New))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stock.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	const proto = "/node-test/echo/1.0.0"
	echo := func(s network.Stream) {
		defer s.Close()
		io.Copy(s, s)
	}
	ours.SetStreamHandler(proto, echo)
	stock.SetStreamHandler(proto, echo)
	if err := ours.Connect(ctx, peer.AddrInfo{ID: stock.ID(), Addrs: stock.Addrs()}); err != nil {
		t.Fatal(err)
	}
	for i, dir := range []struct{ from, to host.Host }{{ours, stock}, {stock, ours}} {
		s, err := dir.from.NewStream(ctx, dir.to.ID(), proto)
		if err != nil {
			t.Fatal(err)
		}
		if sec := s.Conn().ConnState().Security; sec != libp2ptls.ID {
			t.Fatalf("the connection uses %q, want %q", sec, libp2ptls.ID)
		}
		payload := testutil.RandomBytes(uint64(10+i), 3<<20+12345)
		written := make(chan error, 1)
		go func() {
			_, err := s.Write(payload)
			if err == nil {
				err = s.CloseWrite()
			}
			written <- err
		}()
		got, err := io.ReadAll(s)
		if err != nil {
			t.Fatal(err)
		}
		if err := <-written; err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, payload) {
			t.Fatalf("stream %d: echoed %d bytes, not the %d written", i, len(got), len(payload))
		}
	}
}

// BenchmarkStreamOverLoopback sends 256 KiB writes (blocks) over one
// stream between two of our hosts on loopback (TCP, TLS, yamux) and
// reports the CPU the process spent per GiB, both ends together: what the
// transport costs the exchange.
//
//	go test -run '^$' -bench StreamOverLoopback -benchtime 4096x ./p2p
func BenchmarkStreamOverLoopback(b *testing.B) {
	a, z := newHost(b), newHost(b)
	const proto = "/bench/stream"
	const chunk = 256 << 10
	done := make(chan int64, 1)
	z.SetStreamHandler(proto, func(s network.Stream) {
		n, _ := io.CopyBuffer(struct{ io.Writer }{io.Discard}, struct{ io.Reader }{s}, make([]byte, chunk))
		s.Close()
		done <- n
	})
	ctx := context.Background()
	if err := a.Connect(ctx, peer.AddrInfo{ID: z.ID(), Addrs: z.Addrs()}); err != nil {
		b.Fatal(err)
	}
	s, err := a.NewStream(ctx, z.ID(), proto)
	if err != nil {
		b.Fatal(err)
	}
	data := testutil.RandomBytes(1, chunk)
	b.SetBytes(chunk)
	cpu0 := testutil.ProcessCPU()
	b.ResetTimer()
	for range b.N {
		if _, err := s.Write(data); err != nil {
			b.Fatal(err)
		}
	}
	s.CloseWrite()
	if n := <-done; n != int64(b.N)*chunk {
		b.Fatalf("the reader got %d bytes, want %d", n, int64(b.N)*chunk)
	}
	b.StopTimer()
	b.ReportMetric((testutil.ProcessCPU()-cpu0).Seconds()/float64(int64(b.N)*chunk)*(1<<30), "cpu-s/GiB")
}
