package client

import (
	"errors"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"node/bitswap/message"
)

// maxEntriesPerMessage splits large want-list changes (boxo's server keeps
// at most 1024 wants per peer anyway).
const maxEntriesPerMessage = 1024

// outbox holds the want-list changes waiting to go to one peer. The loop
// adds to it; one sender goroutine at a time drains it, so while a message
// is on its way the next changes gather into one message, and a change to
// a CID replaces an unsent change to the same CID (a cancel replaces the
// want it cancels).
type outbox struct {
	c *Client
	p peer.ID

	mu      sync.Mutex // guards entries, pending and running
	entries []message.Entry
	pending map[string]int // multihash -> index in entries
	running bool

	version message.Version // last version seen; used by the sender goroutine only
}

func (o *outbox) add(entries []message.Entry) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, e := range entries {
		key := string(e.CID.Hash())
		if i, ok := o.pending[key]; ok {
			o.entries[i] = e
			continue
		}
		o.pending[key] = len(o.entries)
		o.entries = append(o.entries, e)
	}
	if !o.running && len(o.entries) > 0 {
		o.running = true
		o.c.wg.Add(1)
		go o.run()
	}
}

// clear drops what is not sent yet (the peer is gone).
func (o *outbox) clear() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.entries = nil
	clear(o.pending)
}

func (o *outbox) run() {
	defer o.c.wg.Done()
	for {
		o.mu.Lock()
		batch := o.entries
		o.entries = nil
		clear(o.pending)
		if len(batch) == 0 {
			o.running = false
			o.mu.Unlock()
			return
		}
		o.mu.Unlock()
		for len(batch) > 0 {
			n := min(len(batch), maxEntriesPerMessage)
			o.send(batch[:n])
			batch = batch[n:]
		}
	}
}

func (o *outbox) send(entries []message.Entry) {
	c := o.c
	err := c.net.SendMessage(c.ctx, o.p, &message.Message{Wantlist: entries})
	switch {
	case err == nil:
	case c.ctx.Err() != nil:
		return
	case errors.Is(err, message.ErrNotRepresentable):
		// Only 1.0.0 cannot carry some CIDs; the rest went.
		c.do(func() { c.core.setVersion(o.p, message.V100, time.Now()) })
		o.version = message.V100
		return
	default:
		c.log.Debug("sending wants", "peer", o.p, "entries", len(entries), "err", err)
		c.do(func() { c.core.sendFailed(o.p, time.Now()) })
		return
	}
	if v := c.versionOf(o.p); v.Valid() && v != o.version {
		o.version = v
		c.do(func() { c.core.setVersion(o.p, v, time.Now()) })
	}
}
