package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"

	"github.com/spf13/cobra"

	"node/core"
	"node/daemon"
	"node/repo"
)

func (c *cli) daemonCmd() *cobra.Command {
	var offline, mount bool
	var initProfile string
	cmd := &cobra.Command{
		Use:   "daemon",
		Short: "Run the node: join the network, serve blocks and the API",
		Long: `Run the node until Ctrl-C or SIGTERM: the libp2p host, the DHT, Bitswap,
the provider, IPNS (with its republisher), the HTTP gateway on
Addresses.Gateway (/ipfs and /ipns paths for browsers), and the HTTP API on
Addresses.API that other node commands use while the daemon holds the
repository. Creates the repository on first start.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) (err error) {
			root, err := repoPath()
			if err != nil {
				return err
			}
			if _, err := os.Stat(root); errors.Is(err, os.ErrNotExist) {
				if _, err := repo.Init(root, initProfile); err != nil {
					return err
				}
				fmt.Fprintf(c.stdout, "initialized repository at %s\n", root)
			}
			node, err := core.Open(root)
			if err != nil {
				return err
			}
			defer func() { err = errors.Join(err, node.Close()) }()
			// The daemon's work is stopped by Close, in order, not by the
			// signal that ends the command.
			d, err := daemon.Start(context.WithoutCancel(cmd.Context()), node, daemon.Options{Offline: offline})
			if err != nil {
				return err
			}
			defer func() { err = errors.Join(err, d.Close()) }()
			if err := d.ServeAPI(map[string]http.Handler{"/api/v0/cli": cliHandler(d, node)}); err != nil {
				return err
			}
			local, err := serveLocal(d, node)
			if err != nil {
				fmt.Fprintf(c.stderr, "warning: commands go through the HTTP API only: %v\n", err)
			} else {
				defer func() { err = errors.Join(err, local.Close()) }()
			}
			_, id := node.Repo.Identity()
			fmt.Fprintf(c.stdout, "peer identity: %s\n", id)
			for _, a := range d.Addrs() {
				fmt.Fprintf(c.stdout, "swarm listening on %s\n", a)
			}
			if offline {
				fmt.Fprintln(c.stdout, "offline: not joining the network")
			}
			if err := d.ServeGateway(); err != nil {
				return err
			}
			fmt.Fprintf(c.stdout, "API server listening on %s\n", d.APIAddr)
			if d.GatewayAddr != nil {
				fmt.Fprintf(c.stdout, "Gateway server listening on %s\n", d.GatewayAddr)
			}
			if mount {
				ipfsDir, ipnsDir, err := mountFromDaemon(d)
				if err != nil {
					return err
				}
				fmt.Fprintf(c.stdout, "IPFS mounted at: %s\nIPNS mounted at: %s\n", ipfsDir, ipnsDir)
			}
			fmt.Fprintln(c.stdout, "daemon is ready")
			<-cmd.Context().Done()
			fmt.Fprintln(c.stdout, "shutting down")
			return nil
		},
	}
	cmd.Flags().BoolVar(&offline, "offline", false, "run without the network")
	cmd.Flags().BoolVar(&mount, "mount", false, "mount the network at Mounts.IPFS and Mounts.IPNS (FUSE; see `node mount`)")
	cmd.Flags().StringVar(&initProfile, "init-profile", "", "profile of the repository created on first start (\"test\": loopback, random ports)")
	return cmd
}
