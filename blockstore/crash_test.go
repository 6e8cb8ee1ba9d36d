package blockstore_test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/multiformats/go-multihash"

	"node/blockstore"
)

// The crash test runs the test binary again as a child that puts blocks
// into a pack store in a loop, and kills it with SIGKILL mid-stream.
const (
	crashDirEnv   = "BLOCKSTORE_CRASH_DIR"
	crashStartEnv = "BLOCKSTORE_CRASH_START"
	crashBatch    = 8
	crashSize     = 64 << 10
)

var crashOpts = blockstore.PackOptions{PackSize: 4 << 20} // rotate and seal often

// TestCrashChild is the child's body; it does nothing in a normal run.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("helper process for TestKill9DuringPuts")
	}
	start, _ := strconv.Atoi(os.Getenv(crashStartEnv))
	s, err := blockstore.OpenPackStore(dir, crashOpts)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	for i := start; i < start+100000; i += crashBatch {
		if err := s.PutMany(ctx, makeBlocks(i, crashBatch, crashSize)); err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		line := fmt.Sprintf("put %d\n", i+crashBatch)
		if (i/crashBatch)%4 == 3 {
			if err := s.Sync(ctx); err != nil {
				fmt.Println("error", err)
				os.Exit(1)
			}
			line += fmt.Sprintf("synced %d\n", i+crashBatch)
		}
		if _, err := os.Stdout.WriteString(line); err != nil {
			os.Exit(1) // the parent is gone
		}
	}
	os.Exit(0)
}

func TestKill9DuringPuts(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	dir := t.TempDir()
	next := 0 // every block below next is acknowledged
	for round := 0; round < 3; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashDirEnv+"="+dir, crashStartEnv+"="+strconv.Itoa(next))
		cmd.Stderr = os.Stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		acked := next
		target := next + 200 + round*37 // vary where the kill lands
		sc := bufio.NewScanner(out)
		for acked < target && sc.Scan() {
			line := sc.Text()
			if n, ok := strings.CutPrefix(line, "put "); ok {
				acked, _ = strconv.Atoi(n)
			} else if strings.HasPrefix(line, "error") {
				t.Fatalf("child: %s", line)
			}
		}
		if acked < target {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("round %d: child stopped after %d blocks: %v", round, acked, sc.Err())
		}
		// The child is now writing a later batch: kill it mid-stream.
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		// Lines still in the pipe tell how far it really got.
		for sc.Scan() {
			if n, ok := strings.CutPrefix(sc.Text(), "put "); ok {
				acked, _ = strconv.Atoi(n)
			}
		}
		cmd.Wait()

		s, err := blockstore.OpenPackStore(dir, crashOpts)
		if err != nil {
			t.Fatalf("round %d: reopen after kill -9: %v", round, err)
		}
		v := blockstore.Verifying(s)
		found := 0
		err = s.Keys(ctx, func(mh multihash.Multihash) error {
			found++
			_, err := v.Get(ctx, blockstore.CIDOf(mh))
			return err
		})
		if err != nil {
			t.Fatalf("round %d: a block read back after the crash is bad: %v", round, err)
		}
		// kill -9 keeps the page cache: every acknowledged put is there.
		all := makeBlocks(0, acked+crashBatch, crashSize)
		checkAll(t, s, all[:acked])
		if found < acked || found > acked+crashBatch {
			t.Fatalf("round %d: %d blocks after the crash, want %d acknowledged (+ up to %d in flight)", round, found, acked, crashBatch)
		}
		// Putting the same blocks again completes, and fills in the batch
		// the kill interrupted.
		if err := s.PutMany(ctx, all); err != nil {
			t.Fatalf("round %d: re-put after crash: %v", round, err)
		}
		checkAll(t, s, all)
		if n := countKeys(t, s); n != len(all) {
			t.Fatalf("round %d: %d keys after re-put, want %d", round, n, len(all))
		}
		t.Logf("round %d: killed after %d acknowledged blocks, %d found on reopen", round, acked, found)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		next = len(all)
	}
}
