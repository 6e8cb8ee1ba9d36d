package main

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// dirSize is the number of bytes in files under dir.
func dirSize(dir string) int64 {
	var n int64
	filepath.Walk(dir, func(_ string, info os.FileInfo, err error) error {
		if err == nil && info.Mode().IsRegular() {
			n += info.Size()
		}
		return nil
	})
	return n
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond) // polling interval, not a wait for an event
	}
}

// TestKillDuringAdd kills `node add` with SIGKILL in the middle of an
// import: every block left must be whole (repo verify passes), and the
// same add then completes with the right CID.
func TestKillDuringAdd(t *testing.T) {
	r := newRepo(t)
	data := randomBytes(42, 48<<20)
	want := strings.TrimSpace(r.mustIn(data, "add", "-n", "-Q", "-"))

	add := r.cmd("add", "-Q", "-")
	stdin, err := add.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := add.Start(); err != nil {
		t.Fatal(err)
	}
	// Feed half the data, wait until blocks reach the disk, then kill.
	if _, err := stdin.Write(data[:24<<20]); err != nil {
		t.Fatal(err)
	}
	blocks := filepath.Join(r.path, "blocks")
	waitFor(t, "blocks on disk", func() bool { return dirSize(blocks) > 8<<20 })
	if err := add.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	add.Wait()
	stdin.Close()

	if out := r.must("repo", "verify"); !strings.Contains(out, "all good") {
		t.Fatalf("repo verify after a crash:\n%s", out)
	}
	if ls := strings.TrimSpace(r.must("pin", "ls")); ls != "" {
		t.Fatalf("a killed add left a pin: %s", ls)
	}
	if got := strings.TrimSpace(r.mustIn(data, "add", "-Q", "-")); got != want {
		t.Fatalf("add after the crash gave %s, want %s", got, want)
	}
	if got := r.must("cat", want); got != string(data) {
		t.Fatal("content read back after the crash differs")
	}
	if out := r.must("repo", "verify"); !strings.Contains(out, "all good") {
		t.Fatalf("repo verify at the end:\n%s", out)
	}
}

// TestRepoLock: while one process holds the repository, another gets an
// error naming the holder.
func TestRepoLock(t *testing.T) {
	r := newRepo(t)
	holder := r.cmd("add", "-Q", "-")
	stdin, err := holder.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := holder.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	// The holder writes its PID into repo.lock once it holds the lock; it
	// then waits on stdin. (Polling with a command instead could take the
	// lock first and make the holder fail.)
	pid := holder.Process.Pid
	waitFor(t, "the holder to take the lock", func() bool {
		b, _ := os.ReadFile(filepath.Join(r.path, "repo.lock"))
		return strings.HasPrefix(string(b), strconv.Itoa(pid)+"\n")
	})
	_, msg, err := r.run(nil, "repo", "stat")
	if err == nil || !strings.Contains(msg, "in use by process "+strconv.Itoa(pid)) {
		t.Fatalf("second process: %v, %q does not name process %d", err, msg, pid)
	}
	stdin.Write([]byte("data"))
	stdin.Close()
	line, _ := bufio.NewReader(stdout).ReadString('\n')
	io.Copy(io.Discard, stdout)
	if err := holder.Wait(); err != nil || !strings.HasPrefix(line, "Qm") {
		t.Fatalf("holder: %v, %q", err, line)
	}
	// Released: commands work again.
	r.must("repo", "stat")
}

// TestRepoVerifyFindsCorruption damages a block's bytes inside a pack file:
// reading it fails (never returns wrong bytes), and repo verify names it.
func TestRepoVerifyFindsCorruption(t *testing.T) {
	r := newRepo(t)
	data := randomBytes(77, 100<<10)
	id := strings.TrimSpace(r.mustIn(data, "add", "-Q", "--cid-version", "1", "-"))
	other := strings.TrimSpace(r.mustIn([]byte("an intact block"), "add", "-Q", "-"))

	// Find the block's bytes in a pack and flip one of them.
	packs, _ := filepath.Glob(filepath.Join(r.path, "blocks", "*.pack"))
	damaged := false
	for _, p := range packs {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if i := bytes.Index(b, data[:4096]); i >= 0 {
			b[i+5000] ^= 0xff
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
			damaged = true
		}
	}
	if !damaged {
		t.Fatalf("did not find the block's bytes in the packs %v", packs)
	}

	if e := r.fails(nil, "cat", id); !strings.Contains(e, "corrupt") {
		t.Fatalf("cat of a corrupt block: %q", e)
	}
	out, errOut, err := r.run(nil, "repo", "verify")
	if err == nil || !strings.Contains(out, "corrupt: "+id) || !strings.Contains(errOut, "1 of 2 blocks are corrupt") {
		t.Fatalf("repo verify: %v\nstdout:\n%s\nstderr:\n%s", err, out, errOut)
	}
	if got := r.must("cat", other); got != "an intact block" {
		t.Fatalf("the intact block reads %q", got)
	}
}
