package repo

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	pb "github.com/libp2p/go-libp2p/core/crypto/pb"
)

// newRepo initialises a test-profile repository in a temporary directory
// and opens it; the repository is closed when the test ends.
func newRepo(t *testing.T) (string, *Repo) {
	t.Helper()
	root := filepath.Join(t.TempDir(), "repo")
	if _, err := Init(root, ProfileTest); err != nil {
		t.Fatalf("Init: %v", err)
	}
	r, err := Open(root)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { r.Close() })
	return root, r
}

func TestInitLayoutAndOpen(t *testing.T) {
	root := filepath.Join(t.TempDir(), "repo")
	cfg, err := Init(root, ProfileTest)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"keystore", "blocks", "datastore"} {
		fi, err := os.Stat(filepath.Join(root, d))
		if err != nil || !fi.IsDir() {
			t.Fatalf("%s is not a directory: %v", d, err)
		}
	}
	fi, err := os.Stat(filepath.Join(root, "config"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("config mode %v, want 0600 (it holds the private key)", fi.Mode().Perm())
	}
	v, err := os.ReadFile(filepath.Join(root, "version"))
	if err != nil || string(v) != "1\n" {
		t.Fatalf("version file %q, %v", v, err)
	}

	r, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	sk, id := r.Identity()
	if sk.Type() != pb.KeyType_Ed25519 {
		t.Errorf("identity key type %v, want Ed25519", sk.Type())
	}
	if id.String() != cfg.Identity.PeerID || r.Config().Identity.PeerID != cfg.Identity.PeerID {
		t.Errorf("peer ID %s, config says %s", id, cfg.Identity.PeerID)
	}
	if !id.MatchesPrivateKey(sk) {
		t.Error("peer ID does not match the private key")
	}
	if r.BlocksDir() != filepath.Join(root, "blocks") || r.Root() != root {
		t.Errorf("BlocksDir %s, Root %s", r.BlocksDir(), r.Root())
	}
	if r.Datastore().Dir() != filepath.Join(root, "datastore") {
		t.Errorf("datastore dir %s", r.Datastore().Dir())
	}

	// Two inits make two identities.
	cfg2, err := Init(filepath.Join(t.TempDir(), "other"), "")
	if err != nil {
		t.Fatal(err)
	}
	if cfg2.Identity.PeerID == cfg.Identity.PeerID {
		t.Error("two repositories got the same identity")
	}
}

func TestProfiles(t *testing.T) {
	def, err := Default("")
	if err != nil {
		t.Fatal(err)
	}
	wantSwarm := []string{"/ip4/0.0.0.0/tcp/4001", "/ip6/::/tcp/4001", "/ip4/0.0.0.0/udp/4001/quic-v1", "/ip6/::/udp/4001/quic-v1"}
	if !slices.Equal(def.Addresses.Swarm, wantSwarm) || def.Addresses.API != "/ip4/127.0.0.1/tcp/5001" || def.Addresses.Gateway != "/ip4/127.0.0.1/tcp/8080" {
		t.Errorf("default addresses %+v", def.Addresses)
	}
	if !slices.Equal(def.Bootstrap, DefaultBootstrap) || !def.Discovery.MDNS.Enabled {
		t.Errorf("default bootstrap %v, mdns %v", def.Bootstrap, def.Discovery.MDNS.Enabled)
	}
	if def.Import.CidVersion != 0 || def.Import.Chunker != "size-262144" || def.Import.HashFunction != "sha2-256" {
		t.Errorf("default import %+v", def.Import)
	}

	test, err := Default("test")
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range append(slices.Clone(test.Addresses.Swarm), test.Addresses.API, test.Addresses.Gateway) {
		if !strings.HasPrefix(a, "/ip4/127.0.0.1/") || !strings.Contains(a, "/0") {
			t.Errorf("test profile address %s is not loopback port 0", a)
		}
	}
	if len(test.Bootstrap) != 0 || test.Discovery.MDNS.Enabled {
		t.Errorf("test profile bootstrap %v, mdns %v", test.Bootstrap, test.Discovery.MDNS.Enabled)
	}
	// The edit to the test profile must not leak into the shared default list.
	if len(DefaultBootstrap) != 6 {
		t.Errorf("DefaultBootstrap changed: %v", DefaultBootstrap)
	}

	_, err = Default("prod")
	if !errors.Is(err, ErrConfigValue) || !strings.Contains(err.Error(), `"prod"`) {
		t.Errorf("unknown profile: %v", err)
	}
	if _, err := Init(filepath.Join(t.TempDir(), "x"), "prod"); err == nil {
		t.Error("Init accepted an unknown profile")
	}
}

func TestInitRefusesExistingRepo(t *testing.T) {
	root, r := newRepo(t)
	before, _ := os.ReadFile(filepath.Join(root, "config"))
	r.Close()
	_, err := Init(root, "")
	if !errors.Is(err, ErrRepoExists) || !strings.Contains(err.Error(), root) {
		t.Fatalf("second Init: %v", err)
	}
	after, _ := os.ReadFile(filepath.Join(root, "config"))
	if !bytes.Equal(before, after) {
		t.Error("second Init changed the config")
	}
}

func TestInitRefusedWhileOpen(t *testing.T) {
	root, _ := newRepo(t)
	if _, err := Init(root, ""); !errors.Is(err, ErrLocked) {
		t.Fatalf("Init on an open repository: %v", err)
	}
}

func TestOpenNoRepo(t *testing.T) {
	root := filepath.Join(t.TempDir(), "nothing-here")
	_, err := Open(root)
	if !errors.Is(err, ErrNoRepo) {
		t.Fatalf("Open: %v", err)
	}
	want := "no repository at " + root + "; run `node init` (or set NODE_PATH)"
	if err.Error() != want {
		t.Errorf("message %q, want %q", err, want)
	}
	if _, err := ReadConfig(root); !errors.Is(err, ErrNoRepo) {
		t.Errorf("ReadConfig: %v", err)
	}
	// An empty existing directory is no repository either.
	if _, err := Open(t.TempDir()); !errors.Is(err, ErrNoRepo) {
		t.Errorf("Open(empty dir): %v", err)
	}
}

func TestDefaultPath(t *testing.T) {
	t.Setenv("NODE_PATH", "/srv/node-repo")
	if p, err := DefaultPath(); err != nil || p != "/srv/node-repo" {
		t.Errorf("with NODE_PATH: %q, %v", p, err)
	}
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("NODE_PATH", "")
	if p, err := DefaultPath(); err != nil || p != filepath.Join(home, ".node") {
		t.Errorf("without NODE_PATH: %q, %v", p, err)
	}
}

func TestOpenChecksVersion(t *testing.T) {
	root, r := newRepo(t)
	r.Close()
	vp := filepath.Join(root, "version")

	os.WriteFile(vp, []byte("7\n"), 0o644)
	if _, err := Open(root); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "version 7") {
		t.Errorf("future version: %v", err)
	}
	os.WriteFile(vp, []byte("banana"), 0o644)
	if _, err := Open(root); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), vp) {
		t.Errorf("garbage version: %v", err)
	}
	os.Remove(vp)
	if _, err := Open(root); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "incomplete") {
		t.Errorf("missing version: %v", err)
	}
	// A failed Open must not keep the lock.
	os.WriteFile(vp, []byte("1\n"), 0o644)
	r2, err := Open(root)
	if err != nil {
		t.Fatalf("Open after fixing the version: %v", err)
	}
	r2.Close()
}

func TestOpenRejectsBadConfig(t *testing.T) {
	root, r := newRepo(t)
	r.Close()
	cp := filepath.Join(root, "config")
	good, _ := os.ReadFile(cp)

	for name, data := range map[string]string{
		"not json":      "{",
		"unknown field": strings.Replace(string(good), `"Bootstrap"`, `"Bootstrapp"`, 1),
		"bad enum":      strings.Replace(string(good), `"Type": "auto"`, `"Type": "sometimes"`, 1),
		"trailing data": string(good) + "{}",
		"wrong peer id": strings.Replace(string(good), `"PeerID": "12D3`, `"PeerID": "12D4`, 1),
	} {
		os.WriteFile(cp, []byte(data), 0o600)
		_, err := Open(root)
		if err == nil || !strings.Contains(err.Error(), cp) {
			t.Errorf("%s: Open: %v (want an error naming %s)", name, err, cp)
		}
		if _, err := ReadConfig(root); err == nil {
			t.Errorf("%s: ReadConfig accepted it", name)
		}
	}
	os.WriteFile(cp, good, 0o600)
	r2, err := Open(root)
	if err != nil {
		t.Fatalf("Open with the good config back: %v", err)
	}
	r2.Close()
}

func TestMissingConfigFieldsTakeDefaults(t *testing.T) {
	root, r := newRepo(t)
	id := r.Config().Identity
	r.Close()
	minimal := `{"Identity": {"PeerID": "` + id.PeerID + `", "PrivKey": "` + id.PrivKey + `"}, "Bootstrap": []}`
	os.WriteFile(filepath.Join(root, "config"), []byte(minimal), 0o600)
	cfg, err := ReadConfig(root)
	if err != nil {
		t.Fatal(err)
	}
	def, _ := Default("")
	if cfg.Ipns != def.Ipns || cfg.Addresses.API != def.Addresses.API || len(cfg.Bootstrap) != 0 {
		t.Errorf("minimal config decoded to %+v", cfg)
	}
}

func TestOpenRemovesStaleTempFiles(t *testing.T) {
	root, r := newRepo(t)
	r.Close()
	stale := []string{
		filepath.Join(root, ".tmp-config-123"),
		filepath.Join(root, "datastore", ".tmp-%2Fpins-9"),
		filepath.Join(root, "keystore", ".tmp-mykey-1"),
	}
	for _, p := range stale {
		os.WriteFile(p, []byte("half"), 0o600)
	}
	r2, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	for _, p := range stale {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s survived Open", p)
		}
	}
}

func TestAddrFiles(t *testing.T) {
	root, r := newRepo(t)
	if _, err := ReadAddr(root, AddrAPI); !errors.Is(err, ErrNotFound) {
		t.Fatalf("ReadAddr before SetAddr: %v", err)
	}
	if err := r.SetAddr(AddrAPI, "/ip4/127.0.0.1/tcp/40123"); err != nil {
		t.Fatal(err)
	}
	if err := r.SetAddr(AddrGateway, "not an addr"); !errors.Is(err, ErrCorrupt) {
		t.Errorf("SetAddr with a bad addr: %v", err)
	}
	if err := r.SetAddr("../escape", "/ip4/127.0.0.1/tcp/1"); err == nil {
		t.Error("SetAddr accepted a bad file name")
	}
	a, err := ReadAddr(root, AddrAPI)
	if err != nil || a != "/ip4/127.0.0.1/tcp/40123" {
		t.Fatalf("ReadAddr: %q, %v", a, err)
	}
	os.WriteFile(filepath.Join(root, AddrGateway), []byte("garbage"), 0o644)
	if _, err := ReadAddr(root, AddrGateway); !errors.Is(err, ErrCorrupt) {
		t.Errorf("ReadAddr of garbage: %v", err)
	}
	os.Remove(filepath.Join(root, AddrGateway))
	r.Close()
	if _, err := ReadAddr(root, AddrAPI); !errors.Is(err, ErrNotFound) {
		t.Errorf("ReadAddr after Close: %v", err)
	}
}

func TestIdentityKeyRoundTrip(t *testing.T) {
	root, r := newRepo(t)
	sk, _ := r.Identity()
	msg := []byte("sign me")
	sig, err := sk.Sign(msg)
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	r2, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	sk2, _ := r2.Identity()
	if ok, err := sk2.GetPublic().Verify(msg, sig); !ok || err != nil {
		t.Errorf("identity changed across Open: %v", err)
	}
	if !crypto.KeyEqual(sk, sk2) {
		t.Error("identity key differs after reopening")
	}
}
