package unixfs_test

import (
	"bytes"
	"errors"
	"testing"

	"node/unixfs"
)

// sameData compares two Data messages field by field, telling absent
// bytes fields (nil) from empty ones.
func sameData(a, b *unixfs.Data) bool {
	sameBytes := func(x, y []byte) bool { return (x == nil) == (y == nil) && bytes.Equal(x, y) }
	return a.Type == b.Type && sameBytes(a.Data, b.Data) &&
		a.FileSize == b.FileSize && a.HasFileSize == b.HasFileSize &&
		len(a.BlockSizes) == len(b.BlockSizes) && (len(a.BlockSizes) == 0 || equalU64(a.BlockSizes, b.BlockSizes)) &&
		a.HashType == b.HashType && a.HasHashType == b.HasHashType &&
		a.Fanout == b.Fanout && a.HasFanout == b.HasFanout &&
		a.Mode == b.Mode && a.HasMode == b.HasMode &&
		sameBytes(a.Mtime, b.Mtime)
}

func equalU64(a, b []uint64) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestDataGolden(t *testing.T) {
	for _, tc := range []struct {
		name string
		d    unixfs.Data
		want []byte
	}{
		{"empty directory", unixfs.Data{Type: unixfs.TDirectory}, []byte{0x08, 0x01}},
		{"empty file", unixfs.Data{Type: unixfs.TFile, HasFileSize: true}, []byte{0x08, 0x02, 0x18, 0x00}},
		{"leaf", unixfs.Data{Type: unixfs.TFile, Data: []byte("ab"), FileSize: 2, HasFileSize: true},
			[]byte{0x08, 0x02, 0x12, 0x02, 'a', 'b', 0x18, 0x02}},
		{"file node", unixfs.Data{Type: unixfs.TFile, FileSize: 300, HasFileSize: true, BlockSizes: []uint64{200, 100}},
			[]byte{0x08, 0x02, 0x18, 0xac, 0x02, 0x20, 0xc8, 0x01, 0x20, 0x64}},
		{"symlink", unixfs.Data{Type: unixfs.TSymlink, Data: []byte("/t")}, []byte{0x08, 0x04, 0x12, 0x02, '/', 't'}},
		{"HAMT shard", unixfs.Data{Type: unixfs.THAMTShard, Data: []byte{0x01}, HashType: 0x22, HasHashType: true, Fanout: 256, HasFanout: true},
			[]byte{0x08, 0x05, 0x12, 0x01, 0x01, 0x28, 0x22, 0x30, 0x80, 0x02}},
		{"mode and mtime", unixfs.Data{Type: unixfs.TFile, Mode: 0o755, HasMode: true, Mtime: []byte{0x08, 0x01}},
			[]byte{0x08, 0x02, 0x38, 0xed, 0x03, 0x42, 0x02, 0x08, 0x01}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.d.Encode()
			if !bytes.Equal(got, tc.want) {
				t.Fatalf("Encode = % x, want % x", got, tc.want)
			}
			d, err := unixfs.DecodeData(got)
			if err != nil {
				t.Fatal(err)
			}
			if !sameData(d, &tc.d) {
				t.Fatalf("DecodeData = %+v, want %+v", d, tc.d)
			}
		})
	}
}

func TestDecodeDataLenient(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []byte
		want unixfs.Data
	}{
		{"packed blocksizes", []byte{0x08, 0x02, 0x22, 0x03, 10, 20, 30},
			unixfs.Data{Type: unixfs.TFile, BlockSizes: []uint64{10, 20, 30}}},
		{"packed and unpacked blocksizes", []byte{0x08, 0x02, 0x20, 0x05, 0x22, 0x02, 10, 20, 0x20, 0x06},
			unixfs.Data{Type: unixfs.TFile, BlockSizes: []uint64{5, 10, 20, 6}}},
		{"empty Data field", []byte{0x08, 0x02, 0x12, 0x00},
			unixfs.Data{Type: unixfs.TFile, Data: []byte{}}},
		{"unknown fields skipped", []byte{0x48, 0x07, 0x08, 0x01, 0x52, 0x01, 0xff, 0x5d, 1, 2, 3, 4, 0x61, 1, 2, 3, 4, 5, 6, 7, 8},
			unixfs.Data{Type: unixfs.TDirectory}},
		{"fields out of order, type last", []byte{0x18, 0x03, 0x12, 0x03, 'a', 'b', 'c', 0x08, 0x02},
			unixfs.Data{Type: unixfs.TFile, Data: []byte("abc"), FileSize: 3, HasFileSize: true}},
		{"repeated scalar: the last wins", []byte{0x08, 0x01, 0x08, 0x02},
			unixfs.Data{Type: unixfs.TFile}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := unixfs.DecodeData(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if !sameData(d, &tc.want) {
				t.Fatalf("DecodeData = %+v, want %+v", d, tc.want)
			}
		})
	}
}

func TestDecodeDataErrors(t *testing.T) {
	for name, in := range map[string][]byte{
		"empty":                  {},
		"missing type":           {0x18, 0x00},
		"unknown type":           {0x08, 0x06},
		"huge type":              {0x08, 0xff, 0xff, 0xff, 0xff, 0x0f},
		"type as bytes":          {0x0a, 0x01, 0x02},
		"data as varint":         {0x08, 0x02, 0x10, 0x01},
		"filesize as bytes":      {0x08, 0x02, 0x1a, 0x00},
		"filesize as fixed64":    {0x08, 0x02, 0x19, 0, 0, 0, 0, 0, 0, 0, 0},
		"fanout as fixed32":      {0x08, 0x05, 0x35, 0, 0, 0, 0},
		"mtime as varint":        {0x08, 0x02, 0x40, 0x01},
		"truncated varint":       {0x08, 0x82},
		"truncated bytes":        {0x08, 0x02, 0x12, 0x05, 'a'},
		"bad tag":                {0x80},
		"field number zero":      {0x00, 0x01},
		"bad packed blocksizes":  {0x08, 0x02, 0x22, 0x01, 0x80},
		"unknown end group":      {0x08, 0x02, 0x4c},
		"truncated unknown":      {0x08, 0x02, 0x5d, 1, 2},
		"unterminated group":     {0x08, 0x02, 0x4b, 0x08, 0x01},
		"blocksizes as fixed32":  {0x08, 0x02, 0x25, 0, 0, 0, 0},
		"type past the last one": {0x08, 0x07},
	} {
		t.Run(name, func(t *testing.T) {
			d, err := unixfs.DecodeData(in)
			if !errors.Is(err, unixfs.ErrInvalid) {
				t.Fatalf("DecodeData(% x) = %+v, %v; want ErrInvalid", in, d, err)
			}
		})
	}
}

// FuzzDecodeData: no input panics; whatever decodes re-encodes to a
// message that decodes to the same Data.
func FuzzDecodeData(f *testing.F) {
	f.Add([]byte{0x08, 0x01})
	f.Add([]byte{0x08, 0x02, 0x18, 0x00})
	f.Add([]byte{0x08, 0x02, 0x22, 0x03, 10, 20, 30})
	f.Add([]byte{0x08, 0x05, 0x12, 0x01, 0x01, 0x28, 0x22, 0x30, 0x80, 0x02})
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := unixfs.DecodeData(b)
		if err != nil {
			if !errors.Is(err, unixfs.ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		if d.Type > unixfs.THAMTShard {
			t.Fatalf("decoded unknown type %d", d.Type)
		}
		enc := d.Encode()
		d2, err := unixfs.DecodeData(enc)
		if err != nil {
			t.Fatalf("DecodeData(Encode(d)) failed: %v\ninput % x\nencoded % x", err, b, enc)
		}
		if !sameData(d, d2) {
			t.Fatalf("round trip changed the data:\n%+v\n%+v", d, d2)
		}
		if !bytes.Equal(d2.Encode(), enc) {
			t.Fatal("Encode is not a fixed point")
		}
	})
}
