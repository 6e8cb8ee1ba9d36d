// Package bufpool keeps byte buffers by size class, for memory that moves
// a block or a message at a time and would otherwise be allocated (and
// zeroed, and collected) for each one.
//
//	p := bufpool.New(64<<10, 1<<20)
//	b := p.Get(300 << 10) // len 0, cap 1 MiB; nil when over the largest class
//	... use (*b)[:n] ...
//	p.Put(b)              // once nothing reads it any more
package bufpool

import (
	"slices"
	"sync"
)

// Pool hands out buffers whose capacity is one of its classes. It is safe
// for concurrent use.
type Pool struct {
	classes []int
	pools   []sync.Pool // of *[]byte with cap classes[i]
}

// New returns a pool with buffers of the given capacities.
func New(classes ...int) *Pool {
	c := slices.Sorted(slices.Values(classes))
	return &Pool{classes: c, pools: make([]sync.Pool, len(c))}
}

// Get returns an empty buffer with a capacity of at least n: that of the
// smallest class that holds n. It returns nil when n is over the largest.
func (p *Pool) Get(n int) *[]byte {
	for i, c := range p.classes {
		if n <= c {
			if b, ok := p.pools[i].Get().(*[]byte); ok {
				return b
			}
			b := make([]byte, 0, c)
			return &b
		}
	}
	return nil
}

// Put takes back a buffer from Get; nothing may read it afterwards.
// Buffers of other capacities (and nil) are left to the garbage collector.
func (p *Pool) Put(b *[]byte) {
	if b == nil {
		return
	}
	for i, c := range p.classes {
		if cap(*b) == c {
			*b = (*b)[:0]
			p.pools[i].Put(b)
			return
		}
	}
}
