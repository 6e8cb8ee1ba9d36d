package client

// Wire compatibility with an independent implementation: our client
// fetches from boxo's Bitswap server (with boxo's network) over real
// libp2p hosts, on each protocol version. Boxo is used in tests only.

import (
	"bytes"
	"context"
	"testing"
	"time"

	bsmsg "github.com/ipfs/boxo/bitswap/message"
	bsnet "github.com/ipfs/boxo/bitswap/network/bsnet"
	bsserver "github.com/ipfs/boxo/bitswap/server"
	boxobs "github.com/ipfs/boxo/blockstore"
	blocks "github.com/ipfs/go-block-format"
	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/multiformats/go-multihash"

	"node/bitswap/message"
	"node/bitswap/network"
	"node/blockstore"
	"node/unixfs/importer"
)

// boxoReceiver adapts boxo's server to boxo's network.Receiver.
type boxoReceiver struct{ s *bsserver.Server }

func (r boxoReceiver) ReceiveMessage(ctx context.Context, p peer.ID, m bsmsg.BitSwapMessage) {
	r.s.ReceiveMessage(ctx, p, m)
}
func (r boxoReceiver) ReceiveError(error)         {}
func (r boxoReceiver) PeerConnected(p peer.ID)    { r.s.PeerConnected(p) }
func (r boxoReceiver) PeerDisconnected(p peer.ID) { r.s.PeerDisconnected(p) }

// newBoxoServer starts boxo's server on a fresh host, speaking only the
// given protocols (all when none), serving the blocks of src.
func newBoxoServer(t testing.TB, src blockstore.Store, protos ...protocol.ID) host.Host {
	t.Helper()
	h := newHost(t)
	var opts []bsnet.NetOpt
	if len(protos) > 0 {
		opts = append(opts, bsnet.SupportedProtocols(protos))
	}
	bnet := bsnet.NewFromIpfsHost(h, opts...)
	bs := boxobs.NewBlockstore(dssync.MutexWrap(ds.NewMapDatastore()))
	ctx := context.Background()
	var all []blocks.Block
	err := src.Keys(ctx, func(mh multihash.Multihash) error {
		c := blockstore.CIDOf(mh)
		data, err := src.Get(ctx, c)
		if err != nil {
			return err
		}
		b, err := blocks.NewBlockWithCid(data, c)
		if err != nil {
			return err
		}
		all = append(all, b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := bs.PutMany(ctx, all); err != nil {
		t.Fatal(err)
	}
	srv := bsserver.New(ctx, bnet, bs)
	bnet.Start(boxoReceiver{srv})
	t.Cleanup(func() {
		bnet.Stop()
		srv.Close()
	})
	return h
}

// versionedNet tells the client each peer's version from the protocols
// identify recorded (what network.Network could offer as PeerVersion).
type versionedNet struct {
	*network.Network
	h host.Host
}

func (n versionedNet) PeerVersion(p peer.ID) (message.Version, bool) {
	id, err := n.h.Peerstore().FirstSupportedProtocol(p, message.Protocols...)
	if err != nil || id == "" {
		return 0, false
	}
	return message.VersionOf(id)
}

func TestFetchFromBoxoServer(t *testing.T) {
	cases := []struct {
		name    string
		protos  []protocol.ID
		cidV1   bool
		version message.Version
	}{
		{"1.2.0", nil, false, message.V120},
		{"1.2.0-cidv1", nil, true, message.V120},
		{"1.1.0", []protocol.ID{bsnet.ProtocolBitswapOneOne}, false, message.V110},
		{"1.0.0-cidv1", []protocol.ID{bsnet.ProtocolBitswapOneZero}, true, message.V100},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := blockstore.NewMemory()
			opts := importer.DefaultOptions()
			if tc.cidV1 {
				opts.CIDVersion, opts.RawLeaves = 1, true
			}
			data, root := importWith(t, src, opts, 10<<20)
			bh := newBoxoServer(t, src, tc.protos...)

			h := newHost(t)
			net := network.New(h, nil)
			store := blockstore.NewMemory()
			c := New(versionedNet{net, h}, store, nil, Options{})
			net.Start(c)
			t.Cleanup(func() { net.Stop(); c.Close() })
			connect(t, h, bh)

			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			got, err := readFile(ctx, c, root)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, data) {
				t.Fatal("file differs")
			}
			n := sameBlocks(t, src, store)
			st := c.Stats()
			ps := st.Peers[bh.ID()]
			if ps.BlocksReceived != uint64(n) || st.Unrequested != 0 || st.Invalid != 0 {
				t.Fatalf("%d blocks; stats %+v; server %+v", n, st, ps)
			}
			if ps.Version != tc.version {
				t.Fatalf("server taken for %s, want %s", ps.Version, tc.version)
			}
		})
	}
}
