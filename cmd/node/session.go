package main

import (
	"errors"

	"node/core"
)

// session is the repository a command works on: opened by the command
// itself, or held by the daemon that runs it.
type session struct {
	*core.Node
	close func() error
}

// open opens the repository at $NODE_PATH, taking its lock, unless the
// command runs inside the daemon, which holds it already.
func (c *cli) open() (*session, error) {
	if c.node != nil {
		return &session{Node: c.node, close: func() error { return nil }}, nil
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
	defer func() { err = errors.Join(err, s.close()) }()
	return fn(s)
}
