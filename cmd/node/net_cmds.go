package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"node/core"
	"node/p2p"
	"node/repo"
)

// errNoDaemon is returned by commands that need the network.
var errNoDaemon = errors.New("this command needs the network: start `node daemon` first")

// online returns the running daemon, or errNoDaemon.
func (c *cli) online() error {
	if c.daemon == nil || c.daemon.Host == nil {
		if c.daemon != nil {
			return errors.New("the daemon runs --offline: restart it without --offline to use the network")
		}
		return errNoDaemon
	}
	return nil
}

func (c *cli) idCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "id",
		Short: "Print the node's peer ID and, with a daemon, its addresses",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			info := map[string]any{}
			if c.daemon != nil {
				_, id := c.daemon.Node.Repo.Identity()
				info["ID"] = id.String()
				info["Addresses"] = c.daemon.Addrs()
				if c.daemon.Host != nil {
					info["Protocols"] = c.daemon.Host.Mux().Protocols()
				}
			} else {
				root, err := repoPath()
				if err != nil {
					return err
				}
				cfg, err := repo.ReadConfig(root)
				if err != nil {
					return err
				}
				info["ID"] = cfg.Identity.PeerID
				info["Addresses"] = []string{}
			}
			out, err := json.MarshalIndent(info, "", "  ")
			if err != nil {
				return err
			}
			fmt.Fprintln(c.stdout, string(out))
			return nil
		},
	}
}

func (c *cli) swarmCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "swarm", Short: "The peers this node is connected to"}
	peers := &cobra.Command{
		Use: "peers", Short: "List connected peers", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := c.online(); err != nil {
				return err
			}
			for _, conn := range c.daemon.Host.Network().Conns() {
				fmt.Fprintf(c.stdout, "%s/p2p/%s\n", conn.RemoteMultiaddr(), conn.RemotePeer())
			}
			return nil
		},
	}
	connect := &cobra.Command{
		Use: "connect MULTIADDR...", Short: "Connect to peers (addresses ending in /p2p/<peer ID>)", Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := c.online(); err != nil {
				return err
			}
			infos, err := p2p.ParsePeers(args)
			if err != nil {
				return err
			}
			for _, info := range infos {
				if err := c.daemon.Host.Connect(cmd.Context(), info); err != nil {
					return fmt.Errorf("connecting to %s: %w", info.ID, err)
				}
				fmt.Fprintf(c.stdout, "connected %s\n", info.ID)
			}
			return nil
		},
	}
	cmd.AddCommand(peers, connect)
	return cmd
}

func (c *cli) routingCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "routing", Short: "Find and announce content on the DHT"}
	var count int
	var timeout time.Duration
	findprovs := &cobra.Command{
		Use: "findprovs CID", Short: "Find peers that provide a CID", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := c.online(); err != nil {
				return err
			}
			id, err := core.ParseCID(args[0])
			if err != nil {
				return err
			}
			ctx, cancel := contextWithTimeout(cmd, timeout)
			defer cancel()
			n := 0
			for p := range c.daemon.DHT.FindProvidersAsync(ctx, id, count) {
				fmt.Fprintln(c.stdout, p.ID)
				n++
			}
			if n == 0 {
				return fmt.Errorf("no providers of %s found within %s", id, timeout)
			}
			return nil
		},
	}
	findprovs.Flags().IntVarP(&count, "num-providers", "n", 20, "stop after this many providers")
	findprovs.Flags().DurationVar(&timeout, "timeout", time.Minute, "give up after this long")
	provide := &cobra.Command{
		Use: "provide CID...", Short: "Announce that this node provides CIDs", Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := c.online(); err != nil {
				return err
			}
			for _, a := range args {
				id, err := core.ParseCID(a)
				if err != nil {
					return err
				}
				if err := c.daemon.Provider.ProvideNow(cmd.Context(), id); err != nil {
					return fmt.Errorf("providing %s: %w", id, err)
				}
				fmt.Fprintf(c.stdout, "provided %s\n", id)
			}
			return nil
		},
	}
	cmd.AddCommand(findprovs, provide)
	return cmd
}
