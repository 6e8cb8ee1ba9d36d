package blockstore_test

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"

	"node/blockstore"
)

type bufferedGetter interface {
	GetBuffer(ctx context.Context, c cid.Cid, buf []byte) ([]byte, error)
}

func randomBlock(t *testing.T, seed byte, size int) blockstore.Block {
	t.Helper()
	data := make([]byte, size)
	rand.NewChaCha8([32]byte{seed}).Read(data)
	mh, err := multihash.Sum(data, multihash.SHA2_256, -1)
	if err != nil {
		t.Fatal(err)
	}
	return blockstore.Block{CID: cid.NewCidV1(cid.Raw, mh), Data: data}
}

// within reports whether data lies in buf's backing array.
func within(data, buf []byte) bool {
	full := buf[:cap(buf)]
	return len(data) > 0 && cap(data) <= len(full) && &data[0] == &full[len(full)-cap(data)]
}

func TestGetBufferReadsIntoBuffer(t *testing.T) {
	s := openPack(t, t.TempDir(), blockstore.PackOptions{})
	defer s.Close()
	b := randomBlock(t, 1, 256<<10)
	if err := s.Put(ctx, b); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 0, len(b.Data)+blockstore.GetBufferOverhead)
	for range 2 { // the same buffer again
		data, err := s.GetBuffer(ctx, b.CID, buf)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(data, b.Data) {
			t.Fatal("GetBuffer returned other bytes than were put")
		}
		if !within(data, buf) {
			t.Fatal("GetBuffer allocated although the buffer had room")
		}
	}

	// Too small: a new slice, the buffer untouched.
	small := make([]byte, 0, len(b.Data))
	data, err := s.GetBuffer(ctx, b.CID, small)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data, b.Data) || within(data, small) {
		t.Fatal("a buffer without room must give a new slice with the block")
	}
	if bytes.ContainsFunc(small[:cap(small)], func(r rune) bool { return r != 0 }) {
		t.Fatal("GetBuffer wrote into a buffer without room")
	}

	if _, err := s.GetBuffer(ctx, randomBlock(t, 2, 10).CID, buf); !errors.Is(err, blockstore.ErrNotFound) {
		t.Fatalf("missing block: got %v, want ErrNotFound", err)
	}
}

// TestGetBufferChecksCRC: damage on disk fails GetBuffer as it fails Get.
func TestGetBufferChecksCRC(t *testing.T) {
	dir := t.TempDir()
	s := openPack(t, dir, blockstore.PackOptions{})
	defer s.Close()
	b := randomBlock(t, 3, 100<<10)
	if err := s.Put(ctx, b); err != nil {
		t.Fatal(err)
	}
	packs, _ := filepath.Glob(filepath.Join(dir, "*.pack"))
	if len(packs) != 1 {
		t.Fatalf("found packs %v, want one", packs)
	}
	raw, err := os.ReadFile(packs[0])
	if err != nil {
		t.Fatal(err)
	}
	off := bytes.Index(raw, b.Data)
	if off < 0 {
		t.Fatal("block data not found in the pack")
	}
	f, err := os.OpenFile(packs[0], os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{^b.Data[500]}, int64(off+500)); err != nil {
		t.Fatal(err)
	}
	f.Close()
	buf := make([]byte, 0, len(b.Data)+blockstore.GetBufferOverhead)
	if _, err := s.GetBuffer(ctx, b.CID, buf); !errors.Is(err, blockstore.ErrCorrupt) {
		t.Fatalf("damaged block: got %v, want ErrCorrupt", err)
	}
}

// TestIdentityGetBuffer: WithIdentity passes GetBuffer through to the
// pack store, answers identity CIDs itself with a new slice, and falls
// back to Get for stores without GetBuffer.
func TestIdentityGetBuffer(t *testing.T) {
	packs := openPack(t, t.TempDir(), blockstore.PackOptions{})
	defer packs.Close()
	s, ok := blockstore.WithIdentity(packs).(bufferedGetter)
	if !ok {
		t.Fatal("WithIdentity(PackStore) does not offer GetBuffer")
	}
	b := randomBlock(t, 4, 200<<10)
	if err := packs.Put(ctx, b); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 0, len(b.Data)+blockstore.GetBufferOverhead)
	data, err := s.GetBuffer(ctx, b.CID, buf)
	if err != nil || !bytes.Equal(data, b.Data) || !within(data, buf) {
		t.Fatalf("GetBuffer through WithIdentity: err %v, right bytes %v, in the buffer %v", err, bytes.Equal(data, b.Data), within(data, buf))
	}

	inline := []byte("inline bytes")
	mh, err := multihash.Sum(inline, multihash.IDENTITY, -1)
	if err != nil {
		t.Fatal(err)
	}
	id := cid.NewCidV1(cid.Raw, mh)
	data, err = s.GetBuffer(ctx, id, buf)
	if err != nil || !bytes.Equal(data, inline) || within(data, buf) {
		t.Fatalf("identity CID: got %q, %v; want its bytes in a new slice", data, err)
	}
	data[0] = 'X' // the CID's own bytes must not change
	if again, _ := s.GetBuffer(ctx, id, nil); !bytes.Equal(again, inline) {
		t.Fatal("changing returned identity bytes changed the CID")
	}

	mem := blockstore.NewMemory()
	if err := mem.Put(ctx, b); err != nil {
		t.Fatal(err)
	}
	data, err = blockstore.WithIdentity(mem).(bufferedGetter).GetBuffer(ctx, b.CID, buf)
	if err != nil || !bytes.Equal(data, b.Data) {
		t.Fatalf("GetBuffer over a store without it: %v", err)
	}
}
