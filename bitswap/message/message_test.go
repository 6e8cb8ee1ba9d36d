package message

import (
	"bytes"
	"errors"
	"slices"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/multiformats/go-multihash"
	"google.golang.org/protobuf/encoding/protowire"

	"node/blockstore"
)

func TestRoundTripV120(t *testing.T) {
	f := newFixture(t)
	got := mustUnmarshal(t, mustMarshal(t, f.m, V120))
	if !equal(got, f.m) {
		t.Fatalf("1.2.0 round trip changed the message:\n got %s\nwant %s", canon(got), canon(f.m))
	}
	for _, b := range got.Blocks {
		if err := blockstore.VerifyBlock(b.CID, b.Data); err != nil {
			t.Error(err)
		}
	}
}

func TestRoundTripV110(t *testing.T) {
	f := newFixture(t)
	want := *f.m
	want.Wantlist = nil
	for _, e := range f.m.Wantlist {
		e.WantType, e.SendDontHave = WantBlock, false // downgraded
		want.Wantlist = append(want.Wantlist, e)
	}
	want.Presences, want.PendingBytes = nil, 0 // left out
	got := mustUnmarshal(t, mustMarshal(t, f.m, V110))
	if !equal(got, &want) {
		t.Fatalf("1.1.0 round trip:\n got %s\nwant %s", canon(got), canon(&want))
	}
}

func TestRoundTripV100(t *testing.T) {
	f := newFixture(t)
	b, err := f.m.Marshal(V100)
	var nre *NotRepresentableError
	if !errors.As(err, &nre) || !errors.Is(err, ErrNotRepresentable) {
		t.Fatalf("Marshal(1.0.0) error = %v, want a *NotRepresentableError", err)
	}
	if nre.Version != V100 || !slices.Equal(nre.Wants, []cid.Cid{f.blakeWant}) ||
		!slices.Equal(nre.Blocks, []cid.Cid{f.blakeBlock, f.sha512Block}) {
		t.Fatalf("left out: %+v", nre)
	}
	// What is sent: sha2-256 CIDs as CIDv0, plain want-blocks, bare blocks.
	want := &Message{Full: true}
	for _, e := range f.m.Wantlist {
		if e.CID == f.blakeWant {
			continue
		}
		e.CID = cid.NewCidV0(e.CID.Hash())
		e.WantType, e.SendDontHave = WantBlock, false
		want.Wantlist = append(want.Wantlist, e)
	}
	for _, blk := range f.m.Blocks {
		if blk.CID == f.blakeBlock || blk.CID == f.sha512Block {
			continue
		}
		want.Blocks = append(want.Blocks, block(cid.NewCidV0(blk.CID.Hash()), blk.Data))
	}
	got := mustUnmarshal(t, b)
	if !equal(got, want) {
		t.Fatalf("1.0.0 round trip:\n got %s\nwant %s", canon(got), canon(want))
	}
	// And the blocks really travel in field 2, not as payload.
	if !bytes.Contains(b, append([]byte{2<<3 | 2, byte(len("raw block"))}, "raw block"...)) {
		t.Fatalf("1.0.0 encoding does not carry the raw block in field 2: %x", b)
	}
	if bytes.Contains(b, []byte{3<<3 | 2}) && bytes.Contains(b, []byte{0x01, 0x55, 0x12, 0x20}) {
		t.Fatalf("1.0.0 encoding carries a CID prefix: %x", b)
	}

	// A message that fits 1.0.0 marshals without error.
	ok := &Message{Wantlist: want.Wantlist, Blocks: want.Blocks}
	if _, err := ok.Marshal(V100); err != nil {
		t.Fatal(err)
	}
	if !V100.Carries(v0(t, []byte("x"))) || !V100.Carries(v1(t, cid.Raw, []byte("x"), multihash.SHA2_256)) ||
		V100.Carries(f.blakeWant) || !V110.Carries(f.blakeWant) {
		t.Fatal("Carries is wrong")
	}
}

func TestEmptyMessage(t *testing.T) {
	b := mustMarshal(t, &Message{}, V120)
	if !bytes.Equal(b, []byte{0x0a, 0x00}) { // an empty want-list, as boxo writes it
		t.Fatalf("empty message = %x", b)
	}
	for _, in := range [][]byte{nil, b} {
		m := mustUnmarshal(t, in)
		if !m.Empty() || m.Full || m.PendingBytes != 0 {
			t.Fatalf("Unmarshal(%x) = %+v", in, m)
		}
	}
}

func TestVersions(t *testing.T) {
	cases := []struct {
		id protocol.ID
		v  Version
	}{
		{"/ipfs/bitswap/1.2.0", V120}, {"/ipfs/bitswap/1.1.0", V110},
		{"/ipfs/bitswap/1.0.0", V100}, {"/ipfs/bitswap", V100},
	}
	for _, c := range cases {
		v, ok := VersionOf(c.id)
		if !ok || v != c.v {
			t.Errorf("VersionOf(%s) = %v, %t", c.id, v, ok)
		}
	}
	for _, id := range []protocol.ID{"/ipfs/bitswap/1.3.0", "/ipfs/bitswap/", "/ipfs/kad/1.0.0", ""} {
		if _, ok := VersionOf(id); ok {
			t.Errorf("VersionOf(%q) accepted", id)
		}
	}
	for _, id := range Protocols {
		v, _ := VersionOf(id)
		if back, _ := VersionOf(v.ID()); back != v {
			t.Errorf("%s: ID() does not round trip", id)
		}
	}
	if !V120.SupportsHave() || V110.SupportsHave() || V100.SupportsHave() || Version(0).Valid() || Version(4).Valid() {
		t.Fatal("version predicates are wrong")
	}
	if _, err := (&Message{}).Marshal(Version(0)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Marshal(0) = %v", err)
	}
}

func TestMarshalRefuses(t *testing.T) {
	good := v0(t, []byte("ok"))
	weak, _ := multihash.Encode(make([]byte, 8), multihash.SHA2_256)
	weakCID := cid.NewCidV1(cid.Raw, weak)
	big := make([]byte, blockstore.MaxBlockSize+1)
	two := make([]byte, blockstore.MaxBlockSize)
	many := make([]Entry, MaxEntries+1)
	for i := range many {
		many[i] = Entry{CID: good}
	}
	cases := []struct {
		name   string
		m      *Message
		is     error
		errors []error
	}{
		{"undefined want", &Message{Wantlist: []Entry{{}}}, ErrInvalid, []error{blockstore.ErrWeakCID}},
		{"weak want", &Message{Wantlist: []Entry{{CID: weakCID}}}, ErrInvalid, []error{blockstore.ErrWeakCID}},
		{"unknown want type", &Message{Wantlist: []Entry{{CID: good, WantType: 2}}}, ErrInvalid, nil},
		{"weak block", &Message{Blocks: []blockstore.Block{{CID: weakCID}}}, ErrInvalid, []error{blockstore.ErrWeakCID}},
		{"block over 2 MiB", &Message{Blocks: []blockstore.Block{block(good, big)}}, ErrInvalid, []error{blockstore.ErrTooLarge}},
		{"weak presence", &Message{Presences: []Presence{{CID: weakCID}}}, ErrInvalid, []error{blockstore.ErrWeakCID}},
		{"unknown presence type", &Message{Presences: []Presence{{CID: good, Type: 7}}}, ErrInvalid, nil},
		{"too many entries", &Message{Wantlist: many}, ErrInvalid, nil},
		{"over 4 MiB", &Message{Blocks: []blockstore.Block{block(good, two), block(good, two), block(good, []byte("x"))}}, ErrInvalid, []error{ErrTooLarge}},
	}
	for _, c := range cases {
		b, err := c.m.Marshal(V120)
		if !errors.Is(err, c.is) || b != nil {
			t.Errorf("%s: Marshal = %d bytes, %v; want an error wrapping %v", c.name, len(b), err, c.is)
			continue
		}
		for _, e := range c.errors {
			if !errors.Is(err, e) {
				t.Errorf("%s: %v does not wrap %v", c.name, err, e)
			}
		}
		var buf bytes.Buffer
		if err := WriteMsg(&buf, c.m, V120); !errors.Is(err, c.is) || buf.Len() != 0 {
			t.Errorf("%s: WriteMsg wrote %d bytes, %v", c.name, buf.Len(), err)
		}
	}
	// A message exactly at the block limit goes through.
	if _, err := (&Message{Blocks: []blockstore.Block{block(good, two)}}).Marshal(V120); err != nil {
		t.Fatal(err)
	}
}

// Repeated scalars keep their last value, repeated want-lists merge, and
// unknown fields of every wire type are skipped.
func TestProtobufRules(t *testing.T) {
	c1, c2 := v0(t, []byte("a")), v0(t, []byte("b"))
	entry := func(c cid.Cid) []byte {
		return field(1, cat(field(1, c.Bytes()), varintField(2, 5)))
	}
	in := cat(
		field(1, cat(entry(c1), varintField(2, 1))), // wantlist, full=true
		varintField(99, 7),                          // unknown varint
		tag(100, protowire.Fixed64Type), []byte{1, 2, 3, 4, 5, 6, 7, 8},
		tag(101, protowire.Fixed32Type), []byte{1, 2, 3, 4},
		tag(102, protowire.StartGroupType), varintField(1, 1), tag(102, protowire.EndGroupType),
		field(103, []byte("unknown bytes")),
		field(1, cat(entry(c2), varintField(2, 0))), // second wantlist: merged, full now false
		varintField(5, 10), varintField(5, 20),      // pendingBytes: last wins
		field(1, field(1, cat(field(1, c1.Bytes()), field(1, c2.Bytes()), varintField(3, 1), field(9, nil)))), // block: last wins; unknown in entry
	)
	m := mustUnmarshal(t, in)
	want := &Message{
		Wantlist:     []Entry{{CID: c1, Priority: 5}, {CID: c2, Priority: 5}, {CID: c2, Cancel: true}},
		PendingBytes: 20,
	}
	if !equal(m, want) {
		t.Fatalf("got %s\nwant %s", canon(m), canon(want))
	}
	// int32 fields are truncated from 64-bit varints; negatives are 10 bytes.
	m = mustUnmarshal(t, varintField(5, uint64(1)<<32|7))
	if m.PendingBytes != 7 {
		t.Fatalf("pendingBytes = %d", m.PendingBytes)
	}
	neg := int64(-5)
	m = mustUnmarshal(t, varintField(5, uint64(neg)))
	if m.PendingBytes != -5 {
		t.Fatalf("pendingBytes = %d", m.PendingBytes)
	}
}

func TestWriteMsgFraming(t *testing.T) {
	f := newFixture(t)
	w := &countingWriter{}
	if err := WriteMsg(w, f.m, V120); err != nil {
		t.Fatal(err)
	}
	// Each block's data is handed to the writer as it is, not copied.
	for _, blk := range f.m.Blocks {
		if len(blk.Data) > 0 && !w.wrote(blk.Data) {
			t.Errorf("block %s was not written straight from its Data", blk.CID)
		}
	}
	body := mustMarshal(t, f.m, V120)
	if want := cat(uvarint(uint64(len(body))), body); !bytes.Equal(w.buf.Bytes(), want) {
		t.Fatal("WriteMsg is not varint(len) + Marshal")
	}
	// 1.0.0 writes the rest and reports what it left out.
	w = &countingWriter{}
	err := WriteMsg(w, f.m, V100)
	b100, _ := f.m.Marshal(V100)
	if !errors.Is(err, ErrNotRepresentable) || !bytes.Equal(w.buf.Bytes(), cat(uvarint(uint64(len(b100))), b100)) {
		t.Fatalf("WriteMsg(1.0.0) = %v, wrote %d bytes", err, w.buf.Len())
	}
	// Write errors come back wrapped.
	if err := WriteMsg(failingWriter{}, f.m, V120); !errors.Is(err, errWrite) {
		t.Fatalf("WriteMsg to a failing writer = %v", err)
	}
}

// countingWriter keeps what is written and where each Write's slice
// started, to tell which writes came straight from a block.
type countingWriter struct {
	buf    bytes.Buffer
	writes []*byte
}

func (w *countingWriter) Write(p []byte) (int, error) {
	if len(p) > 0 {
		w.writes = append(w.writes, &p[0])
	}
	return w.buf.Write(p)
}

// wrote reports whether some Write was given a slice starting at data.
func (w *countingWriter) wrote(data []byte) bool {
	return slices.Contains(w.writes, &data[0])
}

var errWrite = errors.New("write failed")

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errWrite }
