package message

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

func TestReaderStream(t *testing.T) {
	f := newFixture(t)
	msgs := []*Message{f.m, {}, {Wantlist: f.m.Wantlist[:1]}, {Blocks: f.m.Blocks[:2]}}
	var stream bytes.Buffer
	for _, m := range msgs {
		if err := WriteMsg(&stream, m, V120); err != nil {
			t.Fatal(err)
		}
	}
	r := NewReader(oneByteReader{&stream}) // the worst case for framing
	for i, want := range msgs {
		got, err := r.ReadMsg()
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if !equal(got, want) {
			t.Fatalf("message %d:\n got %s\nwant %s", i, canon(got), canon(want))
		}
	}
	for range 2 {
		if _, err := r.ReadMsg(); err != io.EOF {
			t.Fatalf("after the last message: %v, want io.EOF", err)
		}
	}
}

type oneByteReader struct{ r io.Reader }

func (o oneByteReader) Read(p []byte) (int, error) {
	if len(p) > 1 {
		p = p[:1]
	}
	return o.r.Read(p)
}

func TestReaderFraming(t *testing.T) {
	one := cat(uvarint(2), []byte{0x0a, 0x00})
	cases := []struct {
		name string
		in   []byte
		is   []error // nil: a clean io.EOF after the good messages
		not  []error
		good int // whole messages before the failure
	}{
		{"empty stream", nil, nil, nil, 0},
		{"one message", one, nil, nil, 1},
		{"zero-length message", uvarint(0), nil, nil, 1},
		{"cut in the length", cat(one, []byte{0x80}), []error{io.ErrUnexpectedEOF}, []error{ErrInvalid}, 1},
		{"cut in the body", cat(one, uvarint(10), []byte{0x0a}), []error{io.ErrUnexpectedEOF}, []error{ErrInvalid}, 1},
		{"length without body", uvarint(3), []error{io.ErrUnexpectedEOF}, nil, 0},
		{"non-minimal length", []byte{0x82, 0x00, 0x0a, 0x00}, []error{ErrInvalid}, []error{io.ErrUnexpectedEOF}, 0},
		{"10-byte length", bytes.Repeat([]byte{0xff}, 10), []error{ErrInvalid}, nil, 0},
		{"length 2^63", cat(bytes.Repeat([]byte{0xff}, 8), []byte{0x7f}), []error{ErrInvalid, ErrTooLarge}, nil, 0},
		{"length 4 MiB + 1", uvarint(MaxMessageSize + 1), []error{ErrInvalid, ErrTooLarge}, nil, 0},
		{"bad body", cat(one, uvarint(2), []byte{0x08, 0x01}), []error{ErrInvalid}, []error{ErrTooLarge}, 1},
	}
	for _, c := range cases {
		r := NewReader(bytes.NewReader(c.in))
		for i := range c.good {
			if _, err := r.ReadMsg(); err != nil {
				t.Fatalf("%s: message %d: %v", c.name, i, err)
			}
		}
		_, err := r.ReadMsg()
		if c.is == nil {
			if err != io.EOF {
				t.Errorf("%s: %v, want io.EOF", c.name, err)
			}
			continue
		}
		if err == io.EOF {
			t.Errorf("%s: a bare io.EOF, want an error", c.name)
		}
		for _, e := range c.is {
			if !errors.Is(err, e) {
				t.Errorf("%s: %v does not wrap %v", c.name, err, e)
			}
		}
		for _, e := range c.not {
			if errors.Is(err, e) {
				t.Errorf("%s: %v wraps %v", c.name, err, e)
			}
		}
	}
}

// A message of exactly MaxMessageSize bytes is read; one byte more is
// refused after reading only its length.
func TestReaderSizeLimit(t *testing.T) {
	body := exactly(MaxMessageSize)
	r := NewReader(bytes.NewReader(cat(uvarint(uint64(len(body))), body)))
	if _, err := r.ReadMsg(); err != nil {
		t.Fatalf("a %d-byte message: %v", len(body), err)
	}
	body = exactly(MaxMessageSize + 1)
	src := bytes.NewReader(cat(uvarint(uint64(len(body))), body))
	r = NewReader(src)
	if _, err := r.ReadMsg(); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("a %d-byte message: %v", len(body), err)
	}
	if _, err := Unmarshal(body); !errors.Is(err, ErrTooLarge) || !errors.Is(err, ErrInvalid) {
		t.Fatalf("Unmarshal of %d bytes: %v", len(body), err)
	}
}

// exactly returns a valid message of n bytes: an unknown bytes field.
func exactly(n int) []byte {
	pad := n - 1 - protowire.SizeVarint(uint64(n))
	for protowire.SizeTag(15)+protowire.SizeBytes(pad) > n {
		pad--
	}
	b := field(15, make([]byte, pad))
	if len(b) != n {
		panic("exactly: bad arithmetic")
	}
	return b
}

// allocated returns the bytes allocated while fn runs.
func allocated(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// The announced length costs nothing until bytes arrive: a refused length
// allocates nothing for the body, and a peer that announces 4 MiB and
// sends a few bytes costs one read chunk.
func TestReaderAllocatesWhatArrives(t *testing.T) {
	over := NewReader(bytes.NewReader(uvarint(MaxMessageSize + 1)))
	stall := NewReader(bytes.NewReader(cat(uvarint(MaxMessageSize), []byte("only this"))))
	if n := allocated(func() { _, _ = over.ReadMsg() }); n > 16<<10 {
		t.Errorf("refusing a 4 MiB + 1 length allocated %d bytes", n)
	}
	var err error
	if n := allocated(func() { _, err = stall.ReadMsg() }); n > readChunk+16<<10 {
		t.Errorf("a stream cut after 9 bytes of an announced 4 MiB allocated %d bytes", n)
	}
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatal(err)
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

func TestReaderStreamErrors(t *testing.T) {
	boom := errors.New("connection reset")
	_, err := NewReader(errReader{boom}).ReadMsg()
	if !errors.Is(err, boom) || errors.Is(err, ErrInvalid) || err == io.EOF {
		t.Fatalf("ReadMsg = %v", err)
	}
	_, err = NewReader(io.MultiReader(bytes.NewReader(uvarint(100)), errReader{boom})).ReadMsg()
	if !errors.Is(err, boom) || errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("ReadMsg = %v", err)
	}
}
