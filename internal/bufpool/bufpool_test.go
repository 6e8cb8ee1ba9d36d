package bufpool

import "testing"

func TestClasses(t *testing.T) {
	p := New(1<<20, 64<<10)
	for _, tc := range []struct{ n, want int }{{0, 64 << 10}, {64 << 10, 64 << 10}, {64<<10 + 1, 1 << 20}, {1 << 20, 1 << 20}, {1<<20 + 1, 0}} {
		got := 0
		if b := p.Get(tc.n); b != nil {
			got = cap(*b)
			if len(*b) != 0 {
				t.Errorf("Get(%d): length %d, want an empty buffer", tc.n, len(*b))
			}
		}
		if got != tc.want {
			t.Errorf("Get(%d): capacity %d, want %d", tc.n, got, tc.want)
		}
	}
	// A buffer not from the pool is never handed out.
	foreign := make([]byte, 10, 64<<10+5)
	p.Put(&foreign)
	p.Put(nil)
	for range 10 {
		if b := p.Get(100); cap(*b) != 64<<10 {
			t.Fatalf("the pool handed out a buffer of capacity %d", cap(*b))
		}
	}
	// One it made comes back empty.
	b := p.Get(5)
	*b = append(*b, 1, 2, 3)
	p.Put(b)
	if b2 := p.Get(5); len(*b2) != 0 {
		t.Fatal("a buffer came back with data")
	}
}
