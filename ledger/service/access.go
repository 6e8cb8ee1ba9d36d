package service

import (
	"sync"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"node/ledger/codec"
	"node/ledger/config"
)

// registry knows which blocks belong to which channel and who the
// channels' members are, in memory: Bitswap asks it for every want.
//
// A block is registered before it is stored (blocks the orderer cuts,
// blocks committed) and before it is fetched (catch-up), so no window
// exists in which a channel block sits in the store unregistered.
type registry struct {
	// mu guards blocks, members and ready.
	mu sync.RWMutex
	// blocks maps a block's multihash to its channel's name.
	blocks map[string]string
	// members maps a channel to its membership; nil while the channel's
	// config is not known yet (a genesis being fetched): nobody may fetch
	// its blocks then.
	members map[string]*config.Index
	// ready is set once every channel's blocks are loaded; until then no
	// dag-cbor block is served, since any could be a channel's.
	ready bool
}

func newRegistry() *registry {
	return &registry{blocks: map[string]string{}, members: map[string]*config.Index{}}
}

// add registers block c as channel name's.
func (r *registry) add(name string, c cid.Cid) {
	key := string(c.Hash())
	r.mu.Lock()
	r.blocks[key] = name
	if _, ok := r.members[name]; !ok {
		r.members[name] = nil
	}
	r.mu.Unlock()
}

// setMembers records channel name's membership.
func (r *registry) setMembers(name string, ix *config.Index) {
	r.mu.Lock()
	r.members[name] = ix
	r.mu.Unlock()
}

func (r *registry) setReady() {
	r.mu.Lock()
	r.ready = true
	r.mu.Unlock()
}

// mayFetch: a channel's blocks go to its members only; other blocks to
// anyone (once the registry is loaded).
func (r *registry) mayFetch(p peer.ID, c cid.Cid) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	name, ok := r.blocks[string(c.Hash())]
	if !ok {
		return r.ready || c.Type() != codec.DagCBOR
	}
	ix := r.members[name]
	return ix != nil && ix.IsMember(p)
}

// private reports whether c is a channel's block.
func (r *registry) private(c cid.Cid) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	_, ok := r.blocks[string(c.Hash())]
	return ok
}
