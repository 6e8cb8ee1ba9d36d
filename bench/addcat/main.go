// Command addcat measures the import and export speed of the node's CLI
// against limits measured in the same run, as docs/benchmarks.md reports:
//
//   - import: `node add` of a file (offline, default options) against
//     single-core SHA-256 of the same bytes; also the add's peak memory;
//   - export: `node cat` of the same file to /dev/null against reading the
//     file itself.
//
// Run it from the repository root:
//
//	go run ./bench/addcat -size 1024
//
// It builds the node, writes a file of random bytes to a temporary
// directory, and prints a Markdown table.
package main

import (
	"crypto/sha256"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

func main() {
	sizeMiB := flag.Int("size", 1024, "file size in MiB")
	runs := flag.Int("runs", 3, "runs of each measurement; the best is kept")
	keep := flag.String("dir", "", "work directory (default: a new temporary one)")
	flag.Parse()
	if err := run(*sizeMiB, *runs, *keep); err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(1)
	}
}

func run(sizeMiB, runs int, dir string) error {
	if dir == "" {
		d, err := os.MkdirTemp("", "node-bench")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	bin := filepath.Join(dir, "node")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/node").CombinedOutput(); err != nil {
		return fmt.Errorf("building node (run from the repository root): %v\n%s", err, out)
	}
	file := filepath.Join(dir, "data.bin")
	size := int64(sizeMiB) << 20
	if err := writeRandom(file, size); err != nil {
		return err
	}

	sha := best(runs, func() time.Duration { return timeSHA256(file) })
	read := best(runs, func() time.Duration { return timeRead(file) })

	var addTime time.Duration
	var addRSS int64
	var root string
	for i := range runs {
		repo := filepath.Join(dir, fmt.Sprintf("repo%d", i))
		if out, err := nodeCmd(bin, repo, "init", "--profile", "test").Output(); err != nil {
			return fmt.Errorf("node init: %v\n%s", err, out)
		}
		cmd := nodeCmd(bin, repo, "add", "-Q", file)
		start := time.Now()
		out, err := cmd.Output()
		d := time.Since(start)
		if err != nil {
			return fmt.Errorf("node add: %v", err)
		}
		root = strings.TrimSpace(string(out))
		rss := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss * 1024
		if addTime == 0 || d < addTime {
			addTime = d
		}
		addRSS = max(addRSS, rss)
		if i < runs-1 {
			os.RemoveAll(repo)
		}
	}
	lastRepo := filepath.Join(dir, fmt.Sprintf("repo%d", runs-1))
	cat := best(runs, func() time.Duration {
		cmd := nodeCmd(bin, lastRepo, "cat", root)
		devnull, _ := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
		defer devnull.Close()
		cmd.Stdout = devnull
		start := time.Now()
		if err := cmd.Run(); err != nil {
			panic(fmt.Sprintf("node cat: %v", err))
		}
		return time.Since(start)
	})

	mbps := func(d time.Duration) float64 { return float64(size) / d.Seconds() / 1e6 }
	fmt.Printf("file: %d MiB, best of %d runs, GOMAXPROCS=%s, %s\n\n", sizeMiB, runs, os.Getenv("GOMAXPROCS"), time.Now().UTC().Format(time.DateOnly))
	fmt.Println("| measurement | time | MB/s | limit | limit MB/s | ratio |")
	fmt.Println("|---|---|---|---|---|---|")
	fmt.Printf("| node add (offline, defaults) | %.2fs | %.0f | SHA-256, one core | %.0f | **%.2f** |\n",
		addTime.Seconds(), mbps(addTime), mbps(sha), sha.Seconds()/addTime.Seconds())
	fmt.Printf("| node cat > /dev/null | %.2fs | %.0f | reading the file | %.0f | **%.2f** |\n",
		cat.Seconds(), mbps(cat), mbps(read), read.Seconds()/cat.Seconds())
	fmt.Printf("\npeak RSS of node add: %.0f MB (limit 200 MB)\n", float64(addRSS)/1e6)
	return nil
}

func nodeCmd(bin, repo string, args ...string) *exec.Cmd {
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "NODE_PATH="+repo)
	cmd.Stderr = os.Stderr
	return cmd
}

func best(runs int, f func() time.Duration) time.Duration {
	var b time.Duration
	for range runs {
		if d := f(); b == 0 || d < b {
			b = d
		}
	}
	return b
}

func writeRandom(path string, size int64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	rng := rand.NewChaCha8([32]byte{1})
	if _, err := io.CopyN(f, rng, size); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// timeSHA256 hashes the file in one goroutine, reading it in 1 MiB pieces
// from the page cache: the speed limit of a single-core importer.
func timeSHA256(path string) time.Duration {
	f, err := os.Open(path)
	if err != nil {
		panic(err)
	}
	defer f.Close()
	h := sha256.New()
	buf := make([]byte, 1<<20)
	start := time.Now()
	if _, err := io.CopyBuffer(h, struct{ io.Reader }{f}, buf); err != nil {
		panic(err)
	}
	h.Sum(nil)
	return time.Since(start)
}

// timeRead reads the file to the end, as `cat file > /dev/null` would.
func timeRead(path string) time.Duration {
	f, err := os.Open(path)
	if err != nil {
		panic(err)
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	start := time.Now()
	if _, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{f}, buf); err != nil {
		panic(err)
	}
	return time.Since(start)
}
