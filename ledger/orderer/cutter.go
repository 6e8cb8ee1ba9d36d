// Package orderer cuts endorsed transactions into signed blocks.
//
// Ordering is behind the Orderer interface: Submit a transaction, receive
// blocks. Solo is the one ordering node a channel has for now (a
// replicated service, raft for example, can come later behind the same
// interface). Its core is the Cutter, a deterministic state machine fed
// transactions and clock ticks that says when a batch is complete: at
// BlockCutting.MaxTransactions transactions, before MaxBytes would be
// passed, or Timeout after the first transaction of the batch arrived.
//
//	s, _ := orderer.NewSolo(orderer.SoloOptions{Config: cfg, Identity: id,
//		Store: store, Number: height - 1, Head: head,
//		OnBlock: func(b *block.Built) { announce(b.CID) }})
//	defer s.Close()
//	err := s.Submit(ctx, txBytes)
package orderer

import (
	"errors"
	"fmt"
	"time"
)

// ErrTooLarge is returned for a transaction bigger than a block may be.
var ErrTooLarge = errors.New("transaction larger than the channel's maximum block size")

// Cutter batches transactions. It does no I/O and reads no clock: the
// caller passes the time. Not safe for concurrent use.
type Cutter struct {
	maxTx, maxBytes int
	timeout         time.Duration

	pending [][]byte
	size    int
	first   time.Time // arrival of pending[0]
}

// NewCutter makes a cutter.
func NewCutter(maxTx, maxBytes int, timeout time.Duration) *Cutter {
	return &Cutter{maxTx: maxTx, maxBytes: maxBytes, timeout: timeout}
}

// Add queues a transaction arriving at now and returns the batches it
// completes (zero, one or two: the pending batch is cut first when the
// transaction would not fit in it).
func (c *Cutter) Add(t []byte, now time.Time) ([][][]byte, error) {
	if len(t) > c.maxBytes {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(t), c.maxBytes)
	}
	var out [][][]byte
	if len(c.pending) > 0 && c.size+len(t) > c.maxBytes {
		out = append(out, c.Cut())
	}
	if len(c.pending) == 0 {
		c.first = now
	}
	c.pending = append(c.pending, t)
	c.size += len(t)
	if len(c.pending) >= c.maxTx || c.size >= c.maxBytes {
		out = append(out, c.Cut())
	}
	return out, nil
}

// Tick returns the pending batch if its timeout has passed at now.
func (c *Cutter) Tick(now time.Time) [][]byte {
	if len(c.pending) == 0 || now.Before(c.first.Add(c.timeout)) {
		return nil
	}
	return c.Cut()
}

// Deadline is when the pending batch times out (false when none is pending).
func (c *Cutter) Deadline() (time.Time, bool) {
	if len(c.pending) == 0 {
		return time.Time{}, false
	}
	return c.first.Add(c.timeout), true
}

// Cut returns the pending batch (nil when empty) and starts a new one.
func (c *Cutter) Cut() [][]byte {
	b := c.pending
	c.pending, c.size = nil, 0
	return b
}

// Pending is the number of queued transactions.
func (c *Cutter) Pending() int { return len(c.pending) }
