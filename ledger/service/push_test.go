package service

import (
	"bytes"
	"testing"

	"node/ledger/block"
	"node/ledger/codec"
)

// The announcer sends a member the blocks it lacks, oldest first, the
// newest of them when they do not all fit in a frame.
func TestAnnouncementCarriesMissingBlocks(t *testing.T) {
	a := &announcer{}
	for n := uint64(1); n <= 20; n++ {
		body := bytes.Repeat([]byte{byte(n)}, 200<<10) // 200 KiB each
		a.recent = append(a.recent, &block.Built{Block: &block.Block{Number: n}, Bytes: []byte{byte(n)}, Body: body})
		if len(a.recent) > maxPushedBlocks {
			a.recent = a.recent[1:]
		}
	}
	numbers := func(info Info) []uint64 {
		var out []uint64
		for _, b := range info.Blocks {
			out = append(out, uint64(b.Header[0]))
		}
		return out
	}
	got := numbers(a.withBlocks(Info{Height: 21}, 18))
	if len(got) != 3 || got[0] != 18 || got[2] != 20 {
		t.Fatalf("a member at height 18 gets blocks %v, want 18..20", got)
	}
	got = numbers(a.withBlocks(Info{Height: 21}, 0))
	if len(got) == 0 || got[len(got)-1] != 20 || len(got)*(200<<10) > pushBudget {
		t.Fatalf("a member at height 0 gets blocks %v: want the newest that fit in %d bytes", got, pushBudget)
	}
	for i := 1; i < len(got); i++ {
		if got[i] != got[i-1]+1 {
			t.Fatalf("blocks %v are not consecutive, oldest first", got)
		}
	}
	if got := numbers(a.withBlocks(Info{Height: 21}, 21)); len(got) != 0 {
		t.Fatalf("a member at the head gets blocks %v", got)
	}
}

// Pushed blocks are kept under the CID their bytes hash to, taken once,
// and bounded.
func TestPushedBlocks(t *testing.T) {
	var p pushedBlocks
	h, b := []byte("header"), []byte("body")
	p.add([]PushedBlock{{Header: h, Body: b}})
	if got := p.take(codec.CIDOf(h)); !bytes.Equal(got, h) {
		t.Fatalf("header: %q", got)
	}
	if got := p.take(codec.CIDOf(h)); got != nil {
		t.Fatalf("taken twice: %q", got)
	}
	if got := p.take(codec.CIDOf([]byte("other"))); got != nil {
		t.Fatalf("a block never pushed: %q", got)
	}
	for i := range 10 * maxPushedKept {
		p.add([]PushedBlock{{Header: []byte{byte(i), byte(i >> 8)}}})
	}
	if n := len(p.blocks); n > maxPushedKept {
		t.Fatalf("%d blocks kept, over %d", n, maxPushedKept)
	}
	var none *pushedBlocks
	if none.take(codec.CIDOf(b)) != nil {
		t.Fatal("nil pushedBlocks gave a block")
	}
}
