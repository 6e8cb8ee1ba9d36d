package main

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

// runDaemon measures what a user sees with a running daemon: the real
// `node cat CID > /dev/null` (which, while a daemon holds the repository,
// streams through the daemon's API) against a GET of the same file from
// the same daemon's gateway, read to the end by this process.
func runDaemon(sizeMiB, runs int) error {
	dir, err := os.MkdirTemp("", "gateway-daemon-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "node")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/node").CombinedOutput(); err != nil {
		return fmt.Errorf("building node (run from the repository root): %v\n%s", err, out)
	}
	repo := filepath.Join(dir, "repo")
	node := func(args ...string) *exec.Cmd {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "NODE_PATH="+repo)
		cmd.Stderr = os.Stderr
		return cmd
	}
	if err := node("init", "--profile", "test").Run(); err != nil {
		return err
	}
	d := node("daemon", "--offline")
	out, _ := d.StdoutPipe()
	if err := d.Start(); err != nil {
		return err
	}
	defer func() { d.Process.Kill(); d.Wait() }()
	sc := bufio.NewScanner(out)
	for sc.Scan() && !strings.Contains(sc.Text(), "daemon is ready") {
	}
	go io.Copy(io.Discard, out)

	file := filepath.Join(dir, "data.bin")
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.CopyN(f, rand.NewChaCha8([32]byte{9}), int64(sizeMiB)<<20); err != nil {
		return err
	}
	f.Close()
	cidOut, err := node("add", "-Q", file).Output()
	if err != nil {
		return err
	}
	c := strings.TrimSpace(string(cidOut))
	addr, err := os.ReadFile(filepath.Join(repo, "gateway"))
	if err != nil {
		return err
	}
	m, err := multiaddr.NewMultiaddr(strings.TrimSpace(string(addr)))
	if err != nil {
		return err
	}
	_, hostport, err := manet.DialArgs(m)
	if err != nil {
		return err
	}
	url := "http://" + hostport + "/ipfs/" + c

	var cat, gw time.Duration
	for range runs {
		devnull, _ := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
		cmd := node("cat", c)
		cmd.Stdout = devnull
		start := time.Now()
		err := cmd.Run()
		cat = best(cat, time.Since(start))
		devnull.Close()
		if err != nil {
			return fmt.Errorf("node cat: %w", err)
		}
		start = time.Now()
		n, err := fetch(http.DefaultClient, url)
		gw = best(gw, time.Since(start))
		if err != nil || n != int64(sizeMiB)<<20 {
			return fmt.Errorf("gateway GET: %d bytes, %v", n, err)
		}
	}
	mbps := func(d time.Duration) float64 { return float64(int64(sizeMiB)<<20) / d.Seconds() / 1e6 }
	fmt.Printf("file: %d MiB, best of %d runs, %s\n\n", sizeMiB, runs, time.Now().UTC().Format(time.DateOnly))
	fmt.Println("| measurement | time | MB/s | limit | limit MB/s | ratio | target |")
	fmt.Println("|---|---|---|---|---|---|---|")
	fmt.Printf("| GET through a running daemon's gateway | %.2fs | %.0f | `node cat > /dev/null` of the same file with the daemon running | %.0f | **%.2f** | ≥ 0.8 |\n",
		gw.Seconds(), mbps(gw), mbps(cat), cat.Seconds()/gw.Seconds())
	return nil
}
