package blockstore

import "testing"

func TestBufferPoolClasses(t *testing.T) {
	var p BufferPool
	for _, tc := range []struct{ size, want int }{
		{MinPooledBlock - 1, 0},
		{MinPooledBlock, classSize(0)},
		{256 << 10, classSize(0)},
		{262158, classSize(0)}, // a 256 KiB chunk in a dag-pb leaf
		{256<<10 + 1<<10 + 1, classSize(1)},
		{1<<20 + 14, classSize(1)},
		{MaxBlockSize, classSize(2)},
		{MaxBlockSize + 1, 0},
	} {
		b := p.Get(tc.size)
		got := 0
		if b != nil {
			got = cap(*b)
			if len(*b) != 0 {
				t.Errorf("size %d: buffer of length %d, want an empty one", tc.size, len(*b))
			}
		}
		if got != tc.want {
			t.Errorf("size %d: buffer of capacity %d, want %d", tc.size, got, tc.want)
		}
	}
	// A buffer not from the pool is never taken in.
	foreign := make([]byte, 300<<10)
	p.Put(&foreign)
	for range 10 {
		if b := p.Get(256 << 10); &(*b)[:1][0] == &foreign[0] {
			t.Fatal("the pool handed out a buffer it did not make")
		}
	}
	// One it made comes back empty.
	b := p.Get(1 << 20)
	*b = append(*b, 1, 2, 3)
	p.Put(b)
	p.Put(nil)
}
