package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/spf13/cobra"

	"node/blockstore"
	"node/core"
	"node/ipath"
	"node/unixfs"
	"node/unixfs/importer"
)

func (c *cli) addCmd() *cobra.Command {
	var (
		recursive, wrap, quietest, quiet, onlyHash, rawLeaves, pinIt, hidden, progress bool
		cidVersion                                                                     int
		chunker, hash, stdinName                                                       string
	)
	cmd := &cobra.Command{
		Use:   "add PATH...",
		Short: "Add files, directories or stdin (-) and print their CIDs",
		Long: `Add files and directories (with -r), or standard input (-), as UnixFS DAGs.
The CIDs are those the reference IPFS implementation gives for the same bytes
and options: CIDv0 with 256 KiB chunks by default; --cid-version 1 implies
--raw-leaves unless that is set explicitly.`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				// Like the reference CLI: piped input is added when no path is given.
				if c.stdinTTY {
					return fmt.Errorf("nothing to add: give one or more PATHs, or - to read standard input")
				}
				args = []string{"-"}
			}
			opts := importer.DefaultOptions()
			opts.CIDVersion = cidVersion
			var err error
			if opts.HashFunction, err = importer.ParseHash(hash); err != nil {
				return err
			}
			if opts.HashFunction != importer.DefaultOptions().HashFunction && !cmd.Flags().Changed("cid-version") {
				opts.CIDVersion = 1 // CIDv0 can only be sha2-256
			}
			opts.RawLeaves = opts.CIDVersion == 1
			if cmd.Flags().Changed("raw-leaves") {
				opts.RawLeaves = rawLeaves
			}
			if opts.ChunkSize, err = importer.ParseChunker(chunker); err != nil {
				return err
			}
			if err := opts.Validate(); err != nil {
				return err
			}

			for i := range args {
				args[i] = c.abs(args[i])
			}
			req := core.AddRequest{
				Paths: args, Stdin: c.stdin, StdinName: stdinName, Options: opts,
				Recursive: recursive, Hidden: hidden, Wrap: wrap, OnlyHash: onlyHash, Pin: pinIt,
			}
			showBar := progress && !quietest && !quiet && c.stderrTTY
			total := int64(-1)
			if showBar { // walking the input only to size a bar nobody sees is wasted I/O
				total = inputSize(args, hidden)
			}
			bar := c.newBar(showBar, total, "adding")
			defer bar.finish()
			req.Progress = bar.add
			if !quietest {
				req.OnAdded = func(name string, id cid.Cid, _ uint64) {
					bar.clear()
					if quiet {
						fmt.Fprintln(c.stdout, id)
					} else {
						fmt.Fprintln(c.stdout, "added", id, name)
					}
				}
			}

			add := func(store blockstore.Store, pins core.Pinner) error {
				roots, err := core.Add(cmd.Context(), store, pins, req)
				if err != nil {
					return err
				}
				// A daemon announces the root at once (the rest by the
				// provider's strategy, at its next sweep).
				if c.daemon != nil && c.daemon.Provider != nil && !onlyHash {
					for _, r := range roots {
						// Not behind the reprovide sweep's queue, and
						// not making the add wait for the DHT.
						go func() {
							ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
							defer cancel()
							_ = c.daemon.Provider.ProvideNow(ctx, r)
						}()
					}
				}
				bar.finish()
				if quietest && len(roots) > 0 {
					fmt.Fprintln(c.stdout, roots[len(roots)-1])
				}
				return nil
			}
			if onlyHash { // --only-hash needs no repository
				return add(nil, nil)
			}
			return c.withRepo(func(s *session) error { return add(s.Blocks, s.Pins) })
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&recursive, "recursive", "r", false, "add directories recursively")
	f.BoolVarP(&wrap, "wrap-with-directory", "w", false, "wrap what is added in a directory")
	f.BoolVarP(&quietest, "quieter", "Q", false, "print only the final root CID")
	f.BoolVarP(&quiet, "quiet", "q", false, "print only CIDs")
	f.BoolVarP(&onlyHash, "only-hash", "n", false, "compute the CIDs without storing anything")
	f.IntVar(&cidVersion, "cid-version", 0, "CID version: 0 or 1 (1 implies --raw-leaves)")
	f.BoolVar(&rawLeaves, "raw-leaves", false, "store file data in raw blocks")
	f.StringVar(&chunker, "chunker", "size-262144", "chunking algorithm: size-N")
	f.StringVar(&hash, "hash", "sha2-256", "hash function: sha2-256 or blake3")
	f.BoolVar(&pinIt, "pin", true, "pin what is added")
	f.BoolVarP(&hidden, "hidden", "H", false, "include files whose names start with a dot")
	f.BoolVar(&progress, "progress", true, "show a progress bar on a terminal")
	f.StringVar(&stdinName, "stdin-name", "", "name of standard input's content inside a -w directory")
	return cmd
}

// inputSize is the number of file bytes under the paths, for the progress
// bar; -1 when unknown (stdin).
func inputSize(paths []string, hidden bool) int64 {
	var total int64
	for _, p := range paths {
		if p == "-" {
			return -1
		}
		_ = filepath.WalkDir(p, func(path string, d os.DirEntry, err error) error {
			if err != nil {
				return nil
			}
			if path != p && !hidden && len(d.Name()) > 0 && d.Name()[0] == '.' {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if d.Type().IsRegular() {
				if info, err := d.Info(); err == nil {
					total += info.Size()
				}
			}
			return nil
		})
	}
	return total
}

func (c *cli) catCmd() *cobra.Command {
	var offset, length int64
	cmd := &cobra.Command{
		Use:   "cat PATH",
		Short: "Write a file's bytes to stdout",
		Long:  "PATH is CID, CID/sub/path, /ipfs/CID/sub/path or /ipns/NAME/sub/path. Only the blocks holding the asked range are read.",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.withRepo(func(s *session) error {
				p, err := s.path(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				return core.Cat(cmd.Context(), s.Blocks, p, offset, length, c.stdout)
			})
		},
	}
	cmd.Flags().Int64VarP(&offset, "offset", "o", 0, "byte offset to start at")
	cmd.Flags().Int64VarP(&length, "length", "l", -1, "number of bytes to write (default: to the end)")
	return cmd
}

func (c *cli) getCmd() *cobra.Command {
	var out string
	var progress bool
	cmd := &cobra.Command{
		Use:   "get PATH",
		Short: "Write a file or directory tree to disk",
		Long: `Write the file or directory at PATH to OUT (default: the last path
segment, or the CID). Entries whose names could escape OUT are refused.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.withRepo(func(s *session) error {
				if out == "" {
					p, err := ipath.Parse(args[0])
					if err != nil {
						return err
					}
					out = p.CID.String()
					if p.Namespace == "ipns" {
						out = p.Name
					}
					if len(p.Segments) > 0 {
						out = p.Segments[len(p.Segments)-1]
					}
				}
				dest := c.abs(out)
				path, err := s.path(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				showBar := progress && c.stderrTTY
				total := int64(-1)
				if showBar { // only a bar needs the size up front
					if total, err = core.TotalSize(cmd.Context(), s.Blocks, path); err != nil {
						return err
					}
				}
				bar := c.newBar(showBar, total, "getting")
				defer bar.finish()
				if err := core.Get(cmd.Context(), s.Blocks, path, dest, bar.add); err != nil {
					return err
				}
				bar.finish()
				fmt.Fprintf(c.stderr, "saved %s to %s\n", args[0], out)
				return nil
			})
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "where to write (must not exist)")
	cmd.Flags().BoolVar(&progress, "progress", true, "show a progress bar on a terminal")
	return cmd
}

func (c *cli) lsCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "ls PATH",
		Short: "List a directory: CID, size and name of each entry",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.withRepo(func(s *session) error {
				p, err := s.path(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				entries, err := core.Ls(cmd.Context(), s.Blocks, p)
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(c.stdout, 1, 8, 1, ' ', 0)
				for _, e := range entries {
					name, size := e.Name, fmt.Sprint(e.Size)
					if e.Type == unixfs.TDirectory || e.Type == unixfs.THAMTShard {
						name, size = name+"/", "-"
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\n", e.CID, size, name)
				}
				return tw.Flush()
			})
		},
	}
}
