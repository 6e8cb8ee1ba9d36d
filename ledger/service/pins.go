package service

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
)

// Pinner keeps blocks from garbage collection: a *pin.Pinner.
type Pinner interface {
	// PinLock holds off garbage collection until unlock is called.
	PinLock(ctx context.Context) (unlock func(), err error)
	// PinImported records a recursive pin without walking the DAG.
	PinImported(ctx context.Context, c cid.Cid) error
	Unpin(ctx context.Context, c cid.Cid, recursive bool) error
}

// pinDelay is how long after a commit the head's pin is updated: blocks
// committed meanwhile share one update.
const pinDelay = 200 * time.Millisecond

// headPinner keeps a channel's chain from garbage collection with one
// recursive pin on its head (the head links every earlier block and body).
// Moving the pin costs two datastore writes, so it moves at most every
// pinDelay; in between, the GC lock is held from before the first
// unpinned block is stored until the pin covers it.
type headPinner struct {
	pins Pinner
	log  *slog.Logger

	// mu guards everything below.
	mu      sync.Mutex
	unlock  func()      // the held GC lock, or nil
	active  int         // commits in progress
	pinned  cid.Cid     // the head pinned now
	target  cid.Cid     // the head to pin
	timer   *time.Timer // pending flush, or nil
	stopped bool
}

func newHeadPinner(pins Pinner, log *slog.Logger, head cid.Cid) *headPinner {
	h := &headPinner{pins: pins, log: log}
	if pins != nil && head.Defined() {
		// Pinned already unless this is a new channel or a crash came
		// between a commit and its pin.
		if err := pins.PinImported(context.Background(), head); err != nil {
			log.Warn("pinning the channel's head failed; `node repo gc` could remove its blocks", "head", head, "err", err)
		}
		h.pinned = head
	}
	return h
}

// begin is called before a commit: it takes the GC lock if not held.
func (h *headPinner) begin(ctx context.Context) error {
	if h.pins == nil {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.unlock == nil {
		unlock, err := h.pins.PinLock(ctx)
		if err != nil {
			return err
		}
		h.unlock = unlock
	}
	h.active++
	return nil
}

// end is called after a commit with the (possibly unchanged) head.
func (h *headPinner) end(head cid.Cid) {
	if h.pins == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.active--
	if head.Defined() {
		h.target = head
	}
	if h.timer == nil && !h.stopped {
		h.timer = time.AfterFunc(pinDelay, h.flush)
	}
}

// flush moves the pin to the target and releases the GC lock, unless a
// commit is in progress (then it runs again later).
func (h *headPinner) flush() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.timer = nil
	if h.active > 0 {
		if !h.stopped {
			h.timer = time.AfterFunc(pinDelay, h.flush)
		}
		return
	}
	h.move()
}

// move pins the target, unpins the old head and releases the lock. The
// caller holds mu.
func (h *headPinner) move() {
	ctx := context.Background()
	if h.target.Defined() && !h.target.Equals(h.pinned) {
		if err := h.pins.PinImported(ctx, h.target); err != nil {
			h.log.Warn("pinning the channel's head failed; `node repo gc` could remove its blocks", "head", h.target, "err", err)
		} else {
			if h.pinned.Defined() {
				// The new head links the old one: its blocks stay pinned.
				_ = h.pins.Unpin(ctx, h.pinned, true)
			}
			h.pinned = h.target
		}
	}
	if h.unlock != nil {
		h.unlock()
		h.unlock = nil
	}
}

// close moves the pin now and stops.
func (h *headPinner) close() {
	if h.pins == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.stopped = true
	if h.timer != nil {
		h.timer.Stop()
		h.timer = nil
	}
	h.move()
}
