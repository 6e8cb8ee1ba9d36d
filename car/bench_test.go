package car_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"node/blockstore"
	"node/car"
)

// The benchmarks move 1 GiB: 4096 raw blocks of 256 KiB (the default
// chunk size) under one dag-pb root. Block i is a fixed random template
// with i in its first 8 bytes, made on demand, so the data is never all
// in memory. Each reports its throughput as a fraction of single-core
// SHA-256 over the same bytes, measured in the same run (the limit for
// import, which must hash every block).
const (
	benchLeaves    = 4096
	benchLeafBytes = 256 << 10
)

type benchDAG struct {
	template []byte
	leaves   []cid.Cid
	root     blockstore.Block
}

var (
	benchOnce sync.Once
	bench     benchDAG
)

func (d *benchDAG) leaf(i int) []byte {
	b := bytes.Clone(d.template)
	binary.LittleEndian.PutUint64(b, uint64(i))
	return b
}

func setupBench(b *testing.B) *benchDAG {
	benchOnce.Do(func() {
		d := &bench
		d.template = randBytes(rand.New(rand.NewPCG(1, 2)), benchLeafBytes)
		d.leaves = make([]cid.Cid, benchLeaves)
		for i := range d.leaves {
			d.leaves[i] = rawBlock(b, d.leaf(i)).CID
		}
		d.root = pbBlock(b, false, []byte{0x08, 0x02}, d.leaves...)
	})
	return &bench
}

// report adds the throughput as a fraction of SHA-256 over the same
// bytes, timed right after the benchmark so both see the same machine load.
func report(b *testing.B, d *benchDAG, elapsed time.Duration) {
	b.StopTimer()
	start := time.Now()
	for range b.N * benchLeaves {
		sha256.Sum256(d.template)
	}
	b.ReportMetric(time.Since(start).Seconds()/elapsed.Seconds(), "x-sha256")
}

func BenchmarkExport(b *testing.B) {
	d := setupBench(b)
	idx := make(map[cid.Cid]int, len(d.leaves))
	for i, c := range d.leaves {
		idx[c] = i
	}
	get := func(_ context.Context, c cid.Cid) ([]byte, error) {
		if c.Equals(d.root.CID) {
			return d.root.Data, nil
		}
		if i, ok := idx[c]; ok {
			return d.leaf(i), nil // a fresh copy, as a store returns
		}
		return nil, blockstore.ErrNotFound
	}
	b.SetBytes(benchLeaves * benchLeafBytes)
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		if err := car.Export(context.Background(), get, []cid.Cid{d.root.CID}, io.Discard); err != nil {
			b.Fatal(err)
		}
	}
	report(b, d, time.Since(start))
}

// carStream generates the CAR of the benchmark DAG as it is read, with
// one copy of each block's bytes (standing in for reading a file).
type carStream struct {
	d    *benchDAG
	next int    // next leaf to emit
	pre  []byte // what is left of the current section's length and CID
	data []byte // what is left of the current block
	leaf []byte // reused block buffer
}

func newCARStream(b *testing.B, d *benchDAG) *carStream {
	head := writeCAR(b, []cid.Cid{d.root.CID}, d.root)
	return &carStream{d: d, pre: head, leaf: make([]byte, benchLeafBytes)}
}

func (s *carStream) Read(p []byte) (int, error) {
	if len(s.pre) == 0 && len(s.data) == 0 {
		if s.next == benchLeaves {
			return 0, io.EOF
		}
		c := s.d.leaves[s.next]
		s.pre = append(uvarint(uint64(c.ByteLen()+benchLeafBytes)), c.Bytes()...)
		copy(s.leaf, s.d.template)
		binary.LittleEndian.PutUint64(s.leaf, uint64(s.next))
		s.data = s.leaf
		s.next++
	}
	if len(s.pre) > 0 {
		n := copy(p, s.pre)
		s.pre = s.pre[n:]
		return n, nil
	}
	n := copy(p, s.data)
	s.data = s.data[n:]
	return n, nil
}

func BenchmarkImport(b *testing.B) {
	d := setupBench(b)
	put := func(context.Context, []blockstore.Block) error { return nil }
	b.SetBytes(benchLeaves * benchLeafBytes)
	b.ResetTimer()
	var elapsed time.Duration
	for range b.N {
		b.StopTimer()
		s := newCARStream(b, d)
		b.StartTimer()
		start := time.Now()
		_, n, err := car.Import(context.Background(), s, put)
		elapsed += time.Since(start)
		if err != nil || n != benchLeaves+1 {
			b.Fatalf("imported %d blocks: %v", n, err)
		}
	}
	report(b, d, elapsed)
}
