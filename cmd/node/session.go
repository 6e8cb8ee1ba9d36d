package main

import (
	"context"
	"errors"
	"log/slog"
	"strings"

	"github.com/ipfs/go-cid"

	"node/core"
	"node/daemon"
	"node/namesys"
)

// session is the repository a command works on: opened by the command
// itself, or held by the daemon that runs it.
type session struct {
	*core.Node
	close func() error
	// names is the daemon's name system, or one made on first use for a
	// command that runs without a daemon (offline: local records and
	// DNSLink only).
	names    *namesys.NameSystem
	ownNames bool
}

// open opens the repository at $NODE_PATH, taking its lock, unless the
// command runs inside the daemon, which holds it already.
func (c *cli) open() (*session, error) {
	if c.node != nil {
		s := &session{Node: c.node, close: func() error { return nil }}
		if c.daemon != nil {
			s.names = c.daemon.Names
		}
		return s, nil
	}
	root, err := repoPath()
	if err != nil {
		return nil, err
	}
	n, err := core.Open(root)
	if err != nil {
		return nil, err
	}
	return &session{Node: n, close: n.Close}, nil
}

// withRepo opens the repository for the duration of fn. Closing syncs the
// block store, so its error is fn's error too.
func (c *cli) withRepo(fn func(s *session) error) (err error) {
	s, err := c.open()
	if err != nil {
		return err
	}
	defer func() {
		if s.ownNames {
			err = errors.Join(err, s.names.Close())
		}
		err = errors.Join(err, s.close())
	}()
	return fn(s)
}

// Names is the session's name system.
func (s *session) Names() (*namesys.NameSystem, error) {
	if s.names == nil {
		ns, err := daemon.NameSystem(s.Node, nil, slog.Default())
		if err != nil {
			return nil, err
		}
		s.names, s.ownNames = ns, true
	}
	return s.names, nil
}

// path turns an /ipns path into the /ipfs path it names now; other paths
// come back as they are.
func (s *session) path(ctx context.Context, p string) (string, error) {
	if !strings.HasPrefix(p, "/ipns/") {
		return p, nil
	}
	ns, err := s.Names()
	if err != nil {
		return "", err
	}
	resolved, _, err := ns.ResolvePath(ctx, p)
	return resolved, err
}

// resolveCID is the CID a path (/ipns ones too) names.
func (s *session) resolveCID(ctx context.Context, p string) (cid.Cid, error) {
	p, err := s.path(ctx, p)
	if err != nil {
		return cid.Undef, err
	}
	return core.ResolveCID(ctx, s.Blocks, p)
}
