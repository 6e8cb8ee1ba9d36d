package service

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"node/bitswap"
	"node/bitswap/decision"
	"node/blockstore"
	"node/internal/testnet"
	"node/ledger/config"
	"node/ledger/identity"
)

var ctx = context.Background()

// quiet drops logs unless LEDGER_TEST_LOG is set.
var quiet = func() *slog.Logger {
	if os.Getenv("LEDGER_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}()

// node is a real node in miniature: a libp2p host on loopback, a pack
// store on disk, Bitswap over it, and the ledger service.
type node struct {
	t     testing.TB
	name  string
	id    *identity.Identity
	packs *blockstore.PackStore
	bs    *bitswap.Bitswap
	m     *Manager
	root  string
}

func newNode(t testing.TB, name string) *node {
	t.Helper()
	h := testnet.NewHost(t)
	id, err := identity.FromKey(h.Peerstore().PrivKey(h.ID()))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	packs, err := blockstore.OpenPackStore(filepath.Join(dir, "blocks"), blockstore.PackOptions{PackSize: 8 << 20, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	bctx, cancel := context.WithCancel(context.Background())
	bs, err := bitswap.New(h, packs, nil, decision.Config{}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	bs.Start(bctx)
	n := &node{t: t, name: name, id: id, packs: packs, bs: bs, root: filepath.Join(dir, "ledger")}
	n.m, err = New(Options{Root: n.root, Identity: id, Local: packs, Blocks: bs.Store(packs), Host: h, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	bs.Server.SetAccess(n.m)
	if err := n.m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := n.m.Close(); err != nil {
			t.Error(err)
		}
		cancel()
		packs.Close()
	})
	return n
}

func (n *node) peer() peer.ID { return n.id.PeerID() }

// addrInfo is how other nodes reach n.
func (n *node) addrInfo() peer.AddrInfo {
	h := n.m.opts.Host
	return peer.AddrInfo{ID: h.ID(), Addrs: h.Addrs()}
}

// carsConfig is channel cars: Org1 = a (every role), Org2 = b (endorser,
// committer, client) and, if given, d (committer only); policy
// AND(Org1, Org2).
func carsConfig(t testing.TB, a, b, d *node) *config.Config {
	t.Helper()
	org2 := []config.Member{{Peer: b.peer().String(), Roles: []config.Role{config.RoleEndorser, config.RoleCommitter, config.RoleClient}}}
	if d != nil {
		org2 = append(org2, config.Member{Peer: d.peer().String(), Roles: []config.Role{config.RoleCommitter}})
	}
	cfg := &config.Config{
		Channel: "cars",
		Organizations: []config.Org{
			{Name: "Org1", Members: []config.Member{{Peer: a.peer().String(), Roles: config.AllRoles}}},
			{Name: "Org2", Members: org2},
		},
		EndorsementPolicy: "AND('Org1', 'Org2')",
		BlockCutting:      config.Cutting{Timeout: "20ms"},
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// waitFor polls cond until it holds or 30 s pass.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond) // polling interval, not a wait for an event
	}
}

// sameState waits until every node has the same height, head and state
// hash as the first.
func sameState(t testing.TB, name string, nodes ...*node) {
	t.Helper()
	waitFor(t, "the members to agree on "+name, func() bool {
		var ref *ChannelInfo
		for _, n := range nodes {
			i, err := n.m.Info(ctx, name)
			if err != nil {
				t.Fatal(err)
			}
			if ref == nil {
				ref = i
				continue
			}
			if i.Height != ref.Height || i.Head != ref.Head || i.StateHash != ref.StateHash {
				return false
			}
		}
		return true
	})
}
