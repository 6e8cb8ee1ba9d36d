package ledger

import (
	"crypto/ed25519"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"node/ledger/config"
	"node/ledger/validate"
)

// ed25519VerifiesPerSecond measures one core's Ed25519 verification rate:
// the limit the commit figures are reported against.
func ed25519VerifiesPerSecond() float64 {
	pub, priv, _ := ed25519.GenerateKey(nil)
	msg := make([]byte, 1000)
	sig := ed25519.Sign(priv, msg)
	start := time.Now()
	n := 0
	for time.Since(start) < 500*time.Millisecond {
		for range 100 {
			ed25519.Verify(pub, msg, sig)
		}
		n += 100
	}
	return float64(n) / time.Since(start).Seconds()
}

// oneOrgNetwork is the default one-organisation channel (one identity with
// every role) plus a committer in the same organisation.
func oneOrgNetwork(t testing.TB) *network {
	a, c := newMember(t, "A"), newMember(t, "C")
	cfg := config.Default("cars", a.id.PeerID())
	cfg.Organizations[0].Members = append(cfg.Organizations[0].Members,
		config.Member{Peer: c.id.PeerID().String(), Roles: []config.Role{config.RoleCommitter}})
	var err error
	if a.ch, err = Create(ctx, a.opts(), cfg); err != nil {
		t.Fatal(err)
	}
	if c.ch, err = Join(ctx, c.opts(), a.ch.Genesis(), a.store); err != nil {
		t.Fatal(err)
	}
	return &network{t: t, cfg: cfg, members: []*member{a, c}}
}

// prebuild cuts blocks of 500 endorsed transactions: in each block 400
// puts of new documents and 100 transfers of documents from earlier
// blocks (a read checked for MVCC each). It returns the head.
func prebuild(b *testing.B, n *network, blocks int, endorsers []*member) cid.Cid {
	b.Helper()
	const perBlock = 500
	var head cid.Cid
	for i := range blocks {
		txs := make([][]byte, 0, perBlock)
		for j := range perBlock {
			var fn string
			var args []string
			if i > 0 && j < 100 {
				fn, args = "transfer", []string{fmt.Sprintf("car-%d-%d", i-1, j+100), fmt.Sprintf("owner-%d", i)}
			} else {
				fn, args = "put", []string{fmt.Sprintf("car-%d-%d", i, j), fmt.Sprintf(`{"docType": "vehicle", "owner": "o%d", "model": "m%d", "n": %d}`, j%97, j%13, j)}
			}
			txs = append(txs, endorse(b, propose(b, n.members[0], fn, args...), endorsers...))
		}
		ev := n.cut(txs...)
		for _, r := range ev.Txs {
			if r.Code != validate.Valid {
				b.Fatalf("prebuilt transaction %v: %s", r.Code, r.Reason)
			}
		}
		head = ev.CID
	}
	return head
}

// BenchmarkValidateCommit is one committing peer's validate-and-commit
// rate over pre-built blocks of 500 transactions, every signature checked
// (the creator's, each endorser's, the orderer's on each block).
func BenchmarkValidateCommit(b *testing.B) {
	for _, setup := range []struct {
		name   string
		net    func(testing.TB) *network
		sigsTx int
	}{
		{"OneOrg", oneOrgNetwork, 2},
		{"TwoOrgsAND", newNetwork, 3},
	} {
		b.Run(setup.name, func(b *testing.B) {
			n := setup.net(b)
			endorsers := n.members[:1]
			if setup.sigsTx == 3 {
				endorsers = n.members[:2]
			}
			const blocks = 20
			head := prebuild(b, n, blocks, endorsers)
			limit := ed25519VerifiesPerSecond()
			b.ResetTimer()
			var total time.Duration
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				v := newMember(b, fmt.Sprintf("V%d", i))
				var err error
				v.ch, err = Join(ctx, v.opts(), n.members[0].ch.Genesis(), n.members[0].store)
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				start := time.Now()
				if err := v.ch.CatchUp(ctx, head, n.members[0].store); err != nil {
					b.Fatal(err)
				}
				total += time.Since(start)
				b.StopTimer()
				v.close(b)
				b.StartTimer()
			}
			txps := float64(blocks*500*b.N) / total.Seconds()
			b.ReportMetric(txps, "tx/s")
			b.ReportMetric(limit, "ed25519-verifies/s/core")
			b.ReportMetric(txps/limit, "tx/s-per-verify/s")
			b.ReportMetric(txps*float64(setup.sigsTx)/limit, "cores-of-verify")
		})
	}
}

// BenchmarkEndorseOrderCommit is the in-process throughput of the whole
// flow with two peers of two organisations (AND policy): clients endorse
// with both, submit to the solo orderer on peer A, and wait for the commit
// on peer B. Latency is submit to commit on B.
func BenchmarkEndorseOrderCommit(b *testing.B) {
	n := newNetwork(b)
	n.members[2].close(b) // two peers: A and B
	n.members[2].ch = nil
	n.members = n.members[:2]
	n.cfg.BlockCutting.Timeout = "20ms"
	s, stop := runOrderer(b, n)
	defer func() { stop() }()
	const clients = 512
	total := b.N * 200
	var mu sync.Mutex // guards lat
	lat := make([]time.Duration, 0, total)
	limit := ed25519VerifiesPerSecond()
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	work := make(chan int, total)
	for i := range total {
		work <- i
	}
	close(work)
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				client := n.members[i%2]
				sp := propose(b, client, "put", fmt.Sprintf("k%d", i), fmt.Sprintf(`{"owner": "o%d", "i": %d}`, i%50, i))
				t := endorse(b, sp, n.members[0], n.members[1])
				p, _ := sp.Decode()
				t0 := time.Now()
				if err := s.Submit(ctx, t); err != nil {
					b.Error(err)
					return
				}
				r, err := n.members[1].ch.WaitTx(ctx, p.TxID())
				if err != nil || r.Code != validate.Valid {
					b.Errorf("tx %d: %v %v", i, r.Code, err)
					return
				}
				mu.Lock()
				lat = append(lat, time.Since(t0))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	slices.Sort(lat)
	if len(lat) == 0 {
		return
	}
	b.ReportMetric(float64(total)/elapsed.Seconds(), "tx/s")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(limit, "ed25519-verifies/s/core")
	b.ReportMetric(float64(total)/elapsed.Seconds()/limit, "tx/s-per-verify/s")
}
