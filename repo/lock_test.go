package repo

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// The lock tests re-execute this test binary as a child process that runs
// TestLockHelperProcess, so the lock is exercised between two real processes.
const (
	helperEnvRoot = "REPO_LOCK_HELPER_ROOT"
	helperEnvMode = "REPO_LOCK_HELPER_MODE"
)

func TestLockHelperProcess(t *testing.T) {
	root := os.Getenv(helperEnvRoot)
	if root == "" {
		t.Skip("helper process for the lock tests; it runs only when re-executed by them")
	}
	switch os.Getenv(helperEnvMode) {
	case "hold": // open, report, hold the lock until stdin closes, close
		r, err := Open(root)
		if err != nil {
			fmt.Println("ERR", err)
			os.Exit(3)
		}
		fmt.Println("LOCKED")
		io.Copy(io.Discard, os.Stdin)
		if err := r.Close(); err != nil {
			fmt.Println("ERR", err)
			os.Exit(3)
		}
		os.Exit(0)
	case "try": // try to open and report who holds the lock
		_, err := Open(root)
		var le *LockError
		if errors.As(err, &le) && errors.Is(err, ErrLocked) {
			fmt.Printf("LOCKED-BY %d\n%s\n", le.PID, err)
			os.Exit(0)
		}
		fmt.Println("UNEXPECTED", err)
		os.Exit(4)
	}
	os.Exit(5)
}

type child struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout *bufio.Reader
}

func startChild(t *testing.T, root, mode string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestLockHelperProcess$")
	cmd.Env = append(os.Environ(), helperEnvRoot+"="+root, helperEnvMode+"="+mode)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, stdin: stdin, stdout: bufio.NewReader(stdout)}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			io.Copy(io.Discard, c.stdout)
			cmd.Wait()
		}
	})
	return c
}

func (c *child) line(t *testing.T) string {
	t.Helper()
	s, err := c.stdout.ReadString('\n')
	if err != nil {
		t.Fatalf("reading the child's output: %v (got %q)", err, s)
	}
	return strings.TrimSuffix(s, "\n")
}

// wait drains the child's output and waits for it to exit.
func (c *child) wait(t *testing.T) error {
	t.Helper()
	io.Copy(io.Discard, c.stdout)
	return c.cmd.Wait()
}

func TestLockSameProcess(t *testing.T) {
	root, _ := newRepo(t)
	_, err := Open(root)
	var le *LockError
	if !errors.As(err, &le) || !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: %v", err)
	}
	if le.PID != os.Getpid() {
		t.Errorf("holder PID %d, want %d", le.PID, os.Getpid())
	}
	want := fmt.Sprintf("repository %s is in use by process %d (%s)", root, os.Getpid(), strings.Join(os.Args, " "))
	if err.Error() != want {
		t.Errorf("message\n%q\nwant\n%q", err, want)
	}
}

func TestLockHeldByAnotherProcess(t *testing.T) {
	root, r := newRepo(t)
	r.Close()

	c := startChild(t, root, "hold")
	if l := c.line(t); l != "LOCKED" {
		t.Fatalf("child said %q", l)
	}
	_, err := Open(root)
	var le *LockError
	if !errors.As(err, &le) || !errors.Is(err, ErrLocked) {
		t.Fatalf("Open while the child holds the lock: %v", err)
	}
	pid := c.cmd.Process.Pid
	if le.PID != pid || !strings.Contains(le.Cmd, "-test.run=^TestLockHelperProcess$") {
		t.Errorf("holder %d (%s), want %d running the helper", le.PID, le.Cmd, pid)
	}
	if !strings.HasPrefix(err.Error(), fmt.Sprintf("repository %s is in use by process %d (", root, pid)) {
		t.Errorf("message %q", err)
	}
	// Reading the config needs no lock.
	if _, err := ReadConfig(root); err != nil {
		t.Errorf("ReadConfig while locked: %v", err)
	}

	// The child closes the repository and exits: the lock is free again.
	c.stdin.Close()
	if err := c.wait(t); err != nil {
		t.Fatalf("child: %v", err)
	}
	if data, _ := os.ReadFile(filepath.Join(root, "repo.lock")); len(data) != 0 {
		t.Errorf("lock file after a clean Close: %q", data)
	}
	r2, err := Open(root)
	if err != nil {
		t.Fatalf("Open after the child released the lock: %v", err)
	}
	r2.Close()
}

func TestStaleLockFileFromKilledProcess(t *testing.T) {
	root, r := newRepo(t)
	r.Close()

	c := startChild(t, root, "hold")
	if l := c.line(t); l != "LOCKED" {
		t.Fatalf("child said %q", l)
	}
	pid := c.cmd.Process.Pid
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err := c.wait(t)
	if ws, ok := c.cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
		t.Fatalf("child was not killed: %v", err)
	}
	// The dead process's record is still in the file...
	data, _ := os.ReadFile(filepath.Join(root, "repo.lock"))
	if got, _ := parseLockHolder(data); got != pid {
		t.Fatalf("lock file names %d, want the killed child %d", got, pid)
	}
	// ...but the kernel released its flock, so Open succeeds.
	r2, err := Open(root)
	if err != nil {
		t.Fatalf("Open after the holder was killed: %v", err)
	}
	defer r2.Close()
	data, _ = os.ReadFile(filepath.Join(root, "repo.lock"))
	if got, _ := parseLockHolder(data); got != os.Getpid() {
		t.Errorf("lock file names %d after we took it, want %d", got, os.Getpid())
	}
}

func TestLockSeenFromAnotherProcess(t *testing.T) {
	root, _ := newRepo(t) // held by this process until the test ends

	c := startChild(t, root, "try")
	l := c.line(t)
	if l != "LOCKED-BY "+strconv.Itoa(os.Getpid()) {
		t.Fatalf("child said %q, want LOCKED-BY %d", l, os.Getpid())
	}
	msg := c.line(t)
	if !strings.HasPrefix(msg, fmt.Sprintf("repository %s is in use by process %d (", root, os.Getpid())) {
		t.Errorf("child's error %q", msg)
	}
	if err := c.wait(t); err != nil {
		t.Fatalf("child: %v", err)
	}
}

func TestLockHolderFormat(t *testing.T) {
	data := formatLockHolder(42, []string{"node", "daemon", "--mount\nx"})
	pid, cmd := parseLockHolder(data)
	if pid != 42 || cmd != "node daemon --mount x" {
		t.Errorf("round trip: %d %q", pid, cmd)
	}
	for _, junk := range []string{"", "\n", "abc\ncmd", "-5\ncmd", "0\n"} {
		if pid, _ := parseLockHolder([]byte(junk)); pid != 0 {
			t.Errorf("parseLockHolder(%q) = %d", junk, pid)
		}
	}
	e := &LockError{Path: "/r"}
	if !strings.Contains(e.Error(), "another process") {
		t.Errorf("unknown holder message %q", e)
	}
}
