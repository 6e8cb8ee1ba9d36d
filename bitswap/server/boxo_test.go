package server

// Wire compatibility: boxo's Bitswap (an independent implementation, used
// only in tests) fetches blocks from our server over real libp2p hosts.

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/ipfs/boxo/bitswap"
	bsnet "github.com/ipfs/boxo/bitswap/network/bsnet"
	boxobs "github.com/ipfs/boxo/blockstore"
	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	"github.com/libp2p/go-libp2p/core/peer"

	"node/bitswap/decision"
	"node/bitswap/network"
	"node/blockstore"
)

func TestBoxoClientFetchesFromOurServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	store := blockstore.NewMemory()
	var want []blockstore.Block
	for i := range 40 {
		b := block(t, bytes.Repeat([]byte{byte(i)}, 100_000+i))
		want = append(want, b)
	}
	store.PutMany(ctx, want)

	hs, hc := newHost(t), newHost(t)
	ns := network.New(hs, nil)
	srv, err := New(ns, store, decision.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ns.Start(srv)
	go srv.Run(ctx)

	bstore := boxobs.NewBlockstore(dssync.MutexWrap(ds.NewMapDatastore()))
	client := bitswap.New(ctx, bsnet.NewFromIpfsHost(hc), nil, bstore)
	defer client.Close()
	if err := hc.Connect(ctx, peer.AddrInfo{ID: hs.ID(), Addrs: hs.Addrs()}); err != nil {
		t.Fatal(err)
	}
	sess := client.NewSession(ctx)
	for _, b := range want {
		got, err := sess.GetBlock(ctx, b.CID)
		if err != nil {
			t.Fatalf("boxo could not fetch %s from our server: %v", b.CID, err)
		}
		if !bytes.Equal(got.RawData(), b.Data) {
			t.Fatalf("block %s differs", b.CID)
		}
	}
	l, err := srv.Ledger(ctx, hc.ID())
	if err != nil {
		t.Fatal(err)
	}
	if l.BlocksSent < int64(len(want)) {
		t.Fatalf("our server's ledger says %d blocks sent, want at least %d", l.BlocksSent, len(want))
	}
}
