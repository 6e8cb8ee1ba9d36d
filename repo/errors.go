package repo

import (
	"errors"
	"fmt"
	"syscall"
)

var (
	// ErrNoRepo is returned (wrapped) when no repository exists at a path.
	ErrNoRepo = errors.New("no repository")
	// ErrRepoExists is returned (wrapped) by Init when a repository is already there.
	ErrRepoExists = errors.New("repository already exists")
	// ErrLocked is returned (wrapped, as a *LockError) when another process holds the repository.
	ErrLocked = errors.New("repository locked")
	// ErrNotFound is returned (wrapped) by Datastore.Get and ReadAddr for an absent key or file.
	ErrNotFound = errors.New("not found")
	// ErrInvalidKey is returned (wrapped) for a datastore key that cannot be stored.
	ErrInvalidKey = errors.New("invalid datastore key")
	// ErrValueTooLarge is returned (wrapped) by Datastore.Put for a value over MaxValueSize.
	ErrValueTooLarge = errors.New("datastore value too large")
	// ErrBadKeyName is returned (wrapped) for a keystore name that is not allowed.
	ErrBadKeyName = errors.New("invalid key name")
	// ErrKeyExists is returned (wrapped) by Keystore.Put when the name is taken.
	ErrKeyExists = errors.New("key already exists")
	// ErrNoSuchKey is returned (wrapped) by Keystore.Get and Delete for an unknown name.
	ErrNoSuchKey = errors.New("no such key")
	// ErrConfigKey is returned (wrapped) for an unknown or protected config key.
	ErrConfigKey = errors.New("bad config key")
	// ErrConfigValue is returned (wrapped) for a config value of the wrong type or out of range.
	ErrConfigValue = errors.New("bad config value")
	// ErrCorrupt is returned (wrapped) when a repository file cannot be decoded.
	ErrCorrupt = errors.New("corrupt repository file")
)

// sentinelError carries a complete user-facing message and unwraps to a
// sentinel, so the message reads naturally and errors.Is still works.
type sentinelError struct {
	msg string
	err error
}

func (e *sentinelError) Error() string { return e.msg }
func (e *sentinelError) Unwrap() error { return e.err }

func errorf(sentinel error, format string, args ...any) error {
	return &sentinelError{msg: fmt.Sprintf(format, args...), err: sentinel}
}

// LockError says which process holds the repository lock. It unwraps to ErrLocked.
type LockError struct {
	Path string // repository root
	PID  int    // holder's process id; 0 when the lock file did not say
	Cmd  string // holder's command line, as it recorded it
}

func (e *LockError) Error() string {
	if e.PID == 0 {
		return fmt.Sprintf("repository %s is in use by another process (lock file %s/repo.lock is held)", e.Path, e.Path)
	}
	return fmt.Sprintf("repository %s is in use by process %d (%s)", e.Path, e.PID, e.Cmd)
}

func (e *LockError) Unwrap() error { return ErrLocked }

// ioError wraps a failed file operation, adding what to do for a full disk
// or a read-only file system.
func ioError(op, path string, err error) error {
	switch {
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return fmt.Errorf("%s %s: %w (free some space on that disk and retry; nothing was changed)", op, path, err)
	case errors.Is(err, syscall.EROFS):
		return fmt.Errorf("%s %s: %w (the file system is read-only; move the repository or set NODE_PATH)", op, path, err)
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		return fmt.Errorf("%s %s: %w (check the owner and permissions of the repository)", op, path, err)
	}
	return fmt.Errorf("%s %s: %w", op, path, err)
}
