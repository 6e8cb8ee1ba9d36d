package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"node/namesys"
)

// nameCmd publishes and resolves IPNS names.
func (c *cli) nameCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "name", Short: "Publish and resolve IPNS names"}

	var key string
	var lifetime, ttl time.Duration
	publish := &cobra.Command{
		Use:   "publish PATH",
		Short: "Point a name at a path, signed with a key (default: the node's own)",
		Long: `Sign an IPNS record pointing the name of --key at PATH (/ipfs/CID[/sub],
CID[/sub] or /ipns/NAME), store it, and put it into the DHT. The sequence
number always grows. The daemon republishes the name before it expires;
without a running daemon the record is kept locally and put into the DHT
when the daemon starts.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.withRepo(func(s *session) error {
				ns, err := s.Names()
				if err != nil {
					return err
				}
				name, rec, err := ns.Publish(cmd.Context(), key, args[0], namesys.PublishOptions{Lifetime: lifetime, TTL: ttl})
				switch {
				case errors.Is(err, namesys.ErrPutFailed):
					fmt.Fprintf(c.stderr, "warning: %v\n", err)
				case err != nil:
					return err
				case c.daemon == nil:
					fmt.Fprintln(c.stderr, "note: no daemon is running, so the record is stored locally; `node daemon` puts it into the DHT")
				}
				fmt.Fprintf(c.stdout, "Published to %s: %s\n", name, rec.Value())
				return nil
			})
		},
	}
	publish.Flags().StringVarP(&key, "key", "k", namesys.SelfKey, "the key whose name to publish (see `node key list`)")
	publish.Flags().DurationVar(&lifetime, "lifetime", 0, "how long the record stays valid (default Ipns.RecordLifetime, 48h)")
	publish.Flags().DurationVar(&ttl, "ttl", 0, "how long resolvers may cache the record (default 5m)")

	var noCache, recursive bool
	resolve := &cobra.Command{
		Use:   "resolve [NAME]",
		Short: "Print the path a name points at (default: the node's own name)",
		Long: `NAME is an IPNS name (k51...), a peer ID or a domain with a DNSLink
(_dnslink.<domain> TXT record), with or without /ipns/.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.withRepo(func(s *session) error {
				ns, err := s.Names()
				if err != nil {
					return err
				}
				var name string
				if len(args) == 1 {
					name = args[0]
				} else {
					n, err := keyName(s.Repo.Keystore(), namesys.SelfKey)
					if err != nil {
						return err
					}
					name = n.String()
				}
				depth := 1
				if recursive {
					depth = 0
				}
				res, err := ns.Resolve(cmd.Context(), name, namesys.ResolveOptions{Depth: depth, NoCache: noCache})
				if err != nil {
					return err
				}
				fmt.Fprintln(c.stdout, res.Path)
				return nil
			})
		},
	}
	resolve.Flags().BoolVarP(&noCache, "nocache", "n", false, "skip the cache (the answer refreshes it)")
	resolve.Flags().BoolVarP(&recursive, "recursive", "r", true, "follow names until an /ipfs path (false: one step)")

	cmd.AddCommand(publish, resolve)
	return cmd
}
