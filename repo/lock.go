package repo

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

const lockName = "repo.lock"

// maxCmdLen bounds the command line recorded in the lock file.
const maxCmdLen = 256

// fileLock is an exclusive flock(2) on <root>/repo.lock. The kernel drops it
// when the process exits, however it exits, so a lock file left behind by a
// killed process never blocks the next opener.
type fileLock struct {
	f *os.File
}

// acquireLock takes the repository lock without waiting. When another open
// file description holds it (another process, or another Open in this
// process), it returns a *LockError naming the holder.
func acquireLock(root string) (*fileLock, error) {
	path := filepath.Join(root, lockName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, ioError("open lock file", path, err)
	}
	if err := flock(f, unix.LOCK_EX|unix.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			data, _ := os.ReadFile(path)
			pid, cmd := parseLockHolder(data)
			return nil, &LockError{Path: root, PID: pid, Cmd: cmd}
		}
		return nil, ioError("lock", path, err)
	}
	// We hold the lock: record who we are for the next opener's message.
	if err := f.Truncate(0); err != nil {
		flock(f, unix.LOCK_UN)
		f.Close()
		return nil, ioError("truncate lock file", path, err)
	}
	if _, err := f.WriteAt(formatLockHolder(os.Getpid(), os.Args), 0); err != nil {
		flock(f, unix.LOCK_UN)
		f.Close()
		return nil, ioError("write lock file", path, err)
	}
	return &fileLock{f: f}, nil
}

// release clears the holder record and drops the lock. The file itself stays:
// removing it would race with a process that has it open and is about to lock.
func (l *fileLock) release() error {
	if l == nil || l.f == nil {
		return nil
	}
	f := l.f
	l.f = nil
	f.Truncate(0)
	errUnlock := flock(f, unix.LOCK_UN)
	errClose := f.Close()
	if errUnlock != nil {
		return fmt.Errorf("unlock %s: %w", f.Name(), errUnlock)
	}
	return errClose
}

func flock(f *os.File, how int) error {
	for {
		err := unix.Flock(int(f.Fd()), how)
		if err != unix.EINTR {
			return err
		}
	}
}

// cleanCmd makes a command line safe for the one-line record: valid UTF-8,
// no control characters, at most maxCmdLen bytes, trimmed. It is idempotent.
func cleanCmd(s string) string {
	s = strings.ToValidUTF8(s, "?")
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) > maxCmdLen {
		s = strings.ToValidUTF8(s[:maxCmdLen], "?")
	}
	return strings.TrimSpace(s)
}

// formatLockHolder renders the lock file: the PID on the first line, the
// command line (cleaned by cleanCmd) on the second.
func formatLockHolder(pid int, args []string) []byte {
	return []byte(strconv.Itoa(pid) + "\n" + cleanCmd(strings.Join(args, " ")) + "\n")
}

// parseLockHolder reads what formatLockHolder wrote. It never fails: a
// missing or garbled PID yields 0, which LockError reports as "another process".
func parseLockHolder(data []byte) (pid int, cmd string) {
	if len(data) > 4096 {
		data = data[:4096]
	}
	first, rest, _ := strings.Cut(string(data), "\n")
	n, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil || n <= 0 {
		return 0, ""
	}
	cmd, _, _ = strings.Cut(rest, "\n")
	if cmd = cleanCmd(cmd); cmd == "" {
		cmd = "unknown command"
	}
	return n, cmd
}
