package message

import (
	"bytes"
	"errors"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"
	"google.golang.org/protobuf/encoding/protowire"

	"node/blockstore"
)

// pfx builds CID prefix bytes from four values.
func pfx(version, codec, code, length uint64) []byte {
	return cat(uvarint(version), uvarint(codec), uvarint(code), uvarint(length))
}

func payload(prefix, data []byte) []byte {
	return field(3, cat(field(1, prefix), field(2, data)))
}

func wantEntry(entry []byte) []byte { return field(1, field(1, entry)) }

func TestUnmarshalHostile(t *testing.T) {
	good := v0(t, []byte("good"))
	weakMH, _ := multihash.Encode(make([]byte, 10), multihash.SHA2_256)
	md5MH, _ := multihash.Encode(make([]byte, 16), multihash.MD5)
	murmurMH, _ := multihash.Encode(make([]byte, 16), multihash.MURMUR3X64_64)
	bigIdentity, _ := multihash.Encode(make([]byte, 200), multihash.IDENTITY)
	data := []byte("some block data")
	tooBig := make([]byte, blockstore.MaxBlockSize+1)

	entries := func(n int) []byte {
		var wl []byte
		e := field(1, cat(field(1, good.Bytes())))
		for range n {
			wl = append(wl, e...)
		}
		return field(1, wl)
	}
	repeat := func(n int, one []byte) []byte { return bytes.Repeat(one, n) }

	cases := []struct {
		name string
		in   []byte
		also error // a second sentinel the error must wrap
	}{
		// framing inside the protobuf
		{"truncated tag", []byte{0x80}, nil},
		{"11-byte varint tag", bytes.Repeat([]byte{0xff}, 11), nil},
		{"field number 0", []byte{0x02, 0x00}, nil},
		{"field number over max", cat(uvarint(uint64(protowire.MaxValidNumber+1)<<3), []byte{1}), nil},
		{"bytes past the end", []byte{0x0a, 0x05, 0x00}, nil},
		{"unpaired end group", tag(7, protowire.EndGroupType), nil},
		{"unterminated group", cat(tag(7, protowire.StartGroupType), varintField(1, 1)), nil},
		{"truncated pendingBytes", []byte{0x28, 0x80}, nil},
		// wire-type mismatches on known fields
		{"wantlist as varint", varintField(1, 1), nil},
		{"blocks as varint", varintField(2, 1), nil},
		{"payload as fixed32", cat(tag(3, protowire.Fixed32Type), []byte{1, 2, 3, 4}), nil},
		{"presence as varint", varintField(4, 0), nil},
		{"pendingBytes as bytes", field(5, []byte{1}), nil},
		{"entries as varint", field(1, varintField(1, 1)), nil},
		{"full as bytes", field(1, field(2, []byte{1})), nil},
		{"entry block as varint", wantEntry(varintField(1, 3)), nil},
		{"entry priority as bytes", wantEntry(cat(field(1, good.Bytes()), field(2, []byte{1}))), nil},
		{"prefix as varint", field(3, varintField(1, 1)), nil},
		{"presence cid as varint", field(4, varintField(1, 1)), nil},
		// CIDs
		{"entry without CID", wantEntry(varintField(2, 1)), nil},
		{"entry with empty CID", wantEntry(field(1, nil)), nil},
		{"entry with garbage CID", wantEntry(field(1, []byte("not a cid"))), nil},
		{"entry CID with trailing bytes", wantEntry(field(1, append(good.Bytes(), 0))), nil},
		{"entry CIDv2", wantEntry(field(1, cat(uvarint(2), uvarint(0x55), []byte(good.Hash())))), nil},
		{"entry with short digest", wantEntry(field(1, cid.NewCidV1(cid.Raw, weakMH).Bytes())), blockstore.ErrWeakCID},
		{"entry with md5", wantEntry(field(1, cid.NewCidV1(cid.Raw, md5MH).Bytes())), blockstore.ErrWeakCID},
		{"entry with 200-byte identity", wantEntry(field(1, cid.NewCidV1(cid.Raw, bigIdentity).Bytes())), blockstore.ErrWeakCID},
		{"entry want type 2", wantEntry(cat(field(1, good.Bytes()), varintField(4, 2))), nil},
		{"entry want type 2^32", wantEntry(cat(field(1, good.Bytes()), varintField(4, 1<<32))), nil},
		{"presence without CID", field(4, varintField(2, 1)), nil},
		{"presence with murmur3", field(4, field(1, cid.NewCidV1(cid.Raw, murmurMH).Bytes())), blockstore.ErrWeakCID},
		{"presence type 2", field(4, cat(field(1, good.Bytes()), varintField(2, 2))), nil},
		// block prefixes
		{"payload without prefix", field(3, field(2, data)), nil},
		{"empty prefix", payload(nil, data), nil},
		{"prefix with 3 varints", payload(pfx(1, 0x55, 0x12, 32)[:3], data), nil},
		{"prefix with trailing byte", payload(append(pfx(1, 0x55, 0x12, 32), 0), data), nil},
		{"prefix with non-minimal varint", payload([]byte{0x01, 0xd5, 0x00, 0x12, 0x20}, data), nil},
		{"prefix version 2", payload(pfx(2, 0x55, 0x12, 32), data), nil},
		{"v0 prefix with raw codec", payload(pfx(0, 0x55, 0x12, 32), data), nil},
		{"v0 prefix with blake3", payload(pfx(0, 0x70, multihash.BLAKE3, 32), data), nil},
		{"v0 prefix with 20 bytes", payload(pfx(0, 0x70, 0x12, 20), data), nil},
		{"prefix with unknown hash", payload(pfx(1, 0x55, 0x3fff, 32), data), blockstore.ErrWeakCID},
		{"prefix with murmur3", payload(pfx(1, 0x55, multihash.MURMUR3X64_64, 8), data), blockstore.ErrWeakCID},
		{"prefix with md5", payload(pfx(1, 0x55, multihash.MD5, 16), data), blockstore.ErrWeakCID},
		{"prefix with sha2-256 of 10 bytes", payload(pfx(1, 0x55, 0x12, 10), data), blockstore.ErrWeakCID},
		{"prefix with sha2-256 of 33 bytes", payload(pfx(1, 0x55, 0x12, 33), data), nil},
		{"prefix with sha1 of 64 bytes", payload(pfx(1, 0x55, multihash.SHA1, 64), data), nil},
		{"prefix with a 2^62-byte digest", payload(pfx(1, 0x55, 0x12, 1<<62), data), nil},
		{"identity prefix, wrong length", payload(pfx(1, 0x55, multihash.IDENTITY, 3), data), nil},
		{"identity prefix, 200 bytes", payload(pfx(1, 0x55, multihash.IDENTITY, 200), make([]byte, 200)), nil},
		// sizes and counts
		{"1.0.0 block over 2 MiB", field(2, tooBig), blockstore.ErrTooLarge},
		{"payload block over 2 MiB", payload(pfx(1, 0x55, 0x12, 32), tooBig), blockstore.ErrTooLarge},
		{"8193 entries", entries(MaxEntries + 1), nil},
		{"8193 entries over two want-lists", cat(entries(MaxEntries), entries(1)), nil},
		{"8193 presences", repeat(MaxPresences+1, field(4, field(1, good.Bytes()))), nil},
		{"8193 blocks", repeat(MaxBlocks+1, field(2, nil)), nil},
		{"8193 payload blocks", repeat(MaxBlocks+1, payload(pfx(1, 0x55, 0x12, 32), nil)), nil},
	}
	for _, c := range cases {
		m, err := Unmarshal(c.in)
		if !errors.Is(err, ErrInvalid) || m != nil {
			t.Errorf("%s: Unmarshal = %v, %v; want an error wrapping ErrInvalid", c.name, m, err)
			continue
		}
		if c.also != nil && !errors.Is(err, c.also) {
			t.Errorf("%s: %v does not wrap %v", c.name, err, c.also)
		}
	}

	// The limits themselves are accepted.
	for name, in := range map[string][]byte{
		"8192 entries":        entries(MaxEntries),
		"8192 presences":      repeat(MaxPresences, field(4, field(1, good.Bytes()))),
		"8192 empty blocks":   repeat(MaxBlocks, field(2, nil)),
		"a 2 MiB block":       field(2, tooBig[:blockstore.MaxBlockSize]),
		"sha2-256 of 20":      payload(pfx(1, 0x55, 0x12, 20), data),
		"identity of 15":      payload(pfx(1, 0x55, multihash.IDENTITY, uint64(len(data))), data),
		"blake3 of 64":        payload(pfx(1, 0x71, multihash.BLAKE3, 64), data),
		"sha3-512":            payload(pfx(1, 0x55, multihash.SHA3_512, 64), data),
		"blake2b-256":         payload(pfx(1, 0x55, multihash.BLAKE2B_MIN+31, 32), data),
		"a codec of 9 bytes":  payload(pfx(1, 1<<62, 0x12, 32), data),
		"empty data, no data": field(3, field(1, pfx(1, 0x55, 0x12, 32))),
	} {
		m, err := Unmarshal(in)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		for _, b := range m.Blocks {
			if err := blockstore.VerifyBlock(b.CID, b.Data); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
	}
}

// The receiver computes each block's CID from the prefix and the data, so
// data sent under the prefix of another block gets its own CID, never the
// one the sender might claim.
func TestBlockCIDIsComputed(t *testing.T) {
	data := []byte("the bytes that were sent")
	for _, p := range []cid.Prefix{
		{Version: 0, Codec: cid.DagProtobuf, MhType: multihash.SHA2_256, MhLength: 32},
		{Version: 1, Codec: cid.Raw, MhType: multihash.SHA2_256, MhLength: 32},
		{Version: 1, Codec: cid.DagCBOR, MhType: multihash.BLAKE3, MhLength: 32},
		{Version: 1, Codec: cid.Raw, MhType: multihash.SHA2_512, MhLength: 64},
		{Version: 1, Codec: cid.Raw, MhType: multihash.SHA1, MhLength: 20},
	} {
		m := mustUnmarshal(t, payload(p.Bytes(), data))
		want, err := p.Sum(data)
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Blocks) != 1 || m.Blocks[0].CID != want || !bytes.Equal(m.Blocks[0].Data, data) {
			t.Errorf("prefix %v: got %v, want %s", p, m.Blocks, want)
		}
	}
	m := mustUnmarshal(t, field(2, data))
	if want := v0(t, data); m.Blocks[0].CID != want {
		t.Errorf("1.0.0 block: CID %s, want %s", m.Blocks[0].CID, want)
	}
}
