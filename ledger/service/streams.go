package service

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// maxStreamsPerPeer bounds the requests this node has under way with one
// peer (more wait for a stream to come free), and so the streams it keeps
// open to it.
const maxStreamsPerPeer = 64

// idleStreamTimeout is how long a server keeps a reused stream (protocol
// 1.1.0) open with no request; the client's pool drops streams idle
// longer than idleStreamReuse, well before.
const (
	idleStreamTimeout = 2 * time.Minute
	idleStreamReuse   = time.Minute
)

// pooledStream is an open ledger stream and its reader.
type pooledStream struct {
	s        network.Stream
	r        *bufio.Reader
	reusable bool      // protocol 1.1.0: several requests in turn
	idle     time.Time // when it was put back
}

// streamPool keeps streams to each peer open for the next request, so a
// request costs no stream opening or protocol negotiation, and bounds the
// requests under way per peer.
type streamPool struct {
	// mu guards peers.
	mu    sync.Mutex
	peers map[peer.ID]*peerStreams
}

type peerStreams struct {
	slots chan struct{}   // one token per request under way
	idle  []*pooledStream // guarded by streamPool.mu; newest last
}

func (p *streamPool) of(id peer.ID) *peerStreams {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.peers == nil {
		p.peers = map[peer.ID]*peerStreams{}
	}
	ps := p.peers[id]
	if ps == nil {
		ps = &peerStreams{slots: make(chan struct{}, maxStreamsPerPeer)}
		p.peers[id] = ps
	}
	return ps
}

// take returns an idle stream to the peer, or nil.
func (p *streamPool) take(ps *peerStreams) *pooledStream {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(ps.idle) > 0 {
		st := ps.idle[len(ps.idle)-1]
		ps.idle = ps.idle[:len(ps.idle)-1]
		if time.Since(st.idle) < idleStreamReuse {
			return st
		}
		st.s.Reset()
	}
	return nil
}

// put keeps a stream for the next request.
func (p *streamPool) put(ps *peerStreams, st *pooledStream) {
	st.idle = time.Now()
	_ = st.s.SetDeadline(time.Time{})
	p.mu.Lock()
	defer p.mu.Unlock()
	ps.idle = append(ps.idle, st)
}

// closeAll closes every idle stream (when the Manager closes).
func (p *streamPool) closeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, ps := range p.peers {
		for _, st := range ps.idle {
			st.s.Close()
		}
		ps.idle = nil
	}
}

// roundTrip sends one request frame to p and reads the answer's frame,
// on a reused stream when one is idle. A reused stream that turns out
// closed (the peer restarted or dropped it) is replaced by a new one once,
// when nothing of the answer came back.
func (m *Manager) roundTrip(ctx context.Context, p peer.ID, req []byte) ([]byte, error) {
	ps := m.streams.of(p)
	select {
	case ps.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: waiting for a stream to %s: %w", ErrUnreachable, p, ctx.Err())
	}
	defer func() { <-ps.slots }()
	oldOnly := false // open streams of ProtocolID only
	for attempt := 0; ; attempt++ {
		st := m.streams.take(ps)
		reused := st != nil
		if st == nil {
			protos := []protocol.ID{ProtocolReuse, ProtocolID}
			if oldOnly {
				protos = protos[1:]
			}
			s, err := m.opts.Host.NewStream(ctx, p, protos...)
			if err != nil {
				return nil, fmt.Errorf("%w: opening a ledger stream to %s: %w", ErrUnreachable, p, err)
			}
			st = &pooledStream{s: s, r: bufio.NewReader(s), reusable: s.Protocol() == ProtocolReuse}
		}
		answer, got, err := exchange(ctx, st, req)
		if err == nil {
			if st.reusable {
				m.streams.put(ps, st)
			} else {
				st.s.Close()
			}
			return answer, nil
		}
		st.s.Reset()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%w: %s did not answer: %w", ErrUnreachable, p, ctx.Err())
		}
		// Nothing came back: a reused stream the peer had closed, or a
		// peer that no longer speaks 1.1.0 (the host assumed it did).
		if !got && attempt < 2 {
			oldOnly = oldOnly || (!reused && st.reusable)
			continue
		}
		return nil, fmt.Errorf("%w: %s: %w", ErrUnreachable, p, err)
	}
}

// exchange writes the request and reads the answer; got reports whether
// any of the answer arrived.
func exchange(ctx context.Context, st *pooledStream, req []byte) (answer []byte, got bool, err error) {
	if d, ok := ctx.Deadline(); ok {
		_ = st.s.SetDeadline(d)
	}
	stop := context.AfterFunc(ctx, func() { st.s.Reset() })
	defer stop()
	if err := writeFrame(st.s, req); err != nil {
		return nil, false, fmt.Errorf("sending: %w", err)
	}
	if !st.reusable {
		if err := st.s.CloseWrite(); err != nil {
			return nil, false, fmt.Errorf("sending: %w", err)
		}
	}
	if _, err := st.r.Peek(1); err != nil {
		return nil, false, fmt.Errorf("reading the answer: %w", err)
	}
	answer, err = readFrame(st.r)
	if err != nil {
		return nil, true, fmt.Errorf("reading the answer: %w", err)
	}
	if !stop() {
		return nil, true, errors.New("cancelled")
	}
	return answer, true, nil
}

// handleReuse answers requests on a stream of protocol 1.1.0, one after
// another, until the asker closes it or leaves it idle too long.
func (m *Manager) handleReuse(s network.Stream) {
	defer s.Close()
	from := s.Conn().RemotePeer()
	r := bufio.NewReader(s)
	for {
		_ = s.SetReadDeadline(time.Now().Add(idleStreamTimeout))
		if _, err := r.Peek(1); err != nil {
			if !errors.Is(err, io.EOF) {
				s.Reset()
			}
			return
		}
		_ = s.SetDeadline(time.Now().Add(m.opts.RequestTimeout + 5*time.Second))
		b, err := readFrame(r)
		if !m.answer(s, from, b, err) || err != nil {
			return
		}
	}
}
