package gateway

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"

	"node/blockstore"
	"node/core"
	"node/unixfs/importer"
)

// Quick benchmarks for development; bench/gateway measures the figures
// docs/benchmarks.md reports (1 GiB, 32 connections) with their limits.

type chachaReader struct{ r *rand.ChaCha8 }

func (c chachaReader) Read(p []byte) (int, error) { return c.r.Read(p) }

// benchStore imports a file of size bytes into a pack store.
func benchStore(b *testing.B, size int64) (blockstore.Store, cid.Cid) {
	b.Helper()
	packs := openStore(b)
	im, err := importer.New(context.Background(), importer.DefaultOptions(), packs)
	if err != nil {
		b.Fatal(err)
	}
	n, err := im.AddFile(context.Background(), io.LimitReader(chachaReader{rand.NewChaCha8([32]byte{3})}, size))
	if err != nil {
		b.Fatal(err)
	}
	if err := im.Close(); err != nil {
		b.Fatal(err)
	}
	return blockstore.WithIdentity(packs), n.CID
}

type discardWriter struct{}

func (discardWriter) Write(p []byte) (int, error) { return len(p), nil }

const benchFileSize = 128 << 20

// BenchmarkLargeFile and BenchmarkCat read the same file: their MB/s
// divide into the gateway's ratio to `node cat`.
func BenchmarkLargeFile(b *testing.B) {
	store, c := benchStore(b, benchFileSize)
	srv := serve(b, Config{Blocks: store})
	url := srv.URL + "/ipfs/" + c.String()
	buf := make([]byte, 1<<20)
	b.SetBytes(benchFileSize)
	for b.Loop() {
		resp, err := http.Get(url)
		if err != nil {
			b.Fatal(err)
		}
		var n int64
		for {
			m, err := resp.Body.Read(buf)
			n += int64(m)
			if err != nil {
				break
			}
		}
		resp.Body.Close()
		if n != benchFileSize {
			b.Fatalf("read %d bytes", n)
		}
	}
}

func BenchmarkCat(b *testing.B) {
	store, c := benchStore(b, benchFileSize)
	b.SetBytes(benchFileSize)
	for b.Loop() {
		if err := core.Cat(context.Background(), store, "/ipfs/"+c.String(), 0, -1, discardWriter{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSmallFile requests a small file from parallel clients.
func BenchmarkSmallFile(b *testing.B) {
	s := newSite(b)
	srv := serve(b, Config{Blocks: s.store})
	url := srv.URL + "/ipfs/" + s.root.String() + "/hello.txt"
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	c := &http.Client{Transport: tr}
	b.SetParallelism(16) // 32 goroutines on 2 cores
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		buf := make([]byte, 4096)
		for pb.Next() {
			resp, err := c.Get(url)
			if err != nil {
				b.Fatal(err)
			}
			for {
				if _, err := resp.Body.Read(buf); err != nil {
					break
				}
			}
			resp.Body.Close()
		}
	})
}

// BenchmarkHandlerSmallFile is the handler's own cost for a small file,
// without the network.
func BenchmarkHandlerSmallFile(b *testing.B) {
	s := newSite(b)
	h := New(Config{Blocks: s.store, Log: discardLog()})
	req, _ := http.NewRequest("GET", "/ipfs/"+s.root.String()+"/hello.txt", nil)
	w := &nullResponse{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		h.ServeHTTP(w, req)
		if w.status != 200 {
			b.Fatal(w.status)
		}
	}
}

// BenchmarkListing renders the listing of a HAMT-sharded directory of
// 4,500 entries.
func BenchmarkListing(b *testing.B) {
	s := newSite(b)
	h := New(Config{Blocks: s.store, Log: discardLog()})
	req, _ := http.NewRequest("GET", "/ipfs/"+s.hamt.CID.String()+"/", nil)
	w := &nullResponse{h: http.Header{}}
	for b.Loop() {
		clear(w.h)
		h.ServeHTTP(w, req)
		if w.status != 200 {
			b.Fatal(w.status)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/hamtEntries*1000, "ns/entry")
}

func BenchmarkDAGJSON(b *testing.B) {
	m := map[string]any{}
	for i := range 200 {
		m[fmt.Sprintf("key-%03d", i)] = []any{i, "value " + strings.Repeat("x", i%17), 1.5, true, nil, []byte("bytes")}
	}
	block, err := cborEnc.Marshal(m)
	if err != nil {
		b.Fatal(err)
	}
	c, _ := cid.V1Builder{Codec: cid.DagCBOR, MhType: 0x12}.Sum(block)
	b.SetBytes(int64(len(block)))
	for b.Loop() {
		if _, err := renderDAGJSON(c, block, renderOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

type nullResponse struct {
	h      http.Header
	status int
}

func (n *nullResponse) Header() http.Header { return n.h }
func (n *nullResponse) Write(p []byte) (int, error) {
	if n.status == 0 {
		n.status = 200
	}
	return len(p), nil
}
func (n *nullResponse) WriteHeader(s int) { n.status = s }
