package namesys

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	kaddht "github.com/libp2p/go-libp2p-kad-dht"
	dhtpb "github.com/libp2p/go-libp2p-kad-dht/pb"
	recpb "github.com/libp2p/go-libp2p-record/pb"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
	"github.com/libp2p/go-msgio/pbio"
	"github.com/multiformats/go-multihash"

	"node/dht"
	"node/internal/testnet"
	"node/ipns"
	"node/repo"
)

// clock is a settable clock for the Now hooks. It starts at the wall
// clock, so the DHT nodes (which check records against the wall clock)
// agree with it as long as tests move it by less than a record's lifetime.
type clock struct {
	mu sync.Mutex // guards t
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now()} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// testLog is a logger that writes nothing unless -v.
func testLog(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(b []byte) (int, error) { w.t.Log(string(b)); return len(b), nil }

// network is a set of libp2p hosts on loopback, all connected, each
// running a DHT server on the public protocol with the ipns validator.
type network struct {
	hosts []host.Host
	dhts  []*kaddht.IpfsDHT
}

func newNetwork(t testing.TB, n int) *network {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	net := &network{}
	for range n {
		h := testnet.NewHost(t)
		d, err := dht.New(ctx, h, "server", nil, ipns.Validator{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		net.hosts = append(net.hosts, h)
		net.dhts = append(net.dhts, d)
	}
	for i := range n {
		for j := i + 1; j < n; j++ {
			connect(t, ctx, net.hosts[i], net.hosts[j])
		}
	}
	for i := range n {
		waitRoutingTable(t, net.dhts[i], n-1)
	}
	return net
}

// connect connects a to b. A dial can fail when the DHT of one side
// dials the other at the same moment (a simultaneous open); it is retried
// after clearing the dial backoff that failure leaves.
func connect(t testing.TB, ctx context.Context, a, b host.Host) {
	t.Helper()
	var err error
	for range 20 {
		if err = a.Connect(ctx, peer.AddrInfo{ID: b.ID(), Addrs: b.Addrs()}); err == nil {
			return
		}
		if sw, ok := a.Network().(*swarm.Swarm); ok {
			sw.Backoff().Clear(b.ID())
		}
	}
	t.Fatal(err)
}

// waitRoutingTable waits until d's routing table holds n peers.
func waitRoutingTable(t testing.TB, d *kaddht.IpfsDHT, n int) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d peers in the routing table", n), func() bool { return d.RoutingTable().Size() >= n })
}

// waitFor polls cond until it holds, for at most 20 seconds.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 20s for %s", what)
		}
		<-tick.C
	}
}

// testRepo is a real repository on disk.
type testRepo struct {
	dir string
	r   *repo.Repo
}

func newRepo(t testing.TB) *testRepo {
	t.Helper()
	dir := t.TempDir()
	if _, err := repo.Init(dir, repo.ProfileTest); err != nil {
		t.Fatal(err)
	}
	tr := &testRepo{dir: dir}
	tr.open(t)
	return tr
}

func (tr *testRepo) open(t testing.TB) {
	t.Helper()
	r, err := repo.Open(tr.dir)
	if err != nil {
		t.Fatal(err)
	}
	tr.r = r
	t.Cleanup(func() { r.Close() })
}

func (tr *testRepo) close(t testing.TB) {
	t.Helper()
	if err := tr.r.Close(); err != nil {
		t.Fatal(err)
	}
}

// addKey stores a new Ed25519 key (or sk, when given) under name.
func (tr *testRepo) addKey(t testing.TB, name string, sk crypto.PrivKey) crypto.PrivKey {
	t.Helper()
	if sk == nil {
		var err error
		sk, _, err = crypto.GenerateEd25519Key(nil)
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := tr.r.Keystore().Put(name, sk); err != nil {
		t.Fatal(err)
	}
	return sk
}

// newNS builds a name system over tr, with routing r (nil: offline).
func newNS(t testing.TB, tr *testRepo, r Routing, clk *clock, edit ...func(*Config)) *NameSystem {
	t.Helper()
	cfg := Config{Routing: r, Store: tr.r.Datastore(), Keys: tr.r.Keystore(), Log: testLog(t)}
	if clk != nil {
		cfg.Now = clk.Now
	}
	for _, e := range edit {
		e(&cfg)
	}
	ns, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Close() })
	return ns
}

func mustKey(t testing.TB) crypto.PrivKey {
	t.Helper()
	sk, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	return sk
}

func nameOf(t testing.TB, sk crypto.PrivKey) ipns.Name {
	t.Helper()
	n, err := ipns.NameFromPublicKey(sk.GetPublic())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// testPath returns a distinct /ipfs path for s.
func testPath(s string) string {
	sum := sha256.Sum256([]byte(s))
	mh, err := multihash.Encode(sum[:], multihash.SHA2_256)
	if err != nil {
		panic(err)
	}
	return "/ipfs/" + cid.NewCidV1(cid.Raw, mh).String()
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func mustRecord(t testing.TB, sk crypto.PrivKey, value string, seq uint64, eol time.Time, ttl time.Duration) []byte {
	t.Helper()
	rec, err := ipns.NewRecord(sk, value, seq, eol, ttl)
	if err != nil {
		t.Fatal(err)
	}
	b, err := rec.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustUnmarshal(t testing.TB, b []byte) *ipns.Record {
	t.Helper()
	rec, err := ipns.Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// The DHT wire protocol, spoken directly to one peer, to see and set
// what that peer stores (kad-dht has no API to address a single peer).

func kadRoundTrip(ctx context.Context, from host.Host, to peer.ID, msg *dhtpb.Message) (*dhtpb.Message, error) {
	s, err := from.NewStream(ctx, to, dht.PublicProtocol)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	if d, ok := ctx.Deadline(); ok {
		s.SetDeadline(d)
	}
	if err := pbio.NewDelimitedWriter(s).WriteMsg(msg); err != nil {
		return nil, err
	}
	resp := new(dhtpb.Message)
	if err := pbio.NewDelimitedReader(s, 1<<20).ReadMsg(resp); err != nil {
		return nil, err
	}
	return resp, nil
}

// peerValue returns the record peer to stores under key, or nil.
func peerValue(t testing.TB, from host.Host, to peer.ID, key string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := kadRoundTrip(ctx, from, to, &dhtpb.Message{Type: dhtpb.Message_GET_VALUE, Key: []byte(key)})
	if err != nil {
		t.Fatalf("GET_VALUE from %s: %v", to, err)
	}
	return resp.GetRecord().GetValue()
}

// putToPeer stores value under key on peer to only. It reports whether
// the peer accepted it (a peer answers a refused PUT_VALUE by closing the
// stream).
func putToPeer(t testing.TB, from host.Host, to peer.ID, key string, value []byte) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	msg := &dhtpb.Message{Type: dhtpb.Message_PUT_VALUE, Key: []byte(key), Record: &recpb.Record{Key: []byte(key), Value: value}}
	resp, err := kadRoundTrip(ctx, from, to, msg)
	if err != nil {
		return false
	}
	return resp.GetRecord() != nil
}

// memStore is an in-memory Store, for unit tests of one component.
type memStore struct {
	mu sync.Mutex // guards m
	m  map[string][]byte
}

func newMemStore() *memStore { return &memStore{m: map[string][]byte{}} }

func (s *memStore) Get(k string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[k]
	if !ok {
		return nil, fmt.Errorf("%q: %w", k, repo.ErrNotFound)
	}
	return append([]byte(nil), v...), nil
}

func (s *memStore) Put(k string, v []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[k] = append([]byte(nil), v...)
	return nil
}

// memKeys is an in-memory Keys.
type memKeys struct {
	mu sync.Mutex // guards m
	m  map[string]crypto.PrivKey
}

func newMemKeys(m map[string]crypto.PrivKey) *memKeys { return &memKeys{m: m} }

func (k *memKeys) Get(name string) (crypto.PrivKey, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	sk, ok := k.m[name]
	if !ok {
		return nil, fmt.Errorf("%q: %w", name, repo.ErrNoSuchKey)
	}
	return sk, nil
}

func (k *memKeys) set(name string, sk crypto.PrivKey) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if sk == nil {
		delete(k.m, name)
	} else {
		k.m[name] = sk
	}
}

// isNotFound is errors.Is(err, ipns.ErrNotFound), for brevity.
func isNotFound(err error) bool { return errors.Is(err, ipns.ErrNotFound) }

// The repository and the DHT satisfy the interfaces the name system takes.
var (
	_ Routing = (*kaddht.IpfsDHT)(nil)
	_ Store   = (*repo.Datastore)(nil)
	_ Keys    = (*repo.Keystore)(nil)
)
