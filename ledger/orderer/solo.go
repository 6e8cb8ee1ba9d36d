package orderer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/ipfs/go-cid"

	"node/blockstore"
	"node/ledger/block"
	"node/ledger/config"
	"node/ledger/identity"
	"node/ledger/tx"
)

// ErrClosed is returned by Submit after Close.
var ErrClosed = errors.New("orderer is closed")

// Orderer orders transactions into blocks.
type Orderer interface {
	// Submit queues an endorsed transaction; it returns once the orderer
	// has accepted it (not when its block is cut).
	Submit(ctx context.Context, tx []byte) error
	Close() error
}

// Putter stores blocks: a blockstore.Store.
type Putter interface {
	Put(ctx context.Context, b blockstore.Block) error
}

// SoloOptions configure a Solo orderer.
type SoloOptions struct {
	Config   *config.Config
	Identity *identity.Identity // must have the orderer role in Config
	Store    Putter             // where cut blocks (header and body) are put
	// Number and Head are the last block of the chain (genesis: 0 and its
	// CID); the first block cut is Number+1.
	Number uint64
	Head   cid.Cid
	// OnBlock is called, in order, from the orderer's goroutine, with each
	// block after it is stored.
	OnBlock func(*block.Built)
	// Now is the clock (time.Now when nil).
	Now    func() time.Time
	Logger *slog.Logger
}

// Solo is a single ordering node: one goroutine owns the cutter and the
// chain head, fed by Submit and a timer.
type Solo struct {
	opts   SoloOptions
	log    *slog.Logger
	in     chan submission
	quit   chan struct{}
	done   chan struct{}
	closed sync.Once

	// mu guards err (the first storage error, which stops the orderer).
	mu  sync.Mutex
	err error
}

type submission struct {
	tx    []byte
	reply chan error
}

// NewSolo starts a solo orderer.
func NewSolo(opts SoloOptions) (*Solo, error) {
	ix, err := config.NewIndex(opts.Config)
	if err != nil {
		return nil, err
	}
	if !ix.Has(opts.Identity.PeerID(), config.RoleOrderer) {
		return nil, fmt.Errorf("peer %s is not an orderer of channel %s", opts.Identity.PeerID(), opts.Config.Channel)
	}
	if !opts.Head.Defined() {
		return nil, errors.New("orderer: the chain head is needed (the genesis CID at least)")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	s := &Solo{opts: opts, log: log.With("subsystem", "ledger/orderer", "channel", opts.Config.Channel),
		in: make(chan submission, 1024), quit: make(chan struct{}), done: make(chan struct{})}
	go s.loop()
	return s, nil
}

// Submit implements Orderer. The transaction must decode (tx.Parse) and
// be for this channel; signatures are left to the committers, who check
// them all. Which peers may submit is the transport's decision.
func (s *Solo) Submit(ctx context.Context, t []byte) error {
	if len(t) > s.opts.Config.BlockCutting.MaxBytes {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(t), s.opts.Config.BlockCutting.MaxBytes)
	}
	p, err := tx.Parse(t)
	if err != nil {
		return err
	}
	if p.Proposal.Channel != s.opts.Config.Channel {
		return fmt.Errorf("%w: transaction for channel %q sent to the orderer of %q", tx.ErrMalformed, p.Proposal.Channel, s.opts.Config.Channel)
	}
	s.mu.Lock()
	err = s.err
	s.mu.Unlock()
	if err != nil {
		return err
	}
	reply := make(chan error, 1)
	select {
	case s.in <- submission{tx: t, reply: reply}:
	case <-s.quit:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-reply:
		return err
	case <-s.quit:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops the orderer, cutting what is pending first.
func (s *Solo) Close() error {
	s.closed.Do(func() { close(s.quit) })
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

func (s *Solo) loop() {
	defer close(s.done)
	bc := s.opts.Config.BlockCutting
	c := NewCutter(bc.MaxTransactions, bc.MaxBytes, bc.TimeoutDuration())
	number, head := s.opts.Number, s.opts.Head
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	armed := false
	emit := func(batch [][]byte) {
		if len(batch) == 0 {
			return
		}
		b, err := block.Build(s.opts.Config.Channel, number+1, head, batch, s.opts.Now(), s.opts.Identity)
		if err == nil {
			err = s.store(b)
		}
		if err != nil {
			s.log.Error("cutting a block failed; the orderer stops", "block", number+1, "err", err)
			s.mu.Lock()
			if s.err == nil {
				s.err = fmt.Errorf("orderer stopped: %w", err)
			}
			s.mu.Unlock()
			return
		}
		number, head = b.Block.Number, b.CID
		if s.opts.OnBlock != nil {
			s.opts.OnBlock(b)
		}
	}
	rearm := func() {
		if armed && !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		armed = false
		if d, ok := c.Deadline(); ok {
			timer.Reset(d.Sub(s.opts.Now()))
			armed = true
		}
	}
	for {
		select {
		case sub := <-s.in:
			batches, err := c.Add(sub.tx, s.opts.Now())
			sub.reply <- err
			// Take what else is queued before cutting: fuller blocks under load.
			for more := true; more && len(batches) == 0; {
				select {
				case sub := <-s.in:
					var bs [][][]byte
					bs, err = c.Add(sub.tx, s.opts.Now())
					sub.reply <- err
					batches = append(batches, bs...)
				default:
					more = false
				}
			}
			for _, b := range batches {
				emit(b)
			}
			rearm()
		case <-timer.C:
			armed = false
			emit(c.Tick(s.opts.Now()))
			rearm()
		case <-s.quit:
			emit(c.Cut())
			return
		}
	}
}

func (s *Solo) store(b *block.Built) error {
	ctx := context.Background()
	if b.Body != nil {
		if err := s.opts.Store.Put(ctx, blockstore.Block{CID: b.BodyCID, Data: b.Body}); err != nil {
			return fmt.Errorf("storing block %d's body: %w", b.Block.Number, err)
		}
	}
	if err := s.opts.Store.Put(ctx, blockstore.Block{CID: b.CID, Data: b.Bytes}); err != nil {
		return fmt.Errorf("storing block %d: %w", b.Block.Number, err)
	}
	return nil
}
