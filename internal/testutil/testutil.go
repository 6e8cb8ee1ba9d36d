// Package testutil holds small doubles that tests of several packages
// share. It is imported only by _test.go files.
package testutil

import (
	"bytes"
	"context"
	"math/rand/v2"
	"node/blockstore"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/ipfs/go-cid"
)

// Getter reads blocks (unixfs.Getter and blockstore.Store satisfy it).
type Getter = blockstore.Getter

// SessionRecorder is a getter with sessions (blockstore.Sessions) that
// counts the sessions started and the blocks read outside any session, to
// check that a reader of a whole DAG reads it in one session.
type SessionRecorder struct {
	g Getter

	mu       sync.Mutex // guards sessions and outside
	sessions int
	outside  int
}

// NewSessionRecorder reads from g.
func NewSessionRecorder(g Getter) *SessionRecorder { return &SessionRecorder{g: g} }

// Get reads a block outside any session.
func (r *SessionRecorder) Get(ctx context.Context, c cid.Cid) ([]byte, error) {
	r.mu.Lock()
	r.outside++
	r.mu.Unlock()
	return r.g.Get(ctx, c)
}

// Session starts a session: reads through it are not counted.
func (r *SessionRecorder) Session(context.Context) blockstore.Getter {
	r.mu.Lock()
	r.sessions++
	r.mu.Unlock()
	return r.g
}

// Counts returns the sessions started and the blocks read outside them.
func (r *SessionRecorder) Counts() (sessions, outside int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.sessions, r.outside
}

// CountingGetter records every CID fetched through it, to check that a
// read touched exactly the blocks it needs.
type CountingGetter struct {
	g Getter

	mu  sync.Mutex // guards got
	got []cid.Cid
}

// NewCountingGetter counts the fetches made through it from g.
func NewCountingGetter(g Getter) *CountingGetter { return &CountingGetter{g: g} }

// Get records c and fetches it from the wrapped getter.
func (c *CountingGetter) Get(ctx context.Context, k cid.Cid) ([]byte, error) {
	c.mu.Lock()
	c.got = append(c.got, k)
	c.mu.Unlock()
	return c.g.Get(ctx, k)
}

// Take returns the CIDs fetched since the last call and forgets them.
func (c *CountingGetter) Take() []cid.Cid {
	c.mu.Lock()
	defer c.mu.Unlock()
	got := c.got
	c.got = nil
	return got
}

// AddSeedFiles adds every file matching pattern (e.g.
// "testdata/seeds/*.cbor") to f's seed corpus; finding none fails.
func AddSeedFiles(f *testing.F, pattern string) {
	f.Helper()
	files, _ := filepath.Glob(pattern)
	if len(files) == 0 {
		f.Fatalf("no seeds match %s", pattern)
	}
	for _, s := range files {
		b, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// FlipInPacks flips one byte in the middle of data wherever it is stored
// in the pack files under dir (a block damaged on disk); finding it
// nowhere fails.
func FlipInPacks(t testing.TB, dir string, data []byte) {
	t.Helper()
	packs, _ := filepath.Glob(filepath.Join(dir, "*.pack"))
	done := false
	for _, p := range packs {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if i := bytes.Index(b, data); i >= 0 {
			b[i+len(data)/2] ^= 0x40
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
			done = true
		}
	}
	if !done {
		t.Fatal("block not found in the pack files")
	}
}

// Within reports whether data lies in buf's backing array (a block read
// into a buffer it was given, not into a new slice).
func Within(buf, data []byte) bool {
	if cap(buf) == 0 || len(data) == 0 {
		return false
	}
	lo := uintptr(unsafe.Pointer(unsafe.SliceData(buf[:1])))
	p := uintptr(unsafe.Pointer(unsafe.SliceData(data)))
	return p >= lo && p+uintptr(len(data)) <= lo+uintptr(cap(buf))
}

// RandomBytes returns n bytes from a seeded generator: the same for the
// same seed.
func RandomBytes(seed uint64, n int) []byte {
	data := make([]byte, n)
	rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16), byte(seed >> 24), byte(seed >> 32)}).Read(data)
	return data
}

// ProcessCPU is the CPU time (user and system) this process has used, for
// benchmarks that report CPU per byte: steadier on a shared machine than
// the wall time.
func ProcessCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
