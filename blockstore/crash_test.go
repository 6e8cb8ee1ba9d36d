package blockstore_test

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"testing"

	"github.com/multiformats/go-multihash"

	"node/blockstore"
	"node/internal/crashtest"
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
		env := []string{crashDirEnv + "=" + dir, crashStartEnv + "=" + strconv.Itoa(next)}
		// Vary where the kill lands.
		acked := crashtest.KillChildAt(t, "TestCrashChild", env, "put ", next, next+200+round*37)

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

// The compaction crash test: a child runs rounds of put, delete and
// Compact, printing each round once Compact returns (everything in it is
// then on disk); the parent kills it at some point of a later round.
const compactCrashDirEnv = "BLOCKSTORE_COMPACT_CRASH_DIR"

var compactCrashOpts = blockstore.PackOptions{PackSize: 128 << 10}

// Round r puts live blocks L(r) around one dead block of D(r), then the
// rest of D(r), deletes D(r) and the first block of L(r-3), and compacts:
// dead tails are cut, packs with enough dead blocks copied out, and the
// tombstones of blocks in packs that stay are kept.
func compactRoundLive(r int) []blockstore.Block { return makeBlocks(r*100, 6, 16<<10) }
func compactRoundDead(r int) []blockstore.Block { return makeBlocks(r*100+50, 8, 16<<10) }

func TestCompactCrashChild(t *testing.T) {
	dir := os.Getenv(compactCrashDirEnv)
	if dir == "" {
		t.Skip("helper process for TestKill9DuringCompact")
	}
	start, _ := strconv.Atoi(os.Getenv(crashStartEnv))
	fail := func(err error) {
		fmt.Println("error", err)
		os.Exit(1)
	}
	s, err := blockstore.OpenPackStore(dir, compactCrashOpts)
	if err != nil {
		fail(err)
	}
	for r := start; r < start+1000; r++ {
		live, dead := compactRoundLive(r), compactRoundDead(r)
		if err := s.PutMany(ctx, slices.Concat(live[:3], dead[:1], live[3:], dead[1:])); err != nil {
			fail(err)
		}
		gone := dead
		if r >= 3 {
			gone = append(gone, compactRoundLive(r - 3)[0])
		}
		for _, b := range gone {
			if err := s.Delete(ctx, b.CID); err != nil {
				fail(err)
			}
		}
		if _, err := s.Compact(ctx); err != nil {
			fail(err)
		}
		if _, err := fmt.Printf("round %d\n", r); err != nil {
			os.Exit(1)
		}
	}
	os.Exit(0)
}

func TestKill9DuringCompact(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	dir := t.TempDir()
	// check opens the store after a crash in round done+1 and checks every
	// block whose fate rounds up to done decided.
	check := func(done int) {
		t.Helper()
		s, err := blockstore.OpenPackStore(dir, compactCrashOpts)
		if err != nil {
			t.Fatalf("reopen after kill -9: %v", err)
		}
		defer s.Close()
		v := blockstore.Verifying(s)
		if err := s.Keys(ctx, func(mh multihash.Multihash) error {
			_, err := v.Get(ctx, blockstore.CIDOf(mh))
			return err
		}); err != nil {
			t.Fatalf("after round %d: a stored block is bad: %v", done, err)
		}
		for r := 0; r <= done; r++ {
			checkGone(t, s, compactRoundDead(r))
			live := compactRoundLive(r)
			checkAll(t, s, live[1:])
			switch {
			case r <= done-3: // deleted by round r+3 <= done
				checkGone(t, s, live[:1])
			case r > done-2: // round done+1 deletes only L(done-2)[0]
				checkAll(t, s, live[:1])
			}
		}
	}
	next := 0
	for round := 0; round < 3; round++ {
		env := []string{compactCrashDirEnv + "=" + dir, crashStartEnv + "=" + strconv.Itoa(next)}
		done := crashtest.KillChildAt(t, "TestCompactCrashChild", env, "round ", next-1, next+6+round)
		check(done)
		t.Logf("killed during round %d", done+1)
		next = done + 1
	}
}
