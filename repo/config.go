package repo

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/multiformats/go-multihash"
)

// Config is the repository's configuration, stored as JSON in <root>/config.
// JSON names follow the IPFS style (the Go field names). Fields missing from
// the file take their Default("") values, so older files keep working when
// fields are added.
type Config struct {
	Identity  Identity
	Addresses Addresses
	Bootstrap []string
	Discovery Discovery
	Routing   Routing
	Provider  Provider
	Swarm     Swarm
	Bitswap   Bitswap
	Gateway   Gateway
	Mounts    Mounts
	Import    Import
	Ipns      Ipns
	DNS       DNS
}

// Identity is the node's own key pair. PrivKey is the base64 (standard,
// padded) encoding of the libp2p-marshalled private key; PeerID is derived
// from it and must match.
type Identity struct {
	PeerID  string
	PrivKey string
}

// Addresses are the multiaddrs the daemon listens on. An empty Gateway
// disables the gateway.
type Addresses struct {
	Swarm   []string
	API     string
	Gateway string
}

// Discovery configures local peer discovery.
type Discovery struct {
	MDNS MDNS
}

// MDNS turns multicast DNS discovery on the local network on or off.
type MDNS struct {
	Enabled bool
}

// Routing.Type is "auto" (DHT client until reachable, then server),
// "server" or "client".
type Routing struct {
	Type string
}

// Provider.Strategy says which CIDs the node announces: "all" blocks,
// "pinned" (every block of pinned DAGs) or "roots" (pin roots only).
type Provider struct {
	Strategy string
}

// Swarm configures the libp2p host.
type Swarm struct {
	ConnMgr ConnMgr
}

// ConnMgr is the connection manager: past HighWater connections it trims
// down to LowWater, sparing connections younger than GracePeriod (a Go duration).
type ConnMgr struct {
	LowWater    int
	HighWater   int
	GracePeriod string
}

// Bitswap configures the block exchange. Strategy is "reciprocal" (serve
// peers by their debt ratio) or "fair" (serve everyone alike); TrustedPeers
// (peer IDs) are always served.
type Bitswap struct {
	Strategy     string
	TrustedPeers []string
}

// Gateway configures the HTTP gateway. RetrievalTimeout (a Go duration) is
// how long it waits for a block before answering 504.
type Gateway struct {
	RetrievalTimeout string
}

// Mounts are the default FUSE mount points of `node mount`.
type Mounts struct {
	IPFS string
	IPNS string
}

// Import holds the defaults of `node add`.
type Import struct {
	CidVersion   int
	RawLeaves    bool
	Chunker      string
	HashFunction string
}

// Ipns configures naming: how often records are republished, how long a
// record is valid (Go durations) and how many resolutions are cached.
type Ipns struct {
	RepublishPeriod  string
	RecordLifetime   string
	ResolveCacheSize int
}

// DNS configures name lookups for DNSLink. Resolver is a "host:port" DNS
// server to ask (UDP, then TCP for truncated answers); empty means the
// system's resolver.
type DNS struct {
	Resolver string
}

// Profiles accepted by Default and Init.
const (
	ProfileDefault = ""
	ProfileTest    = "test"
)

// DefaultBootstrap are the public IPFS bootstrap peers.
var DefaultBootstrap = []string{
	"/dnsaddr/bootstrap.libp2p.io/p2p/QmNnooDu7bfjPFoTZYxMNLWUQJyrVwtbZg5gBMjTezGAJN",
	"/dnsaddr/bootstrap.libp2p.io/p2p/QmQCU2EcMqAqQPR2i9bChDtGNJchTbq5TbXJJ16u19uLTa",
	"/dnsaddr/bootstrap.libp2p.io/p2p/QmbLHAnMoJPWSCR5Zhtx6BHJX9KiKNN6tpvbUcqanj75Nb",
	"/dnsaddr/bootstrap.libp2p.io/p2p/QmcZf59bWwK5XFi76CZX8cbJ4BhTzzA3gU1ZjYZcYW3dwt",
	"/ip4/104.131.131.82/tcp/4001/p2p/QmaCpDMGvV2BGHeYERUEnRQAwe3N8SzbUtfsmvsqQLuvuJ",
	"/ip4/104.131.131.82/udp/4001/quic-v1/p2p/QmaCpDMGvV2BGHeYERUEnRQAwe3N8SzbUtfsmvsqQLuvuJ",
}

// Default returns the configuration of a profile, without an identity
// (Init generates one). Profiles: "" (or "default"): public network,
// standard ports, public bootstrap peers, mDNS on; "test": loopback only,
// port 0 (random) everywhere, no bootstrap peers, mDNS off.
func Default(profile string) (*Config, error) {
	c := &Config{
		Addresses: Addresses{
			Swarm: []string{
				"/ip4/0.0.0.0/tcp/4001",
				"/ip6/::/tcp/4001",
				"/ip4/0.0.0.0/udp/4001/quic-v1",
				"/ip6/::/udp/4001/quic-v1",
			},
			API:     "/ip4/127.0.0.1/tcp/5001",
			Gateway: "/ip4/127.0.0.1/tcp/8080",
		},
		Bootstrap: slices.Clone(DefaultBootstrap),
		Discovery: Discovery{MDNS: MDNS{Enabled: true}},
		Routing:   Routing{Type: "auto"},
		Provider:  Provider{Strategy: "all"},
		Swarm:     Swarm{ConnMgr: ConnMgr{LowWater: 32, HighWater: 96, GracePeriod: "20s"}},
		Bitswap:   Bitswap{Strategy: "reciprocal", TrustedPeers: []string{}},
		Gateway:   Gateway{RetrievalTimeout: "30s"},
		Mounts:    Mounts{IPFS: "/ipfs", IPNS: "/ipns"},
		Import:    Import{CidVersion: 0, RawLeaves: false, Chunker: "size-262144", HashFunction: "sha2-256"},
		Ipns:      Ipns{RepublishPeriod: "4h", RecordLifetime: "48h", ResolveCacheSize: 128},
	}
	switch profile {
	case ProfileDefault, "default":
	case ProfileTest:
		c.Addresses = Addresses{
			Swarm:   []string{"/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"},
			API:     "/ip4/127.0.0.1/tcp/0",
			Gateway: "/ip4/127.0.0.1/tcp/0",
		}
		c.Bootstrap = []string{}
		c.Discovery.MDNS.Enabled = false
	default:
		return nil, fmt.Errorf("unknown profile %q: use \"test\" or leave it out for the default: %w", profile, ErrConfigValue)
	}
	return c, nil
}

// Clone returns a deep copy.
func (c *Config) Clone() *Config {
	d := *c
	d.Addresses.Swarm = slices.Clone(c.Addresses.Swarm)
	d.Bootstrap = slices.Clone(c.Bootstrap)
	d.Bitswap.TrustedPeers = slices.Clone(c.Bitswap.TrustedPeers)
	return &d
}

// DecodeIdentity returns the identity's private key and peer ID, checking
// that they belong together.
func (c *Config) DecodeIdentity() (crypto.PrivKey, peer.ID, error) {
	if c.Identity.PrivKey == "" {
		return nil, "", fmt.Errorf("Identity.PrivKey is empty: %w", ErrConfigValue)
	}
	raw, err := base64.StdEncoding.DecodeString(c.Identity.PrivKey)
	if err != nil {
		return nil, "", fmt.Errorf("Identity.PrivKey is not base64: %v: %w", err, ErrConfigValue)
	}
	sk, err := crypto.UnmarshalPrivateKey(raw)
	if err != nil {
		return nil, "", fmt.Errorf("Identity.PrivKey is not a libp2p private key: %v: %w", err, ErrConfigValue)
	}
	id, err := peer.IDFromPrivateKey(sk)
	if err != nil {
		return nil, "", fmt.Errorf("Identity.PrivKey: cannot derive a peer ID: %v: %w", err, ErrConfigValue)
	}
	if id.String() != c.Identity.PeerID {
		return nil, "", fmt.Errorf("Identity.PeerID %q does not match Identity.PrivKey (which is %s): %w", c.Identity.PeerID, id, ErrConfigValue)
	}
	return sk, id, nil
}

// Validate checks every field, so a bad value fails when it is set or when
// the repository is opened, not later inside some service. Errors wrap
// ErrConfigValue and name the key.
func (c *Config) Validate() error {
	if _, _, err := c.DecodeIdentity(); err != nil {
		return err
	}
	for i, a := range c.Addresses.Swarm {
		if err := checkMultiaddr(fmt.Sprintf("Addresses.Swarm[%d]", i), a); err != nil {
			return err
		}
	}
	if c.Addresses.API == "" {
		return fmt.Errorf("Addresses.API is empty: the CLI needs it to reach the daemon: %w", ErrConfigValue)
	}
	if err := checkMultiaddr("Addresses.API", c.Addresses.API); err != nil {
		return err
	}
	if c.Addresses.Gateway != "" {
		if err := checkMultiaddr("Addresses.Gateway", c.Addresses.Gateway); err != nil {
			return err
		}
	}
	for i, b := range c.Bootstrap {
		if _, err := peer.AddrInfoFromString(b); err != nil {
			return fmt.Errorf("Bootstrap[%d] %q is not a multiaddr ending in /p2p/<peer ID>: %v: %w", i, b, err, ErrConfigValue)
		}
	}
	if err := checkEnum("Routing.Type", c.Routing.Type, "auto", "server", "client"); err != nil {
		return err
	}
	if err := checkEnum("Provider.Strategy", c.Provider.Strategy, "all", "pinned", "roots"); err != nil {
		return err
	}
	cm := c.Swarm.ConnMgr
	if cm.LowWater < 0 || cm.HighWater < cm.LowWater {
		return fmt.Errorf("Swarm.ConnMgr: want 0 <= LowWater <= HighWater, have LowWater %d and HighWater %d: %w", cm.LowWater, cm.HighWater, ErrConfigValue)
	}
	if err := checkDuration("Swarm.ConnMgr.GracePeriod", cm.GracePeriod, false); err != nil {
		return err
	}
	if err := checkEnum("Bitswap.Strategy", c.Bitswap.Strategy, "reciprocal", "fair"); err != nil {
		return err
	}
	for i, p := range c.Bitswap.TrustedPeers {
		if _, err := peer.Decode(p); err != nil {
			return fmt.Errorf("Bitswap.TrustedPeers[%d] %q is not a peer ID: %v: %w", i, p, err, ErrConfigValue)
		}
	}
	if err := checkDuration("Gateway.RetrievalTimeout", c.Gateway.RetrievalTimeout, true); err != nil {
		return err
	}
	if c.Import.CidVersion != 0 && c.Import.CidVersion != 1 {
		return fmt.Errorf("Import.CidVersion is %d: want 0 or 1: %w", c.Import.CidVersion, ErrConfigValue)
	}
	if err := checkChunker(c.Import.Chunker); err != nil {
		return err
	}
	if _, ok := multihash.Names[c.Import.HashFunction]; !ok {
		return fmt.Errorf("Import.HashFunction %q is not a multihash function name (e.g. sha2-256, blake3): %w", c.Import.HashFunction, ErrConfigValue)
	}
	if err := checkDuration("Ipns.RepublishPeriod", c.Ipns.RepublishPeriod, true); err != nil {
		return err
	}
	if err := checkDuration("Ipns.RecordLifetime", c.Ipns.RecordLifetime, true); err != nil {
		return err
	}
	if c.Ipns.ResolveCacheSize < 0 {
		return fmt.Errorf("Ipns.ResolveCacheSize is %d: want 0 or more: %w", c.Ipns.ResolveCacheSize, ErrConfigValue)
	}
	if r := c.DNS.Resolver; r != "" {
		if _, _, err := net.SplitHostPort(r); err != nil {
			return fmt.Errorf("DNS.Resolver %q is not host:port (e.g. 127.0.0.1:53): %w", r, ErrConfigValue)
		}
	}
	return nil
}

func checkMultiaddr(key, s string) error {
	if _, err := ma.NewMultiaddr(s); err != nil {
		return fmt.Errorf("%s %q is not a multiaddr (e.g. /ip4/127.0.0.1/tcp/5001): %v: %w", key, s, err, ErrConfigValue)
	}
	return nil
}

func checkEnum(key, v string, allowed ...string) error {
	if slices.Contains(allowed, v) {
		return nil
	}
	return fmt.Errorf("%s is %q: want one of %s: %w", key, v, strings.Join(allowed, ", "), ErrConfigValue)
}

func checkDuration(key, v string, positive bool) error {
	d, err := time.ParseDuration(v)
	if err != nil {
		return fmt.Errorf("%s %q is not a duration (e.g. 30s, 4h): %w", key, v, ErrConfigValue)
	}
	if d < 0 || (positive && d == 0) {
		return fmt.Errorf("%s is %s: want a positive duration: %w", key, v, ErrConfigValue)
	}
	return nil
}

// maxChunk is the largest chunk a size-N chunker may produce: a block must
// stay within the 2 MiB exchange limit.
const maxChunk = 2 << 20

func checkChunker(s string) error {
	if n, ok := strings.CutPrefix(s, "size-"); ok {
		v, err := strconv.Atoi(n)
		if err != nil || v <= 0 || v > maxChunk {
			return fmt.Errorf("Import.Chunker %q: want size-N with 1 <= N <= %d: %w", s, maxChunk, ErrConfigValue)
		}
		return nil
	}
	if strings.HasPrefix(s, "rabin") || strings.HasPrefix(s, "buzhash") {
		return nil
	}
	return fmt.Errorf("Import.Chunker %q: want size-N (e.g. size-262144), rabin[-min-avg-max] or buzhash: %w", s, ErrConfigValue)
}

// maxConfigSize bounds the config file we are willing to parse.
const maxConfigSize = 1 << 20

// decodeConfig parses a config file's bytes over the default profile's
// values, rejecting unknown fields and trailing data. It does not validate.
func decodeConfig(data []byte) (*Config, error) {
	if len(data) > maxConfigSize {
		return nil, fmt.Errorf("config is %d bytes, over the %d-byte limit: %w", len(data), maxConfigSize, ErrCorrupt)
	}
	c, _ := Default(ProfileDefault)
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(c); err != nil {
		return nil, fmt.Errorf("config is not valid JSON for this node: %v: %w", err, ErrCorrupt)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("config has data after its JSON object: %w", ErrCorrupt)
	}
	return c, nil
}

func encodeConfig(c *Config) ([]byte, error) {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode config: %w", err)
	}
	return append(b, '\n'), nil
}
