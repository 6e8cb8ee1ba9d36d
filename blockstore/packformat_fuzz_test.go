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
	// One damaged record between good ones: its data, its crc, its
	// reserved byte; and a damaged last record (nothing good after it).
	for _, at := range []int{packHeaderLen + recHeaderLen + 34 + 3, packHeaderLen, packHeaderLen + 5} {
		d := bytes.Clone(p)
		d[at] ^= 0x10
		f.Add(d)
	}
	d := bytes.Clone(p)
	d[len(d)-1] ^= 1
	f.Add(d)
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := scanPack(bytes.NewReader(data), int64(len(data)), 1)
		if err != nil {
			return
		}
		if res.end > int64(len(data)) || (res.bad == nil && res.end != int64(len(data))) {
			t.Fatalf("scan ended at %d of %d (bad: %v)", res.end, len(data), res.bad)
		}
		prevEnd := int64(packHeaderLen)
		for i, e := range res.entries {
			start, end := e.recordStart(), e.recordEnd()
			if start < prevEnd || end > res.end {
				t.Fatalf("entry %+v overlaps the one before (ending at %d) or lies past the scanned records (%d)", e, prevEnd, res.end)
			}
			prevEnd = end
			if e.kind == recBlock {
				_, err := readRecordData(data[start:end], e.key)
				if (err != nil) != e.damaged {
					t.Fatalf("entry %+v (damaged %v) reads back with error %v", e, e.damaged, err)
				}
			}
			if e.damaged {
				// Only a record with a good one right after it is passed over.
				if i+1 == len(res.entries) || res.entries[i+1].recordStart() != end || res.entries[i+1].damaged {
					t.Fatalf("damaged entry %+v is not followed by a good record", e)
				}
			}
		}
		if res.damaged < countDamaged(res.entries) {
			t.Fatalf("%d damaged records counted, %d flagged", res.damaged, countDamaged(res.entries))
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

// A damaged record between good ones is passed over, flagged; a damaged
// last record still ends the scan (it may be a torn write).
func TestScanPassesOverOneDamagedRecord(t *testing.T) {
	p := samplePack()
	for name, at := range map[string]int{
		"data":     packHeaderLen + recHeaderLen + 34 + 3,
		"crc":      packHeaderLen,
		"reserved": packHeaderLen + 5,
	} {
		d := bytes.Clone(p)
		d[at] ^= 0x10
		res, err := scanPack(bytes.NewReader(d), int64(len(d)), 1)
		if err != nil || res.bad != nil || res.end != int64(len(d)) {
			t.Fatalf("%s: scan stopped: %v %v at %d of %d", name, err, res.bad, res.end, len(d))
		}
		if len(res.entries) != 4 || !res.entries[0].damaged || res.damaged != 1 || countDamaged(res.entries) != 1 {
			t.Fatalf("%s: %d entries, %d damaged; want 4 with the first damaged", name, len(res.entries), res.damaged)
		}
	}
	d := bytes.Clone(p)
	d[len(d)-1] ^= 1 // the last record: nothing good follows it
	res, err := scanPack(bytes.NewReader(d), int64(len(d)), 1)
	if err != nil || res.bad == nil || res.tornTail || len(res.entries) != 3 || res.damaged != 0 {
		t.Fatalf("damaged last record: %+v %v", res, err)
	}
}
