// Command fuse measures the FUSE mount against limits measured in the same
// run, as docs/benchmarks.md reports:
//
//   - cold cat of a large file through /ipfs against core.Cat (what `node
//     cat` runs) of the same file from the same local store;
//   - cp -r of a directory of many small files through /ipfs against
//     unixfs.Extract (what `node get` runs) of the same directory, both
//     copying into /dev/shm when there is one;
//   - a write of a large file into /ipns/local (dd, then fsync, which
//     imports and publishes) against importing the same file into a store
//     (what `node add` runs).
//
// It runs as root on a machine with /dev/fuse, from the repository root:
//
//	go run ./bench/fuse -size 1024 -files 10000
//
// This process serves the mounts; cat, cp and dd run as child processes,
// as a user's would. Every run mounts afresh, so the kernel's page cache
// of the mount is cold; the store's files are in the page cache for the
// mount and the limit alike.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"time"

	"github.com/ipfs/go-cid"

	"node/blockstore"
	"node/core"
	"node/fuse"
	"node/unixfs"
	"node/unixfs/importer"
)

func main() {
	sizeMiB := flag.Int("size", 1024, "size of the large file in MiB")
	files := flag.Int("files", 10000, "number of small files for cp -r")
	runs := flag.Int("runs", 3, "runs of each measurement; the best is kept")
	profile := flag.String("cpuprofile", "", "write a CPU profile of this process (the FUSE server) to this file")
	flag.Parse()
	if *profile != "" {
		f, err := os.Create(*profile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "Error:", err)
			os.Exit(1)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	if err := run(*sizeMiB, *files, *runs); err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(1)
	}
}

var ctx = context.Background()

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func run(sizeMiB, files, runs int) error {
	if err := fuse.Check(); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "node-bench-fuse")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	size := int64(sizeMiB) << 20

	data := filepath.Join(dir, "data.bin")
	if err := writeRandom(data, size, 1); err != nil {
		return err
	}
	store, err := blockstore.OpenPackStore(filepath.Join(dir, "store"), blockstore.PackOptions{})
	if err != nil {
		return err
	}
	defer store.Close()
	big, err := importPath(store, data)
	if err != nil {
		return err
	}
	small := filepath.Join(dir, "small")
	if err := writeSmallFiles(small, files); err != nil {
		return err
	}
	tree, err := importPath(store, small)
	if err != nil {
		return err
	}
	if err := store.Sync(ctx); err != nil {
		return err
	}

	fmt.Println("| measurement | time | MB/s | limit | limit time | limit MB/s | ratio |")
	fmt.Println("|---|---|---|---|---|---|---|")

	// Cold cat.
	limit := best(runs, func() (time.Duration, error) {
		start := time.Now()
		err := core.Cat(ctx, store, "/ipfs/"+big.String(), 0, -1, io.Discard)
		return time.Since(start), err
	})
	got := best(runs, func() (time.Duration, error) {
		return throughMount(dir, store, func(mnt string) error {
			return sh("cat " + filepath.Join(mnt, big.String()) + " > /dev/null")
		})
	})
	row(fmt.Sprintf("cold `cat` of %d MiB through /ipfs", sizeMiB), got, size, "`core.Cat` (node cat) from the same store", limit)

	// cp -r of many small files.
	var total int64
	filepath.Walk(small, func(_ string, fi os.FileInfo, _ error) error {
		if fi != nil && fi.Mode().IsRegular() {
			total += fi.Size()
		}
		return nil
	})
	// The copies go to memory (when /dev/shm exists), so that the disk
	// they are written to does not hide the reads being measured.
	dest := dir
	if shm, err := os.MkdirTemp("/dev/shm", "node-bench-fuse"); err == nil {
		defer os.RemoveAll(shm)
		dest = shm
	}
	n := 0
	limit = best(runs, func() (time.Duration, error) {
		n++
		out := filepath.Join(dest, fmt.Sprintf("get%d", n))
		defer os.RemoveAll(out)
		start := time.Now()
		err := unixfs.Extract(ctx, store, tree, out, nil)
		return time.Since(start), err
	})
	got = best(runs, func() (time.Duration, error) {
		n++
		out := filepath.Join(dest, fmt.Sprintf("cp%d", n))
		defer os.RemoveAll(out)
		return throughMount(dir, store, func(mnt string) error {
			return sh("cp -r " + filepath.Join(mnt, tree.String()) + " " + out)
		})
	})
	row(fmt.Sprintf("`cp -r` of %d small files through /ipfs", files), got, total, "`unixfs.Extract` (node get) from the same store", limit)

	// A write into /ipns/local, fsynced (imported and published).
	limit = best(runs, func() (time.Duration, error) {
		n++
		s, err := blockstore.OpenPackStore(filepath.Join(dir, fmt.Sprintf("add%d", n)), blockstore.PackOptions{})
		if err != nil {
			return 0, err
		}
		defer os.RemoveAll(filepath.Join(dir, fmt.Sprintf("add%d", n)))
		defer s.Close()
		start := time.Now()
		if _, err := importPath(s, data); err != nil {
			return 0, err
		}
		err = s.Sync(ctx)
		return time.Since(start), err
	})
	got = best(runs, func() (time.Duration, error) {
		n++
		sdir := filepath.Join(dir, fmt.Sprintf("local%d", n))
		defer os.RemoveAll(sdir)
		s, err := blockstore.OpenPackStore(sdir, blockstore.PackOptions{})
		if err != nil {
			return 0, err
		}
		defer s.Close()
		mnt := filepath.Join(dir, fmt.Sprintf("ipns%d", n))
		m, err := fuse.MountIPNS(mnt, fuse.Config{Blocks: s, Store: s, Local: nopPublisher{}, Log: quiet, StageDir: filepath.Join(dir, "stage")})
		if err != nil {
			return 0, err
		}
		defer m.Unmount()
		start := time.Now()
		err = sh("dd if=" + data + " of=" + filepath.Join(mnt, "local", "big") + " bs=1M conv=fsync status=none")
		return time.Since(start), err
	})
	row(fmt.Sprintf("write of %d MiB into /ipns/local (`dd bs=1M conv=fsync`)", sizeMiB), got, size, "import into a store (node add)", limit)
	return nil
}

// throughMount mounts /ipfs on a new directory, runs f and unmounts.
func throughMount(dir string, store blockstore.Store, f func(mnt string) error) (time.Duration, error) {
	mnt, err := os.MkdirTemp(dir, "mnt")
	if err != nil {
		return 0, err
	}
	m, err := fuse.MountIPFS(mnt, fuse.Config{Blocks: store, Log: quiet})
	if err != nil {
		return 0, err
	}
	defer m.Unmount()
	start := time.Now()
	err = f(mnt)
	return time.Since(start), err
}

type nopPublisher struct{}

func (nopPublisher) Publish(context.Context, string) error { return nil }

func importPath(store importer.Putter, path string) (cid.Cid, error) {
	im, err := importer.New(ctx, importer.DefaultOptions(), store)
	if err != nil {
		return cid.Undef, err
	}
	n, err := im.AddPath(ctx, path, importer.WalkOptions{Recursive: true})
	if cerr := im.Close(); err == nil {
		err = cerr
	}
	return n.CID, err
}

func sh(cmd string) error {
	out, err := exec.Command("sh", "-c", cmd).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %v\n%s", cmd, err, out)
	}
	return nil
}

func best(runs int, f func() (time.Duration, error)) time.Duration {
	var b time.Duration
	for range runs {
		d, err := f()
		if err != nil {
			fmt.Fprintln(os.Stderr, "Error:", err)
			os.Exit(1)
		}
		if b == 0 || d < b {
			b = d
		}
	}
	return b
}

func row(what string, got time.Duration, bytes int64, limitName string, limit time.Duration) {
	mbs := func(d time.Duration) float64 { return float64(bytes) / d.Seconds() / 1e6 }
	fmt.Printf("| %s | %.2f s | %.0f | %s | %.2f s | %.0f | **%.2f** |\n",
		what, got.Seconds(), mbs(got), limitName, limit.Seconds(), mbs(limit), limit.Seconds()/got.Seconds())
}

func writeRandom(path string, size int64, seed uint64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	r := rand.New(rand.NewPCG(seed, 7))
	buf := make([]byte, 1<<20)
	for written := int64(0); written < size; written += int64(len(buf)) {
		for i := 0; i < len(buf); i += 8 {
			v := r.Uint64()
			for j := range 8 {
				buf[i+j] = byte(v >> (8 * j))
			}
		}
		if _, err := f.Write(buf[:min(int64(len(buf)), size-written)]); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}

// writeSmallFiles makes n files of 1 to 4 KiB, 1000 to a directory.
func writeSmallFiles(dir string, n int) error {
	r := rand.New(rand.NewPCG(2, 7))
	for i := range n {
		sub := filepath.Join(dir, fmt.Sprintf("d%02d", i/1000))
		if i%1000 == 0 {
			if err := os.MkdirAll(sub, 0o755); err != nil {
				return err
			}
		}
		b := make([]byte, 1024+r.IntN(3072))
		for j := range b {
			b[j] = byte(r.Uint32())
		}
		if err := os.WriteFile(filepath.Join(sub, fmt.Sprintf("file%05d.txt", i)), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}
