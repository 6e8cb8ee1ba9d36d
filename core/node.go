package core

import (
	"errors"

	"node/blockstore"
	"node/dag"
	"node/pin"
	"node/repo"
)

// Node is an opened repository: its lock, its block store and its pins.
// One process holds it: the CLI for one command, or the daemon for its
// lifetime, serving many commands at once (every part is safe for
// concurrent use).
type Node struct {
	Repo *repo.Repo
	// Packs is the on-disk store; Blocks is the same with identity CIDs
	// answered from the CID itself. Read and write through Blocks.
	Packs  *blockstore.PackStore
	Blocks blockstore.Store
	Pins   *pin.Pinner
}

// Open opens the repository at root, taking its lock. The block store
// checks every read against the record's CRC-32C and key, so damage on
// disk is an error, never wrong bytes; `node repo verify` re-hashes
// everything. (A hash check on every read as well would cost two thirds of
// read speed for no further protection against disk damage: see
// docs/blockstore.md.)
func Open(root string) (*Node, error) {
	r, err := repo.Open(root)
	if err != nil {
		return nil, err
	}
	packs, err := blockstore.OpenPackStore(r.BlocksDir(), blockstore.PackOptions{})
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
	return &Node{Repo: r, Packs: packs, Blocks: blocks, Pins: pins}, nil
}

// Close syncs and closes the block store and releases the lock.
func (n *Node) Close() error {
	return errors.Join(n.Packs.Close(), n.Repo.Close())
}
