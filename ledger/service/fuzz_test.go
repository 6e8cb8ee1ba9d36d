package service

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/multiformats/go-varint"

	"node/ledger/codec"
)

// seedMessages are valid messages of each kind, the starting points of
// the fuzz targets (also written to testdata/fuzz by TestWriteFuzzSeeds).
func seedMessages() map[string][][]byte {
	g := codec.CIDOf([]byte("genesis"))
	h := codec.CIDOf([]byte("head"))
	info := codec.MustMarshal(&Info{Genesis: codec.L(g), Head: codec.L(h), Height: 7})
	pushed := codec.MustMarshal(&Info{Genesis: codec.L(g), Head: codec.L(h), Height: 7,
		Blocks: []PushedBlock{{Header: []byte{0xa1, 0x61, 0x61, 0x01}}, {Header: []byte{0xa0}, Body: []byte{0xa1, 0x63, 0x74, 0x78, 0x73, 0x80}}}})
	reqs := [][]byte{
		codec.MustMarshal(&Request{Op: OpInfo, Channel: "cars"}),
		codec.MustMarshal(&Request{Op: OpAnnounce, Channel: "cars", Data: info}),
		codec.MustMarshal(&Request{Op: OpEndorse, Channel: "cars.v2", Data: []byte{0xa2, 0x63}}),
		codec.MustMarshal(&Request{Op: OpAnnounce, Channel: "cars", Data: pushed}),
	}
	resps := [][]byte{
		codec.MustMarshal(&Response{}),
		codec.MustMarshal(&Response{Status: StatusDenied, Error: "peer x is not a client of channel cars"}),
		codec.MustMarshal(&Response{Data: info}),
	}
	var frames [][]byte
	for _, r := range reqs[:3] {
		frames = append(frames, append(varint.ToUvarint(uint64(len(r))), r...))
	}
	frames = append(frames, []byte{0xff, 0xff, 0xff, 0xff, 0x0f}, []byte{0x05, 1, 2})
	for _, r := range reqs[3:] {
		frames = append(frames, append(varint.ToUvarint(uint64(len(r))), r...))
	}
	savedPeers := []byte(`[{"id": "12D3KooWEwnhwGbnHhNQzPQeDzsXLJKhWkHo1r6xosFHvuUx7V5C", "addrs": ["/ip4/127.0.0.1/tcp/4001", "/ip4/1.2.3.4/udp/4001/quic-v1"]}]`)
	return map[string][][]byte{
		"FuzzParsePeers":     {savedPeers, []byte(`[{"id": "x", "addrs": ["/bogus"]}]`)},
		"FuzzDecodeRequest":  reqs,
		"FuzzDecodeResponse": resps,
		"FuzzDecodeInfo":     {info, pushed},
		"FuzzReadFrame":      frames,
	}
}

func addSeeds(f *testing.F, name string) {
	for _, s := range seedMessages()[name] {
		f.Add(s)
	}
}

// A decoded message re-encodes to the same bytes (one encoding per
// value), and nothing panics.
func FuzzDecodeRequest(f *testing.F) {
	addSeeds(f, "FuzzDecodeRequest")
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeRequest(b)
		if err != nil {
			if !errors.Is(err, ErrMalformedMessage) {
				t.Fatalf("error %v does not wrap ErrMalformedMessage", err)
			}
			return
		}
		again, err := r.Marshal()
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("re-encoding differs: %x vs %x (%v)", again, b, err)
		}
	})
}

func FuzzDecodeResponse(f *testing.F) {
	addSeeds(f, "FuzzDecodeResponse")
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeResponse(b)
		if err != nil {
			return
		}
		again, err := r.Marshal()
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("re-encoding differs: %x vs %x (%v)", again, b, err)
		}
	})
}

func FuzzDecodeInfo(f *testing.F) {
	addSeeds(f, "FuzzDecodeInfo")
	f.Fuzz(func(t *testing.T, b []byte) {
		i, err := DecodeInfo(b)
		if err != nil {
			return
		}
		if !ledgerCID(i.Genesis.Cid) || !ledgerCID(i.Head.Cid) || i.Height == 0 || len(i.Blocks) > maxPushedBlocks {
			t.Fatalf("accepted %+v", i)
		}
		for _, pb := range i.Blocks {
			if len(pb.Header) == 0 {
				t.Fatalf("accepted a pushed block without a header: %+v", i)
			}
		}
		again, err := i.Marshal()
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("re-encoding differs: %x vs %x (%v)", again, b, err)
		}
	})
}

// readFrame never returns more than MaxFrame bytes nor allocates for a
// length it cannot read.
func FuzzReadFrame(f *testing.F) {
	addSeeds(f, "FuzzReadFrame")
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := readFrame(bufio.NewReader(bytes.NewReader(b)))
		if err != nil {
			return
		}
		if len(got) > MaxFrame || len(got) > len(b) {
			t.Fatalf("frame of %d bytes from %d input bytes", len(got), len(b))
		}
		var buf bytes.Buffer
		if err := writeFrame(&buf, got); err != nil || !bytes.HasPrefix(b, buf.Bytes()) {
			t.Fatalf("writeFrame does not give back the frame read: %v", err)
		}
	})
}

// The saved peers file (disk input) parses or is refused, without panics;
// what parses survives a save and a parse.
func FuzzParsePeers(f *testing.F) {
	addSeeds(f, "FuzzParsePeers")
	f.Fuzz(func(t *testing.T, b []byte) {
		ps, err := parsePeers(b)
		if err != nil {
			return
		}
		dir := t.TempDir()
		if err := savePeers(dir, ps); err != nil {
			t.Fatal(err)
		}
		back, err := os.ReadFile(filepath.Join(dir, peersFile))
		if err != nil {
			t.Fatal(err)
		}
		again, err := parsePeers(back)
		if err != nil || len(again) != len(ps) {
			t.Fatalf("saved %d peers, read back %d (%v)", len(ps), len(again), err)
		}
	})
}

// TestWriteFuzzSeeds writes the seed corpus to testdata/fuzz when
// LEDGER_WRITE_SEEDS=1.
func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("LEDGER_WRITE_SEEDS") != "1" {
		t.Skip("set LEDGER_WRITE_SEEDS=1 to rewrite the fuzz seeds")
	}
	for name, seeds := range seedMessages() {
		dir := filepath.Join("testdata", "fuzz", name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for i, s := range seeds {
			body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", s)
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed%d", i)), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// Frames over the limit are refused before anything is allocated.
func TestFrameLimits(t *testing.T) {
	big := varint.ToUvarint(MaxFrame + 1)
	if _, err := readFrame(bufio.NewReader(bytes.NewReader(big))); !errors.Is(err, ErrMalformedMessage) {
		t.Fatalf("an over-long frame: %v", err)
	}
	if err := writeFrame(&bytes.Buffer{}, make([]byte, MaxFrame+1)); !errors.Is(err, ErrMalformedMessage) {
		t.Fatalf("writing an over-long frame: %v", err)
	}
	for _, bad := range [][]byte{
		codec.MustMarshal(&Request{Op: "delete", Channel: "cars"}),
		codec.MustMarshal(&Request{Op: OpInfo, Channel: "../etc"}),
		codec.MustMarshal(map[string]any{"op": "info", "channel": "cars", "data": []byte{}, "extra": 1}),
	} {
		if _, err := DecodeRequest(bad); !errors.Is(err, ErrMalformedMessage) {
			t.Errorf("DecodeRequest(%x) = %v, want refusal", bad, err)
		}
	}
}
