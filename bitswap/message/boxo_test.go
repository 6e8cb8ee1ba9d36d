package message

// Wire compatibility with an independent implementation: boxo's
// bitswap/message (tests only; our code never imports boxo).

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"testing"

	bsmsg "github.com/ipfs/boxo/bitswap/message"
	pb "github.com/ipfs/boxo/bitswap/message/pb"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	"google.golang.org/protobuf/encoding/protowire"

	"node/blockstore"
)

// toBoxo builds the same message with boxo's API.
func toBoxo(t testing.TB, m *Message) bsmsg.BitSwapMessage {
	t.Helper()
	bm := bsmsg.New(m.Full)
	for _, e := range m.Wantlist {
		if e.Cancel {
			if e.Priority != 0 || e.WantType != WantBlock || e.SendDontHave {
				t.Fatalf("boxo cannot express a cancel with other fields: %+v", e)
			}
			bm.Cancel(e.CID)
			continue
		}
		bm.AddEntry(e.CID, e.Priority, pb.Message_Wantlist_WantType(e.WantType), e.SendDontHave)
	}
	for _, b := range m.Blocks {
		blk, err := blocks.NewBlockWithCid(b.Data, b.CID)
		if err != nil {
			t.Fatal(err)
		}
		bm.AddBlock(blk)
	}
	for _, p := range m.Presences {
		bm.AddBlockPresence(p.CID, pb.Message_BlockPresenceType(p.Type))
	}
	bm.SetPendingBytes(m.PendingBytes)
	return bm
}

// fromBoxo reads a boxo message into ours.
func fromBoxo(bm bsmsg.BitSwapMessage) *Message {
	m := &Message{Full: bm.Full(), PendingBytes: bm.PendingBytes()}
	for _, e := range bm.Wantlist() {
		m.Wantlist = append(m.Wantlist, Entry{CID: e.Cid, Priority: e.Priority, Cancel: e.Cancel,
			WantType: WantType(e.WantType), SendDontHave: e.SendDontHave})
	}
	for _, b := range bm.Blocks() {
		m.Blocks = append(m.Blocks, blockstore.Block{CID: b.Cid(), Data: b.RawData()})
	}
	for _, p := range bm.BlockPresences() {
		m.Presences = append(m.Presences, Presence{CID: p.Cid, Type: PresenceType(p.Type)})
	}
	return m
}

// boxoFixture is the fixture as boxo can express it: cancels carry no
// other field.
func boxoFixture(t testing.TB) fixture {
	f := newFixture(t)
	for i := range f.m.Wantlist {
		if e := &f.m.Wantlist[i]; e.Cancel {
			e.Priority, e.WantType, e.SendDontHave = 0, WantBlock, false
		}
	}
	return f
}

func TestBoxoDecodesOurs(t *testing.T) {
	f := boxoFixture(t)
	for _, v := range []Version{V120, V110, V100} {
		var buf bytes.Buffer
		if err := WriteMsg(&buf, f.m, v); err != nil && !errors.Is(err, ErrNotRepresentable) {
			t.Fatal(err)
		}
		ours := mustUnmarshal(t, buf.Bytes()[protowire.SizeVarint(uint64(buf.Len())):])
		if v == V120 && !equal(ours, f.m) {
			t.Fatal("our 1.2.0 round trip differs")
		}
		theirs, n, err := bsmsg.FromNet(&buf)
		if err != nil {
			t.Fatalf("%s: boxo cannot read our message: %v", v, err)
		}
		if got, want := canon(fromBoxo(theirs)), canon(ours); got != want {
			t.Errorf("%s: boxo reads\n%s\nwe read\n%s", v, got, want)
		}
		if n <= 0 {
			t.Errorf("%s: boxo read %d bytes", v, n)
		}
	}
}

func TestWeDecodeBoxo(t *testing.T) {
	f := boxoFixture(t)
	bm := toBoxo(t, f.m)

	var buf bytes.Buffer
	if err := bm.ToNetV1(&buf); err != nil {
		t.Fatal(err)
	}
	got, err := NewReader(&buf).ReadMsg()
	if err != nil {
		t.Fatalf("reading boxo's 1.1/1.2 message: %v", err)
	}
	if canon(got) != canon(f.m) {
		t.Fatalf("from boxo's 1.2.0 encoding we read\n%s\nwant\n%s", canon(got), canon(f.m))
	}

	// Boxo's 1.0.0 encoding sends every block as bare bytes: each becomes
	// the CIDv0 of its sha2-256, whatever CID boxo had for it.
	buf.Reset()
	if err := bm.ToNetV0(&buf); err != nil {
		t.Fatal(err)
	}
	got, err = NewReader(&buf).ReadMsg()
	if err != nil {
		t.Fatalf("reading boxo's 1.0.0 message: %v", err)
	}
	want := *f.m
	want.Presences, want.PendingBytes, want.Blocks = nil, 0, nil
	for _, b := range f.m.Blocks {
		want.Blocks = append(want.Blocks, block(v0(t, b.Data), b.Data))
	}
	if canon(got) != canon(&want) {
		t.Fatalf("from boxo's 1.0.0 encoding we read\n%s\nwant\n%s", canon(got), canon(&want))
	}
}

// Our bytes are boxo's bytes: exactly for messages of one item per list
// (boxo keeps lists in maps, so their order is random), and as the same
// multiset of fields for the whole fixture.
func TestBoxoSameBytes(t *testing.T) {
	d := []byte("block data")
	raw := v1(t, cid.Raw, d, 0x12)
	cases := []struct {
		name string
		m    *Message
		v    Version
	}{
		{"empty", &Message{}, V120},
		{"empty full", &Message{Full: true}, V120},
		{"want-have", &Message{Wantlist: []Entry{{CID: raw, Priority: 7, WantType: WantHave, SendDontHave: true}}}, V120},
		{"negative priority", &Message{Wantlist: []Entry{{CID: raw, Priority: -2}}}, V120},
		{"cancel", &Message{Wantlist: []Entry{{CID: raw, Cancel: true}}}, V120},
		{"block", &Message{Blocks: []blockstore.Block{block(raw, d)}}, V120},
		{"empty block", &Message{Blocks: []blockstore.Block{block(v1(t, cid.Raw, nil, 0x12), nil)}}, V120},
		{"presences and pending", &Message{Presences: []Presence{{CID: raw, Type: DontHave}}, PendingBytes: 1 << 20}, V120},
		{"have", &Message{Presences: []Presence{{CID: raw, Type: Have}}, PendingBytes: -1}, V120},
		{"1.1.0", &Message{Full: true, Wantlist: []Entry{{CID: raw, Priority: 1}}, Blocks: []blockstore.Block{block(raw, d)}}, V110},
		{"1.0.0", &Message{Wantlist: []Entry{{CID: v0(t, []byte("w")), Priority: 1}}, Blocks: []blockstore.Block{block(v0(t, d), d)}}, V100},
	}
	for _, c := range cases {
		var ours, theirs bytes.Buffer
		if err := WriteMsg(&ours, c.m, c.v); err != nil {
			t.Fatal(err)
		}
		bm := toBoxo(t, c.m)
		write := bm.ToNetV1
		if c.v == V100 {
			write = bm.ToNetV0
		}
		if err := write(&theirs); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(ours.Bytes(), theirs.Bytes()) {
			t.Errorf("%s:\n ours %x\nboxo  %x", c.name, ours.Bytes(), theirs.Bytes())
		}
	}

	f := boxoFixture(t)
	ours := mustMarshal(t, f.m, V120)
	var theirs bytes.Buffer
	if err := toBoxo(t, f.m).ToNetV1(&theirs); err != nil {
		t.Fatal(err)
	}
	theirsBody := theirs.Bytes()[protowire.SizeVarint(uint64(len(ours))):]
	if a, b := fieldSet(t, ours), fieldSet(t, theirsBody); !slices.Equal(a, b) {
		t.Errorf("the fixture's fields differ:\n ours %x\nboxo  %x", a, b)
	}
}

// fieldSet splits a message into its top-level fields, the want-list into
// its own fields, and sorts them.
func fieldSet(t testing.TB, b []byte) []string {
	var out []string
	split := func(b []byte) {
		for len(b) > 0 {
			num, typ, n := protowire.ConsumeField(b)
			if n < 0 {
				t.Fatalf("bad field in %x", b)
			}
			if num == 1 && typ == protowire.BytesType {
				wl, _ := protowire.ConsumeBytes(b[protowire.SizeTag(1):n])
				out = append(out, fmt.Sprintf("wantlist of %d bytes", len(wl)))
				for len(wl) > 0 {
					_, _, m := protowire.ConsumeField(wl)
					out = append(out, "wantlist:"+string(wl[:m]))
					wl = wl[m:]
				}
				b = b[n:]
				continue
			}
			out = append(out, string(b[:n]))
			b = b[n:]
		}
	}
	split(b)
	slices.Sort(out)
	return out
}
