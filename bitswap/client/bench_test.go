package client

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"

	"node/blockstore"
)

// BenchmarkFetch fetches 64 MiB of 256 KiB raw blocks from a server over
// loopback, all wanted at once in one session (bytes/s is the transfer
// rate, hashing and storing included). "ours" is the test server on our
// network package; "boxo" is boxo's server.
func BenchmarkFetch(b *testing.B) {
	const total, size = 64 << 20, 256 << 10
	src := blockstore.NewMemory()
	var cids []cid.Cid
	for range total / size {
		data := make([]byte, size)
		rand.Read(data)
		sum := sha256.Sum256(data)
		mh, _ := multihash.Encode(sum[:], multihash.SHA2_256)
		c := cid.NewCidV1(cid.Raw, mh)
		src.Put(context.Background(), blockstore.Block{CID: c, Data: data})
		cids = append(cids, c)
	}
	run := func(b *testing.B, server func(b *testing.B) *node) {
		n := server(b)
		b.SetBytes(total)
		b.ResetTimer()
		for range b.N {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			got := 0
			for blk := range n.c.NewSession(ctx).GetBlocks(ctx, cids) {
				got += len(blk.Data)
			}
			cancel()
			if got != total {
				b.Fatalf("got %d bytes, want %d", got, total)
			}
		}
	}
	b.Run("ours", func(b *testing.B) {
		run(b, func(b *testing.B) *node {
			srv := newTestServer(b, serveNormally)
			src.Keys(context.Background(), func(mh multihash.Multihash) error {
				data, err := src.Get(context.Background(), blockstore.CIDOf(mh))
				srv.store.Put(context.Background(), blockstore.Block{CID: blockstore.CIDOf(mh), Data: data})
				return err
			})
			n := newNode(b, nil, Options{})
			connect(b, n.h, srv.h)
			return n
		})
	})
	b.Run("boxo", func(b *testing.B) {
		run(b, func(b *testing.B) *node {
			bh := newBoxoServer(b, src)
			n := newNode(b, nil, Options{})
			connect(b, n.h, bh)
			return n
		})
	})
}
