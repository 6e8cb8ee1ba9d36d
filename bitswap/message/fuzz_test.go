package message

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"testing"

	"node/blockstore"
)

// checkDecoded asserts what every decoded message must satisfy, then that
// it re-encodes (for every version) and that the 1.2.0 encoding decodes to
// the same message.
func checkDecoded(t *testing.T, m *Message, inputLen int) {
	t.Helper()
	if len(m.Wantlist) > MaxEntries || len(m.Presences) > MaxPresences || len(m.Blocks) > MaxBlocks {
		t.Fatalf("over a count limit: %d entries, %d presences, %d blocks", len(m.Wantlist), len(m.Presences), len(m.Blocks))
	}
	for _, b := range m.Blocks {
		if len(b.Data) > blockstore.MaxBlockSize {
			t.Fatalf("block of %d bytes", len(b.Data))
		}
		if err := blockstore.VerifyBlock(b.CID, b.Data); err != nil {
			t.Fatalf("decoded block does not hash to its CID: %v", err)
		}
	}
	for _, e := range m.Wantlist {
		if err := blockstore.CheckCID(e.CID); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range m.Presences {
		if err := blockstore.CheckCID(p.CID); err != nil {
			t.Fatal(err)
		}
	}
	b, err := m.Marshal(V120)
	if err != nil {
		// 1.0.0 blocks grow by a few bytes each as payload: only a message
		// near the limit can outgrow it.
		if errors.Is(err, ErrTooLarge) && inputLen > MaxMessageSize-16*len(m.Blocks) {
			return
		}
		t.Fatalf("a decoded message does not re-encode: %v", err)
	}
	m2, err := Unmarshal(b)
	if err != nil {
		t.Fatalf("our own encoding does not decode: %v\n%x", err, b)
	}
	if !equal(m, m2) {
		t.Fatalf("re-encoding changed the message:\nfirst  %s\nsecond %s", canon(m), canon(m2))
	}
	for _, v := range []Version{V110, V100} {
		b, err := m.Marshal(v)
		if err != nil && !errors.Is(err, ErrNotRepresentable) {
			t.Fatalf("Marshal(%s): %v", v, err)
		}
		if _, err := Unmarshal(b); err != nil {
			t.Fatalf("our %s encoding does not decode: %v", v, err)
		}
	}
	for _, v := range []Version{V120, V110, V100} {
		checkWriteMsg(t, m, v)
	}
}

func seeds(f *testing.F) [][]byte {
	fx := newFixture(f)
	var out [][]byte
	for _, v := range []Version{V120, V110, V100} {
		b, err := fx.m.Marshal(v)
		if err != nil && !errors.Is(err, ErrNotRepresentable) {
			f.Fatal(err)
		}
		out = append(out, b)
	}
	return append(out, nil, []byte{0x0a, 0x00})
}

func FuzzUnmarshal(f *testing.F) {
	for _, s := range seeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		m, err := Unmarshal(in)
		if err != nil {
			if !errors.Is(err, ErrInvalid) || m != nil {
				t.Fatalf("Unmarshal = %v, %v; errors must wrap ErrInvalid", m, err)
			}
			return
		}
		checkDecoded(t, m, len(in))
	})
}

func FuzzReader(f *testing.F) {
	for _, s := range seeds(f) {
		framed := cat(uvarint(uint64(len(s))), s)
		f.Add(framed)
		f.Add(cat(framed, framed, []byte{0x80}))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		// Read whole, then in small pieces with the accounted (pooled)
		// bodies the network uses: the messages must come out the same.
		whole := readAll(t, NewReader(bytes.NewReader(in)), len(in))
		split := NewReader(&chunked{b: in, n: 1 + len(in)%7})
		split.Reserve = func(int) error { return nil }
		if got := readAll(t, split, len(in)); !slices.Equal(got, whole) {
			t.Fatalf("read in pieces: %q, read whole: %q", got, whole)
		}
	})
}

// readAll reads messages until the end or an error, checks each, and
// returns what it read: each message re-encoded, then the error if any.
func readAll(t *testing.T, r *Reader, inLen int) []string {
	var out []string
	for range inLen + 1 { // each message consumes at least one byte
		m, err := r.ReadMsg()
		switch {
		case err == io.EOF:
			return out
		case err != nil:
			if !errors.Is(err, ErrInvalid) && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("ReadMsg: %v, want io.EOF, ErrInvalid or io.ErrUnexpectedEOF", err)
			}
			return append(out, "error")
		}
		checkDecoded(t, m, inLen)
		b, _ := m.Marshal(V120)
		m.Release()
		out = append(out, string(b))
	}
	t.Fatal("the reader never reached the end of its input")
	return nil
}

// chunked reads b at most n bytes at a time, as a stream delivers frames.
type chunked struct {
	b []byte
	n int
}

func (p *chunked) Read(out []byte) (int, error) {
	if len(p.b) == 0 {
		return 0, io.EOF
	}
	k := copy(out[:min(len(out), p.n)], p.b)
	p.b = p.b[k:]
	return k, nil
}
