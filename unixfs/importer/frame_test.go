package importer

import (
	"bytes"
	"testing"

	"node/dagpb"
	"node/unixfs"
)

// TestFrameLeaf checks the in-place leaf framing against the general
// encoders for sizes around every varint length boundary.
func TestFrameLeaf(t *testing.T) {
	for _, n := range []int{0, 1, 2, 100, 116, 117, 118, 127, 128, 129, 16371, 16372, 16383, 16384, 262144, MaxChunkSize} {
		chunk := randomBytes(uint64(n), n)
		mem := make([]byte, leafHeadroom+n+leafTailroom)
		copy(mem[leafHeadroom:], chunk)
		got := frameLeaf(mem, n)

		fsd := unixfs.Data{Type: unixfs.TFile, FileSize: uint64(n), HasFileSize: true}
		if n > 0 {
			fsd.Data = chunk
		}
		want := dagpb.Encode(&dagpb.Node{Data: fsd.Encode()})
		if !bytes.Equal(got, want) {
			t.Fatalf("n=%d: framed leaf differs from the encoders' bytes", n)
		}
	}
}
