package pin

import (
	"errors"
	"testing"
)

// FuzzDecodeRecord feeds pin records as read from the datastore; the seed
// corpus is in testdata/fuzz/FuzzDecodeRecord.
func FuzzDecodeRecord(f *testing.F) {
	f.Fuzz(func(t *testing.T, keyTail string, value []byte) {
		c, err := decodeRecord(keyTail, value)
		if err != nil {
			if !errors.Is(err, ErrCorruptRecord) {
				t.Fatalf("error %v does not wrap ErrCorruptRecord", err)
			}
			return
		}
		if normKey(c) != keyTail {
			t.Fatalf("accepted %s under key %q", c, keyTail)
		}
		c2, err := decodeRecord(normKey(c), c.Bytes())
		if err != nil || !c2.Equals(c) {
			t.Fatalf("record of %s does not round-trip: %v", c, err)
		}
	})
}
