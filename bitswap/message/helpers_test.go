package message

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"
	"google.golang.org/protobuf/encoding/protowire"

	"node/blockstore"
)

// sum returns the multihash of data with code (default length).
func sum(t testing.TB, data []byte, code uint64) multihash.Multihash {
	t.Helper()
	h, err := multihash.Sum(data, code, -1)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func v0(t testing.TB, data []byte) cid.Cid { return cid.NewCidV0(sum(t, data, multihash.SHA2_256)) }

func v1(t testing.TB, codec uint64, data []byte, code uint64) cid.Cid {
	return cid.NewCidV1(codec, sum(t, data, code))
}

func block(c cid.Cid, data []byte) blockstore.Block { return blockstore.Block{CID: c, Data: data} }

// fullMessage uses every field and every kind of CID the tests care about.
type fixture struct {
	m *Message
	// the CIDs that 1.0.0 cannot carry
	blakeWant, blakeBlock, sha512Block cid.Cid
}

func newFixture(t testing.TB) fixture {
	d1, d2, d3, d4 := []byte("dag-pb block"), []byte("raw block"), []byte("blake3 block"), []byte("sha2-512 block")
	f := fixture{
		blakeWant:   v1(t, cid.Raw, []byte("wanted blake3"), multihash.BLAKE3),
		blakeBlock:  v1(t, cid.DagCBOR, d3, multihash.BLAKE3),
		sha512Block: v1(t, cid.Raw, d4, multihash.SHA2_512),
	}
	f.m = &Message{
		Wantlist: []Entry{
			{CID: v0(t, []byte("w1")), Priority: 10, WantType: WantBlock, SendDontHave: true},
			{CID: v1(t, cid.Raw, []byte("w2"), multihash.SHA2_256), Priority: -3, WantType: WantHave},
			{CID: f.blakeWant, Priority: 0, WantType: WantHave, SendDontHave: true},
			{CID: v0(t, []byte("w4")), Cancel: true},
			{CID: v1(t, cid.DagProtobuf, []byte("w5"), multihash.SHA2_256), Priority: 1 << 30},
		},
		Full: true,
		Blocks: []blockstore.Block{
			block(v0(t, d1), d1),
			block(v1(t, cid.Raw, d2, multihash.SHA2_256), d2),
			block(f.blakeBlock, d3),
			block(f.sha512Block, d4),
			block(v1(t, cid.Raw, nil, multihash.SHA2_256), nil), // the empty block
		},
		Presences: []Presence{
			{CID: v0(t, []byte("p1")), Type: Have},
			{CID: v1(t, cid.Raw, []byte("p2"), multihash.BLAKE3), Type: DontHave},
		},
		PendingBytes: 123456,
	}
	return f
}

// equal compares messages: nil and empty slices are the same.
func equal(a, b *Message) bool {
	if a.Full != b.Full || a.PendingBytes != b.PendingBytes ||
		len(a.Wantlist) != len(b.Wantlist) || len(a.Blocks) != len(b.Blocks) || len(a.Presences) != len(b.Presences) {
		return false
	}
	for i := range a.Wantlist {
		if a.Wantlist[i] != b.Wantlist[i] {
			return false
		}
	}
	for i := range a.Blocks {
		if a.Blocks[i].CID != b.Blocks[i].CID || !bytes.Equal(a.Blocks[i].Data, b.Blocks[i].Data) {
			return false
		}
	}
	for i := range a.Presences {
		if a.Presences[i] != b.Presences[i] {
			return false
		}
	}
	return true
}

// canon describes a message with its lists sorted: for comparing with
// boxo, which keeps them in maps.
func canon(m *Message) string {
	var wl, bl, pr []string
	for _, e := range m.Wantlist {
		wl = append(wl, fmt.Sprintf("%s p=%d c=%t %s sdh=%t", e.CID, e.Priority, e.Cancel, e.WantType, e.SendDontHave))
	}
	for _, b := range m.Blocks {
		bl = append(bl, fmt.Sprintf("%s %x", b.CID, b.Data))
	}
	for _, p := range m.Presences {
		pr = append(pr, fmt.Sprintf("%s %s", p.CID, p.Type))
	}
	slices.Sort(wl)
	slices.Sort(bl)
	slices.Sort(pr)
	return fmt.Sprintf("full=%t pending=%d\nwants:\n  %s\nblocks:\n  %s\npresences:\n  %s",
		m.Full, m.PendingBytes, strings.Join(wl, "\n  "), strings.Join(bl, "\n  "), strings.Join(pr, "\n  "))
}

func mustMarshal(t testing.TB, m *Message, v Version) []byte {
	t.Helper()
	b, err := m.Marshal(v)
	if err != nil {
		t.Fatalf("Marshal(%s): %v", v, err)
	}
	return b
}

func mustUnmarshal(t testing.TB, b []byte) *Message {
	t.Helper()
	m, err := Unmarshal(b)
	if err != nil {
		t.Fatalf("Unmarshal: %v", err)
	}
	return m
}

// Hand-built protobuf, for hostile and rule-checking inputs.

func field(num protowire.Number, v []byte) []byte {
	b := protowire.AppendTag(nil, num, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

func varintField(num protowire.Number, v uint64) []byte {
	b := protowire.AppendTag(nil, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

func tag(num protowire.Number, typ protowire.Type) []byte { return protowire.AppendTag(nil, num, typ) }

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func uvarint(v uint64) []byte { return protowire.AppendVarint(nil, v) }
