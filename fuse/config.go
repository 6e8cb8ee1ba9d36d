package fuse

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/ipfs/go-cid"

	"node/blockstore"
	"node/unixfs"
	"node/unixfs/importer"
)

// NameResolver resolves content paths under /ipns: "/ipns/NAME/rest"
// becomes "/ipfs/CID/rest", valid for ttl. Errors wrapping
// ipns.ErrNotFound or ipns.ErrInvalidName show as "no such file".
type NameResolver interface {
	ResolvePath(ctx context.Context, p string) (resolved string, ttl time.Duration, err error)
}

// Publisher publishes value ("/ipfs/CID") under the node's own name.
type Publisher interface {
	Publish(ctx context.Context, value string) error
}

// Config is what a mount reads from and writes to. Only Blocks is
// required.
type Config struct {
	// Blocks serves every read; in the daemon it fetches missing blocks
	// over Bitswap on demand. It must honour its context.
	Blocks unixfs.Getter
	// Store receives the blocks of what is written under /ipns/local.
	// Nil: /ipns/local is absent.
	Store blockstore.Store
	// Names resolves /ipns/NAME. Nil: /ipns shows only local.
	Names NameResolver
	// Local publishes the root of /ipns/local after changes. Nil: changes
	// are imported into Store but not published (and so do not survive a
	// remount).
	Local Publisher
	// LocalName is the node's own name (k51...), shown as a symlink
	// /ipns/<LocalName> -> local.
	LocalName string
	// LocalRoot returns the currently published root of /ipns/local.
	// cid.Undef, or an error wrapping ipns.ErrNotFound or
	// blockstore.ErrNotFound, starts with an empty directory. Nil: start
	// empty.
	LocalRoot func(ctx context.Context) (cid.Cid, error)
	// HoldGC, when set, holds off garbage collection (a read lock on it,
	// like pin.Pinner.PinLock) from the first block written for
	// /ipns/local until a root holding every written block is published,
	// so a GC in between cannot delete them. The publisher must pin the
	// root it publishes. Nil: no coordination with GC.
	HoldGC func(ctx context.Context) (release func(), err error)
	// ReadTimeout bounds every block fetch: an operation that needs a
	// block which cannot be fetched in this time fails with EIO
	// (default DefaultReadTimeout).
	ReadTimeout time.Duration
	// PublishDelay is how long /ipns/local waits after the last change
	// before republishing (default DefaultPublishDelay); under a steady
	// stream of changes it publishes at the latest 10 delays after the
	// first unpublished one. fsync and unmount publish at once.
	PublishDelay time.Duration
	// Import are the UnixFS options of imported writes (zero value:
	// importer.DefaultOptions()).
	Import importer.Options
	// StageDir holds the contents of files being written under
	// /ipns/local until they are imported (default: a new directory
	// under os.TempDir(), removed at unmount). Staged files are unlinked
	// as soon as they are created, so a crash leaves nothing behind.
	StageDir string
	// Log receives the mount's messages (default slog.Default()).
	Log *slog.Logger
}

// Defaults of Config.
const (
	DefaultReadTimeout  = time.Minute
	DefaultPublishDelay = 2 * time.Second
)

var (
	// ErrUnavailable is wrapped by the errors of Check and of mounting
	// where FUSE cannot be used.
	ErrUnavailable = errors.New("FUSE is not available")
	// ErrMounted is returned when the mount point is already a live mount.
	ErrMounted = errors.New("already mounted")
	// ErrNotMounted is returned by Unmount for a directory that is not a
	// mount point.
	ErrNotMounted = errors.New("not a mount point")
	// ErrTimeout is wrapped by fetches that did not finish within
	// ReadTimeout.
	ErrTimeout = errors.New("content could not be fetched in time")
)

func (c Config) withDefaults() Config {
	if c.ReadTimeout <= 0 {
		c.ReadTimeout = DefaultReadTimeout
	}
	if c.PublishDelay <= 0 {
		c.PublishDelay = DefaultPublishDelay
	}
	if c.Import == (importer.Options{}) {
		c.Import = importer.DefaultOptions()
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	c.Log = c.Log.With("subsystem", "fuse")
	return c
}
