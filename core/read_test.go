package core

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"node/blockstore"
	"node/internal/testutil"
	"node/unixfs/importer"
)

// TestReadsInOneSession: Cat and Get read a whole file in one session of
// their getter (one Bitswap session in the daemon), no block outside it.
func TestReadsInOneSession(t *testing.T) {
	ctx := context.Background()
	store := blockstore.NewMemory()
	opts := importer.DefaultOptions()
	opts.ChunkSize = 4 << 10
	data := testutil.RandomBytes(3, 20*opts.ChunkSize)
	n := testutil.ImportFile(t, store, opts, data)
	path := "/ipfs/" + n.CID.String()

	rec := testutil.NewSessionRecorder(store)
	var out bytes.Buffer
	if err := Cat(ctx, rec, path, 0, -1, &out); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), data) {
		t.Fatalf("cat: %d bytes differ from the %d imported", out.Len(), len(data))
	}
	if sessions, outside := rec.Counts(); sessions != 1 || outside != 0 {
		t.Fatalf("cat: %d sessions, %d blocks read outside one", sessions, outside)
	}

	dest := filepath.Join(t.TempDir(), "file")
	if err := Get(ctx, rec, path, dest, nil); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(dest); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("get: %d bytes (%v), want the %d imported", len(got), err, len(data))
	}
	if sessions, outside := rec.Counts(); sessions != 2 || outside != 0 {
		t.Fatalf("after get: %d sessions, %d blocks read outside one", sessions, outside)
	}
}
