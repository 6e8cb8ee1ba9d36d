package blockstore_test

import (
	"crypto/sha256"
	"encoding/binary"
	"math/rand/v2"
	"testing"
	"time"

	"node/blockstore"
	"node/blockstore/storetest"
)

// Run with: go test -run '^$' -bench . -benchtime 2000x ./blockstore
// (a 2000x run puts 500 MiB of 256 KiB blocks).

const benchBlock = 256 << 10

type syncMode int

const (
	syncNever syncMode = iota // PutMany only: the store's own cost
	syncAtEnd                 // one Sync after the last batch (an add)
	syncEach                  // Sync after every batch
)

func benchPut(b *testing.B, batch int, mode syncMode) {
	s := openPackB(b)
	defer s.Close()
	b.SetBytes(benchBlock)
	b.ResetTimer()
	for i := 0; i < b.N; i += batch {
		b.StopTimer() // hashing is the importer's cost, not the store's
		bs := makeBlocks(1_000_000+i, min(batch, b.N-i), benchBlock)
		b.StartTimer()
		if err := s.PutMany(ctx, bs); err != nil {
			b.Fatal(err)
		}
		if mode == syncEach {
			if err := s.Sync(ctx); err != nil {
				b.Fatal(err)
			}
		}
	}
	if mode != syncNever {
		if err := s.Sync(ctx); err != nil { // the durability point ends an add
			b.Fatal(err)
		}
	}
	b.StopTimer() // Close (which syncs) is not part of the measure
}

func openPackB(b *testing.B) *blockstore.PackStore {
	s, err := blockstore.OpenPackStore(b.TempDir(), blockstore.PackOptions{})
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkPackPut256K: PutMany batches of 64 blocks, no Sync: what the
// import pipeline waits for while it hashes.
func BenchmarkPackPut256K(b *testing.B) { benchPut(b, 64, syncNever) }

// BenchmarkPackPutSyncAtEnd256K: the same plus one Sync at the end (the
// disk's write speed bounds it).
func BenchmarkPackPutSyncAtEnd256K(b *testing.B) { benchPut(b, 64, syncAtEnd) }

// BenchmarkPackPutSyncEach256K: a Sync after every batch.
func BenchmarkPackPutSyncEach256K(b *testing.B) { benchPut(b, 64, syncEach) }

func benchGet(b *testing.B, s blockstore.Store, n, size int) {
	bs := makeBlocks(0, n, size)
	if err := s.PutMany(ctx, bs); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(size))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := s.Get(ctx, bs[rand.IntN(n)].CID); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
}

// BenchmarkPackGet256K reads 256 KiB blocks (warm page cache), with the
// store's CRC-32C check.
func BenchmarkPackGet256K(b *testing.B) {
	s := openPackB(b)
	defer s.Close()
	benchGet(b, s, 400, benchBlock)
}

// BenchmarkVerifiedGet256K adds the sha2-256 re-hash of Verifying.
func BenchmarkVerifiedGet256K(b *testing.B) {
	s := openPackB(b)
	defer s.Close()
	benchGet(b, blockstore.Verifying(s), 400, benchBlock)
}

func BenchmarkPackPut1K(b *testing.B) {
	s := openPackB(b)
	defer s.Close()
	b.SetBytes(1024)
	for i := 0; i < b.N; i += 1000 {
		b.StopTimer()
		bs := makeBlocks(2_000_000+i, min(1000, b.N-i), 1024)
		b.StartTimer()
		if err := s.PutMany(ctx, bs); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
}

func BenchmarkPackGet1K(b *testing.B) {
	s := openPackB(b)
	defer s.Close()
	benchGet(b, s, 10000, 1024)
}

// BenchmarkPackAdd256K is the store's share of an add, on one goroutine:
// hash every 256 KiB block (sha2-256, CIDv1 raw), PutMany in batches of 64,
// one Sync at the end. It reports the speed as a multiple of plain sha2-256
// over the same bytes, measured in the same run (x-sha256; the import
// target is >= 0.5).
func BenchmarkPackAdd256K(b *testing.B) {
	s := openPackB(b)
	defer s.Close()
	bufs := make([][]byte, 64)
	for i := range bufs {
		bufs[i] = storetest.MakeBlock(uint64(i), benchBlock).Data
	}
	// The limit: sha2-256 alone over b.N blocks.
	t0 := time.Now()
	for i := 0; i < b.N; i++ {
		sha256.Sum256(bufs[i%64])
	}
	shaTime := time.Since(t0)
	b.SetBytes(benchBlock)
	b.ResetTimer()
	bs := make([]blockstore.Block, 0, 64)
	for i := 0; i < b.N; i++ {
		d := bufs[i%64] // reused: the store does not keep callers' buffers
		binary.LittleEndian.PutUint64(d, uint64(i))
		bs = append(bs, blockstore.Block{CID: storetest.RawCID(d), Data: d})
		if len(bs) == cap(bs) || i == b.N-1 {
			if err := s.PutMany(ctx, bs); err != nil {
				b.Fatal(err)
			}
			bs = bs[:0]
		}
	}
	t1 := time.Now()
	if err := s.Sync(ctx); err != nil {
		b.Fatal(err)
	}
	syncTime := time.Since(t1)
	b.StopTimer()
	b.ReportMetric(shaTime.Seconds()/b.Elapsed().Seconds(), "x-sha256")
	b.ReportMetric(shaTime.Seconds()/(b.Elapsed()-syncTime).Seconds(), "x-sha256-before-sync")
}
