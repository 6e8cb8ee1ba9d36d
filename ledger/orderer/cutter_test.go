package orderer

import (
	"errors"
	"testing"
	"time"
)

func TestCutterCounts(t *testing.T) {
	c := NewCutter(3, 1000, time.Second)
	now := time.Unix(0, 0)
	for i := range 2 {
		if b, err := c.Add([]byte{byte(i)}, now); err != nil || len(b) != 0 {
			t.Fatalf("tx %d cut %v %v", i, b, err)
		}
	}
	b, _ := c.Add([]byte{2}, now)
	if len(b) != 1 || len(b[0]) != 3 || c.Pending() != 0 {
		t.Fatalf("third tx: %v", b)
	}
}

func TestCutterBytes(t *testing.T) {
	c := NewCutter(100, 10, time.Second)
	now := time.Unix(0, 0)
	c.Add(make([]byte, 6), now)
	b, _ := c.Add(make([]byte, 6), now) // would pass 10: the first is cut alone
	if len(b) != 1 || len(b[0]) != 1 || c.Pending() != 1 {
		t.Fatalf("got %d batches, pending %d", len(b), c.Pending())
	}
	b, _ = c.Add(make([]byte, 4), now) // reaches 10 exactly: cut
	if len(b) != 1 || len(b[0]) != 2 {
		t.Fatalf("got %v", b)
	}
	if _, err := c.Add(make([]byte, 11), now); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized: %v", err)
	}
}

func TestCutterTimeout(t *testing.T) {
	c := NewCutter(100, 1000, time.Second)
	t0 := time.Unix(100, 0)
	if _, ok := c.Deadline(); ok {
		t.Fatal("deadline with nothing pending")
	}
	c.Add([]byte{1}, t0)
	c.Add([]byte{2}, t0.Add(900*time.Millisecond))
	if d, _ := c.Deadline(); !d.Equal(t0.Add(time.Second)) {
		t.Fatalf("deadline %v", d)
	}
	if b := c.Tick(t0.Add(999 * time.Millisecond)); b != nil {
		t.Fatal("cut before the timeout")
	}
	if b := c.Tick(t0.Add(time.Second)); len(b) != 2 {
		t.Fatalf("at the timeout: %v", b)
	}
	if b := c.Tick(t0.Add(5 * time.Second)); b != nil {
		t.Fatal("cut an empty batch")
	}
}
