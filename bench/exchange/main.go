// Command exchange measures the network path: two daemons on loopback,
// `node cat` on one of a file added on the other, against a plain TCP copy
// of the same bytes on loopback in the same run. It also reports the
// daemons' memory when idle and during the transfer.
//
//	go run ./bench/exchange -size 1024
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	sizeMiB := flag.Int("size", 1024, "file size in MiB")
	profile := flag.String("profile", "", "write CPU profiles of both daemons during the transfer to this directory")
	runs := flag.Int("runs", 1, "transfers to time, each after TCP copies and with the fetched blocks garbage-collected in between; the median ratio is reported")
	trace := flag.Bool("trace", false, "with -profile, write 1-second execution traces instead of CPU profiles (go tool trace)")
	profileRun := flag.Int("profile-run", 1, "with -profile, which transfer to profile (the first is often the slowest)")
	prebuilt := flag.String("bin", "", "run this node binary instead of building ./cmd/node (to compare two builds in turn)")
	flag.Parse()
	if err := run(*sizeMiB, *runs, *profile, *trace, *prebuilt, *profileRun); err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(1)
	}
}

type daemon struct {
	repo string
	cmd  *exec.Cmd
}

func run(sizeMiB, runs int, profileDir string, trace bool, prebuilt string, profileRun int) error {
	dir, err := os.MkdirTemp("", "node-exchange")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := prebuilt
	if bin == "" {
		bin = filepath.Join(dir, "node")
		if out, err := exec.Command("go", "build", "-o", bin, "./cmd/node").CombinedOutput(); err != nil {
			return fmt.Errorf("building node (run from the repository root): %v\n%s", err, out)
		}
	}
	size := int64(sizeMiB) << 20
	file := filepath.Join(dir, "data.bin")
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.CopyN(f, rand.NewChaCha8([32]byte{7}), size); err != nil {
		return err
	}
	f.Close()

	var ds []*daemon
	for i := range 2 {
		repo := filepath.Join(dir, fmt.Sprintf("repo%d", i))
		if out, err := nodeCmd(bin, repo, "init", "--profile", "test").CombinedOutput(); err != nil {
			return fmt.Errorf("init: %v %s", err, out)
		}
		d := &daemon{repo: repo, cmd: nodeCmd(bin, repo, "daemon")}
		out, _ := d.cmd.StdoutPipe()
		if err := d.cmd.Start(); err != nil {
			return err
		}
		defer d.cmd.Process.Kill()
		sc := bufio.NewScanner(out)
		for sc.Scan() && !strings.Contains(sc.Text(), "daemon is ready") {
		}
		go io.Copy(io.Discard, out)
		ds = append(ds, d)
	}
	time.Sleep(2 * time.Second) // let the idle daemons settle before measuring idle memory
	idle := max(rss(ds[0].cmd.Process.Pid), rss(ds[1].cmd.Process.Pid))

	root, err := output(bin, ds[0].repo, "add", "-Q", file)
	if err != nil {
		return err
	}
	idJSON, err := output(bin, ds[0].repo, "id")
	if err != nil {
		return err
	}
	var id struct{ Addresses []string }
	json.Unmarshal([]byte(idJSON), &id)
	if _, err := output(bin, ds[1].repo, "swarm", "connect", id.Addresses[0]); err != nil {
		return err
	}
	mbps := func(d time.Duration) float64 { return float64(size) / d.Seconds() / 1e6 }
	fmt.Printf("file: %d MiB, %s\n\n", sizeMiB, time.Now().UTC().Format(time.DateOnly))
	fmt.Println("| run | node cat from another daemon on loopback | MB/s | TCP copy on loopback | MB/s | ratio | CPU cores: serving, fetching daemon, node cat | machine busy | context switches (thousands): serving, fetching |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|")
	var ratios []float64
	var peak, peakFile [2]int64
	for i := range runs {
		if i > 0 {
			// The fetching daemon forgets the blocks (they are not pinned
			// there), so the next transfer fetches them all again.
			if out, err := nodeCmd(bin, ds[1].repo, "repo", "gc").CombinedOutput(); err != nil {
				return fmt.Errorf("repo gc: %v\n%s", err, out)
			}
		}
		// The limit is the best of three TCP copies: one slow copy must
		// not flatter the ratio.
		tcp := time.Duration(1<<63 - 1)
		for range 3 {
			d, err := tcpCopy(file)
			if err != nil {
				return err
			}
			tcp = min(tcp, d)
		}
		t, err := transfer(bin, ds, strings.TrimSpace(root), profileDir, trace && i+1 == profileRun, i+1 == profileRun)
		if err != nil {
			return err
		}
		for d := range peak {
			if t.peakRSS[d] > peak[d] {
				peak[d], peakFile[d] = t.peakRSS[d], t.peakFile[d]
			}
		}
		ratio := tcp.Seconds() / t.took.Seconds()
		ratios = append(ratios, ratio)
		fmt.Printf("| %d | %.2fs | %.0f | %.2fs | %.0f | **%.3f** | %.2f, %.2f, %.2f | %.0f%% of %d | %.0f, %.0f |\n", i+1,
			t.took.Seconds(), mbps(t.took), tcp.Seconds(), mbps(tcp), ratio,
			t.cpu[0].Seconds()/t.took.Seconds(), t.cpu[1].Seconds()/t.took.Seconds(), t.cpu[2].Seconds()/t.took.Seconds(),
			100*t.busy, runtime.NumCPU(), float64(t.switches[0])/1e3, float64(t.switches[1])/1e3)
	}
	slices.Sort(ratios)
	fmt.Printf("\nmedian ratio: **%.3f** (%d runs)\n", ratios[len(ratios)/2], runs)

	// What storing the fetched bytes costs on this machine: writing them to
	// a new file (page cache only, no sync), measured right after.
	write, err := fileWrite(file, filepath.Join(dir, "write.bin"))
	if err != nil {
		return err
	}

	fmt.Printf("\ncontext: writing the same bytes to a new file (no sync) ran at %.0f MB/s after the transfers; the fetching daemon stores every block it receives\n", mbps(write))
	fmt.Printf("\nidle daemon RSS: %.0f MB (limit 60 MB); peak RSS during the transfers: %.0f MB (limit 200 MB; serving daemon %.0f MB, fetching daemon %.0f MB, of which %.0f and %.0f MB map files)\n",
		float64(idle)/1e6, float64(max(peak[0], peak[1]))/1e6, float64(peak[0])/1e6, float64(peak[1])/1e6, float64(peakFile[0])/1e6, float64(peakFile[1])/1e6)
	return nil
}

// transferred is what one timed transfer measured.
type transferred struct {
	took     time.Duration
	cpu      [3]time.Duration // serving daemon, fetching daemon, node cat
	busy     float64          // share of the machine's CPU time in use
	peakRSS  [2]int64         // of the serving and the fetching daemon
	peakFile [2]int64         // the part of peakRSS that maps files
	switches [2]int64         // context switches of the serving and the fetching daemon's threads
}

// transfer times `node cat root` on the second daemon, discarding the
// output, and profiles both daemons if asked (profileDir set and profile).
func transfer(bin string, ds []*daemon, root, profileDir string, trace, profile bool) (transferred, error) {
	profile = profile && profileDir != ""
	// Write back what the set-up left dirty (the test file, the add) so
	// the transfer does not pay for it: this VM throttles writers once a
	// GiB or two is waiting for its disk, and the fetching daemon stores
	// every block it receives.
	syscall.Sync()
	cat := nodeCmd(bin, ds[1].repo, "cat", root)
	devnull, _ := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	defer devnull.Close()
	cat.Stdout = devnull
	var t transferred
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
				for i, d := range ds {
					res, file := statm(d.cmd.Process.Pid)
					if res > t.peakRSS[i] {
						t.peakRSS[i], t.peakFile[i] = res, file
					}
				}
			case <-stop:
				return
			}
		}
	}()
	profiled := make(chan error, 4)
	if profile {
		for i, name := range []string{"server", "client"} {
			path, out := "/debug/pprof/profile?seconds=3", filepath.Join(profileDir, name+".pprof")
			if trace {
				path, out = "/debug/pprof/trace?seconds=1", filepath.Join(profileDir, name+".trace")
			}
			go func() { profiled <- debugFetch(ds[i].repo, path, out) }()
		}
		// The heaps in the middle of the transfer: what the memory is.
		for i, name := range []string{"server", "client"} {
			go func() {
				time.Sleep(time.Second) // a moment into the transfer, not a wait for an event
				profiled <- errors.Join(
					debugFetch(ds[i].repo, "/debug/pprof/heap", filepath.Join(profileDir, name+".heap.pprof")),
					debugFetch(ds[i].repo, "/debug/metrics/prometheus", filepath.Join(profileDir, name+".metrics.txt")))
			}()
		}
	}
	busy0, total0 := machineCPU()
	cpu0 := [2]time.Duration{cpuTime(ds[0].cmd.Process.Pid), cpuTime(ds[1].cmd.Process.Pid)}
	sw0 := [2]int64{contextSwitches(ds[0].cmd.Process.Pid), contextSwitches(ds[1].cmd.Process.Pid)}
	start := time.Now()
	if err := cat.Run(); err != nil {
		return t, fmt.Errorf("node cat over the network: %v", err)
	}
	t.took = time.Since(start)
	busy1, total1 := machineCPU()
	for i, d := range ds {
		t.switches[i] = contextSwitches(d.cmd.Process.Pid) - sw0[i]
	}
	t.busy = float64(busy1-busy0) / float64(total1-total0)
	t.cpu = [3]time.Duration{
		cpuTime(ds[0].cmd.Process.Pid) - cpu0[0],
		cpuTime(ds[1].cmd.Process.Pid) - cpu0[1],
		cat.ProcessState.UserTime() + cat.ProcessState.SystemTime(),
	}
	close(stop)
	<-stopped
	if profile {
		if err := errors.Join(<-profiled, <-profiled, <-profiled, <-profiled); err != nil {
			return t, err
		}
		// What the daemons allocated so far, mostly during the transfer.
		for i, name := range []string{"server", "client"} {
			if err := debugFetch(ds[i].repo, "/debug/pprof/allocs", filepath.Join(profileDir, name+".allocs.pprof")); err != nil {
				return t, err
			}
		}
	}

	return t, nil
}

// debugFetch saves what path (under /debug/pprof) of the daemon holding
// repo answers.
func debugFetch(repo, path, out string) error {
	addr, err := os.ReadFile(filepath.Join(repo, "api"))
	if err != nil {
		return err
	}
	token, err := os.ReadFile(filepath.Join(repo, "api.token"))
	if err != nil {
		return err
	}
	parts := strings.Split(strings.TrimSpace(string(addr)), "/") // /ip4/HOST/tcp/PORT
	if len(parts) < 5 {
		return fmt.Errorf("unexpected API address %q", addr)
	}
	req, _ := http.NewRequest("GET", "http://"+net.JoinHostPort(parts[2], parts[4])+path, nil)
	req.Header.Set("X-Node-Token", strings.TrimSpace(string(token)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("profile: %s", resp.Status)
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func nodeCmd(bin, repo string, args ...string) *exec.Cmd {
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "NODE_PATH="+repo)
	return cmd
}

func output(bin, repo string, args ...string) (string, error) {
	cmd := nodeCmd(bin, repo, args...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("node %s: %v", strings.Join(args, " "), err)
	}
	return string(out), nil
}

// fileWrite copies file to a new file without syncing it, in writes of
// 256 KiB: the size of the blocks the fetching daemon stores.
func fileWrite(file, out string) (time.Duration, error) {
	in, err := os.Open(file)
	if err != nil {
		return 0, err
	}
	defer in.Close()
	start := time.Now()
	f, err := os.Create(out)
	if err != nil {
		return 0, err
	}
	defer os.Remove(out)
	if _, err := io.CopyBuffer(struct{ io.Writer }{f}, in, make([]byte, 256<<10)); err != nil {
		f.Close()
		return 0, err
	}
	return time.Since(start), f.Close()
}

// tcpCopy sends the file over a loopback TCP connection to a reader that
// discards it: the speed limit of the exchange.
func tcpCopy(file string) (time.Duration, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	done := make(chan error, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			done <- err
			return
		}
		_, err = io.Copy(io.Discard, c)
		c.Close()
		done <- err
	}()
	f, err := os.Open(file)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	start := time.Now()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		return 0, err
	}
	if _, err := io.Copy(c, f); err != nil {
		return 0, err
	}
	c.Close()
	if err := <-done; err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// rss is a process's resident memory in bytes (from /proc).
// machineCPU returns the busy and total time of all CPUs so far, in ticks.
func machineCPU() (busy, total int64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(b), "\n") // cpu user nice system idle iowait irq softirq steal ...
	for i, f := range strings.Fields(line)[1:] {
		v, _ := strconv.ParseInt(f, 10, 64)
		total += v
		if i != 3 && i != 4 { // idle and iowait
			busy += v
		}
	}
	return busy, total
}

// cpuTime is the CPU time (user and system) the process has used so far.
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The fields after the command name, which is in parentheses.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	const clockTicks = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / clockTicks
}

// contextSwitches sums the voluntary and involuntary context switches of
// a process's live threads (from /proc).
func contextSwitches(pid int) int64 {
	dirs, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", pid))
	var n int64
	for _, d := range dirs {
		b, err := os.ReadFile(d)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.HasSuffix(k, "voluntary_ctxt_switches") {
				x, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
				n += x
			}
		}
	}
	return n
}

func rss(pid int) int64 {
	resident, _ := statm(pid)
	return resident
}

// statm returns the process's resident memory and the part of it that
// maps files (the pack files' pages, the binary).
func statm(pid int) (resident, fileBacked int64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/statm", pid))
	if err != nil {
		return 0, 0
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return 0, 0
	}
	res, _ := strconv.ParseInt(f[1], 10, 64)
	shared, _ := strconv.ParseInt(f[2], 10, 64)
	page := int64(os.Getpagesize())
	return res * page, shared * page
}
