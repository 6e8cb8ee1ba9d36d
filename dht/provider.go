package dht

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
)

// ReprovideInterval is how often everything is announced again: provider
// records live 48 hours on the DHT.
const ReprovideInterval = 22 * time.Hour

// Router announces that this node provides a CID.
type Router interface {
	Provide(ctx context.Context, c cid.Cid, announce bool) error
}

// Provider announces content on the DHT from a few goroutines, so a large
// add does not wait on DHT round trips.
type Provider struct {
	r   Router
	set func(ctx context.Context, fn func(cid.Cid) error) error
	log *slog.Logger

	queue chan cid.Cid

	mu       sync.Mutex // guards provided and failed
	provided int
	failed   int
}

// NewProvider returns a provider announcing through r. set enumerates what
// the strategy announces at each reprovide (all blocks, pinned blocks or
// pin roots).
func NewProvider(r Router, set func(ctx context.Context, fn func(cid.Cid) error) error, log *slog.Logger) *Provider {
	return &Provider{r: r, set: set, log: log, queue: make(chan cid.Cid, 1024)}
}

// Provide queues c to be announced soon. It waits while the queue is full.
func (p *Provider) Provide(ctx context.Context, c cid.Cid) error {
	select {
	case p.queue <- c:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ProvideNow announces c and waits for the announcement to finish.
func (p *Provider) ProvideNow(ctx context.Context, c cid.Cid) error {
	err := p.r.Provide(ctx, c, true)
	p.count(err)
	return err
}

func (p *Provider) count(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		p.failed++
	} else {
		p.provided++
	}
}

// Stats reports how many announcements succeeded and failed.
func (p *Provider) Stats() (provided, failed int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.provided, p.failed
}

// Run announces queued CIDs and reprovides the strategy's set at start and
// every interval, until ctx ends.
func (p *Provider) Run(ctx context.Context, interval time.Duration) {
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for {
				select {
				case c := <-p.queue:
					pctx, cancel := context.WithTimeout(ctx, time.Minute)
					err := p.r.Provide(pctx, c, true)
					cancel()
					p.count(err)
					if err != nil && ctx.Err() == nil {
						p.log.Debug("provide failed", "cid", c, "err", err)
					}
				case <-ctx.Done():
					return
				}
			}
		})
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := p.set(ctx, func(c cid.Cid) error { return p.Provide(ctx, c) }); err != nil && ctx.Err() == nil {
			p.log.Warn("reprovide sweep stopped", "err", err)
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			wg.Wait()
			return
		}
	}
}
