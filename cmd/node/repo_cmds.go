package main

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"node/repo"
)

// repoPath is $NODE_PATH or ~/.node.
func repoPath() (string, error) { return repo.DefaultPath() }

func (c *cli) initCmd() *cobra.Command {
	var profile string
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Create the repository at $NODE_PATH (default ~/.node)",
		Long: `Create the repository: a config file, an Ed25519 identity, a keystore, the
block store and a datastore for pins. --profile test gives loopback addresses
on random ports, no bootstrap peers and no mDNS.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			root, err := repoPath()
			if err != nil {
				return err
			}
			cfg, err := repo.Init(root, profile)
			if err != nil {
				return err
			}
			fmt.Fprintf(c.stdout, "initialized repository at %s\npeer identity: %s\n", root, cfg.Identity.PeerID)
			return nil
		},
	}
	cmd.Flags().StringVar(&profile, "profile", "", `configuration profile: "test" for loopback, random ports, no bootstrap, no mDNS`)
	return cmd
}

func (c *cli) configCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "config KEY [VALUE]",
		Short: "Read or set a configuration value",
		Long: `Read a configuration value, or set it. KEY is a dotted path such as
Addresses.API. VALUE is taken as a string unless --json is given.`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			root, err := repoPath()
			if err != nil {
				return err
			}
			if len(args) == 2 {
				if c.node != nil { // inside the daemon, which holds the repository
					return c.node.Repo.SetConfigValue(args[0], args[1], asJSON)
				}
				r, err := repo.Open(root)
				if err != nil {
					return err
				}
				return errors.Join(r.SetConfigValue(args[0], args[1], asJSON), r.Close())
			}
			// Reading takes no lock, so it works while another command runs.
			cfg, err := repo.ReadConfig(root)
			if err != nil {
				return err
			}
			v, err := cfg.Value(args[0])
			if err != nil {
				return err
			}
			var s string
			if json.Unmarshal(v, &s) == nil && !asJSON {
				fmt.Fprintln(c.stdout, s)
				return nil
			}
			fmt.Fprintln(c.stdout, string(v))
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "parse VALUE as JSON (and print values as JSON)")
	return cmd
}
