package message

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"

	"node/blockstore"
	"node/internal/testutil"
)

// streamBufferSize matches the bitswap sender's buffer (one yamux frame).
const streamBufferSize = 64 << 10

// bigBlockMessage is one 256 KiB block, the common serving case.
func bigBlockMessage(t testing.TB) *Message {
	data := testutil.RandomBytes(3, 256<<10)
	return &Message{Blocks: []blockstore.Block{block(v0(t, data), data)}}
}

// checkWriteMsg asserts that WriteMsg writes exactly the length-prefixed
// Marshal output and returns the same error, or, when Marshal refuses the
// message, writes nothing; unbuffered and through a tiny bufio.Writer.
func checkWriteMsg(t testing.TB, m *Message, v Version) {
	t.Helper()
	body, merr := m.Marshal(v)
	refused := merr != nil && !errors.Is(merr, ErrNotRepresentable)
	for _, size := range []int{0, 7} {
		var out bytes.Buffer
		var w io.Writer = &out
		bw := bufio.NewWriterSize(&out, size)
		if size > 0 {
			w = bw
		}
		err := WriteMsg(w, m, v)
		if ferr := bw.Flush(); ferr != nil {
			t.Fatal(ferr)
		}
		if refused {
			if err == nil || err.Error() != merr.Error() || out.Len() != 0 {
				t.Fatalf("%s, buffer %d: Marshal refused with %v; WriteMsg wrote %d bytes and returned %v", v, size, merr, out.Len(), err)
			}
			continue
		}
		if !reflect.DeepEqual(err, merr) {
			t.Fatalf("%s, buffer %d: WriteMsg returned %v, Marshal %v", v, size, err, merr)
		}
		want := cat(uvarint(uint64(len(body))), body)
		if got := out.Bytes(); !bytes.Equal(got, want) {
			t.Fatalf("%s, buffer %d: WriteMsg wrote %d bytes, Marshal framed is %d; first difference at %d",
				v, size, len(got), len(want), firstDiff(got, want))
		}
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func writeMsgCases(t *testing.T) map[string]*Message {
	f := newFixture(t)
	raw := func(data []byte) blockstore.Block { return block(v1(t, cid.Raw, data, multihash.SHA2_256), data) }
	big, seventy, one := testutil.RandomBytes(1, 256<<10), testutil.RandomBytes(2, 70<<10), []byte{0x42}
	largest := testutil.RandomBytes(5, blockstore.MaxBlockSize)

	longWantlist := &Message{Full: true, PendingBytes: -7}
	for i := range 600 { // about 25 KiB: several of WriteMsg's chunks
		c := v1(t, cid.DagCBOR, fmt.Appendf(nil, "want %d", i), multihash.SHA2_256)
		if i%3 == 0 {
			c = v0(t, fmt.Appendf(nil, "want %d", i))
		}
		longWantlist.Wantlist = append(longWantlist.Wantlist, Entry{
			CID: c, Priority: int32(i - 300), Cancel: i%5 == 0, WantType: WantType(i % 2), SendDontHave: i%7 == 0,
		})
	}
	manyPresences := &Message{PendingBytes: 1 << 20}
	for i := range 400 {
		manyPresences.Presences = append(manyPresences.Presences,
			Presence{CID: v0(t, fmt.Appendf(nil, "p %d", i)), Type: PresenceType(i % 2)})
	}
	blake := v1(t, cid.Raw, big, multihash.BLAKE3)

	return map[string]*Message{
		"empty":                {},
		"fixture":              f.m,
		"empty block v0":       {Blocks: []blockstore.Block{block(v0(t, nil), nil)}},
		"empty block raw":      {Blocks: []blockstore.Block{raw(nil)}},
		"one-byte block":       {Blocks: []blockstore.Block{block(v0(t, one), one)}},
		"one-byte block raw":   {Blocks: []blockstore.Block{raw(one)}},
		"256 KiB block":        {Blocks: []blockstore.Block{block(v0(t, big), big)}},
		"256 KiB block raw":    {Blocks: []blockstore.Block{raw(big)}},
		"2 MiB block":          {Blocks: []blockstore.Block{raw(largest)}},
		"several blocks":       {Blocks: []blockstore.Block{raw(nil), block(v0(t, one), one), raw(seventy), block(v0(t, big), big), raw(big), raw(one)}},
		"blocks and the rest":  {Wantlist: f.m.Wantlist, Full: true, Blocks: []blockstore.Block{raw(big), block(v0(t, seventy), seventy)}, Presences: f.m.Presences, PendingBytes: 99},
		"presences":            {Presences: f.m.Presences},
		"many presences":       manyPresences,
		"long want-list":       longWantlist,
		"only blake3 (no 1.0)": {Wantlist: []Entry{{CID: f.blakeWant}}, Blocks: []blockstore.Block{block(blake, big)}},
		"refused":              {Blocks: []blockstore.Block{{CID: cid.Undef}}},
	}
}

// WriteMsg writes the bytes Marshal gives, framed, for every version.
func TestWriteMsgMatchesMarshal(t *testing.T) {
	for name, m := range writeMsgCases(t) {
		t.Run(name, func(t *testing.T) {
			for _, v := range []Version{V120, V110, V100} {
				checkWriteMsg(t, m, v)
			}
		})
	}
	// The cases cover what they claim to.
	f := newFixture(t)
	if _, err := f.m.Marshal(V100); !errors.Is(err, ErrNotRepresentable) {
		t.Fatal("the fixture is representable in 1.0.0")
	}
	if b, err := writeMsgCases(t)["long want-list"].Marshal(V120); err != nil || len(b) < 4*writeChunk {
		t.Fatalf("the long want-list is %d bytes (%v), want several chunks", len(b), err)
	}
}

// failAt fails its n-th Write and any Write after it.
type failAt struct {
	n, writes int
	out       bytes.Buffer
}

func (w *failAt) Write(p []byte) (int, error) {
	w.writes++
	if w.writes >= w.n {
		return 0, errWrite
	}
	return w.out.Write(p)
}

// A write error stops WriteMsg: it comes back wrapped, nothing is written
// after it, and what was written is the start of the message.
func TestWriteMsgStopsAtWriteError(t *testing.T) {
	m := writeMsgCases(t)["blocks and the rest"]
	body := mustMarshal(t, m, V120)
	framed := cat(uvarint(uint64(len(body))), body)
	all := &countingWriter{}
	if err := WriteMsg(all, m, V120); err != nil {
		t.Fatal(err)
	}
	if len(all.writes) < 3 {
		t.Fatalf("only %d writes: the test needs several", len(all.writes))
	}
	for n := 1; n <= len(all.writes); n++ {
		w := &failAt{n: n}
		err := WriteMsg(w, m, V120)
		if !errors.Is(err, errWrite) {
			t.Fatalf("failing write %d: WriteMsg = %v", n, err)
		}
		if w.writes != n || !bytes.HasPrefix(framed, w.out.Bytes()) {
			t.Fatalf("failing write %d: %d writes in all, %d bytes written", n, w.writes, w.out.Len())
		}
	}
	// A writer that writes less without an error is a short write.
	if err := WriteMsg(shortWriter{}, m, V120); !errors.Is(err, io.ErrShortWrite) {
		t.Fatalf("short writer: WriteMsg = %v", err)
	}
}

type shortWriter struct{}

func (shortWriter) Write(p []byte) (int, error) { return len(p) / 2, nil }

// Sending a 256 KiB block allocates little: the block is not copied into
// a message-sized buffer.
func TestWriteMsgDoesNotCopyBlocks(t *testing.T) {
	m := bigBlockMessage(t)
	bw := bufio.NewWriterSize(io.Discard, streamBufferSize)
	send := func() {
		if err := WriteMsg(bw, m, V120); err != nil {
			t.Fatal(err)
		}
		if err := bw.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	allocs := testing.AllocsPerRun(100, send)
	const runs = 100
	perMsg := allocated(func() {
		for range runs {
			send()
		}
	}) / runs
	t.Logf("WriteMsg of a 256 KiB block: %.0f allocations, %d bytes", allocs, perMsg)
	if perMsg >= 16<<10 {
		t.Fatalf("WriteMsg of a 256 KiB block allocated %d bytes, want under 16 KiB", perMsg)
	}
	if allocs > 8 {
		t.Fatalf("WriteMsg of a 256 KiB block made %.0f allocations, want at most 8", allocs)
	}
}

// oldWriteMsg is WriteMsg as it was before it wrote in pieces: the whole
// framed message built in one buffer, then one Write. Only for
// BenchmarkWriteMsg to compare against.
func oldWriteMsg(w io.Writer, m *Message, v Version) error {
	e, err := prepare(m, v)
	if err != nil {
		return err
	}
	prefix := uvarint(uint64(e.size))
	out := pieces{buf: append(make([]byte, 0, len(prefix)+e.size), prefix...)}
	e.encode(&out)
	if _, err := w.Write(out.buf); err != nil {
		return fmt.Errorf("writing bitswap message: %w", err)
	}
	return e.skipped()
}

// BenchmarkWriteMsg sends a 256 KiB block through a bufio.Writer the size
// of the sender's, as the bitswap sender does; "one-buffer" is the old
// way, for the ratio.
func BenchmarkWriteMsg(b *testing.B) {
	for _, c := range []struct {
		name  string
		write func(io.Writer, *Message, Version) error
	}{{"pieces", WriteMsg}, {"one-buffer", oldWriteMsg}} {
		b.Run(c.name, func(b *testing.B) {
			m := bigBlockMessage(b)
			bw := bufio.NewWriterSize(io.Discard, streamBufferSize)
			b.SetBytes(int64(len(m.Blocks[0].Data)))
			b.ReportAllocs()
			for b.Loop() {
				if err := c.write(bw, m, V120); err != nil {
					b.Fatal(err)
				}
				if err := bw.Flush(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
