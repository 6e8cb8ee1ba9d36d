package fuse

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/ipfs/go-cid"
	"golang.org/x/sys/unix"

	"node/blockstore"
	"node/ipns"
)

// unmountGrace is how long Unmount waits for files still open on a busy
// mount to be closed before it returns, leaving the detached mount served
// until they are.
const unmountGrace = 2 * time.Second

// Mount is a mounted /ipfs or /ipns file system.
type Mount struct {
	dir    string
	server *fuse.Server
	fsys   *mountFS
	local  *localTree // nil for /ipfs and without a Store
	log    *slog.Logger

	served chan struct{} // closed when the kernel connection ended
	done   chan struct{} // closed after the final publication and cleanup

	finishOnce sync.Once
	finishErr  error
}

// MountIPFS mounts /ipfs at dir: every CID is a directory entry there,
// fetched through cfg.Blocks when looked up. The mount is read-only.
func MountIPFS(dir string, cfg Config) (*Mount, error) {
	cfg = cfg.withDefaults()
	if cfg.Blocks == nil {
		return nil, errors.New("mounting /ipfs needs a block getter (Config.Blocks)")
	}
	dir, err := prepareDir(dir, cfg.Log)
	if err != nil {
		return nil, err
	}
	fsys := newMountFS(cfg)
	fsys.noFlush = true
	return mount(dir, "ipfs", &ipfsRoot{fsys: fsys}, fsys, nil, "", syscall.MS_RDONLY)
}

// MountIPNS mounts /ipns at dir: local, the node's own writable directory
// (with cfg.Store), a symlink to it named cfg.LocalName, and every other
// name, resolved through cfg.Names when looked up.
func MountIPNS(dir string, cfg Config) (*Mount, error) {
	cfg = cfg.withDefaults()
	if cfg.Blocks == nil {
		return nil, errors.New("mounting /ipns needs a block getter (Config.Blocks)")
	}
	dir, err := prepareDir(dir, cfg.Log)
	if err != nil {
		return nil, err
	}
	fsys := newMountFS(cfg)
	var local *localTree
	ownStage := ""
	if cfg.Store != nil {
		stageDir := cfg.StageDir
		if stageDir == "" {
			if stageDir, err = os.MkdirTemp("", "node-fuse-stage-"); err != nil {
				return nil, fmt.Errorf("cannot make a directory for staging writes: %w", err)
			}
			ownStage = stageDir
		} else if err := os.MkdirAll(stageDir, 0o700); err != nil {
			return nil, fmt.Errorf("cannot make the staging directory %s: %w", stageDir, err)
		}
		root, err := localRoot(cfg)
		if err != nil {
			if ownStage != "" {
				os.RemoveAll(ownStage)
			}
			return nil, err
		}
		local = newLocalTree(fsys, cfg.Store, stageDir, root)
		newFlusher(local, cfg.PublishDelay, root)
	}
	m, err := mount(dir, "ipns", &ipnsRoot{fsys: fsys, local: local}, fsys, local, ownStage, 0)
	if err != nil && local != nil {
		local.flusher.stop()
		if ownStage != "" {
			os.RemoveAll(ownStage)
		}
	}
	return m, err
}

// localRoot asks for the published root of /ipns/local.
func localRoot(cfg Config) (cid.Cid, error) {
	if cfg.LocalRoot == nil {
		return cid.Undef, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.ReadTimeout)
	defer cancel()
	root, err := cfg.LocalRoot(ctx)
	switch {
	case errors.Is(err, ipns.ErrNotFound), errors.Is(err, blockstore.ErrNotFound):
		return cid.Undef, nil
	case err != nil:
		return cid.Undef, fmt.Errorf("cannot learn the published root of /ipns/local: %w", err)
	}
	return root, nil
}

func mount(dir, name string, root fs.InodeEmbedder, fsys *mountFS, local *localTree, ownStage string, flags uintptr) (*Mount, error) {
	entry, attr := localTimeout, localTimeout
	opts := &fs.Options{
		MountOptions: fuse.MountOptions{
			DirectMountStrict: true,
			DirectMountFlags:  syscall.MS_NOSUID | syscall.MS_NODEV | flags,
			FsName:            "node",
			Name:              name,
			AllowOther:        true,
			// The kernel checks permissions against the modes shown.
			Options: []string{"default_permissions"},
			// Larger requests, fewer round trips (go-fuse caps this at
			// what the kernel allows).
			MaxWrite: 1 << 20,
			// One read at a time per handle, in order: the stream of a
			// sequential reader is not disturbed by reordered readahead.
			SyncRead: true,
			// Direct I/O for large files, and mmap of them still works.
			ExtraCapabilities: fuse.CAP_DIRECT_IO_ALLOW_MMAP,
			Logger:            slog.NewLogLogger(fsys.log.Handler(), slog.LevelDebug),
		},
		EntryTimeout:    &entry,
		AttrTimeout:     &attr,
		NullPermissions: true,
		UID:             fsys.uid,
		GID:             fsys.gid,
		RootStableAttr:  &fs.StableAttr{Ino: rootIno},
	}
	// go-fuse opens /dev/fuse without O_CLOEXEC when it mounts directly,
	// so every process this one starts would inherit the connection: one
	// that outlives a crash of this process would keep the mount hung
	// instead of stale. Hold off forks until the descriptor is marked.
	syscall.ForkLock.RLock()
	server, err := fs.Mount(dir, root, opts)
	if err == nil {
		closeFuseOnExec()
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		if errors.Is(err, syscall.EPERM) {
			return nil, fmt.Errorf("%w: mounting %s: %v (the process needs root with CAP_SYS_ADMIN)", ErrUnavailable, dir, err)
		}
		return nil, fmt.Errorf("mounting %s: %w", dir, err)
	}
	fsys.directIO.Store(server.KernelSettings().Flags64()&fuse.CAP_DIRECT_IO_ALLOW_MMAP != 0)
	m := &Mount{
		dir: dir, server: server, fsys: fsys, local: local, log: fsys.log,
		served: make(chan struct{}), done: make(chan struct{}),
	}
	go func() {
		server.Wait()
		close(m.served)
		if err := m.finish(); err != nil {
			m.log.Error("last publication of /ipns/local failed", "err", err)
		}
		fsys.cancel()
		if ownStage != "" {
			os.RemoveAll(ownStage)
		}
		close(m.done)
	}()
	fsys.log.Info("mounted", "dir", dir, "fs", "/"+name)
	return m, nil
}

// finish makes the last snapshot of /ipns/local and publishes it.
func (m *Mount) finish() error {
	m.finishOnce.Do(func() {
		if m.local != nil {
			m.finishErr = m.local.flusher.stop()
			m.local.abandonPipes()
		}
	})
	return m.finishErr
}

// closeFuseOnExec marks every descriptor of /dev/fuse this process holds
// close-on-exec.
func closeFuseOnExec() {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return
	}
	for _, e := range entries {
		fd, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if target, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && target == "/dev/fuse" {
			unix.CloseOnExec(fd)
		}
	}
}

// Dir is the mount point.
func (m *Mount) Dir() string { return m.dir }

// Unmount unmounts, then commits and publishes what was written under
// /ipns/local (files still open for writing keep their last fsynced or
// closed content). If files are open the mount is detached: it leaves the
// directory tree at once and is served until they are closed, at most
// unmountGrace before Unmount returns.
func (m *Mount) Unmount() error {
	err := Unmount(m.dir)
	if errors.Is(err, ErrNotMounted) {
		err = nil // unmounted already
	}
	select {
	case <-m.served:
		<-m.done
	case <-time.After(unmountGrace):
		m.log.Warn("files are still open in the unmounted directory: it is served until they are closed", "dir", m.dir)
	}
	return errors.Join(err, m.finish())
}

// Wait returns once the file system is unmounted (by Unmount, `node mount
// --unmount` or umount(8)) and what was written is published.
func (m *Mount) Wait() { <-m.done }

// Unmount unmounts the file system at dir, detaching it if it is busy. It
// serves `node mount --unmount DIR` and clears stale mounts.
func Unmount(dir string) error {
	err := unix.Unmount(dir, 0)
	if errors.Is(err, unix.EBUSY) {
		err = unix.Unmount(dir, unix.MNT_DETACH)
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.EINVAL):
		return fmt.Errorf("unmounting %s: %w", dir, ErrNotMounted)
	case errors.Is(err, unix.EPERM):
		return fmt.Errorf("unmounting %s: %w (run as root)", dir, err)
	}
	return fmt.Errorf("unmounting %s: %w", dir, err)
}

// ClearStale unmounts dir if it is a FUSE mount whose server is gone (a
// killed process leaves one behind: every access fails with "transport
// endpoint is not connected"). It reports whether it cleared one.
func ClearStale(dir string) (bool, error) {
	// statfs always asks the server (a stat may be answered from the
	// kernel's cache).
	var st unix.Statfs_t
	err := unix.Statfs(dir, &st)
	if !errors.Is(err, unix.ENOTCONN) && !errors.Is(err, unix.ECONNABORTED) {
		return false, nil
	}
	if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
		return false, fmt.Errorf("clearing the stale mount at %s: %w", dir, err)
	}
	return true, nil
}

// Check says, in one line, why FUSE cannot be used here, or returns nil.
func Check() error {
	if _, err := os.Stat("/dev/fuse"); err != nil {
		return fmt.Errorf("%w: /dev/fuse is missing (load the fuse kernel module with `modprobe fuse`; in a container, pass --device /dev/fuse)", ErrUnavailable)
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w: mounting without fusermount needs root: run the command as root", ErrUnavailable)
	}
	f, err := os.OpenFile("/dev/fuse", os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("%w: cannot open /dev/fuse: %v", ErrUnavailable, err)
	}
	f.Close()
	return nil
}

// prepareDir checks that FUSE is usable, clears a stale mount at dir,
// creates dir if missing and refuses a live mount there.
func prepareDir(dir string, log *slog.Logger) (string, error) {
	if err := Check(); err != nil {
		return "", err
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	cleared, err := ClearStale(abs)
	if err != nil {
		return "", err
	}
	if cleared {
		log.Warn("cleared a stale mount left by a process that ended without unmounting", "dir", abs)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return "", fmt.Errorf("cannot make the mount point: %w", err)
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		abs = real
	}
	mounted, err := isMountPoint(abs)
	if err != nil {
		return "", err
	}
	if mounted {
		return "", fmt.Errorf("%s: %w: unmount it first (`node mount --unmount %s`)", abs, ErrMounted, abs)
	}
	return abs, nil
}

// isMountPoint reports whether dir is a mount point of this process's
// mount namespace.
func isMountPoint(dir string) (bool, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return false, fmt.Errorf("cannot read the mount table: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && unescapeMountPath(fields[4]) == dir {
			return true, nil
		}
	}
	return false, sc.Err()
}

// unescapeMountPath undoes the octal escapes (\040 for a space) of paths
// in /proc/self/mountinfo.
func unescapeMountPath(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
