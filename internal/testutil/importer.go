package testutil

import (
	"bytes"
	"context"
	"testing"

	"node/unixfs/importer"
)

// ImportFile imports data as one file with the real importer into store.
func ImportFile(t testing.TB, store importer.Putter, o importer.Options, data []byte) importer.Node {
	t.Helper()
	im, err := importer.New(context.Background(), o, store)
	if err != nil {
		t.Fatal(err)
	}
	n, err := im.AddFile(context.Background(), bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if err := im.Close(); err != nil {
		t.Fatal(err)
	}
	return n
}
