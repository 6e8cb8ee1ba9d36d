package main

import (
	"fmt"

	"github.com/ipfs/go-cid"
	"github.com/spf13/cobra"

	"node/blockstore"
	"node/core"
	"node/dag"
	"node/pin"
)

func (c *cli) pinCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "pin", Short: "Keep content from garbage collection"}

	var recursive bool
	add := &cobra.Command{
		Use: "add PATH...", Short: "Pin content (recursively by default)", Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.withRepo(func(s *session) error {
				for _, a := range args {
					id, err := s.resolveCID(cmd.Context(), a)
					if err != nil {
						return err
					}
					if recursive {
						err = s.Pins.PinRecursive(cmd.Context(), id)
					} else {
						err = s.Pins.PinDirect(cmd.Context(), id)
					}
					if err != nil {
						return err
					}
					kind := "recursively"
					if !recursive {
						kind = "directly"
					}
					fmt.Fprintf(c.stdout, "pinned %s %s\n", id, kind)
				}
				return nil
			})
		},
	}
	add.Flags().BoolVarP(&recursive, "recursive", "r", true, "pin the whole DAG (false: only the block)")

	var rmRecursive bool
	rm := &cobra.Command{
		Use: "rm PATH...", Short: "Unpin content", Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.withRepo(func(s *session) error {
				for _, a := range args {
					id, err := s.resolveCID(cmd.Context(), a)
					if err != nil {
						return err
					}
					if err := s.Pins.Unpin(cmd.Context(), id, rmRecursive); err != nil {
						return err
					}
					fmt.Fprintf(c.stdout, "unpinned %s\n", id)
				}
				return nil
			})
		},
	}
	rm.Flags().BoolVarP(&rmRecursive, "recursive", "r", true, "remove a recursive pin (false: a direct pin)")

	var kind string
	var quiet bool
	ls := &cobra.Command{
		Use: "ls [CID...]", Short: "List pins: recursive, direct, indirect or all", Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			mode, err := pin.ParseMode(kind)
			if err != nil {
				return err
			}
			return c.withRepo(func(s *session) error {
				var pins []pin.Pin
				if len(args) > 0 {
					for _, a := range args {
						id, err := s.resolveCID(cmd.Context(), a)
						if err != nil {
							return err
						}
						p, ok, err := s.Pins.IsPinned(cmd.Context(), id)
						if err != nil {
							return err
						}
						if !ok {
							return fmt.Errorf("%s is not pinned", id)
						}
						if mode != pin.All && p.Mode != mode {
							return fmt.Errorf("%s is pinned %s, not %s", id, p.Mode, mode)
						}
						pins = append(pins, p)
					}
				} else if pins, err = s.Pins.List(cmd.Context(), mode); err != nil {
					return err
				}
				for _, p := range pins {
					if quiet {
						fmt.Fprintln(c.stdout, p.CID)
						continue
					}
					fmt.Fprintf(c.stdout, "%s %s\n", p.CID, p.Mode)
				}
				return nil
			})
		},
	}
	ls.Flags().StringVarP(&kind, "type", "t", "all", "pin type: recursive, direct, indirect or all")
	ls.Flags().BoolVarP(&quiet, "quiet", "q", false, "print only CIDs")
	cmd.AddCommand(add, rm, ls)
	return cmd
}

func (c *cli) repoCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "repo", Short: "Maintain the repository"}
	var quiet bool
	gc := &cobra.Command{
		Use: "gc", Short: "Delete every block no pin keeps", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return c.withRepo(func(s *session) error {
				// GC walks and sweeps only the local store, never the network.
				res, err := pin.GC(cmd.Context(), blockstore.WithIdentity(s.Packs), s.Pins, dag.Links)
				if !quiet {
					for _, r := range res.Removed {
						fmt.Fprintln(c.stdout, "removed", r)
					}
				}
				if err != nil {
					return err
				}
				// Deleting marks blocks gone; compaction gives the space back.
				cs, err := s.Packs.Compact(cmd.Context())
				if err != nil {
					return fmt.Errorf("removed %d blocks, but compacting the packs failed: %w", len(res.Removed), err)
				}
				fmt.Fprintf(c.stderr, "removed %d blocks (%d bytes); compaction returned %d bytes to the disk\n", len(res.Removed), res.Freed, cs.FreedBytes)
				return nil
			})
		},
	}
	gc.Flags().BoolVarP(&quiet, "quiet", "q", false, "print only the summary")

	stat := &cobra.Command{
		Use: "stat", Short: "Count the stored blocks and bytes", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return c.withRepo(func(s *session) error {
				st, err := core.Stat(cmd.Context(), s.Blocks)
				if err != nil {
					return err
				}
				fmt.Fprintf(c.stdout, "NumObjects: %d\nRepoSize: %d\nRepoPath: %s\n", st.Blocks, st.Bytes, s.Repo.Root())
				return nil
			})
		},
	}

	verify := &cobra.Command{
		Use: "verify", Short: "Re-hash every block and name the corrupt ones", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return c.withRepo(func(s *session) error {
				bad := 0
				n, err := core.Verify(cmd.Context(), s.Blocks, func(id cid.Cid, why error) {
					bad++
					fmt.Fprintf(c.stdout, "corrupt: %s: %v\n", id, why)
				})
				if err != nil {
					return err
				}
				// Every pinned DAG must also be whole: a block can be lost, not
				// only damaged.
				_, pinErr := s.Pins.List(cmd.Context(), pin.Indirect)
				if pinErr != nil {
					fmt.Fprintf(c.stdout, "pinned DAG not readable whole: %v\n", pinErr)
				}
				if bad > 0 || pinErr != nil {
					problem := fmt.Sprintf("%d of %d blocks are corrupt", bad, n)
					if pinErr != nil {
						problem += " and a pinned DAG cannot be read whole"
					}
					return fmt.Errorf("%s. To repair: `node pin rm` the pins holding them, `node block rm` the bad "+
						"blocks, then add or import the content again and pin it", problem)
				}
				fmt.Fprintf(c.stdout, "verified %d blocks: all good\n", n)
				return nil
			})
		},
	}
	cmd.AddCommand(gc, stat, verify)
	return cmd
}
