package main

// The local fast path for commands run through a daemon: instead of
// relaying stdin, stdout and stderr over the HTTP API, the CLI hands its
// open files to the daemon over a Unix socket in the repository
// ($NODE_PATH/api.sock, see internal/fdpass), and the daemon reads and
// writes them itself. `node cat` through a daemon then costs no more than
// without one: the bytes go from the daemon straight into the file, pipe
// or terminal the user pointed stdout at, instead of crossing a loopback
// socket and a second process. (The tmux client hands its terminal to the
// server the same way.)
//
// Protocol, one command per connection:
//
//	CLI -> daemon: localRequest (JSON) with [stdin,] stdout, stderr attached
//	daemon -> CLI: localReply (JSON), after the daemon closed its copies
//
// The CLI half-closes its side on Ctrl-C; the daemon then cancels the
// command. Where the socket is missing (or cannot be used), the CLI falls
// back to the HTTP API (remote.go).

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"node/core"
	"node/daemon"
	"node/internal/fdpass"
)

// localSocket is the name of the daemon's CLI socket in the repository.
const localSocket = "api.sock"

// maxLocalRequest bounds a request's JSON (a command line and a path).
const maxLocalRequest = 1 << 20

type localRequest struct {
	cliRequest
	Token string
	Stdin bool // the files are stdin, stdout, stderr; else stdout, stderr
}

type localReply struct {
	Error      string // empty on success
	BrokenPipe bool   // the command stopped because stdout's reader went away
}

// errBrokenPipe: the daemon stopped writing because the reader of the
// CLI's stdout went away. main exits as a process killed by SIGPIPE would.
var errBrokenPipe = errors.New("broken pipe")

// runLocal runs the command line in the daemon through its socket. done
// is false when the socket cannot be used; the caller then uses HTTP.
func (c *cli) runLocal(ctx context.Context, root, token string, args []string) (done bool, err error) {
	stdout, ok1 := c.stdout.(*os.File)
	stderr, ok2 := c.stderr.(*os.File)
	if !ok1 || !ok2 {
		return false, nil
	}
	files := []*os.File{stdout, stderr}
	readsStdin := c.readsStdin(args)
	if readsStdin && c.stdinTTY {
		// A read of the terminal in the daemon could not be interrupted
		// by Ctrl-C: such commands go over HTTP, which relays the input.
		return false, nil
	}
	if readsStdin {
		stdin, ok := c.stdin.(*os.File)
		if !ok {
			return false, nil
		}
		files = append([]*os.File{stdin}, files...)
	}
	conn, err := fdpass.Dial(filepath.Join(root, localSocket))
	if err != nil {
		return false, nil
	}
	defer conn.Close()
	req, _ := json.Marshal(localRequest{
		cliRequest: cliRequest{Args: args, Cwd: c.cwd, StdinTTY: c.stdinTTY, StderrTTY: c.stderrTTY},
		Token:      token, Stdin: readsStdin,
	})
	if err := fdpass.WriteMsg(conn, req, files); err != nil {
		return false, nil
	}
	// Ctrl-C: tell the daemon, then wait for the command to end there,
	// so nothing is written to the terminal after this process exits.
	// If the daemon does not answer soon after (a command blocked on
	// its output), the CLI gives up waiting.
	stopCancel := context.AfterFunc(ctx, func() {
		conn.CloseWrite()
		conn.SetReadDeadline(time.Now().Add(localCloseTimeout))
	})
	defer stopCancel()
	msg, _, err := fdpass.ReadMsg(conn, maxLocalRequest, 0)
	if err != nil {
		if ctx.Err() != nil {
			return true, fmt.Errorf("interrupted; the daemon did not confirm the command stopped: %w", ctx.Err())
		}
		return true, fmt.Errorf("the daemon stopped answering: %w", err)
	}
	var reply localReply
	if err := json.Unmarshal(msg, &reply); err != nil {
		return true, fmt.Errorf("bad answer from the daemon: %w", err)
	}
	switch {
	case reply.BrokenPipe:
		return true, errBrokenPipe
	case reply.Error != "":
		return true, errors.New(reply.Error)
	}
	return true, nil
}

// localServer runs command lines handed over the repository's socket.
type localServer struct {
	l     *fdpass.Listener
	d     *daemon.Daemon
	node  *core.Node
	token string

	ctx    context.Context // cancelled by Close: running commands stop
	cancel context.CancelFunc
	wg     sync.WaitGroup // the accept loop and running commands

	mu    sync.Mutex // guards conns
	conns map[*net.UnixConn]bool
}

// Bounds on the local socket's waits: for a client to send its request,
// and for running commands to answer once the daemon stops (a command
// blocked writing into a pipe nobody reads cannot be interrupted; it is
// abandoned, as the HTTP server abandons its handlers).
const (
	localRequestTimeout = 10 * time.Second
	localCloseTimeout   = 5 * time.Second
)

// serveLocal starts the daemon's CLI socket. When it cannot listen (an
// unusual file system), CLIs use the HTTP API instead.
func serveLocal(d *daemon.Daemon, node *core.Node) (*localServer, error) {
	root := node.Repo.Root()
	token, err := daemon.ReadToken(root)
	if err != nil {
		return nil, err
	}
	l, err := fdpass.Listen(filepath.Join(root, localSocket))
	if err != nil {
		return nil, err
	}
	s := &localServer{l: l, d: d, node: node, token: token, conns: map[*net.UnixConn]bool{}}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.wg.Add(1)
	go s.acceptLoop()
	return s, nil
}

func (s *localServer) acceptLoop() {
	defer s.wg.Done()
	for {
		conn, err := s.l.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				slog.Warn("the CLI socket stopped accepting; commands go through the HTTP API", "err", err)
			}
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serve(conn)
		}()
	}
}

// Close stops accepting, cancels the commands still running and waits
// for them to answer.
func (s *localServer) Close() error {
	err := s.l.Close()
	s.cancel()
	s.mu.Lock()
	for c := range s.conns {
		c.Close() // a client that never sent its request, or waits
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(localCloseTimeout):
		slog.Warn("commands still running through the CLI socket are abandoned (blocked on their output?)")
	}
	return err
}

func (s *localServer) serve(conn *net.UnixConn) {
	s.mu.Lock()
	s.conns[conn] = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.conns, conn)
		s.mu.Unlock()
		conn.Close()
	}()
	conn.SetReadDeadline(time.Now().Add(localRequestTimeout))
	msg, files, err := fdpass.ReadMsg(conn, maxLocalRequest, 3)
	if err != nil {
		return
	}
	conn.SetReadDeadline(time.Time{})
	reply := s.run(conn, msg, files)
	// The files are closed before the answer: once the CLI has it, the
	// daemon writes nothing more to them.
	for _, f := range files {
		f.Close()
	}
	b, _ := json.Marshal(reply)
	_ = fdpass.WriteMsg(conn, b, nil)
}

func (s *localServer) run(conn *net.UnixConn, msg []byte, files []*os.File) localReply {
	var req localRequest
	if err := json.Unmarshal(msg, &req); err != nil {
		return localReply{Error: "bad request to the daemon: " + err.Error()}
	}
	if subtle.ConstantTimeCompare([]byte(req.Token), []byte(s.token)) != 1 {
		return localReply{Error: "the daemon did not accept this repository's API token"}
	}
	want := 2
	if req.Stdin {
		want = 3
	}
	if len(files) != want {
		return localReply{Error: fmt.Sprintf("bad request to the daemon: %d files, want %d", len(files), want)}
	}
	if sub := subcommand(req.Args); sub == "" || localOnly[sub] {
		return localReply{Error: fmt.Sprintf("%q does not run through the daemon", sub)}
	}
	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	// The CLI half-closes (Ctrl-C) or goes away: the command stops.
	go func() {
		var b [1]byte
		conn.Read(b[:])
		cancel()
	}()
	c := &cli{
		stdin: eofReader{}, stdout: files[want-2], stderr: files[want-1],
		stdinTTY: req.StdinTTY, stderrTTY: req.StderrTTY, cwd: req.Cwd,
		node: s.node, daemon: s.d,
	}
	if req.Stdin {
		c.stdin = files[0]
	}
	err := c.run(ctx, req.Args)
	switch {
	case err == nil:
		return localReply{}
	case errors.Is(err, syscall.EPIPE):
		return localReply{BrokenPipe: true}
	}
	return localReply{Error: err.Error()}
}

// subcommand is the first argument that is not a flag.
func subcommand(args []string) string {
	for _, a := range args {
		if len(a) > 0 && a[0] != '-' {
			return a
		}
	}
	return ""
}

// eofReader is the stdin of a command that does not read it.
type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }
