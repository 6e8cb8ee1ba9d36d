package pin

import (
	"context"
	"sync"
)

// gcLock lets many pin operations run together and GC run alone. Unlike
// sync.RWMutex, a waiting GC does not block new readers, so a reader may
// take it again while holding it (an import holding PinLock calls
// PinRecursive). The price is that a steady stream of overlapping imports
// can delay GC; GC gives up when its context ends.
type gcLock struct {
	mu      sync.Mutex // guards readers and running
	cond    *sync.Cond // signalled when readers drops to 0 or running ends
	readers int
	running bool
}

func (l *gcLock) init() { l.cond = sync.NewCond(&l.mu) }

// waitWhile waits on the cond while blocked() holds and ctx is live. Called with mu held.
func (l *gcLock) waitWhile(ctx context.Context, blocked func() bool) error {
	if !blocked() {
		return nil
	}
	stop := context.AfterFunc(ctx, func() {
		l.mu.Lock()
		l.cond.Broadcast()
		l.mu.Unlock()
	})
	defer stop()
	for blocked() {
		if err := ctx.Err(); err != nil {
			return err
		}
		l.cond.Wait()
	}
	return nil
}

func (l *gcLock) rlock(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.waitWhile(ctx, func() bool { return l.running }); err != nil {
		return err
	}
	l.readers++
	return nil
}

func (l *gcLock) runlock() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.readers--
	if l.readers == 0 {
		l.cond.Broadcast()
	}
}

func (l *gcLock) lock(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.waitWhile(ctx, func() bool { return l.running || l.readers > 0 }); err != nil {
		return err
	}
	l.running = true
	return nil
}

func (l *gcLock) unlock() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.running = false
	l.cond.Broadcast()
}
