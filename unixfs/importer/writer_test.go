package importer

import (
	"context"
	"errors"
	"io"
	"testing"

	"node/blockstore"
)

type failingPutter struct{ calls int }

var errDiskFull = errors.New("disk full")

func (f *failingPutter) PutMany(context.Context, []blockstore.Block) error {
	f.calls++
	return errDiskFull
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// TestWriteErrorStopsImport: when the store fails, the import stops soon
// with that error instead of reading (here: endless) input to its end.
func TestWriteErrorStopsImport(t *testing.T) {
	p := &failingPutter{}
	im, err := New(context.Background(), DefaultOptions(), p)
	if err != nil {
		t.Fatal(err)
	}
	in := &countingReader{r: io.LimitReader(zeros{}, 64<<30)}
	_, err = im.AddFile(context.Background(), in)
	if !errors.Is(err, errDiskFull) {
		t.Fatalf("AddFile = %v, want the store's error", err)
	}
	if in.n > 256<<20 {
		t.Fatalf("the import read %d bytes after the store failed", in.n)
	}
	if err := im.Close(); !errors.Is(err, errDiskFull) {
		t.Fatalf("Close = %v, want the store's error", err)
	}
	if p.calls != 1 {
		t.Fatalf("PutMany was called %d times after failing", p.calls)
	}
}
