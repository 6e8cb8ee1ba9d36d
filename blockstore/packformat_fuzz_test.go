package blockstore

import (
	"bytes"
	"crypto/sha256"
	"testing"

	"github.com/multiformats/go-multihash"
)

func testKey(data []byte) string {
	sum := sha256.Sum256(data)
	mh, _ := multihash.Encode(sum[:], multihash.SHA2_256)
	return string(mh)
}

// samplePack builds a small valid pack: two blocks and a tombstone.
func samplePack() []byte {
	b := packHeader(1)
	for _, d := range [][]byte{[]byte("first block"), {}, bytes.Repeat([]byte{7}, 300)} {
		b = appendRecordHeader(b, recBlock, []byte(testKey(d)), d)
		b = append(b, d...)
	}
	t := []byte{1, 0, 0, 0}
	b = appendRecordHeader(b, recTombstone, []byte(testKey([]byte("first block"))), t)
	return append(b, t...)
}

// FuzzScanPack feeds arbitrary bytes to the pack scanner Open uses.
func FuzzScanPack(f *testing.F) {
	p := samplePack()
	f.Add(p)
	f.Add(p[:len(p)-3])
	f.Add(append(bytes.Clone(p), make([]byte, 40)...))
	f.Add(packHeader(1))
	f.Add([]byte("NODEPACK"))
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := scanPack(bytes.NewReader(data), int64(len(data)), 1)
		if err != nil {
			return
		}
		if res.end > int64(len(data)) || (res.bad == nil && res.end != int64(len(data))) {
			t.Fatalf("scan ended at %d of %d (bad: %v)", res.end, len(data), res.bad)
		}
		for _, e := range res.entries {
			start, end := e.recordStart(), e.recordStart()+e.recordSize()
			if start < packHeaderLen || end > res.end {
				t.Fatalf("entry %+v outside the good records [%d, %d)", e, packHeaderLen, res.end)
			}
			if e.kind == recBlock {
				if _, err := readRecordData(data[start:end], e.key); err != nil {
					t.Fatalf("scan accepted a record that does not read back: %v", err)
				}
			}
		}
		if res.end < packHeaderLen {
			return // no header: nothing to index
		}
		// The index of what the scan found round-trips.
		idx := encodeIndex(1, res.end, res.entries)
		size, entries, err := decodeIndex(idx, 1)
		if err != nil || size != res.end || len(entries) != len(res.entries) {
			t.Fatalf("index of scanned entries does not decode: %v", err)
		}
	})
}

// FuzzDecodeIndex feeds arbitrary bytes to the index decoder.
func FuzzDecodeIndex(f *testing.F) {
	res, err := scanPack(bytes.NewReader(samplePack()), int64(len(samplePack())), 1)
	if err != nil || res.bad != nil {
		f.Fatalf("sample pack does not scan: %v %v", err, res.bad)
	}
	good := encodeIndex(1, res.end, res.entries)
	f.Add(good)
	f.Add(encodeIndex(1, packHeaderLen, nil))
	f.Add(good[:len(good)-5])
	f.Fuzz(func(t *testing.T, data []byte) {
		size, entries, err := decodeIndex(data, 1)
		if err != nil {
			return
		}
		for _, e := range entries {
			if e.recordStart() < packHeaderLen || e.recordStart()+e.recordSize() > size {
				t.Fatalf("decoded entry %+v lies outside a pack of %d bytes", e, size)
			}
		}
		if again := encodeIndex(1, size, entries); !bytes.Equal(again, data) {
			t.Fatal("a decoded index does not re-encode to the same bytes")
		}
	})
}

// FuzzReadRecord feeds arbitrary bytes to the record check Get uses.
func FuzzReadRecord(f *testing.F) {
	p := samplePack()
	key := testKey([]byte("first block"))
	f.Add(p[packHeaderLen:packHeaderLen+recHeaderLen+len(key)+11], key)
	f.Add([]byte{}, key)
	f.Fuzz(func(t *testing.T, rec []byte, key string) {
		data, err := readRecordData(rec, key)
		if err != nil {
			return
		}
		if len(rec) != recHeaderLen+len(key)+len(data) {
			t.Fatalf("accepted a %d-byte record holding %d bytes of data", len(rec), len(data))
		}
	})
}
