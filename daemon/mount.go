package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"

	"node/core"
	"node/fuse"
	"node/ipns"
	"node/namesys"
)

// mounts are the FUSE mounts the daemon serves.
type mounts struct {
	mu   sync.Mutex // guards list
	list []*fuse.Mount
}

// Mount mounts the network at ipfsDir (/ipfs/<cid>/...) and ipnsDir
// (/ipns/<name>/..., with the node's own name writable as local). Stale
// mounts left by a killed process are cleared first. The mounts end with
// the daemon, or with Unmount.
func (d *Daemon) Mount(ipfsDir, ipnsDir string) error {
	if err := fuse.Check(); err != nil {
		return err
	}
	sk, _ := d.Node.Repo.Identity()
	self, err := namesysName(sk)
	if err != nil {
		return err
	}
	cfg := fuse.Config{
		Blocks: d.Node.Blocks, Store: d.Node.Blocks, Names: d.Names,
		Local: localPublisher{d.Names}, LocalName: self,
		LocalRoot: func(ctx context.Context) (cid.Cid, error) {
			p, _, err := d.Names.ResolvePath(ctx, "/ipns/"+self)
			if err != nil {
				return cid.Undef, err
			}
			return core.ResolveCID(ctx, d.Node.Blocks, p)
		},
		StageDir: filepath.Join(d.Node.Repo.Root(), "mount-staging"),
		Log:      d.log.With("subsystem", "fuse"),
	}
	if err := os.MkdirAll(cfg.StageDir, 0o700); err != nil {
		return err
	}
	d.mounts.mu.Lock()
	defer d.mounts.mu.Unlock()
	for _, m := range []struct {
		dir   string
		mount func(string, fuse.Config) (*fuse.Mount, error)
	}{{ipfsDir, fuse.MountIPFS}, {ipnsDir, fuse.MountIPNS}} {
		if err := os.MkdirAll(m.dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			if cleared, cerr := fuse.ClearStale(m.dir); cerr != nil || !cleared {
				return fmt.Errorf("mount point %s: %w", m.dir, err)
			}
		}
		if cleared, err := fuse.ClearStale(m.dir); err != nil {
			return err
		} else if cleared {
			d.log.Info("cleared a stale mount left by a process that died", "dir", m.dir)
		}
		mnt, err := m.mount(m.dir, cfg)
		if err != nil {
			return err
		}
		d.mounts.list = append(d.mounts.list, mnt)
	}
	return nil
}

// Mounted lists the directories the daemon serves.
func (d *Daemon) Mounted() []string {
	d.mounts.mu.Lock()
	defer d.mounts.mu.Unlock()
	var dirs []string
	for _, m := range d.mounts.list {
		dirs = append(dirs, m.Dir())
	}
	return dirs
}

// Unmount unmounts dir if the daemon serves it, publishing what was
// written under /ipns/local; it reports whether it did.
func (d *Daemon) Unmount(dir string) (bool, error) {
	abs, _ := filepath.Abs(dir)
	d.mounts.mu.Lock()
	var found *fuse.Mount
	for i, m := range d.mounts.list {
		if m.Dir() == dir || m.Dir() == abs {
			found = m
			d.mounts.list = append(d.mounts.list[:i], d.mounts.list[i+1:]...)
			break
		}
	}
	d.mounts.mu.Unlock()
	if found == nil {
		return false, nil
	}
	return true, found.Unmount()
}

// unmountAll ends every mount (at Close).
func (d *Daemon) unmountAll() error {
	d.mounts.mu.Lock()
	list := d.mounts.list
	d.mounts.list = nil
	d.mounts.mu.Unlock()
	var errs []error
	for _, m := range list {
		errs = append(errs, m.Unmount())
	}
	return errors.Join(errs...)
}

// localPublisher publishes /ipns/local's root under the node's own name.
type localPublisher struct{ names *namesys.NameSystem }

func (p localPublisher) Publish(ctx context.Context, value string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	_, _, err := p.names.Publish(ctx, namesys.SelfKey, value, namesys.PublishOptions{})
	if errors.Is(err, namesys.ErrPutFailed) {
		return nil // stored locally; the republisher puts it again
	}
	return err
}

// namesysName is the IPNS name of a key, as a string.
func namesysName(sk interface{ GetPublic() crypto.PubKey }) (string, error) {
	n, err := ipns.NameFromPublicKey(sk.GetPublic())
	if err != nil {
		return "", err
	}
	return n.String(), nil
}
