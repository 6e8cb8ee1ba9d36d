package fuse

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"golang.org/x/sys/unix"

	"node/blockstore"
	"node/internal/crashtest"
	"node/unixfs/importer"
)

// The crash tests run the test binary again as a child that mounts and
// writes, and kill it with SIGKILL.
const (
	crashDirEnv = "FUSE_CRASH_DIR"
	staleDirEnv = "FUSE_STALE_DIR"
)

// crashContent is the content of file f<i> the crash child writes.
func crashContent(i int) []byte { return randomBytes(uint64(100+i), 256<<10) }

type publisherFunc func(ctx context.Context, v string) error

func (f publisherFunc) Publish(ctx context.Context, v string) error { return f(ctx, v) }

// TestCrashChild serves /ipns/local and prints each publication. It does
// nothing in a normal run. (The writer is another process, as in real
// use: a process killed while blocked on its own mount could not die.)
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("helper process for TestKill9WhileWriting")
	}
	fail := func(err error) {
		fmt.Println("error", err)
		os.Exit(1)
	}
	store, err := blockstore.OpenPackStore(filepath.Join(dir, "store"), blockstore.PackOptions{})
	if err != nil {
		fail(err)
	}
	pub := publisherFunc(func(ctx context.Context, v string) error {
		if _, err := fmt.Printf("published %s\n", v); err != nil {
			os.Exit(1) // the parent is gone
		}
		return nil
	})
	_, err = MountIPNS(filepath.Join(dir, "mnt"), Config{
		Blocks: store, Store: store, Local: pub, PublishDelay: 5 * time.Millisecond,
		StageDir: filepath.Join(dir, "stage"), Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		fail(err)
	}
	// /ipfs too, for the parent to read published roots while this
	// process holds the store.
	if _, err := MountIPFS(filepath.Join(dir, "ipfs"), Config{Blocks: store, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}); err != nil {
		fail(err)
	}
	fmt.Println("mounted")
	select {}
}

// Killed while a file is being written, the node leaves a stale mount and
// a store in which every published root holds only whole files (as
// closed or fsynced), and the last one every fsynced file.
func TestKill9WhileWriting(t *testing.T) {
	requireFUSE(t)
	if testing.Short() {
		t.Skip("spawns processes")
	}
	dir := t.TempDir()
	mnt := filepath.Join(dir, "mnt")
	ipfsDir := filepath.Join(dir, "ipfs")
	t.Cleanup(func() {
		unix.Unmount(mnt, unix.MNT_DETACH)
		unix.Unmount(ipfsDir, unix.MNT_DETACH)
	})

	cmd, sc := crashtest.Start(t, "TestCrashChild", []string{crashDirEnv + "=" + dir})
	if !sc.Scan() || sc.Text() != "mounted" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("child: %q", sc.Text())
	}
	pubs := make(chan string, 10000)
	readerDone := make(chan error, 1)
	go func() {
		defer close(pubs)
		for sc.Scan() {
			p, ok := strings.CutPrefix(sc.Text(), "published /ipfs/")
			if !ok {
				readerDone <- fmt.Errorf("child: %s", sc.Text())
				return
			}
			pubs <- p
		}
		readerDone <- nil
	}()
	var published []string
	// awaitPublication waits for the next root published.
	awaitPublication := func() {
		t.Helper()
		select {
		case p, ok := <-pubs:
			if !ok {
				t.Fatalf("the child stopped: %v", <-readerDone)
			}
			published = append(published, p)
		case <-time.After(30 * time.Second):
			t.Fatal("no publication")
		}
	}
	// marker makes a small file and waits until a root holding it is
	// published (read through the child's /ipfs), so roots are published
	// while the file being written is open.
	marker := func(name string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(mnt, "local", name), []byte("marker"), 0o644); err != nil {
			t.Fatal(err)
		}
		for {
			awaitPublication()
			if _, err := os.Stat(filepath.Join(ipfsDir, published[len(published)-1], name)); err == nil {
				return
			}
		}
	}

	// Write files: some, half, fsync, some more, the rest, close; roots
	// are published in between, while the file is open and partly
	// written. Kill the server in the middle of the second half of f6.
	const killIn = 6
	const piece = 16 << 10
	var fsynced []int
	local := filepath.Join(mnt, "local")
writing:
	for i := 0; ; i++ {
		data := crashContent(i)
		f, err := os.Create(filepath.Join(local, "f"+strconv.Itoa(i)))
		if err != nil {
			t.Fatal(err)
		}
		half := len(data) / 2
		for off := 0; off < len(data); off += piece {
			if i == killIn && off == half+3*piece {
				cmd.Process.Kill()
				cmd.Wait()
			}
			if _, err := f.Write(data[off : off+piece]); err != nil {
				if i != killIn {
					t.Fatalf("writing f%d: %v", i, err)
				}
				f.Close()
				break writing
			}
			switch off + piece {
			case 2 * piece, half + 2*piece:
				marker(fmt.Sprintf("m%d-%d", i, off))
			case half:
				if err := f.Sync(); err != nil {
					t.Fatalf("fsync of f%d: %v", i, err)
				}
				fsynced = append(fsynced, i)
			}
		}
		if err := f.Close(); err != nil {
			t.Fatalf("closing f%d: %v", i, err)
		}
	}
	for p := range pubs {
		published = append(published, p)
	}
	if err := <-readerDone; err != nil {
		t.Fatal(err)
	}

	// The mount is stale; ClearStale clears it.
	var st unix.Statfs_t
	if err := unix.Statfs(mnt, &st); !errors.Is(err, unix.ENOTCONN) {
		t.Fatalf("stat of the dead mount: %v, want ENOTCONN", err)
	}
	cleared, err := ClearStale(mnt)
	if err != nil || !cleared {
		t.Fatalf("ClearStale: %v, %v", cleared, err)
	}
	if names := dirNames(t, mnt); len(names) != 0 {
		t.Fatalf("the cleared mount point holds %q", names)
	}
	if cleared, err := ClearStale(mnt); cleared || err != nil {
		t.Fatalf("ClearStale of a plain directory: %v, %v", cleared, err)
	}
	if cleared, err := ClearStale(ipfsDir); !cleared || err != nil {
		t.Fatalf("ClearStale of /ipfs: %v, %v", cleared, err)
	}

	store := openStore(t, filepath.Join(dir, "store"))
	if len(published) == 0 {
		t.Fatal("nothing was published")
	}
	var last map[string]string
	for _, p := range published {
		root, err := cid.Decode(p)
		if err != nil {
			t.Fatal(err)
		}
		last = dagTree(t, store, root)
		for name, content := range last {
			if strings.HasPrefix(name, "m") && content == "marker" {
				continue
			}
			i, err := strconv.Atoi(strings.TrimPrefix(name, "f"))
			if err != nil {
				t.Fatalf("%s holds %s", p, name)
			}
			want := crashContent(i)
			if (len(content) != len(want) && len(content) != len(want)/2) || !bytes.Equal([]byte(content), want[:len(content)]) {
				t.Fatalf("published %s holds a half-written f%d (%d bytes)", p, i, len(content))
			}
		}
	}
	for _, i := range fsynced {
		if content := last["f"+strconv.Itoa(i)]; len(content) < len(crashContent(i))/2 {
			t.Errorf("f%d was fsynced but the last root published holds %d bytes of it", i, len(content))
		}
	}
	if len(published) < 3*killIn {
		t.Errorf("only %d roots published", len(published))
	}
	t.Logf("%d roots published before the kill, all whole; %d fsyncs kept", len(published), len(fsynced))
}

// TestStaleChild mounts /ipfs and waits to be killed.
func TestStaleChild(t *testing.T) {
	dir := os.Getenv(staleDirEnv)
	if dir == "" {
		t.Skip("helper process for TestStaleMountCleared")
	}
	store := blockstore.NewMemory()
	if _, err := MountIPFS(dir, Config{Blocks: store, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}); err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	fmt.Println("mounted")
	select {}
}

// A mount left by a killed process is cleared when mounting again.
func TestStaleMountCleared(t *testing.T) {
	requireFUSE(t)
	if testing.Short() {
		t.Skip("spawns processes")
	}
	dir := t.TempDir()
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	cmd, sc := crashtest.Start(t, "TestStaleChild", []string{staleDirEnv + "=" + dir})
	if !sc.Scan() || sc.Text() != "mounted" {
		t.Fatalf("child: %q %v", sc.Text(), sc.Err())
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); !errors.Is(err, syscall.ENOTCONN) {
		t.Fatalf("stat of the dead mount: %v, want ENOTCONN", err)
	}

	store := openStore(t, t.TempDir())
	src := filepath.Join(t.TempDir(), "f")
	os.WriteFile(src, []byte("after the crash"), 0o644)
	root, _ := importPath(t, store, src, importer.DefaultOptions())
	m, err := MountIPFS(dir, Config{Blocks: store})
	if err != nil {
		t.Fatalf("mounting over the stale mount: %v", err)
	}
	defer m.Unmount()
	if b, err := os.ReadFile(filepath.Join(dir, root.String())); err != nil || string(b) != "after the crash" {
		t.Fatalf("reading through the new mount: %q, %v", b, err)
	}
}

// Processes the server starts do not inherit its FUSE connection: one
// that did would keep the mount hung after the server died, instead of
// stale.
func TestChildrenDoNotInheritTheConnection(t *testing.T) {
	requireFUSE(t)
	store := openStore(t, t.TempDir())
	mountIPFS(t, Config{Blocks: store})
	mountIPNS(t, Config{Blocks: store, Store: store})
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, fd := range fds {
		if target, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", cmd.Process.Pid, fd.Name())); target == "/dev/fuse" {
			t.Errorf("the child holds /dev/fuse as fd %s", fd.Name())
		}
	}
}
