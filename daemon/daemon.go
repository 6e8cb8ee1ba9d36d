package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"node/bitswap"
	"node/bitswap/decision"
	"node/blockstore"
	"node/core"
	"node/dag"
	"node/dht"
	"node/gateway"
	"node/ipns"
	"node/namesys"
	"node/p2p"
	"node/pin"
	"node/repo"
)

// Options configure a daemon.
type Options struct {
	// Offline runs without the network: no host, no DHT.
	Offline bool
	// Log receives the daemon's logs; nil means slog.Default().
	Log *slog.Logger
}

// Daemon is a running node.
type Daemon struct {
	Node     *core.Node
	Host     host.Host // nil when offline
	DHT      *dht.DHT  // nil when offline
	Provider *dht.Provider
	Bitswap  *bitswap.Bitswap // nil when offline
	// Names publishes and resolves IPNS names (local records only when
	// offline).
	Names   *namesys.NameSystem
	APIAddr multiaddr.Multiaddr

	GatewayAddr multiaddr.Multiaddr // nil until ServeGateway, or when disabled

	log    *slog.Logger
	local  blockstore.Store // the node's own blocks, without fetching
	mounts mounts
	srv    *http.Server
	gw     *http.Server
	cancel context.CancelFunc
	done   chan struct{} // closed when background work has stopped; nil if none started
	// reqCancel ends the contexts of API requests still running at Close.
	reqCancel context.CancelFunc
	mdns      interface{ Close() error }
	ledger    ledgerState // the ledger service (ledger.go)
}

// Start starts the daemon on an opened repository. Close stops it; the
// caller closes the node afterwards.
func Start(ctx context.Context, node *core.Node, opts Options) (_ *Daemon, err error) {
	log := opts.Log
	if log == nil {
		log = slog.Default()
	}
	cfg := node.Repo.Config()
	ctx, cancel := context.WithCancel(ctx)
	d := &Daemon{Node: node, log: log, cancel: cancel, local: node.Blocks}
	var boot []peer.AddrInfo
	defer func() {
		if err != nil {
			d.Close()
		}
	}()

	if !opts.Offline {
		sk, _ := node.Repo.Identity()
		grace, err := time.ParseDuration(cfg.Swarm.ConnMgr.GracePeriod)
		if err != nil {
			return nil, fmt.Errorf("Swarm.ConnMgr.GracePeriod: %w", err)
		}
		d.Host, err = p2p.NewHost(p2p.Config{
			Identity: sk, ListenAddrs: cfg.Addresses.Swarm,
			LowWater: cfg.Swarm.ConnMgr.LowWater, HighWater: cfg.Swarm.ConnMgr.HighWater, GracePeriod: grace,
		})
		if err != nil {
			return nil, err
		}
		boot, err = p2p.ParsePeers(cfg.Bootstrap)
		if err != nil {
			return nil, fmt.Errorf("Bootstrap: %w", err)
		}
		d.DHT, err = dht.New(ctx, d.Host, cfg.Routing.Type, boot, ipns.Validator{})
		if err != nil {
			return nil, err
		}
		if cfg.Discovery.MDNS.Enabled {
			if d.mdns, err = p2p.StartMDNS(d.Host, log); err != nil {
				return nil, err
			}
		}
		bcfg, err := bitswapConfig(cfg)
		if err != nil {
			return nil, err
		}
		if d.Bitswap, err = bitswap.New(d.Host, node.Blocks, d.DHT, bcfg, log); err != nil {
			return nil, err
		}
		// Until the ledger's channels are loaded (startLedger sets the
		// real policy), no dag-cbor block is served: it may be a
		// channel's, which only members may fetch.
		d.Bitswap.Server.SetAccess(holdDagCBOR{})
		d.Bitswap.Start(ctx)
		// Reads fetch what the store lacks; writes wake waiting peers.
		// Pinning reads through it too, so `pin add` fetches what it
		// pins (GC walks only the local store).
		node.Blocks = d.Bitswap.Store(node.Blocks)
		if node.Pins, err = pin.New(node.Repo.Datastore(), node.Blocks, dag.Links); err != nil {
			return nil, err
		}
		d.Provider = dht.NewProvider(d.DHT, strategySet(node, cfg.Provider.Strategy, d.PrivateBlock), log)
	}
	var routing namesys.Routing
	if d.DHT != nil {
		routing = d.DHT
	}
	if d.Names, err = NameSystem(node, routing, log); err != nil {
		return nil, err
	}
	if err := d.startLedger(ctx); err != nil {
		return nil, err
	}
	d.done = make(chan struct{})
	go func() {
		defer close(d.done)
		var wg sync.WaitGroup
		if d.Host != nil {
			wg.Go(func() {
				p2p.Bootstrap(ctx, d.Host, boot, log)
				d.Provider.Run(ctx, dht.ReprovideInterval)
			})
		}
		d.Names.Republish(ctx)
		wg.Wait()
	}()

	return d, nil
}

// NameSystem builds a node's name system from its config. routing is the
// DHT, or nil offline (records are then kept and resolved locally only).
func NameSystem(node *core.Node, routing namesys.Routing, log *slog.Logger) (*namesys.NameSystem, error) {
	cfg := node.Repo.Config()
	lifetime, err := time.ParseDuration(cfg.Ipns.RecordLifetime)
	if err != nil {
		return nil, fmt.Errorf("Ipns.RecordLifetime: %w", err)
	}
	period, err := time.ParseDuration(cfg.Ipns.RepublishPeriod)
	if err != nil {
		return nil, fmt.Errorf("Ipns.RepublishPeriod: %w", err)
	}
	cache := cfg.Ipns.ResolveCacheSize
	if cache == 0 {
		cache = -1 // 0 in the config means no cache
	}
	return namesys.New(namesys.Config{
		Routing: routing, Store: node.Repo.Datastore(), Keys: node.Repo.Keystore(),
		CacheSize: cache, Lifetime: lifetime, RepublishPeriod: period,
		DNSResolver: cfg.DNS.Resolver, Log: log.With("subsystem", "namesys"),
	})
}

// ServeAPI serves the API on Addresses.API with the given handlers (by
// path pattern) besides metrics and pprof, and writes the address file.
func (d *Daemon) ServeAPI(handlers map[string]http.Handler) error {
	addr := d.Node.Repo.Config().Addresses.API
	m, err := multiaddr.NewMultiaddr(addr)
	if err != nil {
		return fmt.Errorf("Addresses.API %q: %w", addr, err)
	}
	l, err := manet.Listen(m)
	if err != nil {
		return fmt.Errorf("listening on the API address %s: %w", addr, err)
	}
	d.APIAddr = l.Multiaddr()
	mux := http.NewServeMux()
	for pattern, h := range handlers {
		mux.Handle(pattern, h)
	}
	if h := d.ledgerAPI(); h != nil {
		mux.Handle("/api/v0/ledger/", h)
	}
	mux.Handle("/debug/metrics/prometheus", promhttp.HandlerFor(d.metrics(), promhttp.HandlerOpts{}))
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	reqCtx, reqCancel := context.WithCancel(context.Background())
	d.reqCancel = reqCancel
	token, err := newToken(d.Node.Repo.Root())
	if err != nil {
		return err
	}
	d.srv = &http.Server{
		Handler: protect(token, mux), ReadHeaderTimeout: 10 * time.Second,
		BaseContext: func(net.Listener) context.Context { return reqCtx },
	}
	go d.srv.Serve(manet.NetListener(l))
	if err := d.Node.Repo.SetAddr(repo.AddrAPI, d.APIAddr.String()); err != nil {
		return fmt.Errorf("writing the API address file: %w", err)
	}
	return nil
}

// ServeGateway serves the HTTP gateway on Addresses.Gateway and writes the
// gateway address file; an empty Addresses.Gateway disables it. The
// gateway is public (no token): it only reads content, fetching what the
// node lacks from the network.
func (d *Daemon) ServeGateway() error {
	cfg := d.Node.Repo.Config()
	addr := cfg.Addresses.Gateway
	if addr == "" {
		return nil
	}
	timeout, err := time.ParseDuration(cfg.Gateway.RetrievalTimeout)
	if err != nil {
		return fmt.Errorf("Gateway.RetrievalTimeout: %w", err)
	}
	// The handler is the whole server's: a ServeMux in front would clean
	// paths (and redirect "..") before the gateway can refuse them.
	// A ledger channel's blocks are its members' business: the gateway
	// answers for them as for content that does not exist.
	h := gateway.New(gateway.Config{
		Blocks: publicBlocks{d.Node.Blocks, d.PrivateBlock}, Local: d.local, Names: d.Names,
		RetrievalTimeout: timeout, Log: d.log.With("subsystem", "gateway"),
	})
	m, err := multiaddr.NewMultiaddr(addr)
	if err != nil {
		return fmt.Errorf("Addresses.Gateway %q: %w", addr, err)
	}
	l, err := manet.Listen(m)
	if err != nil {
		return fmt.Errorf("listening on the gateway address %s: %w", addr, err)
	}
	d.GatewayAddr = l.Multiaddr()
	d.gw = &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	go d.gw.Serve(manet.NetListener(l))
	if err := d.Node.Repo.SetAddr(repo.AddrGateway, d.GatewayAddr.String()); err != nil {
		return fmt.Errorf("writing the gateway address file: %w", err)
	}
	return nil
}

// holdDagCBOR is the Bitswap access policy before the ledger is loaded.
type holdDagCBOR struct{}

func (holdDagCBOR) MayFetch(_ peer.ID, c cid.Cid) bool { return c.Prefix().Codec != cid.DagCBOR }

// publicBlocks reads blocks, refusing private ones as not found.
type publicBlocks struct {
	blocks  blockstore.Getter
	private func(cid.Cid) bool
}

// Session reads in one session of the node's store (blockstore.Sessions).
func (p publicBlocks) Session(ctx context.Context) blockstore.Getter {
	return publicBlocks{blocks: blockstore.InSession(ctx, p.blocks), private: p.private}
}

func (p publicBlocks) Get(ctx context.Context, c cid.Cid) ([]byte, error) {
	if p.private(c) {
		return nil, blockstore.NotFound(c)
	}
	return p.blocks.Get(ctx, c)
}

// Addrs are the host's listen addresses with its peer ID, or none offline.
func (d *Daemon) Addrs() []string {
	if d.Host == nil {
		return nil
	}
	var out []string
	for _, a := range d.Host.Addrs() {
		out = append(out, a.String()+"/p2p/"+d.Host.ID().String())
	}
	return out
}

// Close stops serving and the network. It does not close the Node.
func (d *Daemon) Close() error {
	var errs []error
	if d.srv != nil {
		// Commands still running are cancelled (their clients get the
		// error); then the server waits a moment for them to answer.
		d.reqCancel()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := d.srv.Shutdown(ctx); errors.Is(err, context.DeadlineExceeded) {
			d.srv.Close()
		} else {
			errs = append(errs, ignoreClosed(err))
		}
		cancel()
	}
	if d.srv != nil {
		os.Remove(filepath.Join(d.Node.Repo.Root(), TokenFile))
	}
	if d.gw != nil {
		// Downloads in progress end with the daemon.
		errs = append(errs, ignoreClosed(d.gw.Close()))
	}
	// Unmounting publishes what was written under /ipns/local: before the
	// name system and the network stop.
	errs = append(errs, d.unmountAll())
	d.cancel()
	if d.done != nil {
		<-d.done
	}
	errs = append(errs, d.closeLedger())
	if d.Names != nil {
		errs = append(errs, d.Names.Close())
	}
	if d.mdns != nil {
		errs = append(errs, d.mdns.Close())
	}
	if d.DHT != nil {
		errs = append(errs, d.DHT.Close())
	}
	if d.Host != nil {
		errs = append(errs, d.Host.Close())
	}
	return errors.Join(errs...)
}

func ignoreClosed(err error) error {
	if errors.Is(err, http.ErrServerClosed) || errors.Is(err, net.ErrClosed) || errors.Is(err, io.EOF) {
		return nil
	}
	return err
}

// strategySet enumerates what the provider announces at each reprovide.
// Private blocks (a ledger channel's) are never announced.
func strategySet(node *core.Node, strategy string, private func(cid.Cid) bool) func(ctx context.Context, fn func(cid.Cid) error) error {
	return func(ctx context.Context, announce func(cid.Cid) error) error {
		fn := func(c cid.Cid) error {
			if private(c) {
				return nil
			}
			return announce(c)
		}
		switch strategy {
		case "roots":
			return eachPin(ctx, node.Pins, pin.Recursive, fn)
		case "pinned":
			return eachPin(ctx, node.Pins, pin.All, fn)
		default: // "all"
			return core.EachBlock(ctx, node.Blocks, fn)
		}
	}
}

func eachPin(ctx context.Context, p *pin.Pinner, mode pin.Mode, fn func(cid.Cid) error) error {
	pins, err := p.List(ctx, mode)
	if err != nil {
		return err
	}
	for _, x := range pins {
		if err := fn(x.CID); err != nil {
			return err
		}
	}
	return nil
}

// bitswapConfig maps the Bitswap config section to the engine's.
func bitswapConfig(cfg *repo.Config) (decision.Config, error) {
	strategy, err := decision.ParseStrategy(cfg.Bitswap.Strategy)
	if err != nil {
		return decision.Config{}, fmt.Errorf("Bitswap.Strategy: %w", err)
	}
	out := decision.Config{Strategy: strategy, MaxOutstandingBytesPerPeer: 8 << 20}
	for _, s := range cfg.Bitswap.TrustedPeers {
		p, err := peer.Decode(s)
		if err != nil {
			return decision.Config{}, fmt.Errorf("Bitswap.TrustedPeers: %q: %w", s, err)
		}
		out.TrustedPeers = append(out.TrustedPeers, p)
	}
	return out, nil
}

// metrics is the daemon's Prometheus registry: the Go runtime and process,
// and the exchange's totals.
func (d *Daemon) metrics() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if d.Bitswap == nil {
		return reg
	}
	stat := func(name, help string, f func(decision.Stats) float64) {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "node", Subsystem: "bitswap", Name: name, Help: help}, func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			st, err := d.Bitswap.Server.Stats(ctx)
			if err != nil {
				return 0
			}
			return f(st)
		}))
	}
	stat("blocks_sent_total", "Blocks sent to peers.", func(s decision.Stats) float64 { return float64(s.BlocksSent) })
	stat("bytes_sent_total", "Block bytes sent to peers.", func(s decision.Stats) float64 { return float64(s.BytesSent) })
	stat("blocks_received_total", "Blocks received from peers.", func(s decision.Stats) float64 { return float64(s.BlocksReceived) })
	stat("bytes_received_total", "Block bytes received from peers.", func(s decision.Stats) float64 { return float64(s.BytesReceived) })
	stat("peers", "Connected peers.", func(s decision.Stats) float64 { return float64(s.Peers) })
	stat("frozen_partners", "Peers served only when nobody else waits.", func(s decision.Stats) float64 { return float64(s.Frozen) })
	stat("peer_wants", "Want-list entries queued from peers.", func(s decision.Stats) float64 { return float64(s.Wants) })
	return reg
}
