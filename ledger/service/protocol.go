package service

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multiaddr"

	"node/ledger"
	"node/ledger/block"
	"node/ledger/chaincode"
	"node/ledger/codec"
	"node/ledger/config"
	"node/ledger/orderer"
	"node/ledger/tx"
)

// RemoteError is a peer's refusal or failure, as it answered.
type RemoteError struct {
	Peer    peer.ID
	Status  Status
	Message string
}

func (e *RemoteError) Error() string {
	switch e.Status {
	case StatusDenied:
		return fmt.Sprintf("peer %s refused: %s", e.Peer, e.Message)
	default:
		return fmt.Sprintf("peer %s: %s", e.Peer, e.Message)
	}
}

// Unwrap maps the status to this package's sentinel errors.
func (e *RemoteError) Unwrap() error {
	switch e.Status {
	case StatusDenied:
		return ErrDenied
	case StatusNoChannel:
		return ErrNoChannel
	case StatusBadRequest:
		return ErrMalformedMessage
	case StatusChaincode:
		return chaincode.ErrChaincode
	}
	return nil
}

// connect makes sure the host is connected to p: through the addresses
// it knows, else those the routing finds.
func (m *Manager) connect(ctx context.Context, p peer.ID) error {
	h := m.opts.Host
	if h == nil {
		return ErrOffline
	}
	if h.Network().Connectedness(p) == network.Connected {
		return nil
	}
	find := func() bool {
		if m.opts.Routing == nil {
			return false
		}
		ai, err := m.opts.Routing.FindPeer(ctx, p)
		if err != nil || len(ai.Addrs) == 0 {
			return false
		}
		h.Peerstore().AddAddrs(p, ai.Addrs, time.Hour)
		return true
	}
	tried := false
	if len(h.Peerstore().Addrs(p)) == 0 {
		find()
		tried = true
	}
	err := h.Connect(ctx, peer.AddrInfo{ID: p})
	if err != nil && !tried && find() {
		// The addresses known were stale (a peer that restarted on
		// another port): try those the routing found.
		err = h.Connect(ctx, peer.AddrInfo{ID: p})
	}
	if err != nil {
		return fmt.Errorf("%w: peer %s: %w", ErrUnreachable, p, err)
	}
	return nil
}

// call sends one request to p and returns the answer's data, or the
// peer's refusal as a *RemoteError.
func (m *Manager) call(ctx context.Context, p peer.ID, req *Request) ([]byte, error) {
	if err := m.connect(ctx, p); err != nil {
		return nil, err
	}
	b, err := req.Marshal()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, m.opts.RequestTimeout)
	defer cancel()
	rb, err := m.roundTrip(ctx, p, b)
	if err != nil {
		return nil, err
	}
	resp, err := DecodeResponse(rb)
	if err != nil {
		return nil, err
	}
	if resp.Status != StatusOK {
		return nil, &RemoteError{Peer: p, Status: resp.Status, Message: resp.Error}
	}
	return resp.Data, nil
}

// handleStream answers one request (protocol 1.0.0).
func (m *Manager) handleStream(s network.Stream) {
	defer s.Close()
	_ = s.SetDeadline(time.Now().Add(m.opts.RequestTimeout + 5*time.Second))
	b, err := readFrame(bufio.NewReader(s))
	m.answer(s, s.Conn().RemotePeer(), b, err)
}

// answer decodes and serves one request frame (or the error reading it)
// and writes the answer; it reports whether the stream is still usable.
func (m *Manager) answer(s network.Stream, from peer.ID, b []byte, err error) bool {
	var resp *Response
	var req *Request
	if err == nil {
		req, err = DecodeRequest(b)
	}
	if err != nil {
		resp = &Response{Status: StatusBadRequest, Error: err.Error()}
	} else {
		ctx, cancel := context.WithTimeout(m.ctx, m.opts.RequestTimeout)
		resp = m.serve(ctx, from, req)
		cancel()
	}
	out, err := resp.Marshal()
	if err != nil {
		m.log.Error("encoding a ledger answer", "err", err)
		s.Reset()
		return false
	}
	if err := writeFrame(s, out); err != nil {
		m.log.Debug("answering a ledger request failed", "peer", from, "op", opOf(req), "err", err)
		return false
	}
	return true
}

func opOf(r *Request) string {
	if r == nil {
		return ""
	}
	return r.Op
}

// serve decides and does one request from peer from.
func (m *Manager) serve(ctx context.Context, from peer.ID, req *Request) *Response {
	c, err := m.get(ctx, req.Channel)
	if err != nil {
		if errors.Is(err, ErrNoChannel) {
			return &Response{Status: StatusNoChannel, Error: fmt.Sprintf("node %s has no channel %q", m.Self(), req.Channel)}
		}
		return &Response{Status: StatusFailed, Error: err.Error()}
	}
	deny := func(role string) *Response {
		m.log.Info("refused a ledger request", "peer", from, "op", req.Op, "channel", req.Channel)
		return &Response{Status: StatusDenied, Error: fmt.Sprintf("peer %s is not %s of channel %s", from, role, req.Channel)}
	}
	fail := func(status Status, err error) *Response { return &Response{Status: status, Error: err.Error()} }
	switch req.Op {
	case OpInfo:
		if !c.ix.IsMember(from) {
			return deny("a member")
		}
		height, head, err := c.ch.Digest(ctx)
		if err != nil {
			return fail(StatusFailed, err)
		}
		data, err := (&Info{Genesis: codec.L(c.ch.Genesis()), Head: codec.L(head), Height: height,
			Peers: m.memberAddrs(c, from)}).Marshal()
		if err != nil {
			return fail(StatusFailed, err)
		}
		return &Response{Data: data}

	case OpEndorse:
		if !c.ix.Has(from, config.RoleClient) {
			return deny("a client")
		}
		sp, err := tx.DecodeSignedProposal(req.Data)
		if err != nil {
			return fail(StatusBadRequest, err)
		}
		r, err := c.ch.Endorse(ctx, sp)
		switch {
		case errors.Is(err, ledger.ErrNotAllowed):
			return fail(StatusDenied, err)
		case errors.Is(err, chaincode.ErrChaincode):
			return fail(StatusChaincode, err)
		case err != nil:
			return fail(StatusBadRequest, err)
		}
		data, err := r.Marshal()
		if err != nil {
			return fail(StatusFailed, err)
		}
		return &Response{Data: data}

	case OpSubmit:
		if !c.ix.Has(from, config.RoleClient) {
			return deny("a client")
		}
		if c.solo == nil {
			return fail(StatusFailed, fmt.Errorf("node %s does not order channel %s: its orderer is %s", m.Self(), c.name, c.ordererID))
		}
		if err := c.solo.Submit(ctx, req.Data); err != nil {
			if errors.Is(err, tx.ErrMalformed) || errors.Is(err, orderer.ErrTooLarge) {
				return fail(StatusBadRequest, err)
			}
			return fail(StatusFailed, err)
		}
		return &Response{}

	case OpAnnounce:
		if !c.ix.Has(from, config.RoleOrderer) {
			return deny("an orderer")
		}
		info, err := DecodeInfo(req.Data)
		if err != nil {
			return fail(StatusBadRequest, err)
		}
		if !info.Genesis.Equals(c.ch.Genesis()) {
			return fail(StatusBadRequest, fmt.Errorf("the announced head is of another channel %s (genesis %s, ours %s)", c.name, info.Genesis.Cid, c.ch.Genesis()))
		}
		c.announced(info)
		return &Response{}
	}
	return fail(StatusBadRequest, fmt.Errorf("unknown operation %q", req.Op))
}

// memberAddrs lists the addresses this node knows for the channel's
// members other than itself and the asker.
func (m *Manager) memberAddrs(c *channel, asker peer.ID) []PeerAddr {
	h := m.opts.Host
	if h == nil {
		return nil
	}
	var out []PeerAddr
	for _, o := range c.ch.Config().Organizations {
		for _, mem := range o.Members {
			p, err := peer.Decode(mem.Peer)
			if err != nil || p == asker || p == m.Self() {
				continue
			}
			addrs := h.Peerstore().Addrs(p)
			if len(addrs) == 0 || len(out) == maxInfoPeers {
				continue
			}
			pa := PeerAddr{ID: []byte(p)}
			for _, a := range addrs[:min(len(addrs), maxPeerAddrs)] {
				pa.Addrs = append(pa.Addrs, a.Bytes())
			}
			out = append(out, pa)
		}
	}
	return out
}

// learnAddrs adds the members' addresses an Info carries to the
// peerstore (only for members of the channel).
func (m *Manager) learnAddrs(c *channel, info *Info) {
	h := m.opts.Host
	if h == nil {
		return
	}
	for _, pa := range info.Peers {
		p, err := peer.IDFromBytes(pa.ID)
		if err != nil || p == m.Self() || !c.ix.IsMember(p) {
			continue
		}
		var addrs []multiaddr.Multiaddr
		for _, b := range pa.Addrs {
			if a, err := multiaddr.NewMultiaddrBytes(b); err == nil {
				addrs = append(addrs, a)
			}
		}
		h.Peerstore().AddAddrs(p, addrs, time.Hour)
	}
}

// connected is told of each new connection: an orderer tells a member
// that just connected its head; a member asks its orderer for the head.
func (m *Manager) connected(p peer.ID) {
	go func() {
		m.mu.Lock()
		chans := make([]*channel, 0, len(m.channels))
		for _, c := range m.channels {
			chans = append(chans, c)
		}
		m.mu.Unlock()
		for _, c := range chans {
			switch {
			case c.announce != nil && c.ix.IsMember(p):
				c.announce.kickPeer(p)
			case p == c.ordererID:
				c.poke()
			}
		}
	}()
}

// announcer (ordering node) tells each member the newest head, one
// goroutine per member: a slow or absent member delays only itself, and
// heads announced while a send is under way coalesce into the newest.
type announcer struct {
	c *channel
	// mu guards latest, recent and kicks.
	mu     sync.Mutex
	latest Info
	recent []*block.Built // the last maxPushedBlocks blocks cut, oldest first
	kicks  map[peer.ID]chan struct{}
}

// pushBudget is how many bytes of blocks an announcement may carry.
const pushBudget = MaxFrame - 64<<10

// withBlocks adds to info the blocks a member at height from lacks, the
// newest that fit in a frame. The caller holds a.mu.
func (a *announcer) withBlocks(info Info, from uint64) Info {
	size := 0
	var picked []PushedBlock
	for i := len(a.recent) - 1; i >= 0; i-- {
		b := a.recent[i]
		if b.Block.Number < from || b.Block.Number >= info.Height {
			continue
		}
		n := len(b.Bytes) + len(b.Body)
		if size+n > pushBudget {
			break
		}
		size += n
		picked = append(picked, PushedBlock{Header: b.Bytes, Body: b.Body})
	}
	slices.Reverse(picked)
	info.Blocks = picked
	return info
}

func newAnnouncer(c *channel, start Info) *announcer {
	start.Genesis = codec.L(c.ch.Genesis())
	return &announcer{c: c, latest: start, kicks: map[peer.ID]chan struct{}{}}
}

// start runs the announcements to member p.
func (a *announcer) start(p peer.ID) {
	kick := make(chan struct{}, 1)
	a.mu.Lock()
	a.kicks[p] = kick
	a.mu.Unlock()
	a.c.wg.Go(func() {
		var sent uint64 // the height last announced to p
		for {
			select {
			case <-a.c.ctx.Done():
				return
			case <-kick:
			}
			a.mu.Lock()
			info := a.withBlocks(a.latest, sent)
			a.mu.Unlock()
			data, err := info.Marshal()
			if err != nil {
				continue
			}
			ctx, cancel := context.WithTimeout(a.c.ctx, 10*time.Second)
			_, err = a.c.m.call(ctx, p, &Request{Op: OpAnnounce, Channel: a.c.name, Data: data})
			cancel()
			if err != nil && a.c.ctx.Err() == nil {
				a.c.log.Debug("announcing the head failed (the member will ask)", "peer", p, "height", info.Height, "err", err)
				continue
			}
			sent = info.Height
		}
	})
}

// set records a new head (b, the block just cut and committed) and wakes
// every member's announcer.
func (a *announcer) set(info Info, b *block.Built) {
	info.Genesis = codec.L(a.c.ch.Genesis())
	a.mu.Lock()
	a.latest = info
	a.recent = append(a.recent, b)
	if len(a.recent) > maxPushedBlocks {
		a.recent = slices.Delete(a.recent, 0, len(a.recent)-maxPushedBlocks)
	}
	kicks := make([]chan struct{}, 0, len(a.kicks))
	for _, k := range a.kicks {
		kicks = append(kicks, k)
	}
	a.mu.Unlock()
	for _, k := range kicks {
		select {
		case k <- struct{}{}:
		default:
		}
	}
}

// kickPeer re-sends the head to one member.
func (a *announcer) kickPeer(p peer.ID) {
	a.mu.Lock()
	k := a.kicks[p]
	a.mu.Unlock()
	if k != nil {
		select {
		case k <- struct{}{}:
		default:
		}
	}
}

// peersFile remembers, per channel, the addresses of the member it was
// joined through, to reach the channel again after a restart.
const peersFile = "peers.json"

type savedPeer struct {
	ID    string   `json:"id"`
	Addrs []string `json:"addrs"`
}

func savePeers(dir string, peers []peer.AddrInfo) error {
	var out []savedPeer
	for _, ai := range peers {
		sp := savedPeer{ID: ai.ID.String()}
		for _, a := range ai.Addrs {
			sp.Addrs = append(sp.Addrs, a.String())
		}
		out = append(out, sp)
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, peersFile+".tmp")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, peersFile))
}

func loadPeers(dir string, log interface{ Warn(string, ...any) }) []peer.AddrInfo {
	b, err := os.ReadFile(filepath.Join(dir, peersFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	var out []peer.AddrInfo
	if err == nil {
		out, err = parsePeers(b)
	}
	if err != nil {
		log.Warn("the channel's saved peer addresses are unreadable; the orderer is then found through the DHT", "err", err)
		return nil
	}
	return out
}

// parsePeers reads a peers file; entries that do not parse are skipped.
func parsePeers(b []byte) ([]peer.AddrInfo, error) {
	var saved []savedPeer
	if err := json.Unmarshal(b, &saved); err != nil {
		return nil, err
	}
	var out []peer.AddrInfo
	for _, sp := range saved {
		id, err := peer.Decode(sp.ID)
		if err != nil {
			continue
		}
		ai := peer.AddrInfo{ID: id}
		for _, s := range sp.Addrs {
			if a, err := multiaddr.NewMultiaddr(s); err == nil {
				ai.Addrs = append(ai.Addrs, a)
			}
		}
		out = append(out, ai)
	}
	return out, nil
}
