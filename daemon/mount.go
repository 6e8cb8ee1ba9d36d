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
		Local: &localPublisher{names: d.Names, node: d.Node}, LocalName: self,
		LocalRoot: func(ctx context.Context) (cid.Cid, error) {
			p, _, err := d.Names.ResolvePath(ctx, "/ipns/"+self)
			if err != nil {
				return cid.Undef, err
			}
			return core.ResolveCID(ctx, d.Node.Blocks, p)
		},
		HoldGC:   d.Node.Pins.PinLock,
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

// localPublisher publishes /ipns/local's root under the node's own name
// and pins it, so garbage collection keeps what was written there. The
// root it pinned last is remembered in the datastore and unpinned when a
// newer one replaces it.
type localPublisher struct {
	names *namesys.NameSystem
	node  *core.Node
	mu    sync.Mutex // serialises publishes, so pins follow the published order
}

// localPinKey holds the root of /ipns/local this daemon pinned last.
const localPinKey = "/fuse/local-root"

func (p *localPublisher) Publish(ctx context.Context, value string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	root, err := core.ResolveCID(ctx, p.node.Blocks, value)
	if err != nil {
		return err
	}
	if err := p.node.Pins.PinRecursive(ctx, root); err != nil {
		return fmt.Errorf("pinning the new root of /ipns/local: %w", err)
	}
	ds := p.node.Repo.Datastore()
	old, _ := ds.Get(localPinKey)
	_, _, err = p.names.Publish(ctx, namesys.SelfKey, value, namesys.PublishOptions{})
	if err != nil && !errors.Is(err, namesys.ErrPutFailed) { // ErrPutFailed: stored locally, republished later
		if string(old) != root.String() {
			// Not published: the mount retries with a newer root, so this
			// pin would stay behind.
			p.node.Pins.Unpin(context.WithoutCancel(ctx), root, true)
		}
		return err
	}
	if old != nil && string(old) != root.String() {
		if c, err := cid.Decode(string(old)); err == nil {
			p.node.Pins.Unpin(ctx, c, true) // gone already is fine
		}
	}
	return ds.Put(localPinKey, []byte(root.String()))
}

// namesysName is the IPNS name of a key, as a string.
func namesysName(sk interface{ GetPublic() crypto.PubKey }) (string, error) {
	n, err := ipns.NameFromPublicKey(sk.GetPublic())
	if err != nil {
		return "", err
	}
	return n.String(), nil
}
