package service

import (
	"bufio"
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/multiformats/go-varint"
)

// TestFramesRoundTrip: frames of every size class up to MaxFrame come back
// whole, across the points where the read buffer grows.
func TestFramesRoundTrip(t *testing.T) {
	for _, n := range []int{0, 1, 64<<10 - 1, 64 << 10, 64<<10 + 1, 256<<10 + 3, 1 << 20, MaxFrame} {
		payload := bytes.Repeat([]byte{byte(n)}, n)
		var buf bytes.Buffer
		if err := writeFrame(&buf, payload); err != nil {
			t.Fatalf("%d bytes: %v", n, err)
		}
		got, err := readFrame(bufio.NewReader(&buf))
		if err != nil || !bytes.Equal(got, payload) {
			t.Fatalf("%d bytes: got %d bytes, %v", n, len(got), err)
		}
	}
}

// TestFrameCutShort: a frame that announces more than it sends is refused,
// saying how much arrived.
func TestFrameCutShort(t *testing.T) {
	in := append(varint.ToUvarint(MaxFrame), make([]byte, 100)...)
	_, err := readFrame(bufio.NewReader(bytes.NewReader(in)))
	if !errors.Is(err, ErrMalformedMessage) || !strings.Contains(err.Error(), "after 100") {
		t.Fatalf("got %v", err)
	}
}
