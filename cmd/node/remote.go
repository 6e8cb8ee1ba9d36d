package main

// Commands run inside the daemon when one holds the repository: the CLI
// sends its command line, working directory and stdin to the daemon's API
// (POST /api/v0/cli) when its socket cannot take the CLI's open files
// (local.go), and the daemon runs the very same command against
// the node it holds, streaming stdout, stderr and the outcome back in
// frames. So every command works the same with or without a daemon, and
// large inputs and outputs stream both ways.

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
	"github.com/multiformats/go-varint"

	"node/core"
	"node/daemon"
	"node/repo"
)

// cliRequest travels in the X-Node-Command header; the body is stdin.
type cliRequest struct {
	Args      []string
	Cwd       string
	StdinTTY  bool
	StderrTTY bool
}

// Frame types of the response stream: [type][uvarint length][data].
const (
	frameStdout = 'o'
	frameStderr = 'e'
	frameExit   = 'x' // data: the error message, empty on success
)

// readsStdin reports whether a command line will read standard input:
// `-` among its arguments, `add` with no existing path to add, or
// `block put` with no file.
func (c *cli) readsStdin(args []string) bool {
	var pos []string
	for _, a := range args {
		if a == "-" {
			return true
		}
		if !strings.HasPrefix(a, "-") {
			pos = append(pos, a)
		}
	}
	exists := func(ps []string) bool {
		for _, p := range ps {
			if _, err := os.Stat(c.abs(p)); err == nil {
				return true
			}
		}
		return false
	}
	switch {
	case len(pos) >= 1 && pos[0] == "add":
		return !c.stdinTTY && !exists(pos[1:])
	case len(pos) >= 2 && pos[0] == "block" && pos[1] == "put":
		return !c.stdinTTY && !exists(pos[2:])
	}
	return false
}

// localOnly are the commands that never go through a daemon.
var localOnly = map[string]bool{"init": true, "daemon": true, "version": true, "help": true, "completion": true, "__complete": true}

// runRemote runs the command line in a daemon if one is serving this
// repository. done is false when there is none (or the command is local).
func (c *cli) runRemote(ctx context.Context, args []string) (done bool, err error) {
	if sub := subcommand(args); sub == "" || localOnly[sub] {
		return false, nil
	}
	root, err := repoPath()
	if err != nil {
		return false, nil
	}
	addr, err := repo.ReadAddr(root, repo.AddrAPI)
	if err != nil || addr == "" {
		return false, nil
	}
	hostport, err := dialAddr(addr)
	if err != nil {
		return false, nil
	}
	token, err := daemon.ReadToken(root)
	if err != nil {
		return false, nil
	}
	if done, err := c.runLocal(ctx, root, token, args); done {
		return true, err
	}
	// A daemon killed without cleaning up leaves its address behind:
	// nothing answers there, and the command runs here instead.
	conn, err := net.DialTimeout("tcp", hostport, 2*time.Second)
	if err != nil {
		return false, nil
	}
	conn.Close()

	hdr, _ := json.Marshal(cliRequest{Args: args, Cwd: c.cwd, StdinTTY: c.stdinTTY, StderrTTY: c.stderrTTY})
	// Only a command that reads stdin gets it: an unrelated pipe (a shell
	// loop feeding file names, say) must not be swallowed.
	var body io.Reader = http.NoBody
	if c.readsStdin(args) {
		body = c.stdin
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+hostport+"/api/v0/cli", body)
	if err != nil {
		return true, err
	}
	req.Header.Set("X-Node-Command", base64.StdEncoding.EncodeToString(hdr))
	req.Header.Set(daemon.TokenHeader, token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return true, fmt.Errorf("talking to the daemon at %s: %w", hostport, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusUnauthorized {
		return true, fmt.Errorf("the daemon at %s did not accept this repository's API token: is it another repository's daemon? (%s)", hostport, root)
	}
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return true, fmt.Errorf("the daemon at %s answered %s: %s", hostport, resp.Status, strings.TrimSpace(string(msg)))
	}
	return true, c.readFrames(bufio.NewReader(resp.Body))
}

// dialAddr turns the API multiaddr into host:port.
func dialAddr(addr string) (string, error) {
	m, err := multiaddr.NewMultiaddr(addr)
	if err != nil {
		return "", err
	}
	_, hostport, err := manet.DialArgs(m)
	return hostport, err
}

func (c *cli) readFrames(r *bufio.Reader) error {
	// Output is copied in large pieces (a 1 GiB cat is a thousand writes,
	// not tens of thousands); hiding the writers' ReadFrom keeps io.Copy
	// from falling back to its own 32 KiB buffer.
	buf := make([]byte, 1<<20)
	for {
		typ, err := r.ReadByte()
		if err != nil {
			return fmt.Errorf("the daemon stopped answering: %w", err)
		}
		n, err := varint.ReadUvarint(r)
		if err != nil || n > 16<<20 {
			return fmt.Errorf("bad answer from the daemon (frame length %d): %v", n, err)
		}
		switch typ {
		case frameStdout:
			_, err = copyN(c.stdout, r, int64(n), buf)
		case frameStderr:
			_, err = copyN(c.stderr, r, int64(n), buf)
		case frameExit:
			msg := make([]byte, n)
			if _, err := io.ReadFull(r, msg); err != nil {
				return fmt.Errorf("the daemon stopped answering: %w", err)
			}
			if len(msg) > 0 {
				return errors.New(string(msg))
			}
			return nil
		default:
			return fmt.Errorf("bad answer from the daemon: frame type %q", typ)
		}
		if err != nil {
			return err
		}
	}
}

// cliHandler runs command lines sent by CLIs against the daemon's node.
func cliHandler(d *daemon.Daemon, node *core.Node) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			http.Error(w, "use POST", http.StatusMethodNotAllowed)
			return
		}
		hdr, err := base64.StdEncoding.DecodeString(r.Header.Get("X-Node-Command"))
		var req cliRequest
		if err == nil {
			err = json.Unmarshal(hdr, &req)
		}
		if err != nil {
			http.Error(w, "bad X-Node-Command header: "+err.Error(), http.StatusBadRequest)
			return
		}
		if sub := subcommand(req.Args); localOnly[sub] {
			http.Error(w, sub+" does not run through the API", http.StatusBadRequest)
			return
		}
		// Read stdin while writing output (add - streams both ways).
		if r.ContentLength != 0 {
			_ = http.NewResponseController(w).EnableFullDuplex()
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		fw := &frameWriter{w: w}
		c := &cli{
			stdin: r.Body, stdout: fw.stream(frameStdout), stderr: fw.stream(frameStderr),
			stdinTTY: req.StdinTTY, stderrTTY: req.StderrTTY, cwd: req.Cwd,
			node: node, daemon: d,
		}
		msg := ""
		if err := c.run(r.Context(), req.Args); err != nil {
			msg = err.Error()
		}
		fw.write(frameExit, []byte(msg))
		r.Body.Close()
	})
}

// copyN copies n bytes from r to w through buf, failing if fewer arrive.
func copyN(w io.Writer, r io.Reader, n int64, buf []byte) (int64, error) {
	written, err := io.CopyBuffer(struct{ io.Writer }{w}, io.LimitReader(r, n), buf)
	if err == nil && written < n {
		err = io.ErrUnexpectedEOF
	}
	return written, err
}

// frameWriter writes frames to an HTTP response, flushing each one so the
// client sees output as it is produced.
type frameWriter struct {
	mu sync.Mutex // guards w: stdout and stderr frames must not interleave
	w  http.ResponseWriter
}

func (f *frameWriter) write(typ byte, p []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	hdr := varint.ToUvarint(uint64(len(p)))
	if _, err := f.w.Write(append([]byte{typ}, hdr...)); err != nil {
		return err
	}
	if _, err := f.w.Write(p); err != nil {
		return err
	}
	if fl, ok := f.w.(http.Flusher); ok {
		fl.Flush()
	}
	return nil
}

func (f *frameWriter) stream(typ byte) io.Writer {
	return writerFunc(func(p []byte) (int, error) {
		total := len(p)
		for len(p) > 0 {
			n := min(len(p), 1<<20)
			if err := f.write(typ, p[:n]); err != nil {
				return 0, err
			}
			p = p[n:]
		}
		return total, nil
	})
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
