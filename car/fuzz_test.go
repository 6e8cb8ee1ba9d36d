package car_test

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"node/blockstore"
	"node/car"
)

// FuzzReader feeds arbitrary bytes to the reader. It must never panic;
// every error must wrap one of the documented sentinels; every block it
// returns must hash to its CID and fit the size limit; and what it reads
// must survive a write and re-read unchanged. Seeds are in
// testdata/fuzz/FuzzReader (CARv1, CARv2, truncated, corrupt, hostile).
func FuzzReader(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := car.NewReader(bytes.NewReader(data))
		if err != nil {
			checkSentinel(t, err)
			return
		}
		var blocks []blockstore.Block
		for {
			b, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				checkSentinel(t, err)
				break
			}
			if len(b.Data) > blockstore.MaxBlockSize {
				t.Fatalf("block %s is %d bytes", b.CID, len(b.Data))
			}
			if err := blockstore.VerifyBlock(b.CID, b.Data); err != nil {
				t.Fatalf("Next returned an unverified block: %v", err)
			}
			blocks = append(blocks, b)
		}
		if r.Offset() > int64(len(data)) {
			t.Fatalf("offset %d past input of %d bytes", r.Offset(), len(data))
		}
		if len(r.Roots()) == 0 {
			return
		}
		roots, again, err := readAll(writeCAR(t, r.Roots(), blocks...))
		if err != nil {
			t.Fatalf("re-reading what we wrote: %v", err)
		}
		if len(roots) != len(r.Roots()) {
			t.Fatalf("roots changed: %v then %v", r.Roots(), roots)
		}
		for i := range roots {
			if !roots[i].Equals(r.Roots()[i]) {
				t.Fatalf("root %d changed: %s then %s", i, r.Roots()[i], roots[i])
			}
		}
		sameBlocks(t, again, blocks)
	})
}

func checkSentinel(t *testing.T, err error) {
	t.Helper()
	for _, s := range []error{io.ErrUnexpectedEOF, car.ErrInvalidHeader, car.ErrInvalidSection,
		car.ErrUnsupportedVersion, blockstore.ErrTooLarge, blockstore.ErrCorrupt, blockstore.ErrUnsupportedHash} {
		if errors.Is(err, s) {
			return
		}
	}
	t.Fatalf("error wraps no documented sentinel: %v", err)
}
