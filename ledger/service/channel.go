package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"node/ledger"
	"node/ledger/block"
	"node/ledger/codec"
	"node/ledger/config"
	"node/ledger/orderer"
)

// catchUpTimeout bounds one catch-up (fetching and committing the blocks
// from this member's height to an announced head).
const catchUpTimeout = 2 * time.Minute

// channel is one channel as the service runs it: the ledger, and either
// the orderer with its committer and announcers (on the ordering node) or
// the sync loop that follows the orderer's head (on the other members).
type channel struct {
	m         *Manager
	name      string
	ch        *ledger.Channel
	ix        *config.Index
	log       *slog.Logger
	ordererID peer.ID // the member that orders: the first with the orderer role
	pins      *headPinner
	ctx       context.Context // ends at close
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	peers     []peer.AddrInfo // where to reach the channel (the member joined through)

	// On the ordering node.
	solo     orderer.Orderer
	built    chan *block.Built // blocks cut, for the local commit
	announce *announcer

	// On the other members (online).
	heads  chan cid.Cid  // the newest head announced (one slot)
	kick   chan struct{} // ask the orderer for the head now
	pushed pushedBlocks  // blocks the orderer pushed with its announcements
}

// pushedBlocks are blocks an orderer sent with its announcements, by the
// CID their bytes hash to, until the catch-up takes them.
type pushedBlocks struct {
	mu     sync.Mutex // guards blocks
	blocks map[cid.Cid][]byte
}

// maxPushedKept bounds the blocks (headers and bodies) kept: past it, the
// kept ones are dropped (a member that far behind fetches through Bitswap).
const maxPushedKept = 8 * maxPushedBlocks

// add keeps the blocks of an announcement.
func (p *pushedBlocks) add(blocks []PushedBlock) {
	if len(blocks) == 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.blocks == nil || len(p.blocks)+2*len(blocks) > maxPushedKept {
		p.blocks = make(map[cid.Cid][]byte, maxPushedKept)
	}
	for _, b := range blocks {
		p.blocks[codec.CIDOf(b.Header)] = b.Header
		if len(b.Body) > 0 {
			p.blocks[codec.CIDOf(b.Body)] = b.Body
		}
	}
}

// take returns and forgets the block with CID c, or nil.
func (p *pushedBlocks) take(c cid.Cid) []byte {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	b := p.blocks[c]
	delete(p.blocks, c)
	return b
}

// startChannel starts the service's part of an opened channel. The
// caller holds m.mu.
func (m *Manager) startChannel(ctx context.Context, ch *ledger.Channel, via []peer.AddrInfo) (*channel, error) {
	ix := ch.Members()
	name := ch.Name()
	orderers := ix.Members(config.RoleOrderer)
	if len(orderers) == 0 {
		return nil, fmt.Errorf("channel %s has no orderer", name) // Validate prevents it
	}
	c := &channel{m: m, name: name, ch: ch, ix: ix, ordererID: orderers[0],
		log: m.log.With("channel", name)}
	m.access.setMembers(name, ix)
	err := ch.DB().EachBlock(ctx, func(_ uint64, header, body cid.Cid) error {
		m.access.add(name, header)
		if body.Defined() {
			m.access.add(name, body)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing channel %s's blocks: %w", name, err)
	}
	height, head, err := ch.Digest(ctx)
	if err != nil {
		return nil, err
	}
	c.pins = newHeadPinner(m.opts.Pins, c.log, head)
	if via == nil {
		via = loadPeers(m.dir(name), c.log)
	}
	c.peers = via
	c.ctx, c.cancel = context.WithCancel(m.ctx)
	h := m.opts.Host
	if h != nil {
		for _, ai := range via {
			h.Peerstore().AddAddrs(ai.ID, ai.Addrs, 24*time.Hour)
		}
	}
	me := m.Self()
	switch {
	case c.ordererID == me:
		c.built = make(chan *block.Built, 16)
		solo, err := orderer.NewSolo(orderer.SoloOptions{
			Config: ch.Config(), Identity: m.opts.Identity, Store: &channelStore{m: m, name: name},
			Number: height - 1, Head: head, Logger: m.opts.Logger,
			OnBlock: func(b *block.Built) { c.built <- b },
		})
		if err != nil {
			c.cancel()
			return nil, err
		}
		c.solo = solo
		c.announce = newAnnouncer(c, Info{Head: codec.L(head), Height: height})
		c.wg.Go(c.commitLoop)
		if h != nil {
			for _, o := range ch.Config().Organizations {
				for _, mem := range o.Members {
					p, _ := peer.Decode(mem.Peer)
					if p == me {
						continue
					}
					h.ConnManager().Protect(p, protectTag(name))
					c.announce.start(p)
				}
			}
		}
	case h != nil:
		c.heads = make(chan cid.Cid, 1)
		c.kick = make(chan struct{}, 1)
		h.ConnManager().Protect(c.ordererID, protectTag(name))
		c.wg.Go(c.syncLoop)
	}
	c.log.Info("channel open", "height", height, "head", head, "ordering", c.solo != nil)
	return c, nil
}

func protectTag(name string) string { return "ledger:" + name }

// close stops the channel's work: the orderer first (it cuts what is
// pending and the block is committed), then the loops, then the ledger.
func (c *channel) close() error {
	var errs []error
	if c.solo != nil {
		errs = append(errs, c.solo.Close())
		close(c.built)
	}
	c.cancel()
	c.wg.Wait()
	c.pins.close()
	if h := c.m.opts.Host; h != nil {
		h.ConnManager().Unprotect(c.ordererID, protectTag(c.name))
		for _, o := range c.ch.Config().Organizations {
			for _, mem := range o.Members {
				if p, err := peer.Decode(mem.Peer); err == nil {
					h.ConnManager().Unprotect(p, protectTag(c.name))
				}
			}
		}
	}
	errs = append(errs, c.ch.Close())
	return errors.Join(errs...)
}

// commitLoop (ordering node) commits each block the orderer cuts, then
// announces the new head to the members.
func (c *channel) commitLoop() {
	for b := range c.built {
		ctx := context.Background()
		if err := c.pins.begin(ctx); err != nil {
			c.log.Error("committing a block cut here: the GC lock", "block", b.Block.Number, "err", err)
			continue
		}
		_, err := c.ch.CommitBuilt(ctx, b)
		if err != nil {
			// The orderer stored the block: commit what is missing up to
			// it from the store (an earlier block may have failed).
			c.log.Warn("committing a block cut here failed; catching up from the store", "block", b.Block.Number, "err", err)
			err = c.ch.CatchUp(ctx, b.CID, nil)
		}
		_, head, herr := c.ch.Digest(ctx)
		if herr != nil {
			head = cid.Undef
		}
		c.pins.end(head)
		if err != nil {
			c.log.Error("committing a block cut here failed; members will not hear of it until a later block commits", "block", b.Block.Number, "err", err)
			continue
		}
		c.announce.set(Info{Head: codec.L(b.CID), Height: b.Block.Number + 1}, b)
	}
}

// announced (member) takes a head announced by the orderer, and the
// blocks that came with it; the sync loop catches up to the newest.
func (c *channel) announced(info *Info) {
	if c.heads == nil {
		return
	}
	c.pushed.add(info.Blocks)
	head := info.Head.Cid
	for {
		select {
		case c.heads <- head:
			return
		default:
			select {
			case <-c.heads: // replace an older head not yet taken
			default:
			}
		}
	}
}

// poke asks the sync loop to ask the orderer for the head now.
func (c *channel) poke() {
	if c.kick == nil {
		return
	}
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// syncLoop (member) follows the orderer: it catches up to each head
// announced, and asks for the head at start, when the orderer connects,
// and every SyncInterval (sooner after a failure).
func (c *channel) syncLoop() {
	interval := c.m.opts.SyncInterval
	backoff := time.Second
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case head := <-c.heads:
			if err := c.catchUp(c.ctx, head); err != nil && c.ctx.Err() == nil {
				c.log.Warn("catching up to an announced head failed; asking again soon", "head", head, "err", err)
				timer.Reset(backoff)
			}
			continue
		case <-c.kick:
		case <-timer.C:
		}
		next := interval
		if err := c.poll(); err != nil {
			if c.ctx.Err() != nil {
				return
			}
			c.log.Debug("asking for the channel's head failed", "err", err, "retry", backoff)
			next = backoff
			backoff = min(2*backoff, interval)
		} else {
			backoff = time.Second
		}
		timer.Reset(next)
	}
}

// poll asks the orderer (else the members this node joined through) for
// the head and catches up to it.
func (c *channel) poll() error {
	var errs []error
	for _, p := range c.contacts() {
		ctx, cancel := context.WithTimeout(c.ctx, c.m.opts.RequestTimeout)
		data, err := c.m.call(ctx, p, &Request{Op: OpInfo, Channel: c.name})
		cancel()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		info, err := DecodeInfo(data)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !info.Genesis.Equals(c.ch.Genesis()) {
			errs = append(errs, fmt.Errorf("peer %s keeps another channel named %s (genesis %s, ours %s)", p, c.name, info.Genesis.Cid, c.ch.Genesis()))
			continue
		}
		c.m.learnAddrs(c, info)
		return c.catchUp(c.ctx, info.Head.Cid)
	}
	return errors.Join(errs...)
}

// contacts are the peers to ask for the head: the orderer first.
func (c *channel) contacts() []peer.ID {
	out := []peer.ID{c.ordererID}
	for _, ai := range c.peers {
		if ai.ID != c.ordererID && ai.ID != c.m.Self() {
			out = append(out, ai.ID)
		}
	}
	return out
}

// catchUp brings the ledger up to head, fetching blocks through the
// network, with the chain kept from garbage collection.
func (c *channel) catchUp(ctx context.Context, head cid.Cid) error {
	if err := c.pins.begin(ctx); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, catchUpTimeout)
	defer cancel()
	err := c.ch.CatchUp(ctx, head, &fetcher{m: c.m, name: c.name, pushed: &c.pushed})
	_, now, derr := c.ch.Digest(context.Background())
	if derr != nil {
		now = cid.Undef
	}
	c.pins.end(now)
	return err
}
