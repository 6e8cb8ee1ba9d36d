// Package crashtest drives crash tests: a test re-runs its own binary as a
// child that does durable work and prints its progress, kills it with
// SIGKILL mid-stream, and then checks what the child left on disk.
//
// The child is a test function that skips unless an environment variable
// the parent sets is present, prints one line "<prefix>N" after each step
// N is durable, and prints "error ..." (then exits) when something fails.
package crashtest

import (
	"bufio"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// Start runs the test child of this test binary with env added and
// returns it with a scanner of its output lines. The child is killed and
// reaped when the test ends, if it is still running.
func Start(t testing.TB, child string, env []string) (*exec.Cmd, *bufio.Scanner) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+child+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill() // an error here means it ended already
		cmd.Wait()
	})
	return cmd, bufio.NewScanner(out)
}

// KillChildAt runs the test child of this test binary with env added,
// reads its progress lines "<prefix>N" until N reaches target, kills it
// with SIGKILL mid-stream, and returns the last N it reported (lines still
// in the pipe included). from is N before the first line. A child that
// prints "error ..." or stops early fails the test.
func KillChildAt(t testing.TB, child string, env []string, prefix string, from, target int) int {
	t.Helper()
	cmd, sc := Start(t, child, env)
	last := from
	for last < target && sc.Scan() {
		line := sc.Text()
		if n, ok := strings.CutPrefix(line, prefix); ok {
			last, _ = strconv.Atoi(n)
		} else if strings.HasPrefix(line, "error") {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("child: %s", line)
		}
	}
	if last < target {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("child stopped at %d before %d: %v", last, target, sc.Err())
	}
	// The child is now in a later step: kill it mid-stream.
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	for sc.Scan() {
		if n, ok := strings.CutPrefix(sc.Text(), prefix); ok {
			last, _ = strconv.Atoi(n)
		}
	}
	cmd.Wait()
	return last
}
