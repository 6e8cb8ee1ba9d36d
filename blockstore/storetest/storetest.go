package storetest

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"

	"node/blockstore"
)

// Run runs the whole conformance suite against the backend that open
// returns. open is called once per subtest and must return an empty store;
// Run closes it.
func Run(t *testing.T, open func(t *testing.T) blockstore.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s blockstore.Store)
	}{
		{"PutGetHasSize", testPutGetHasSize},
		{"NotFound", testNotFound},
		{"CIDVersionsShareOneBlock", testCIDVersions},
		{"TooLarge", testTooLarge},
		{"ExactlyMaxBlockSize", testMaxSize},
		{"EmptyBlock", testEmptyBlock},
		{"RePutIsNoOp", testRePut},
		{"PutMany", testPutMany},
		{"Delete", testDelete},
		{"KeysExact", testKeysExact},
		{"KeysStopsAtError", testKeysStops},
		{"NoAliasing", testNoAliasing},
		{"Concurrent", testConcurrent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			defer func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			}()
			tc.fn(t, s)
		})
	}
}

// MakeBlock returns a deterministic block of n bytes derived from seed,
// addressed by a CIDv1 raw sha2-256 CID.
func MakeBlock(seed uint64, n int) blockstore.Block {
	data := make([]byte, n)
	x := seed*0x9E3779B97F4A7C15 + 1
	for i := 0; i < n; i += 8 {
		// xorshift64*: cheap, deterministic, distinct per seed.
		x ^= x >> 12
		x ^= x << 25
		x ^= x >> 27
		var w [8]byte
		binary.LittleEndian.PutUint64(w[:], x*0x2545F4914F6CDD1D)
		copy(data[i:], w[:])
	}
	return blockstore.Block{CID: RawCID(data), Data: data}
}

// RawCID returns the CIDv1 raw-codec sha2-256 CID of data.
func RawCID(data []byte) cid.Cid {
	c, err := cid.Prefix{Version: 1, Codec: cid.Raw, MhType: multihash.SHA2_256, MhLength: -1}.Sum(data)
	if err != nil {
		panic(err)
	}
	return c
}

var ctx = context.Background()

func mustPut(t *testing.T, s blockstore.Store, b blockstore.Block) {
	t.Helper()
	if err := s.Put(ctx, b); err != nil {
		t.Fatalf("Put %s (%d bytes): %v", b.CID, len(b.Data), err)
	}
}

func checkGet(t *testing.T, s blockstore.Store, c cid.Cid, want []byte) {
	t.Helper()
	got, err := s.Get(ctx, c)
	if err != nil {
		t.Fatalf("Get %s: %v", c, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("Get %s: got %d bytes, want %d bytes (contents differ)", c, len(got), len(want))
	}
	has, err := s.Has(ctx, c)
	if err != nil || !has {
		t.Fatalf("Has %s = %v, %v; want true, nil", c, has, err)
	}
	n, err := s.Size(ctx, c)
	if err != nil || n != len(want) {
		t.Fatalf("Size %s = %d, %v; want %d, nil", c, n, err, len(want))
	}
}

func checkAbsent(t *testing.T, s blockstore.Store, c cid.Cid) {
	t.Helper()
	if has, err := s.Has(ctx, c); err != nil || has {
		t.Fatalf("Has %s = %v, %v; want false, nil", c, has, err)
	}
	if _, err := s.Get(ctx, c); !errors.Is(err, blockstore.ErrNotFound) {
		t.Fatalf("Get %s: error %v does not wrap ErrNotFound", c, err)
	} else if !strings.Contains(err.Error(), c.String()) {
		t.Fatalf("Get %s: error %q does not name the block", c, err)
	}
	if _, err := s.Size(ctx, c); !errors.Is(err, blockstore.ErrNotFound) {
		t.Fatalf("Size %s: error %v does not wrap ErrNotFound", c, err)
	}
}

// keySet returns the stored multihashes, failing on duplicates.
func keySet(t *testing.T, s blockstore.Store) map[string]bool {
	t.Helper()
	set := map[string]bool{}
	err := s.Keys(ctx, func(mh multihash.Multihash) error {
		if _, err := multihash.Decode(mh); err != nil {
			return fmt.Errorf("Keys gave an invalid multihash %x: %w", []byte(mh), err)
		}
		if set[string(mh)] {
			return fmt.Errorf("Keys gave %x twice", []byte(mh))
		}
		set[string(mh)] = true
		return nil
	})
	if err != nil {
		t.Fatalf("Keys: %v", err)
	}
	return set
}

func testPutGetHasSize(t *testing.T, s blockstore.Store) {
	for i, n := range []int{1, 100, 4096, 256 << 10} {
		b := MakeBlock(uint64(i), n)
		mustPut(t, s, b)
		checkGet(t, s, b.CID, b.Data)
	}
}

func testNotFound(t *testing.T, s blockstore.Store) {
	b := MakeBlock(1, 10)
	checkAbsent(t, s, b.CID)
	if err := s.Delete(ctx, b.CID); err != nil {
		t.Fatalf("Delete of an absent block: %v, want nil", err)
	}
	mustPut(t, s, MakeBlock(2, 10))
	checkAbsent(t, s, b.CID)
}

func testCIDVersions(t *testing.T, s blockstore.Store) {
	data := MakeBlock(7, 1000).Data
	v0, err := cid.Prefix{Version: 0, Codec: cid.DagProtobuf, MhType: multihash.SHA2_256, MhLength: -1}.Sum(data)
	if err != nil {
		t.Fatal(err)
	}
	v1pb := cid.NewCidV1(cid.DagProtobuf, v0.Hash())
	v1raw := cid.NewCidV1(cid.Raw, v0.Hash())
	if v0.Equals(v1pb) || v1pb.Equals(v1raw) {
		t.Fatal("test setup: CIDs should differ")
	}
	mustPut(t, s, blockstore.Block{CID: v0, Data: data})
	for _, c := range []cid.Cid{v0, v1pb, v1raw} {
		checkGet(t, s, c, data)
	}
	mustPut(t, s, blockstore.Block{CID: v1raw, Data: data})
	mustPut(t, s, blockstore.Block{CID: v1pb, Data: data})
	keys := keySet(t, s)
	if len(keys) != 1 || !keys[string(v0.Hash())] {
		t.Fatalf("after putting one block under 3 CIDs Keys gave %d keys, want exactly its multihash", len(keys))
	}
	if err := s.Delete(ctx, v1raw); err != nil {
		t.Fatal(err)
	}
	for _, c := range []cid.Cid{v0, v1pb, v1raw} {
		checkAbsent(t, s, c)
	}
}

func testTooLarge(t *testing.T, s blockstore.Store) {
	big := MakeBlock(3, blockstore.MaxBlockSize+1)
	if err := s.Put(ctx, big); !errors.Is(err, blockstore.ErrTooLarge) {
		t.Fatalf("Put of %d bytes: error %v does not wrap ErrTooLarge", len(big.Data), err)
	}
	checkAbsent(t, s, big.CID)
	small := MakeBlock(4, 10)
	if err := s.PutMany(ctx, []blockstore.Block{small, big}); !errors.Is(err, blockstore.ErrTooLarge) {
		t.Fatalf("PutMany with an oversized block: error %v does not wrap ErrTooLarge", err)
	}
	checkAbsent(t, s, big.CID)
	if keys := keySet(t, s); keys[string(big.CID.Hash())] {
		t.Fatal("Keys lists the oversized block")
	}
}

func testMaxSize(t *testing.T, s blockstore.Store) {
	b := MakeBlock(5, blockstore.MaxBlockSize)
	mustPut(t, s, b)
	checkGet(t, s, b.CID, b.Data)
}

func testEmptyBlock(t *testing.T, s blockstore.Store) {
	b := MakeBlock(0, 0)
	mustPut(t, s, b)
	got, err := s.Get(ctx, b.CID)
	if err != nil || len(got) != 0 {
		t.Fatalf("Get empty block = %d bytes, %v; want 0 bytes, nil", len(got), err)
	}
	checkGet(t, s, b.CID, nil)
	if keys := keySet(t, s); len(keys) != 1 {
		t.Fatalf("Keys gave %d keys, want 1 (the empty block)", len(keys))
	}
}

func testRePut(t *testing.T, s blockstore.Store) {
	b := MakeBlock(9, 5000)
	for i := 0; i < 3; i++ {
		mustPut(t, s, b)
	}
	if err := s.PutMany(ctx, []blockstore.Block{b, b}); err != nil {
		t.Fatal(err)
	}
	checkGet(t, s, b.CID, b.Data)
	if keys := keySet(t, s); len(keys) != 1 {
		t.Fatalf("Keys gave %d keys after re-puts of one block, want 1", len(keys))
	}
}

func testPutMany(t *testing.T, s blockstore.Store) {
	var bs []blockstore.Block
	for i := 0; i < 100; i++ {
		bs = append(bs, MakeBlock(uint64(100+i), 1+i*37))
	}
	bs = append(bs, bs[0], bs[50]) // duplicates inside one batch
	if err := s.PutMany(ctx, bs); err != nil {
		t.Fatal(err)
	}
	if err := s.PutMany(ctx, nil); err != nil {
		t.Fatalf("PutMany(nil): %v", err)
	}
	for _, b := range bs {
		checkGet(t, s, b.CID, b.Data)
	}
	if keys := keySet(t, s); len(keys) != 100 {
		t.Fatalf("Keys gave %d keys, want 100", len(keys))
	}
}

func testDelete(t *testing.T, s blockstore.Store) {
	a, b := MakeBlock(11, 300), MakeBlock(12, 300)
	mustPut(t, s, a)
	mustPut(t, s, b)
	if err := s.Delete(ctx, a.CID); err != nil {
		t.Fatal(err)
	}
	checkAbsent(t, s, a.CID)
	checkGet(t, s, b.CID, b.Data)
	if err := s.Delete(ctx, a.CID); err != nil {
		t.Fatalf("second Delete: %v", err)
	}
	mustPut(t, s, a)
	checkGet(t, s, a.CID, a.Data)
}

func testKeysExact(t *testing.T, s blockstore.Store) {
	if keys := keySet(t, s); len(keys) != 0 {
		t.Fatalf("empty store: Keys gave %d keys", len(keys))
	}
	want := map[string]bool{}
	var bs []blockstore.Block
	for i := 0; i < 300; i++ {
		b := MakeBlock(uint64(1000+i), 64)
		bs = append(bs, b)
		want[string(b.CID.Hash())] = true
	}
	if err := s.PutMany(ctx, bs); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 300; i += 3 {
		if err := s.Delete(ctx, bs[i].CID); err != nil {
			t.Fatal(err)
		}
		delete(want, string(bs[i].CID.Hash()))
	}
	got := keySet(t, s)
	if len(got) != len(want) {
		t.Fatalf("Keys gave %d keys, want %d", len(got), len(want))
	}
	for k := range want {
		if !got[k] {
			t.Fatalf("Keys missed %x", k)
		}
	}
	// Every key Keys gives must be readable through CIDOf.
	for k := range got {
		if _, err := s.Get(ctx, blockstore.CIDOf(multihash.Multihash(k))); err != nil {
			t.Fatalf("Get(CIDOf(key from Keys)): %v", err)
		}
	}
}

func testKeysStops(t *testing.T, s blockstore.Store) {
	for i := 0; i < 20; i++ {
		mustPut(t, s, MakeBlock(uint64(2000+i), 10))
	}
	stop := errors.New("stop here")
	calls := 0
	err := s.Keys(ctx, func(multihash.Multihash) error {
		calls++
		return stop
	})
	if !errors.Is(err, stop) {
		t.Fatalf("Keys returned %v, want fn's error", err)
	}
	if calls != 1 {
		t.Fatalf("Keys called fn %d times after it failed, want 1", calls)
	}
}

func testNoAliasing(t *testing.T, s blockstore.Store) {
	b := MakeBlock(21, 4096)
	in := bytes.Clone(b.Data)
	mustPut(t, s, blockstore.Block{CID: b.CID, Data: in})
	for i := range in {
		in[i] ^= 0xff // the caller reuses its buffer
	}
	got, err := s.Get(ctx, b.CID)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, b.Data) {
		t.Fatal("store kept the caller's buffer: changing it after Put changed the stored block")
	}
	for i := range got {
		got[i] = 0
	}
	checkGet(t, s, b.CID, b.Data)

	// The same through PutMany.
	c := MakeBlock(22, 4096)
	in2 := bytes.Clone(c.Data)
	if err := s.PutMany(ctx, []blockstore.Block{{CID: c.CID, Data: in2}}); err != nil {
		t.Fatal(err)
	}
	clear(in2)
	checkGet(t, s, c.CID, c.Data)
}

func testConcurrent(t *testing.T, s blockstore.Store) {
	const workers, perWorker = 16, 40
	blocks := make([]blockstore.Block, workers*perWorker)
	for i := range blocks {
		// Every block is put by two workers, so puts of one block race.
		j := i % (len(blocks) / 2)
		blocks[i] = MakeBlock(uint64(5000+j), 100+j%7*1000)
	}
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < perWorker; i++ {
				b := blocks[w*perWorker+i]
				var err error
				if i%2 == 0 {
					err = s.Put(ctx, b)
				} else {
					err = s.PutMany(ctx, []blockstore.Block{b})
				}
				if err != nil {
					errs <- err
					return
				}
				got, err := s.Get(ctx, b.CID)
				if err != nil {
					errs <- fmt.Errorf("Get right after Put: %w", err)
					return
				}
				if !bytes.Equal(got, b.Data) {
					errs <- fmt.Errorf("Get %s returned other bytes", b.CID)
					return
				}
				// Read what another worker may be writing right now.
				o := blocks[(w*perWorker+i+perWorker)%len(blocks)]
				if got, err := s.Get(ctx, o.CID); err == nil && !bytes.Equal(got, o.Data) {
					errs <- fmt.Errorf("concurrent Get %s returned other bytes", o.CID)
					return
				} else if err != nil && !errors.Is(err, blockstore.ErrNotFound) {
					errs <- err
					return
				}
				if _, err := s.Has(ctx, o.CID); err != nil {
					errs <- err
					return
				}
			}
		}(w)
	}
	wg.Add(1)
	go func() { // enumerate while others write
		defer wg.Done()
		if err := s.Keys(ctx, func(multihash.Multihash) error { return nil }); err != nil {
			errs <- fmt.Errorf("Keys during puts: %w", err)
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for _, b := range blocks {
		checkGet(t, s, b.CID, b.Data)
	}
	if keys := keySet(t, s); len(keys) != len(blocks)/2 {
		t.Fatalf("Keys gave %d keys, want %d", len(keys), len(blocks)/2)
	}
}
