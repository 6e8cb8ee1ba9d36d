// Command ipns measures name resolution over the DHT: a 20-node network
// of DHT servers on loopback, a name published on one node, and repeated
// resolutions with NoCache from the other nodes (each through its own
// name system, with nothing in its local store). The limit, measured in
// the same run and interleaved with it, is kad-dht's own GetValue of the
// same key with the same quorum from the same nodes: what the DHT costs
// without the name system on top.
//
//	go run ./bench/ipns -nodes 20 -n 50
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p"
	kaddht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"

	"node/dht"
	"node/ipns"
	"node/namesys"
	"node/repo"
)

func main() {
	nodes := flag.Int("nodes", 20, "DHT servers on loopback")
	n := flag.Int("n", 50, "resolutions")
	links := flag.Int("links", 4, "random peers each node dials at start (besides the first node)")
	flag.Parse()
	if err := run(*nodes, *n, *links); err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(1)
	}
}

type keys map[string]crypto.PrivKey

func (k keys) Get(name string) (crypto.PrivKey, error) {
	if sk, ok := k[name]; ok {
		return sk, nil
	}
	return nil, fmt.Errorf("no key %q: %w", name, repo.ErrNoSuchKey)
}

func run(nodes, n, links int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dir, err := os.MkdirTemp("", "bench-ipns")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))

	var hosts []host.Host
	var dhts []*kaddht.IpfsDHT
	var systems []*namesys.NameSystem
	sk, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		return err
	}
	for i := range nodes {
		h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
		if err != nil {
			return err
		}
		defer h.Close()
		var boot []peer.AddrInfo
		if i > 0 {
			boot = []peer.AddrInfo{{ID: hosts[0].ID(), Addrs: hosts[0].Addrs()}}
		}
		d, err := dht.New(ctx, h, "server", boot, ipns.Validator{})
		if err != nil {
			return err
		}
		defer d.Close()
		st, err := repo.NewDatastore(fmt.Sprintf("%s/ds%d", dir, i))
		if err != nil {
			return err
		}
		ns, err := namesys.New(namesys.Config{Routing: d, Store: st, Keys: keys{"self": sk}, Log: quiet})
		if err != nil {
			return err
		}
		defer ns.Close()
		hosts, dhts, systems = append(hosts, h), append(dhts, d), append(systems, ns)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i, h := range hosts {
		targets := []int{0}
		for range links {
			targets = append(targets, rng.IntN(nodes))
		}
		for _, j := range targets {
			if j == i {
				continue
			}
			if err := connect(ctx, h, hosts[j]); err != nil {
				return err
			}
		}
	}
	// Let every routing table fill as it would after a bootstrap.
	for _, d := range dhts {
		if err := <-d.RefreshRoutingTable(); err != nil {
			return fmt.Errorf("refreshing a routing table: %w", err)
		}
	}
	sizes := make([]int, len(dhts))
	for i, d := range dhts {
		sizes[i] = d.RoutingTable().Size()
	}

	value := "/ipfs/bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"
	name, _, err := systems[0].Publish(ctx, "self", value, namesys.PublishOptions{})
	if err != nil {
		return fmt.Errorf("publishing: %w", err)
	}

	var ours, limit []time.Duration
	for i := range n {
		r := 1 + i%(nodes-1) // never the publisher, which holds the record
		start := time.Now()
		res, err := systems[r].Resolve(ctx, name.String(), namesys.ResolveOptions{NoCache: true})
		if err != nil {
			return fmt.Errorf("resolution %d on node %d: %w", i, r, err)
		}
		ours = append(ours, time.Since(start))
		if res.Path != value {
			return fmt.Errorf("resolution %d: got %q", i, res.Path)
		}
		start = time.Now()
		if _, err := dhts[r].GetValue(ctx, name.RoutingKey(), kaddht.Quorum(namesys.DefaultDHTQuorum)); err != nil {
			return fmt.Errorf("kad-dht GetValue %d: %w", i, err)
		}
		limit = append(limit, time.Since(start))
	}
	slices.Sort(ours)
	slices.Sort(limit)
	med := func(d []time.Duration) time.Duration { return d[len(d)/2] }
	p90 := func(d []time.Duration) time.Duration { return d[len(d)*9/10] }
	worst := func(d []time.Duration) time.Duration { return d[len(d)-1] }
	fmt.Printf("%d DHT servers on loopback, routing tables %d..%d peers, quorum %d, %d resolutions with NoCache\n",
		nodes, slices.Min(sizes), slices.Max(sizes), namesys.DefaultDHTQuorum, n)
	fmt.Printf("| measurement | median | p90 | worst |\n|---|---|---|---|\n")
	fmt.Printf("| namesys Resolve (NoCache) | %v | %v | %v |\n", round(med(ours)), round(p90(ours)), round(worst(ours)))
	fmt.Printf("| limit: kad-dht GetValue, same key and quorum | %v | %v | %v |\n", round(med(limit)), round(p90(limit)), round(worst(limit)))
	fmt.Printf("| ratio (limit / ours) | %.2f | %.2f | %.2f |\n",
		ratio(med(limit), med(ours)), ratio(p90(limit), p90(ours)), ratio(worst(limit), worst(ours)))
	return nil
}

// connect dials b from a, again after a failed simultaneous open (both
// sides dialing at once), clearing the backoff that failure leaves.
func connect(ctx context.Context, a, b host.Host) error {
	var err error
	for range 20 {
		if err = a.Connect(ctx, peer.AddrInfo{ID: b.ID(), Addrs: b.Addrs()}); err == nil {
			return nil
		}
		if sw, ok := a.Network().(*swarm.Swarm); ok {
			sw.Backoff().Clear(b.ID())
		}
	}
	return err
}

func round(d time.Duration) time.Duration { return d.Round(10 * time.Microsecond) }

func ratio(a, b time.Duration) float64 { return float64(a) / float64(b) }
