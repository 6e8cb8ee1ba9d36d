package block

import (
	"bytes"
	"testing"

	"node/internal/testutil"
	"node/ledger/codec"
)

func addSeeds(f *testing.F) {
	testutil.AddSeedFiles(f, "testdata/seeds/*.cbor")
}

// FuzzDecode: a header that decodes re-encodes to the same bytes, and
// checking its signature never panics.
func FuzzDecode(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := Decode(data)
		if err != nil {
			return
		}
		again, err := codec.Marshal(b)
		if err != nil || !bytes.Equal(again, data) {
			t.Fatalf("decoded block does not re-encode to its bytes: %v", err)
		}
		_ = b.VerifySignature()
		_, _ = b.Check(nil, nil)
	})
}

// FuzzDecodeBody: a body that decodes re-encodes to the same bytes.
func FuzzDecodeBody(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := DecodeBody(data)
		if err != nil {
			return
		}
		again, err := codec.Marshal(b)
		if err != nil || !bytes.Equal(again, data) {
			t.Fatalf("decoded body does not re-encode to its bytes: %v", err)
		}
	})
}
