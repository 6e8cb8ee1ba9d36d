// Command gateway measures the HTTP gateway against limits measured in
// the same run, as docs/benchmarks.md reports:
//
//   - a large file (1 GiB by default) through the gateway over loopback
//     HTTP, against reading it with unixfs (core.Cat, what `node cat`
//     runs) from the same local pack store;
//   - requests per second for a small file with 32 concurrent
//     connections, against a plain net/http handler answering the same
//     bytes from memory with the same client (the ceiling of Go's HTTP
//     stack on this machine), and against the reference implementation's
//     7,800/s;
//   - time to first byte of the small file, one request at a time.
//
// Run it from the repository root:
//
//	go run ./bench/gateway -size 1024
//
// It writes a file of random bytes into a fresh pack store in a temporary
// directory with the real importer, serves it with gateway.New on
// 127.0.0.1, and prints a Markdown table.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"node/blockstore"
	"node/core"
	"node/gateway"
	"node/unixfs/importer"
)

func main() {
	sizeMiB := flag.Int("size", 1024, "large file size in MiB")
	runs := flag.Int("runs", 3, "runs of each large-file measurement; the best is kept")
	conns := flag.Int("conns", 32, "concurrent connections for the requests-per-second test")
	dur := flag.Duration("duration", 10*time.Second, "time given to each requests-per-second measurement, in 5 turns")
	small := flag.Int("small", 1024, "small file size in bytes")
	ttfbN := flag.Int("ttfb", 2000, "requests of the time-to-first-byte test")
	daemon := flag.Bool("daemon", false, "instead: compare a running daemon's gateway with the real `node cat` through the same daemon")
	flag.Parse()
	if *daemon {
		if err := runDaemon(*sizeMiB, *runs); err != nil {
			fmt.Fprintln(os.Stderr, "Error:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(*sizeMiB, *runs, *conns, *dur, *small, *ttfbN); err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(1)
	}
}

// rounds is how many turns the requests-per-second measurements take.
const rounds = 5

// randReader yields pseudo-random bytes fast.
type randReader struct{ r *rand.ChaCha8 }

func (r randReader) Read(p []byte) (int, error) { return r.r.Read(p) }

func run(sizeMiB, runs, conns int, dur time.Duration, smallSize, ttfbN int) error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "gateway-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	packs, err := blockstore.OpenPackStore(dir, blockstore.PackOptions{})
	if err != nil {
		return err
	}
	defer packs.Close()
	store := blockstore.WithIdentity(packs) // as core.Open wires it

	im, err := importer.New(ctx, importer.DefaultOptions(), packs)
	if err != nil {
		return err
	}
	size := int64(sizeMiB) << 20
	big, err := im.AddFile(ctx, io.LimitReader(randReader{rand.NewChaCha8([32]byte{1})}, size))
	if err != nil {
		return err
	}
	smallData := make([]byte, smallSize)
	for i := range smallData {
		smallData[i] = "abcdefghijklmnopqrstuvwxyz \n"[i%28]
	}
	smallFile, err := im.AddFile(ctx, bytesReader(smallData))
	if err != nil {
		return err
	}
	site, err := im.AddDirectory([]importer.Entry{{Name: "big.bin", Node: big}, {Name: "small.txt", Node: smallFile}})
	if err != nil {
		return err
	}
	if err := im.Close(); err != nil {
		return err
	}
	if err := packs.Sync(ctx); err != nil {
		return err
	}

	gw := gateway.New(gateway.Config{Blocks: store, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	gwURL, stopGW, err := listen(gw)
	if err != nil {
		return err
	}
	defer stopGW()
	// The limit for requests: the same bytes and similar headers from memory.
	plain := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "text/plain; charset=utf-8")
		h.Set("Etag", `"`+smallFile.CID.String()+`"`)
		h.Set("Cache-Control", "public, max-age=29030400, immutable")
		h.Set("Content-Length", strconv.Itoa(len(smallData)))
		w.Write(smallData)
	})
	plainURL, stopPlain, err := listen(plain)
	if err != nil {
		return err
	}
	defer stopPlain()

	bigPath := "/ipfs/" + big.CID.String()
	smallPath := "/ipfs/" + site.CID.String() + "/small.txt"
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns, DisableCompression: true}}

	// Check the gateway answers the right bytes before timing it.
	if err := checkSmall(client, gwURL+smallPath, smallData); err != nil {
		return err
	}

	var catBest, gwBest, catCPU, gwCPU, pipeBest time.Duration
	for range runs {
		start := time.Now()
		if err := catToPipe(ctx, store, bigPath, size); err != nil {
			return err
		}
		pipeBest = best(pipeBest, time.Since(start))

		start, cpu0 := time.Now(), cpuTime()
		if err := core.Cat(ctx, store, bigPath, 0, -1, discard{}); err != nil {
			return fmt.Errorf("cat: %w", err)
		}
		catBest, catCPU = best(catBest, time.Since(start)), best(catCPU, cpuTime()-cpu0)
		start, cpu0 = time.Now(), cpuTime()
		n, err := fetch(client, gwURL+bigPath)
		if err != nil {
			return err
		}
		if n != size {
			return fmt.Errorf("gateway sent %d bytes of the %d-byte file", n, size)
		}
		gwBest, gwCPU = best(gwBest, time.Since(start)), best(gwCPU, cpuTime()-cpu0)
	}

	// The machine is shared: measure the three in turns, keep each one's best.
	var plainRPS, gwRPS, gwBareRPS float64
	for range rounds {
		for _, m := range []struct {
			url  string
			best *float64
		}{{plainURL + smallPath, &plainRPS}, {gwURL + smallPath, &gwRPS}, {gwURL + "/ipfs/" + smallFile.CID.String(), &gwBareRPS}} {
			r, err := rps(client, m.url, conns, dur/rounds)
			if err != nil {
				return err
			}
			*m.best = max(*m.best, r)
		}
	}
	ttfbs, err := ttfb(client, []string{plainURL + smallPath, gwURL + smallPath}, ttfbN)
	if err != nil {
		return err
	}
	plainTTFB, gwTTFB := ttfbs[0], ttfbs[1]

	mbps := func(d time.Duration) float64 { return float64(size) / d.Seconds() / 1e6 }
	fmt.Printf("| measurement | value | limit | limit value | ratio | target |\n|---|---|---|---|---|---|\n")
	fmt.Printf("| %d MiB file through the gateway (HTTP GET on loopback) | %.2f s, %.0f MB/s | `node cat` (core.Cat) of the same file, same store | %.2f s, %.0f MB/s | **%.2f** | ≥ 0.8 |\n",
		sizeMiB, gwBest.Seconds(), mbps(gwBest), catBest.Seconds(), mbps(catBest), catBest.Seconds()/gwBest.Seconds())
	fmt.Printf("| the same | %.2f s, %.0f MB/s | `node cat \\| reader`: core.Cat into a pipe read by another goroutine | %.2f s, %.0f MB/s | **%.2f** | — |\n",
		gwBest.Seconds(), mbps(gwBest), pipeBest.Seconds(), mbps(pipeBest), pipeBest.Seconds()/gwBest.Seconds())
	fmt.Printf("| CPU time (user+sys, this process) for the %d MiB file | gateway and client %.2f s | `node cat` | %.2f s | **%.2f** | — |\n",
		sizeMiB, gwCPU.Seconds(), catCPU.Seconds(), catCPU.Seconds()/gwCPU.Seconds())
	fmt.Printf("| %d-byte file `/ipfs/DIR/small.txt`, %d connections | %.0f req/s | plain net/http handler, same bytes from memory | %.0f req/s | **%.2f** | — |\n",
		smallSize, conns, gwRPS, plainRPS, gwRPS/plainRPS)
	fmt.Printf("| the same | %.0f req/s | reference implementation here | 7800 req/s | **%.2f** | ≥ 2 |\n", gwRPS, gwRPS/7800)
	fmt.Printf("| %d-byte file by bare CID, %d connections | %.0f req/s | reference implementation here | 7800 req/s | **%.2f** | ≥ 2 |\n",
		smallSize, conns, gwBareRPS, gwBareRPS/7800)
	fmt.Printf("| time to first byte, `/ipfs/DIR/small.txt`, one request at a time | median %s, p99 %s | plain net/http handler | median %s, p99 %s | **%.2f** (medians) | — |\n",
		gwTTFB[0], gwTTFB[1], plainTTFB[0], plainTTFB[1], float64(plainTTFB[0])/float64(gwTTFB[0]))
	return nil
}

// catToPipe runs core.Cat into a pipe that another goroutine reads, as
// `node cat PATH | program` delivers a file to a consumer.
func catToPipe(ctx context.Context, store blockstore.Store, path string, size int64) error {
	pr, pw, err := os.Pipe()
	if err != nil {
		return err
	}
	got := make(chan int64, 1)
	go func() {
		buf := make([]byte, 1<<20)
		var n int64
		for {
			m, err := pr.Read(buf)
			n += int64(m)
			if err != nil {
				break
			}
		}
		pr.Close()
		got <- n
	}()
	err = core.Cat(ctx, store, path, 0, -1, pw)
	pw.Close()
	if n := <-got; err == nil && n != size {
		err = fmt.Errorf("cat through a pipe gave %d bytes of %d", n, size)
	}
	return err
}

// cpuTime is the user and system CPU time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func bytesReader(b []byte) io.Reader { return &sliceReader{b} }

type sliceReader struct{ b []byte }

func (r *sliceReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

// discard is io.Discard without ReadFrom, so writers write as they would
// to a file or a pipe.
type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func best(a, b time.Duration) time.Duration {
	if a == 0 || b < a {
		return b
	}
	return a
}

// listen serves h on a fresh loopback port.
func listen(h http.Handler) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	return "http://" + ln.Addr().String(), func() { srv.Close() }, nil
}

func checkSmall(c *http.Client, url string, want []byte) error {
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 || string(got) != string(want) {
		return fmt.Errorf("GET %s: status %d, %d bytes, %v", url, resp.StatusCode, len(got), err)
	}
	return nil
}

// fetch GETs a URL and reads the body with a large buffer.
func fetch(c *http.Client, url string) (int64, error) {
	resp, err := c.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return 0, fmt.Errorf("GET %s: status %d", url, resp.StatusCode)
	}
	buf := make([]byte, 1<<20)
	var n int64
	for {
		m, err := resp.Body.Read(buf)
		n += int64(m)
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// rps runs conns workers requesting url for dur and returns the rate of
// successful requests.
func rps(c *http.Client, url string, conns int, dur time.Duration) (float64, error) {
	var done atomic.Int64
	var failed atomic.Value
	stop := time.Now().Add(dur)
	var wg sync.WaitGroup
	start := time.Now()
	for range conns {
		wg.Go(func() {
			buf := make([]byte, 64<<10)
			for time.Now().Before(stop) {
				resp, err := c.Get(url)
				if err != nil {
					failed.Store(err)
					return
				}
				for {
					if _, err := resp.Body.Read(buf); err != nil {
						break
					}
				}
				resp.Body.Close()
				if resp.StatusCode != 200 {
					failed.Store(fmt.Errorf("GET %s: status %d", url, resp.StatusCode))
					return
				}
				done.Add(1)
			}
		})
	}
	wg.Wait()
	if err, ok := failed.Load().(error); ok {
		return 0, err
	}
	return float64(done.Load()) / time.Since(start).Seconds(), nil
}

// ttfb returns, for each URL, the median and 99th percentile of the time
// from sending a request to its first response byte, one request at a
// time, the URLs taking turns.
func ttfb(c *http.Client, urls []string, n int) ([][2]time.Duration, error) {
	ds := make([][]time.Duration, len(urls))
	for range n {
		for i, url := range urls {
			var first time.Time
			trace := &httptrace.ClientTrace{GotFirstResponseByte: func() { first = time.Now() }}
			req, err := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), "GET", url, nil)
			if err != nil {
				return nil, err
			}
			start := time.Now()
			resp, err := c.Do(req)
			if err != nil {
				return nil, err
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			ds[i] = append(ds[i], first.Sub(start))
		}
	}
	out := make([][2]time.Duration, len(urls))
	for i, d := range ds {
		slices.Sort(d)
		out[i] = [2]time.Duration{d[len(d)/2], d[len(d)*99/100]}
	}
	return out, nil
}
