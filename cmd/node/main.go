// Command node is the CLI of the node: a content-addressed storage node in
// the IPFS family. See README.md for a tour and ../../docs for formats.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"node/core"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

func main() {
	// The first Ctrl-C (or SIGTERM) cancels the command's context so it can
	// stop cleanly; from then on signals have their default effect, so a
	// second Ctrl-C ends a command that does not stop.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	context.AfterFunc(ctx, stop)
	err := newRoot(os.Stdin, os.Stdout, os.Stderr).ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(1)
	}
}

// cli holds the process's streams, so tests can run commands in-process.
type cli struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	// node is the repository the daemon holds when it runs this command
	// for a client; nil when the command opens the repository itself.
	node *core.Node
}

func newRoot(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	c := &cli{stdin: stdin, stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:   "node",
		Short: "A content-addressed storage node in the IPFS family",
		Long: `node stores files as content-addressed blocks, identical to IPFS's,
and moves them between nodes as CAR files.

The repository lives in $NODE_PATH (default ~/.node); create it with 'node init'.`,
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(
		c.initCmd(), c.configCmd(), c.versionCmd(), c.idCmd(),
		c.addCmd(), c.catCmd(), c.getCmd(), c.lsCmd(),
		c.blockCmd(), c.dagCmd(), c.pinCmd(), c.repoCmd(),
	)
	return root
}

func (c *cli) versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the node's version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintf(c.stdout, "node version %s\n", version)
			return nil
		},
	}
}
