package message

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/ipfs/go-cid"

	"node/blockstore"
)

// benchBlocks is how many 256 KiB blocks fit in one 4 MiB message with
// their framing: 15 (16 would be 4 MiB of data alone, over the limit).
const benchBlocks = MaxMessageSize/(256<<10) - 1

func benchMessage(b *testing.B) (*Message, int64) {
	rng := rand.New(rand.NewPCG(1, 2))
	m := &Message{}
	var n int64
	for i := range benchBlocks {
		data := make([]byte, 256<<10)
		for j := range data {
			data[j] = byte(rng.Uint32())
		}
		c := v0(b, data)
		if i%2 == 1 {
			c = cid.NewCidV1(cid.Raw, c.Hash())
		}
		m.Blocks = append(m.Blocks, blockstore.Block{CID: c, Data: data})
		n += int64(len(data))
	}
	return m, n
}

// BenchmarkMarshal encodes into one buffer, copying every block.
// (WriteMsg does not copy blocks: see BenchmarkWriteMsg.)
func BenchmarkMarshal(b *testing.B) {
	m, n := benchMessage(b)
	b.SetBytes(n)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Marshal(V120); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUnmarshal includes hashing every block (sha2-256).
func BenchmarkUnmarshal(b *testing.B) {
	m, n := benchMessage(b)
	enc := mustMarshal(b, m, V120)
	b.SetBytes(n)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Unmarshal(enc); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReadMsg is framing plus Unmarshal, from memory.
func BenchmarkReadMsg(b *testing.B) {
	m, n := benchMessage(b)
	var framed bytes.Buffer
	if err := WriteMsg(&framed, m, V120); err != nil {
		b.Fatal(err)
	}
	src := bytes.NewReader(framed.Bytes())
	b.SetBytes(n)
	b.ReportAllocs()
	for b.Loop() {
		src.Reset(framed.Bytes())
		if _, err := NewReader(src).ReadMsg(); err != nil {
			b.Fatal(err)
		}
	}
}
