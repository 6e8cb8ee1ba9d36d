package main

import (
	"errors"

	"node/blockstore"
	"node/dag"
	"node/pin"
	"node/repo"
)

// session is an opened repository: the lock, the block store and the pins.
type session struct {
	repo *repo.Repo
	// packs is the on-disk store; blocks is the same with identity CIDs
	// answered from the CID itself.
	packs  *blockstore.PackStore
	blocks blockstore.Store
	pins   *pin.Pinner
}

// open opens the repository at $NODE_PATH, taking its lock.
func (c *cli) open() (*session, error) {
	root, err := repoPath()
	if err != nil {
		return nil, err
	}
	r, err := repo.Open(root)
	if err != nil {
		return nil, err
	}
	packs, err := openBlockstore(r.BlocksDir())
	if err != nil {
		r.Close()
		return nil, err
	}
	blocks := blockstore.WithIdentity(packs)
	pins, err := pin.New(r.Datastore(), blocks, dag.Links)
	if err != nil {
		packs.Close()
		r.Close()
		return nil, err
	}
	return &session{repo: r, packs: packs, blocks: blocks, pins: pins}, nil
}

func (s *session) close() error {
	return errors.Join(s.packs.Close(), s.repo.Close())
}

// openBlockstore opens the repository's block store: the pack store. It
// checks every read against the record's CRC-32C and key, so damage on disk
// is an error, never wrong bytes; `node repo verify` re-hashes everything.
// (A hash check on every read as well would cost two thirds of read speed
// for no further protection against disk damage: see docs/blockstore.md.)
func openBlockstore(dir string) (*blockstore.PackStore, error) {
	return blockstore.OpenPackStore(dir, blockstore.PackOptions{})
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
