// Command node is the CLI of the node: a content-addressed storage node in
// the IPFS family. See README.md for a tour and ../../docs for formats.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"node/core"
	"node/daemon"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

func main() {
	// The first Ctrl-C (or SIGTERM) cancels the command's context so it can
	// stop cleanly; from then on signals have their default effect, so a
	// second Ctrl-C ends a command that does not stop.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	context.AfterFunc(ctx, stop)
	cwd, _ := os.Getwd()
	c := &cli{
		stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, cwd: cwd,
		stdinTTY:  term.IsTerminal(int(os.Stdin.Fd())),
		stderrTTY: term.IsTerminal(int(os.Stderr.Fd())),
	}
	err := c.run(ctx, os.Args[1:])
	stop()
	if errors.Is(err, errBrokenPipe) {
		// The reader of stdout went away while the daemon wrote to it:
		// end quietly with the status a shell gives a process killed by
		// SIGPIPE. (Go's runtime ignores a SIGPIPE sent to itself, so
		// the process cannot die of one.)
		os.Exit(128 + int(syscall.SIGPIPE))
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(1)
	}
}

// cli holds the process's streams, so tests can run commands in-process.
type cli struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	// stdinTTY and stderrTTY say whether the user's stdin and stderr are
	// terminals (known locally, or told by a remote client).
	stdinTTY, stderrTTY bool
	// cwd is the user's working directory, against which relative paths
	// are resolved (the daemon's own differs).
	cwd string
	// node is the repository the daemon holds when it runs this command
	// for a client; nil when the command opens the repository itself.
	node *core.Node
	// daemon is the running daemon, for commands that need the network;
	// nil when the command runs in its own process.
	daemon *daemon.Daemon
}

// abs resolves a path the user gave against the user's directory.
func (c *cli) abs(p string) string {
	if p == "-" || filepath.IsAbs(p) || c.cwd == "" {
		return p
	}
	return filepath.Join(c.cwd, p)
}

// run runs one command line: through the daemon when one holds the
// repository (see remote.go), else here.
func (c *cli) run(ctx context.Context, args []string) error {
	if c.node == nil {
		if done, err := c.runRemote(ctx, args); done {
			return err
		}
	}
	root := c.newRoot()
	root.SetArgs(args)
	return root.ExecuteContext(ctx)
}

func (c *cli) newRoot() *cobra.Command {
	stdin, stdout, stderr := c.stdin, c.stdout, c.stderr
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
		c.initCmd(), c.configCmd(), c.versionCmd(), c.idCmd(), c.daemonCmd(), c.swarmCmd(), c.routingCmd(), c.statsCmd(), c.bitswapCmd(),
		c.addCmd(), c.catCmd(), c.getCmd(), c.lsCmd(),
		c.blockCmd(), c.dagCmd(), c.pinCmd(), c.repoCmd(), c.keyCmd(), c.nameCmd(), c.ledgerCmd(), c.mountCmd(),
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

// contextWithTimeout bounds a command's context.
func contextWithTimeout(cmd *cobra.Command, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(cmd.Context(), d)
}
