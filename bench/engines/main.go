// Command engines measures candidate on-disk engines for the block store:
// a file per block (flatfs, with and without per-file fsync), pebble (with
// and without value separation), badger, an append-only pack file, and the
// product's blockstore.Disk. See docs/blockstore.md for the results.
//
//	cd bench/engines && go run . -out ../../docs/engines-results.md
//
// Each engine runs in its own child process so peak RSS is its own.
package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/multiformats/go-multihash"
	"golang.org/x/sys/unix"
)

var (
	flagEngine  = flag.String("engine", "", "run one engine in this process and print its results as JSON")
	flagEngines = flag.String("engines", strings.Join(engineOrder, ","), "engines to compare")
	flagDir     = flag.String("dir", filepath.Join(os.TempDir(), "engines-bench"), "scratch directory (removed per engine)")
	flagBig     = flag.Int("big", 4096, "number of 256 KiB blocks (4096 = 1 GiB)")
	flagSmall   = flag.Int("small", 100000, "number of 1 KiB blocks")
	flagBatch   = flag.Int("batch", 64, "blocks per PutMany for the 256 KiB workload")
	flagCrash   = flag.Bool("crash-child", false, "internal: put blocks until killed")
	flagOut     = flag.String("out", "", "also write the markdown table to this file")
)

const bigSize, smallSize = 256 << 10, 1 << 10

type results struct {
	Engine         string
	BigPutMBs      float64 // 1 GiB in PutMany batches, one Sync at the end (included)
	BigPutOnlyMBs  float64 // the same run, time to the last PutMany (before the final Sync)
	FinalSyncSec   float64 // the final Sync of that run
	BigPutSyncMBs  float64 // the same, Sync after every batch
	BigPutRSSMiB   float64
	BigGetWarmMBs  float64
	ReopenMs       float64
	BigGetColdMBs  float64
	BigDiskMiB     float64
	SmallPutOps    float64
	SmallGetOps    float64
	SmallKeysOps   float64
	SmallRSSMiB    float64
	DeleteHalfSec  float64
	EnumAfterDelMs float64
	SmallDiskMiB   float64
	AfterDelMiB    float64
	CompactSec     float64 // engines with Compact: time to reclaim the deleted half
	LoadAvg        string
	Crash          string
	Err            string `json:",omitempty"`
}

func main() {
	flag.Parse()
	switch {
	case *flagCrash:
		crashChild()
	case *flagEngine != "":
		r := results{Engine: *flagEngine}
		if err := runEngine(&r); err != nil {
			r.Err = err.Error()
		}
		json.NewEncoder(os.Stdout).Encode(r)
	default:
		driver()
	}
}

func driver() {
	var all []results
	for _, name := range strings.Split(*flagEngines, ",") {
		fmt.Fprintf(os.Stderr, "== %s\n", name)
		cmd := exec.Command(os.Args[0], "-engine", name, "-dir", *flagDir,
			"-big", strconv.Itoa(*flagBig), "-small", strconv.Itoa(*flagSmall), "-batch", strconv.Itoa(*flagBatch))
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		var r results
		if jerr := json.Unmarshal(lastLine(out), &r); jerr != nil {
			r = results{Engine: name, Err: fmt.Sprintf("child failed: %v %v", err, jerr)}
		}
		all = append(all, r)
		fmt.Fprintf(os.Stderr, "%+v\n", r)
	}
	table := markdown(all)
	fmt.Print(table)
	if *flagOut != "" {
		if err := os.WriteFile(*flagOut, []byte(table), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
}

func lastLine(b []byte) []byte {
	lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	return lines[len(lines)-1]
}

func markdown(all []results) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Workloads: %d x 256 KiB blocks (PutMany batches of %d), %d x 1 KiB blocks (batches of 1000).\n\n", *flagBig, *flagBatch, *flagSmall)
	b.WriteString("| engine | put 256K MB/s before the final Sync | final Sync s | put 256K MB/s incl. final Sync | put 256K MB/s (sync each batch) | get 256K warm MB/s | reopen ms | get 256K cold MB/s | disk MiB (1 GiB put) | RSS MiB (256K put) | put 1K ops/s | get 1K ops/s | keys/s | delete half s | enumerate after delete ms | disk MiB 1K: full / half deleted | compact s | RSS MiB (1K) | kill -9 test | load avg after |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range all {
		if r.Err != "" {
			fmt.Fprintf(&b, "| %s | error: %s |\n", r.Engine, r.Err)
			continue
		}
		fmt.Fprintf(&b, "| %s | %.0f | %.1f | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | %.2f | %.0f | %.0f / %.0f | %.2f | %.0f | %s | %s |\n",
			r.Engine, r.BigPutOnlyMBs, r.FinalSyncSec, r.BigPutMBs, r.BigPutSyncMBs, r.BigGetWarmMBs, r.ReopenMs, r.BigGetColdMBs, r.BigDiskMiB, r.BigPutRSSMiB,
			r.SmallPutOps, r.SmallGetOps, r.SmallKeysOps, r.DeleteHalfSec, r.EnumAfterDelMs, r.SmallDiskMiB, r.AfterDelMiB, r.CompactSec, r.SmallRSSMiB, r.Crash, r.LoadAvg)
	}
	return b.String()
}

// --- data -------------------------------------------------------------

var pool = func() []byte {
	p := make([]byte, 8<<20)
	rand.NewChaCha8([32]byte{1, 2, 3}).Read(p)
	return p
}()

// block returns the i-th block of a workload: distinct, incompressible.
func block(tag byte, i, size int) []byte {
	b := make([]byte, size)
	off := (i * 4099 * 8) % (len(pool) - size)
	copy(b, pool[off:off+size])
	binary.LittleEndian.PutUint64(b, uint64(i))
	b[8] = tag
	return b
}

func key(data []byte) []byte {
	sum := sha256.Sum256(data)
	mh, _ := multihash.Encode(sum[:], multihash.SHA2_256)
	return mh
}

func keysFor(tag byte, n, size int) [][]byte {
	ks := make([][]byte, n)
	for i := range ks {
		ks[i] = key(block(tag, i, size))
	}
	return ks
}

// --- measurements ------------------------------------------------------

func resetPeakRSS() { os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

func peakRSSMiB() float64 {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.Atoi(f[1])
			return float64(kb) / 1024
		}
	}
	return 0
}

func diskMiB(dir string) float64 {
	var total int64
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			var st unix.Stat_t
			if unix.Lstat(p, &st) == nil {
				total += st.Blocks * 512
			}
		}
		return nil
	})
	return float64(total) / (1 << 20)
}

// dropCache asks the kernel to drop dir's files from the page cache.
func dropCache(dir string) {
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if f, err := os.Open(p); err == nil {
				unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
				f.Close()
			}
		}
		return nil
	})
}

func mbs(bytes int, d time.Duration) float64 { return float64(bytes) / 1e6 / d.Seconds() }

// putAll feeds blocks from a producer goroutine to a writer (this
// goroutine) in PutMany batches, the shape of the import path.
func putAll(e engine, tag byte, keys [][]byte, size, batch int, syncEach bool) (time.Duration, error) {
	t0 := time.Now()
	type job struct{ ks, vs [][]byte }
	ch := make(chan job, 4)
	go func() {
		for i := 0; i < len(keys); i += batch {
			j := job{}
			for k := i; k < min(i+batch, len(keys)); k++ {
				j.ks = append(j.ks, keys[k])
				j.vs = append(j.vs, block(tag, k, size))
			}
			ch <- j
		}
		close(ch)
	}()
	for j := range ch {
		if err := e.PutMany(j.ks, j.vs); err != nil {
			return 0, err
		}
		if syncEach {
			if err := e.Sync(); err != nil {
				return 0, err
			}
		}
	}
	putOnly := time.Since(t0)
	return putOnly, e.Sync()
}

func getAll(e engine, keys [][]byte, size int) error {
	for _, i := range rand.Perm(len(keys)) {
		v, err := e.Get(keys[i])
		if err != nil {
			return fmt.Errorf("get %d: %w", i, err)
		}
		if len(v) != size || binary.LittleEndian.Uint64(v) != uint64(i) {
			return fmt.Errorf("get %d: wrong bytes", i)
		}
	}
	return nil
}

func countKeys(e engine) (int, error) {
	n := 0
	err := e.Keys(func([]byte) { n++ })
	return n, err
}

func runEngine(r *results) error {
	open := engines[r.Engine]
	if open == nil {
		return fmt.Errorf("unknown engine %q", r.Engine)
	}
	base := filepath.Join(*flagDir, r.Engine)
	os.RemoveAll(base)
	defer os.RemoveAll(base)
	bigKeys := keysFor('B', *flagBig, bigSize)
	bigBytes := *flagBig * bigSize

	// 1 GiB, one Sync at the end.
	dir := filepath.Join(base, "big")
	e, err := open(dir)
	if err != nil {
		return err
	}
	resetPeakRSS()
	t0 := time.Now()
	putOnly, err := putAll(e, 'B', bigKeys, bigSize, *flagBatch, false)
	if err != nil {
		return fmt.Errorf("big put: %w", err)
	}
	r.BigPutMBs = mbs(bigBytes, time.Since(t0))
	r.BigPutOnlyMBs = mbs(bigBytes, putOnly)
	r.FinalSyncSec = (time.Since(t0) - putOnly).Seconds()
	r.BigPutRSSMiB = peakRSSMiB()
	t0 = time.Now()
	if err := getAll(e, bigKeys, bigSize); err != nil {
		return err
	}
	r.BigGetWarmMBs = mbs(bigBytes, time.Since(t0))
	if err := e.Close(); err != nil {
		return err
	}
	r.BigDiskMiB = diskMiB(dir)
	dropCache(dir)
	t0 = time.Now()
	if e, err = open(dir); err != nil {
		return err
	}
	r.ReopenMs = float64(time.Since(t0).Microseconds()) / 1000
	t0 = time.Now()
	if err := getAll(e, bigKeys, bigSize); err != nil {
		return fmt.Errorf("cold: %w", err)
	}
	r.BigGetColdMBs = mbs(bigBytes, time.Since(t0))
	e.Close()
	os.RemoveAll(dir)

	// 1 GiB, Sync after every batch.
	dir = filepath.Join(base, "bigsync")
	if e, err = open(dir); err != nil {
		return err
	}
	t0 = time.Now()
	if _, err := putAll(e, 'B', bigKeys, bigSize, *flagBatch, true); err != nil {
		return fmt.Errorf("big put with sync: %w", err)
	}
	r.BigPutSyncMBs = mbs(bigBytes, time.Since(t0))
	e.Close()
	os.RemoveAll(dir)

	// Small blocks.
	smallKeys := keysFor('s', *flagSmall, smallSize)
	dir = filepath.Join(base, "small")
	if e, err = open(dir); err != nil {
		return err
	}
	resetPeakRSS()
	t0 = time.Now()
	if _, err := putAll(e, 's', smallKeys, smallSize, 1000, false); err != nil {
		return fmt.Errorf("small put: %w", err)
	}
	r.SmallPutOps = float64(len(smallKeys)) / time.Since(t0).Seconds()
	t0 = time.Now()
	if err := getAll(e, smallKeys, smallSize); err != nil {
		return err
	}
	r.SmallGetOps = float64(len(smallKeys)) / time.Since(t0).Seconds()
	t0 = time.Now()
	n, err := countKeys(e)
	if err != nil || n != len(smallKeys) {
		return fmt.Errorf("keys: %d, %v; want %d", n, err, len(smallKeys))
	}
	r.SmallKeysOps = float64(n) / time.Since(t0).Seconds()
	r.SmallRSSMiB = peakRSSMiB()
	r.SmallDiskMiB = diskMiB(dir)
	t0 = time.Now()
	for i := 0; i < len(smallKeys); i += 2 {
		if err := e.Delete(smallKeys[i]); err != nil {
			return err
		}
	}
	if err := e.Sync(); err != nil {
		return err
	}
	r.DeleteHalfSec = time.Since(t0).Seconds()
	t0 = time.Now()
	n, err = countKeys(e)
	if err != nil || n != len(smallKeys)/2 {
		return fmt.Errorf("keys after delete: %d, %v; want %d", n, err, len(smallKeys)/2)
	}
	r.EnumAfterDelMs = float64(time.Since(t0).Microseconds()) / 1000
	if c, ok := e.(interface{ Compact() error }); ok {
		t0 = time.Now()
		if err := c.Compact(); err != nil {
			return fmt.Errorf("compact: %w", err)
		}
		r.CompactSec = time.Since(t0).Seconds()
		if n, err = countKeys(e); err != nil || n != len(smallKeys)/2 {
			return fmt.Errorf("keys after compact: %d, %v", n, err)
		}
	}
	e.Close()
	r.AfterDelMiB = diskMiB(dir)
	os.RemoveAll(dir)

	r.Crash = crashTest(r.Engine, filepath.Join(base, "crash"))
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		r.LoadAvg = strings.Join(strings.Fields(string(b))[:3], " ")
	}
	return nil
}

// --- crash test: a child puts until SIGKILL ----------------------------

func crashChild() {
	e, err := engines[*flagEngine](*flagDir)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	w := bufio.NewWriter(os.Stdout)
	for i := 0; ; i += 4 {
		var ks, vs [][]byte
		for k := i; k < i+4; k++ {
			v := block('C', k, bigSize)
			ks, vs = append(ks, key(v)), append(vs, v)
		}
		if err := e.PutMany(ks, vs); err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		if err := e.Sync(); err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		fmt.Fprintf(w, "synced %d\n", i+4)
		w.Flush()
	}
}

func crashTest(name, dir string) string {
	cmd := exec.Command(os.Args[0], "-crash-child", "-engine", name, "-dir", dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err.Error()
	}
	if err := cmd.Start(); err != nil {
		return err.Error()
	}
	sc := bufio.NewScanner(out)
	synced := 0
	for sc.Scan() {
		if n, ok := strings.CutPrefix(sc.Text(), "synced "); ok {
			synced, _ = strconv.Atoi(n)
			if synced >= 200 {
				break
			}
		} else {
			return "child: " + sc.Text()
		}
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	t0 := time.Now()
	e, err := engines[name](dir)
	if err != nil {
		return "reopen failed: " + err.Error()
	}
	defer e.Close()
	reopen := time.Since(t0)
	found, bad := 0, 0
	err = e.Keys(func(k []byte) {
		found++
		v, err := e.Get(bytes.Clone(k))
		if err != nil || !bytes.Equal(key(v), k) {
			bad++
		}
	})
	if err != nil {
		return "keys: " + err.Error()
	}
	missing := 0
	for i := 0; i < synced; i++ {
		if _, err := e.Get(key(block('C', i, bigSize))); err != nil {
			missing++
		}
	}
	verdict := "ok"
	if bad > 0 || missing > 0 {
		verdict = "FAIL"
	}
	return fmt.Sprintf("%s: %d synced, %d found, %d bad, %d synced missing, reopen %d ms", verdict, synced, found, bad, missing, reopen.Milliseconds())
}
