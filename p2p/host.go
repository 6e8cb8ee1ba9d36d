package p2p

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/discovery/mdns"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/net/connmgr"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	libp2ptls "github.com/libp2p/go-libp2p/p2p/security/tls"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"
)

// Config is what the host needs from the node's configuration.
type Config struct {
	Identity    crypto.PrivKey
	ListenAddrs []string
	// Connection manager: past HighWater connections, trim to LowWater,
	// sparing those younger than GracePeriod.
	LowWater, HighWater int
	GracePeriod         time.Duration
}

// NewHost starts a libp2p host listening on the configured addresses.
func NewHost(cfg Config) (host.Host, error) {
	addrs := make([]ma.Multiaddr, 0, len(cfg.ListenAddrs))
	for _, s := range cfg.ListenAddrs {
		a, err := ma.NewMultiaddr(s)
		if err != nil {
			return nil, fmt.Errorf("listen address %q (Addresses.Swarm): %w", s, err)
		}
		addrs = append(addrs, a)
	}
	cm, err := connmgr.NewConnManager(cfg.LowWater, cfg.HighWater, connmgr.WithGracePeriod(cfg.GracePeriod))
	if err != nil {
		return nil, fmt.Errorf("connection manager (Swarm.ConnMgr): %w", err)
	}
	h, err := libp2p.New(
		libp2p.Identity(cfg.Identity),
		libp2p.ListenAddrs(addrs...),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Transport(quic.NewTransport),
		// TLS first: with AES-GCM in hardware it costs a fraction of
		// Noise's ChaCha20-Poly1305 per byte. Both are offered. Our TLS
		// is libp2p's with fewer system calls per write (gather.go).
		libp2p.Security(libp2ptls.ID, newGatheringTLS),
		libp2p.Security(noise.ID, noise.New),
		libp2p.Muxer(yamux.ID, muxer()),
		libp2p.ConnectionManager(cm),
		libp2p.DefaultResourceManager,
		libp2p.Ping(true),
	)
	if err != nil {
		return nil, fmt.Errorf("starting the libp2p host: %w", err)
	}
	return h, nil
}

// StreamWindow is the receive window every yamux stream (TCP connections;
// QUIC has its own flow control) grants its peer from the start: how much
// the peer may send on one stream before we read it. The protocol starts
// streams at 256 KiB and go-yamux grows a window only when the reader
// empties it within four round trips as measured on the idle connection,
// tens of microseconds on a fast link, so under load it never grows, and
// a sender of blocks waited on it for half its time: the bitswap reader
// reads and hashes each message, then hands it on, and the sender stops
// as soon as 256 KiB wait unread.
//
// The cost: go-yamux reserves only 256 KiB of a stream with libp2p's
// resource manager, so the rest of the window is memory a peer can fill
// unaccounted on a stream we do not read. Our handlers read every inbound
// stream, and the bitswap sender resets its outbound stream on any byte
// the peer sends there. 4 MiB keeps most of the gain (16 MiB was measured
// within the noise of it) at a quarter of the exposure per stream.
const StreamWindow = 4 << 20

// MaxFrame is the largest yamux frame sent here, its 12-byte header
// included, against go-yamux's default of 64 KiB: a 256 KiB block goes out
// in one large frame (and a 12-byte one), so in one gathered TLS write
// (gather.go) and one system call instead of four. On loopback each write
// costs the sender a fixed part (the receiver's TCP processing and
// wake-up) on top of the bytes; sending over our whole transport took
// about 7% less CPU per byte (BenchmarkStreamOverLoopback). A frame is
// never larger than the window the peer grants, and the protocol's initial
// window is 256 KiB, so any yamux peer accepts them. Exactly 256 KiB, since
// go-yamux copies each frame into a pooled buffer of the next power of two.
const MaxFrame = 256 << 10

// writeTimeout is how long go-yamux lets one frame's write take before it
// gives up on the connection: its default of 10 s scaled with the frame,
// so the slowest link that keeps its connections while sending is the
// same as with go-yamux's 64 KiB frames (about 13 KB/s).
var writeTimeout = yamux.DefaultTransport.ConnectionWriteTimeout * time.Duration(MaxFrame/yamux.DefaultTransport.MaxMessageSize)

// muxer is libp2p's yamux with the receive window StreamWindow and frames
// of up to MaxFrame.
func muxer() *yamux.Transport {
	t := *yamux.DefaultTransport
	t.InitialStreamWindowSize = StreamWindow
	t.MaxStreamWindowSize = max(t.MaxStreamWindowSize, StreamWindow)
	t.MaxMessageSize = MaxFrame
	t.ConnectionWriteTimeout = writeTimeout
	return &t
}

// ParsePeers parses multiaddrs ending in /p2p/<peer ID> (Bootstrap entries,
// `node swarm connect` arguments) into address infos, merging addresses of
// the same peer.
func ParsePeers(addrs []string) ([]peer.AddrInfo, error) {
	mas := make([]ma.Multiaddr, 0, len(addrs))
	for _, s := range addrs {
		a, err := ma.NewMultiaddr(s)
		if err != nil {
			return nil, fmt.Errorf("peer address %q: %w", s, err)
		}
		mas = append(mas, a)
	}
	infos, err := peer.AddrInfosFromP2pAddrs(mas...)
	if err != nil {
		return nil, fmt.Errorf("peer addresses must end in /p2p/<peer ID>: %w", err)
	}
	return infos, nil
}

// Bootstrap connects to the given peers in parallel and returns how many
// connections succeeded. Failures are logged, not returned: the network
// works with whichever peers answer.
func Bootstrap(ctx context.Context, h host.Host, peers []peer.AddrInfo, log *slog.Logger) int {
	var wg sync.WaitGroup
	var mu sync.Mutex // guards ok
	ok := 0
	for _, p := range peers {
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
			defer cancel()
			if err := h.Connect(cctx, p); err != nil {
				log.Debug("bootstrap peer did not answer", "peer", p.ID, "err", err)
				return
			}
			mu.Lock()
			ok++
			mu.Unlock()
		})
	}
	wg.Wait()
	return ok
}

// StartMDNS announces the host on the local network and connects to the
// peers it finds there. Close the returned service to stop.
func StartMDNS(h host.Host, log *slog.Logger) (interface{ Close() error }, error) {
	s := mdns.NewMdnsService(h, "_p2p._udp", mdnsNotifee{h: h, log: log})
	if err := s.Start(); err != nil {
		return nil, fmt.Errorf("starting mDNS: %w", err)
	}
	return s, nil
}

type mdnsNotifee struct {
	h   host.Host
	log *slog.Logger
}

func (n mdnsNotifee) HandlePeerFound(p peer.AddrInfo) {
	if p.ID == n.h.ID() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.h.Connect(ctx, p); err != nil {
		n.log.Debug("mDNS peer did not answer", "peer", p.ID, "err", err)
	}
}
