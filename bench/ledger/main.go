// Command ledger measures the ledger end to end over the network: an
// orderer and two peers, each a real libp2p host (the daemon's, TCP on
// loopback, TLS) with its own Bitswap and pack store on disk and the
// ledger service, all in this one process (three daemons would add only
// process switches; the work and the network path are the same). Channel
// "bench": Org0 = the orderer (its node also keeps the ledger, validating
// every block), Org1 and Org2 = one peer each (endorser, committer,
// client), policy AND(Org1, Org2), so every transaction carries the
// client's and two endorsers' signatures, all checked by all three nodes.
//
// Clients on both peers invoke `put` in closed loops; a transaction counts
// when the invoking peer has committed it (each peer took the block from
// the orderer's announcement, or fetched it through Bitswap). Reported:
// committed transactions per second, commit latency (proposal to the
// client's own commit: median, 99th percentile), where a block's time goes
// (cut → the orderer's commit → each peer's commit, medians), and, as the
// limit measured in the same run, Go's crypto/ed25519 verifications per
// second on one goroutine.
//
//	go run ./bench/ledger -duration 15s -clients 64
package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"node/bitswap"
	"node/bitswap/decision"
	"node/blockstore"
	"node/ledger/config"
	"node/ledger/identity"
	"node/ledger/service"
	"node/ledger/validate"
	"node/p2p"
)

func main() {
	duration := flag.Duration("duration", 20*time.Second, "how long the clients run")
	clients := flag.Int("clients", 64, "concurrent clients per peer")
	maxTx := flag.Int("maxtx", 500, "block cutting: most transactions per block")
	timeout := flag.String("timeout", "20ms", "block cutting: timeout")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the measured run to this file")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "Error:", err)
			os.Exit(1)
		}
		defer f.Close()
		profileTo = f
	}
	if err := run(*duration, *clients, *maxTx, *timeout); err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(1)
	}
}

// benchNode is one node: host, store, Bitswap, ledger service.
type benchNode struct {
	m     *service.Manager
	info  peer.AddrInfo
	close func()
}

func newNode(ctx context.Context, dir string, log *slog.Logger) (*benchNode, error) {
	sk, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return nil, err
	}
	h, err := p2p.NewHost(p2p.Config{Identity: sk, ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, LowWater: 100, HighWater: 400, GracePeriod: time.Minute})
	if err != nil {
		return nil, err
	}
	packs, err := blockstore.OpenPackStore(filepath.Join(dir, "blocks"), blockstore.PackOptions{Logger: log})
	if err != nil {
		return nil, err
	}
	bs, err := bitswap.New(h, packs, nil, decision.Config{MaxOutstandingBytesPerPeer: 8 << 20}, log)
	if err != nil {
		return nil, err
	}
	bctx, cancel := context.WithCancel(ctx)
	bs.Start(bctx)
	id, err := identity.FromKey(sk)
	if err != nil {
		cancel()
		return nil, err
	}
	m, err := service.New(service.Options{Root: filepath.Join(dir, "ledger"), Identity: id, Local: packs,
		Blocks: bs.Store(packs), Host: h, Logger: log})
	if err != nil {
		cancel()
		return nil, err
	}
	bs.Server.SetAccess(m)
	if err := m.Start(ctx); err != nil {
		cancel()
		return nil, err
	}
	return &benchNode{m: m, info: peer.AddrInfo{ID: h.ID(), Addrs: h.Addrs()}, close: func() {
		m.Close()
		cancel()
		h.Close()
		packs.Close()
	}}, nil
}

// profileTo receives a CPU profile of the measured run, if set.
var profileTo io.Writer

func run(duration time.Duration, clients, maxTx int, timeout string) error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "bench-ledger")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	verifyBefore := ed25519Verifies(time.Second)

	var nodes []*benchNode
	for i := range 3 {
		n, err := newNode(ctx, filepath.Join(dir, fmt.Sprint(i)), log)
		if err != nil {
			return err
		}
		defer n.close()
		nodes = append(nodes, n)
	}
	orderer, p1, p2 := nodes[0], nodes[1], nodes[2]
	peerRoles := []config.Role{config.RoleEndorser, config.RoleCommitter, config.RoleClient}
	cfg := &config.Config{
		Channel: "bench",
		Organizations: []config.Org{
			{Name: "Org0", Members: []config.Member{{Peer: orderer.info.ID.String(), Roles: []config.Role{config.RoleOrderer, config.RoleAdmin}}}},
			{Name: "Org1", Members: []config.Member{{Peer: p1.info.ID.String(), Roles: peerRoles}}},
			{Name: "Org2", Members: []config.Member{{Peer: p2.info.ID.String(), Roles: peerRoles}}},
		},
		EndorsementPolicy: "AND('Org1', 'Org2')",
		BlockCutting:      config.Cutting{MaxTransactions: maxTx, Timeout: timeout},
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	if _, err := orderer.m.Create(ctx, "bench", cfg); err != nil {
		return err
	}
	for _, p := range []*benchNode{p1, p2} {
		if _, err := p.m.Join(ctx, "bench", orderer.info); err != nil {
			return err
		}
	}
	// The peers endorse for each other: connect them.
	if _, err := p1.m.Invoke(ctx, "bench", service.InvokeRequest{Function: "put", Args: []string{"warm", `{"a": 1}`}}); err != nil {
		return fmt.Errorf("warming up: %w", err)
	}

	fmt.Printf("ledger bench: 3 nodes in one process (orderer + 2 peers), real libp2p hosts on loopback; %d clients per peer; blocks of up to %d transactions or %s; GOMAXPROCS %d\n",
		clients, maxTx, timeout, runtime.GOMAXPROCS(0))
	stages, err := trackBlocks(ctx, orderer, p1, p2)
	if err != nil {
		return err
	}
	var committed, failed atomic.Int64
	var mu sync.Mutex // guards latencies and firstErr
	var latencies []time.Duration
	var firstErr error
	if profileTo != nil {
		if err := pprof.StartCPUProfile(profileTo); err != nil {
			return err
		}
	}
	stop := time.Now().Add(duration)
	start := time.Now()
	var wg sync.WaitGroup
	for pi, p := range []*benchNode{p1, p2} {
		for c := range clients {
			wg.Go(func() {
				var mine []time.Duration
				for i := 0; time.Now().Before(stop); i++ {
					t0 := time.Now()
					r, err := p.m.Invoke(ctx, "bench", service.InvokeRequest{Function: "put",
						Args: []string{fmt.Sprintf("k%d-%d-%d", pi, c, i), fmt.Sprintf(`{"owner": "o%d", "n": %d}`, c%10, i)}})
					if err == nil && r.Code != validate.Valid {
						err = fmt.Errorf("transaction %s: %s %s", r.TxID, r.Code, r.Reason)
					}
					if err != nil {
						failed.Add(1)
						mu.Lock()
						if firstErr == nil {
							firstErr = err
						}
						mu.Unlock()
						continue
					}
					committed.Add(1)
					mine = append(mine, time.Since(t0))
				}
				mu.Lock()
				latencies = append(latencies, mine...)
				mu.Unlock()
			})
		}
	}
	wg.Wait()
	elapsed := time.Since(start)
	if profileTo != nil {
		pprof.StopCPUProfile()
	}
	verifyAfter := ed25519Verifies(time.Second)
	if firstErr != nil {
		fmt.Printf("failed transactions: %d (first: %v)\n", failed.Load(), firstErr)
	}
	if len(latencies) == 0 {
		return errors.New("nothing committed")
	}
	slices.Sort(latencies)
	tps := float64(committed.Load()) / elapsed.Seconds()
	verifies := max(verifyBefore, verifyAfter)
	fmt.Printf("committed: %d transactions in %.1f s: %.0f tx/s\n", committed.Load(), elapsed.Seconds(), tps)
	fmt.Printf("commit latency: p50 %v, p99 %v\n", latencies[len(latencies)/2].Round(time.Millisecond), latencies[len(latencies)*99/100].Round(time.Millisecond))
	stages.report()
	fmt.Printf("limit: Ed25519 verify on one core: %.0f/s (before %.0f, after %.0f)\n", verifies, verifyBefore, verifyAfter)
	fmt.Printf("ratio: %.3f committed tx/s per verify/s\n", tps/verifies)
	// Each transaction: 3 signatures made (client, 2 endorsers), 3 checked
	// at each of 3 committers, plus the endorsers' checks of the proposal.
	return nil
}

// ed25519Verifies is how many Ed25519 verifications one goroutine does per
// second.
func ed25519Verifies(d time.Duration) float64 {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	msg := make([]byte, 200)
	sig := ed25519.Sign(priv, msg)
	n := 0
	start := time.Now()
	for time.Since(start) < d {
		for range 100 {
			if !ed25519.Verify(pub, msg, sig) {
				panic("verify failed")
			}
		}
		n += 100
	}
	return float64(n) / time.Since(start).Seconds()
}

// blockStages records when each block was cut (its header's time) and
// when each node committed it, to show where a transaction's latency goes.
type blockStages struct {
	mu        sync.Mutex // guards the maps
	cut       map[uint64]time.Time
	committed [3]map[uint64]time.Time
	sizes     map[uint64]int
}

func trackBlocks(ctx context.Context, nodes ...*benchNode) (*blockStages, error) {
	s := &blockStages{cut: map[uint64]time.Time{}, sizes: map[uint64]int{}}
	for i, n := range nodes {
		s.committed[i] = map[uint64]time.Time{}
		ch, err := n.m.Channel(ctx, "bench")
		if err != nil {
			return nil, err
		}
		events, _ := ch.Subscribe(1 << 16)
		go func() {
			for ev := range events {
				now := time.Now()
				var cut time.Time
				if i == 0 {
					if b, err := ch.Block(ctx, ev.Number); err == nil {
						cut = time.Unix(0, b.Block.Time)
					}
				}
				s.mu.Lock()
				s.committed[i][ev.Number] = now
				if i == 0 {
					s.cut[ev.Number] = cut
					s.sizes[ev.Number] = len(ev.Txs)
				}
				s.mu.Unlock()
			}
		}()
	}
	return s, nil
}

// report prints the medians of cut → orderer's commit → each peer's commit.
func (s *blockStages) report() {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ordererCommit, peerCommit []time.Duration
	txs := 0
	for n, cut := range s.cut {
		o, ok := s.committed[0][n]
		if !ok || cut.IsZero() {
			continue
		}
		ordererCommit = append(ordererCommit, o.Sub(cut))
		for _, m := range s.committed[1:] {
			if p, ok := m[n]; ok {
				peerCommit = append(peerCommit, p.Sub(o))
			}
		}
		txs += s.sizes[n]
	}
	if len(ordererCommit) == 0 || len(peerCommit) == 0 {
		return
	}
	slices.Sort(ordererCommit)
	slices.Sort(peerCommit)
	fmt.Printf("blocks: %d, %.0f transactions each on average; median cut → orderer committed %v, orderer → peer committed %v\n",
		len(ordererCommit), float64(txs)/float64(len(ordererCommit)),
		ordererCommit[len(ordererCommit)/2].Round(time.Millisecond), peerCommit[len(peerCommit)/2].Round(time.Millisecond))
}
