package main

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"node/daemon"
	"node/fuse"
	"node/repo"
)

func (c *cli) mountCmd() *cobra.Command {
	var unmount bool
	cmd := &cobra.Command{
		Use:   "mount [DIR]",
		Short: "Show the network as a directory (FUSE): DIR/ipfs and DIR/ipns",
		Long: `Mount DIR/ipfs (any content by CID: DIR/ipfs/<cid>/...) and DIR/ipns
(names: DIR/ipns/<name>/...; DIR/ipns/local is this node's own name and is
writable: what is written there is imported and published). Without DIR, the
mount points are Mounts.IPFS and Mounts.IPNS from the config. The daemon
serves the mounts until it stops or --unmount; a stale mount left by a
killed process is cleared first.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ipfsDir, ipnsDir, err := c.mountDirs(args)
			if err != nil {
				return err
			}
			if unmount {
				return c.unmount(ipfsDir, ipnsDir)
			}
			if c.daemon == nil {
				return errors.New("the mounts are served by the daemon: run `node daemon --mount`, or start `node daemon` and then `node mount`")
			}
			if err := c.daemon.Mount(ipfsDir, ipnsDir); err != nil {
				return err
			}
			fmt.Fprintf(c.stdout, "IPFS mounted at: %s\nIPNS mounted at: %s\n", ipfsDir, ipnsDir)
			return nil
		},
	}
	cmd.Flags().BoolVar(&unmount, "unmount", false, "unmount DIR/ipfs and DIR/ipns (publishing what was written under ipns/local)")
	return cmd
}

// mountDirs are the two mount points: DIR/ipfs and DIR/ipns, or the
// config's.
func (c *cli) mountDirs(args []string) (string, string, error) {
	if len(args) == 1 {
		dir := c.abs(args[0])
		return filepath.Join(dir, "ipfs"), filepath.Join(dir, "ipns"), nil
	}
	var cfg *repo.Config
	if c.node != nil {
		cfg = c.node.Repo.Config()
	} else {
		root, err := repoPath()
		if err != nil {
			return "", "", err
		}
		if cfg, err = repo.ReadConfig(root); err != nil {
			return "", "", err
		}
	}
	return cfg.Mounts.IPFS, cfg.Mounts.IPNS, nil
}

// unmount ends the mounts: through the daemon that serves them, or
// directly (stale mounts, or a daemon that is gone).
func (c *cli) unmount(dirs ...string) error {
	var errs []error
	for _, dir := range dirs {
		var served bool
		var err error
		if c.daemon != nil {
			served, err = c.daemon.Unmount(dir)
		}
		if !served {
			err = fuse.Unmount(dir)
		}
		if err != nil && !errors.Is(err, fuse.ErrNotMounted) {
			errs = append(errs, err)
			continue
		}
		if err == nil {
			fmt.Fprintf(c.stdout, "unmounted %s\n", dir)
		}
	}
	return errors.Join(errs...)
}

// mountFromDaemon mounts the config's mount points for `node daemon --mount`.
func mountFromDaemon(d *daemon.Daemon) (string, string, error) {
	cfg := d.Node.Repo.Config()
	return cfg.Mounts.IPFS, cfg.Mounts.IPNS, d.Mount(cfg.Mounts.IPFS, cfg.Mounts.IPNS)
}
