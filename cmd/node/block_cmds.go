package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"node/core"
	"node/unixfs/importer"
)

func (c *cli) blockCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "block", Short: "Work with raw blocks"}

	get := &cobra.Command{
		Use: "get CID", Short: "Write a block's bytes to stdout", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := core.ParseCID(args[0])
			if err != nil {
				return err
			}
			return c.withRepo(func(s *session) error {
				data, err := s.Blocks.Get(cmd.Context(), id)
				if err != nil {
					return err
				}
				_, err = c.stdout.Write(data)
				return err
			})
		},
	}

	var codec, mhType string
	var version int
	put := &cobra.Command{
		Use: "put [FILE]", Short: "Store one block read from FILE or stdin and print its CID", Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			codecNum, err := core.ParseCodec(codec)
			if err != nil {
				return err
			}
			mh, err := importer.ParseHash(mhType)
			if err != nil {
				return err
			}
			in := c.stdin
			if len(args) == 1 && args[0] != "-" {
				f, err := os.Open(c.abs(args[0]))
				if err != nil {
					return err
				}
				defer f.Close()
				in = f
			}
			return c.withRepo(func(s *session) error {
				id, err := core.BlockPut(cmd.Context(), s.Blocks, in, codecNum, mh, version)
				if err != nil {
					return err
				}
				fmt.Fprintln(c.stdout, id)
				return nil
			})
		},
	}
	put.Flags().StringVar(&codec, "cid-codec", "raw", "codec of the block: raw, dag-pb or dag-cbor")
	put.Flags().StringVar(&mhType, "mhtype", "sha2-256", "hash function: sha2-256 or blake3")
	put.Flags().IntVar(&version, "cid-version", 1, "CID version (0 only for dag-pb with sha2-256)")

	stat := &cobra.Command{
		Use: "stat CID", Short: "Print a block's CID and size", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := core.ParseCID(args[0])
			if err != nil {
				return err
			}
			return c.withRepo(func(s *session) error {
				n, err := s.Blocks.Size(cmd.Context(), id)
				if err != nil {
					return err
				}
				fmt.Fprintf(c.stdout, "Key: %s\nSize: %d\n", id, n)
				return nil
			})
		},
	}

	var force bool
	rm := &cobra.Command{
		Use: "rm CID...", Short: "Remove blocks (pinned blocks are refused)", Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.withRepo(func(s *session) error {
				failed := 0
				for _, a := range args {
					id, err := core.ParseCID(a)
					if err == nil {
						err = core.BlockRemove(cmd.Context(), s.Blocks, s.Pins, id, force)
					}
					if err != nil {
						fmt.Fprintf(c.stderr, "cannot remove %s: %v\n", a, err)
						failed++
						continue
					}
					fmt.Fprintln(c.stdout, "removed", id)
				}
				if failed > 0 {
					return fmt.Errorf("%d of %d blocks were not removed", failed, len(args))
				}
				return nil
			})
		},
	}
	rm.Flags().BoolVarP(&force, "force", "f", false, "do not fail on blocks that are not stored")
	cmd.AddCommand(get, put, stat, rm)
	return cmd
}

func (c *cli) dagCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "dag", Short: "Move DAGs in and out as CAR files"}
	export := &cobra.Command{
		Use: "export CID", Short: "Write a CAR v1 of the DAG under CID to stdout", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := core.ParseCID(args[0])
			if err != nil {
				return err
			}
			return c.withRepo(func(s *session) error {
				return core.Export(cmd.Context(), s.Blocks, id, c.stdout)
			})
		},
	}
	var pinRoots bool
	imp := &cobra.Command{
		Use: "import FILE...", Short: "Store the blocks of CAR files and pin their roots", Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.withRepo(func(s *session) error {
				failed := false
				for _, name := range args {
					f, err := os.Open(c.abs(name))
					if err != nil {
						return err
					}
					res, err := core.Import(cmd.Context(), s.Blocks, s.Pins, f, pinRoots)
					f.Close()
					if err != nil {
						return fmt.Errorf("importing %s: %w (%d blocks stored before the error; none pinned)", name, err, res.Blocks)
					}
					for _, r := range res.Roots {
						if why, bad := res.Unpinned[r]; bad {
							fmt.Fprintf(c.stderr, "root %s of %s was not pinned: %v\n", r, name, why)
							failed = true
							continue
						}
						if pinRoots {
							fmt.Fprintf(c.stdout, "pinned root %s\n", r)
						}
					}
					fmt.Fprintf(c.stdout, "imported %d blocks from %s\n", res.Blocks, name)
				}
				if failed {
					return fmt.Errorf("some roots were not pinned because their DAGs are incomplete")
				}
				return nil
			})
		},
	}
	imp.Flags().BoolVar(&pinRoots, "pin-roots", true, "pin the roots named in the CAR header")
	cmd.AddCommand(export, imp)
	return cmd
}
