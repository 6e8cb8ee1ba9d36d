package repo

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestConfigValue(t *testing.T) {
	_, r := newRepo(t)
	for key, want := range map[string]string{
		"Addresses.API":           `"/ip4/127.0.0.1/tcp/0"`,
		"addresses.api":           `"/ip4/127.0.0.1/tcp/0"`,
		"Discovery.MDNS.Enabled":  `false`,
		"Swarm.ConnMgr.HighWater": `96`,
		"Bootstrap":               `[]`,
		"Import.Chunker":          `"size-262144"`,
	} {
		got, err := r.ConfigValue(key)
		if err != nil || string(got) != want {
			t.Errorf("ConfigValue(%s) = %s, %v; want %s", key, got, err, want)
		}
	}
	got, err := r.ConfigValue("Identity")
	if err != nil || strings.Contains(string(got), "PrivKey") || !strings.Contains(string(got), r.Config().Identity.PeerID) {
		t.Errorf("ConfigValue(Identity) = %s, %v", got, err)
	}
	for _, key := range []string{"Identity.PrivKey", "identity.privkey"} {
		if _, err := r.ConfigValue(key); !errors.Is(err, ErrConfigKey) {
			t.Errorf("ConfigValue(%s) = %v, want a refusal", key, err)
		}
	}
	_, err = r.ConfigValue("Addresses.Foo")
	if !errors.Is(err, ErrConfigKey) || !strings.Contains(err.Error(), "API, Gateway, Swarm") {
		t.Errorf("unknown key: %v", err)
	}
	for _, key := range []string{"", "Nope", "Addresses.API.Port", "Addresses..API"} {
		if _, err := r.ConfigValue(key); !errors.Is(err, ErrConfigKey) {
			t.Errorf("ConfigValue(%q) = %v, want ErrConfigKey", key, err)
		}
	}
}

func TestSetConfigValue(t *testing.T) {
	root, r := newRepo(t)
	if err := r.SetConfigValue("Addresses.API", "/ip4/127.0.0.1/tcp/5999", false); err != nil {
		t.Fatal(err)
	}
	if err := r.SetConfigValue("discovery.mdns.enabled", "true", true); err != nil {
		t.Fatal(err)
	}
	if err := r.SetConfigValue("Addresses.Swarm", `["/ip4/127.0.0.1/tcp/4444"]`, true); err != nil {
		t.Fatal(err)
	}
	if err := r.SetConfigValue("Swarm.ConnMgr.LowWater", "10", true); err != nil {
		t.Fatal(err)
	}
	if err := r.SetConfigValue("Bitswap.TrustedPeers", `["`+r.Config().Identity.PeerID+`"]`, true); err != nil {
		t.Fatal(err)
	}
	if c := r.Config(); c.Addresses.API != "/ip4/127.0.0.1/tcp/5999" || !c.Discovery.MDNS.Enabled ||
		len(c.Addresses.Swarm) != 1 || c.Swarm.ConnMgr.LowWater != 10 || len(c.Bitswap.TrustedPeers) != 1 {
		t.Errorf("in-memory config after sets: %+v", c)
	}
	// Persisted, and readable without the lock.
	c, err := ReadConfig(root)
	if err != nil {
		t.Fatal(err)
	}
	if c.Addresses.API != "/ip4/127.0.0.1/tcp/5999" || !c.Discovery.MDNS.Enabled || c.Addresses.Swarm[0] != "/ip4/127.0.0.1/tcp/4444" {
		t.Errorf("config on disk after sets: %+v", c)
	}
	// Config returns a copy.
	r.Config().Addresses.Swarm[0] = "mutated"
	if r.Config().Addresses.Swarm[0] == "mutated" {
		t.Error("Config() exposes internal state")
	}
}

func TestSetConfigValueRejects(t *testing.T) {
	root, r := newRepo(t)
	cp := filepath.Join(root, "config")
	before, _ := os.ReadFile(cp)
	cases := []struct {
		key, value string
		asJSON     bool
		sentinel   error
		mention    string
	}{
		{"Discovery.MDNS.Enabled", "true", false, ErrConfigValue, "--json"},
		{"Swarm.ConnMgr.LowWater", "5", false, ErrConfigValue, "holds a number"},
		{"Swarm.ConnMgr.LowWater", `"five"`, true, ErrConfigValue, "LowWater wants a number"},
		{"Swarm.ConnMgr.LowWater", `1000`, true, ErrConfigValue, "HighWater"},
		{"Routing.Type", "sometimes", false, ErrConfigValue, "auto, server, client"},
		{"Provider.Strategy", "everything", false, ErrConfigValue, "Provider.Strategy"},
		{"Bitswap.Strategy", "greedy", false, ErrConfigValue, "reciprocal, fair"},
		{"Addresses.API", "localhost:5001", false, ErrConfigValue, "not a multiaddr"},
		{"Addresses.API", "", false, ErrConfigValue, "empty"},
		{"Addresses.Swarm", `["/ip4/1.2.3.4/tcp/x"]`, true, ErrConfigValue, "Addresses.Swarm[0]"},
		{"Bootstrap", `["/ip4/1.2.3.4/tcp/4001"]`, true, ErrConfigValue, "/p2p/"},
		{"Bitswap.TrustedPeers", `["nobody"]`, true, ErrConfigValue, "peer ID"},
		{"Gateway.RetrievalTimeout", "soon", false, ErrConfigValue, "duration"},
		{"Ipns.RecordLifetime", "0s", false, ErrConfigValue, "positive"},
		{"Import.CidVersion", "2", true, ErrConfigValue, "0 or 1"},
		{"Import.Chunker", "size-99999999", false, ErrConfigValue, "size-N"},
		{"Import.HashFunction", "md5ish", false, ErrConfigValue, "multihash"},
		{"Addresses.API", `"/ip4/127.0.0.1/tcp/1"x`, true, ErrConfigValue, "after"},
		{"Addresses.API", `/ip4/127.0.0.1/tcp/1`, true, ErrConfigValue, "not valid JSON"},
		{"Addresses", `{"API": "/ip4/127.0.0.1/tcp/1", "Extra": 1}`, true, ErrConfigValue, "Extra"},
		{"Identity.PeerID", "12D3KooWfoo", false, ErrConfigKey, "node init"},
		{"Identity", `{}`, true, ErrConfigKey, "node init"},
		{"Addresses.Nope", "x", false, ErrConfigKey, "API, Gateway, Swarm"},
	}
	for _, c := range cases {
		err := r.SetConfigValue(c.key, c.value, c.asJSON)
		if !errors.Is(err, c.sentinel) || !strings.Contains(err.Error(), c.mention) {
			t.Errorf("SetConfigValue(%s, %q, json=%v) = %v; want %v mentioning %q", c.key, c.value, c.asJSON, err, c.sentinel, c.mention)
		}
	}
	after, _ := os.ReadFile(cp)
	if !bytes.Equal(before, after) {
		t.Error("rejected sets changed the config file")
	}
	got, _ := r.ConfigValue("Swarm.ConnMgr.LowWater")
	if string(got) != "32" {
		t.Errorf("rejected sets changed the in-memory config: LowWater %s", got)
	}
	r.Close()
	if err := r.SetConfigValue("Addresses.API", "/ip4/127.0.0.1/tcp/1", false); err == nil {
		t.Error("SetConfigValue after Close succeeded")
	}
}

func TestConfigJSONNames(t *testing.T) {
	c, _ := Default("")
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{`"Identity":{"PeerID"`, `"Addresses":{"Swarm"`, `"Discovery":{"MDNS":{"Enabled":true}}`,
		`"Routing":{"Type":"auto"}`, `"Provider":{"Strategy":"all"}`, `"ConnMgr":{"LowWater":32,"HighWater":96,"GracePeriod":"20s"}`,
		`"Bitswap":{"Strategy":"reciprocal","TrustedPeers":[]}`, `"Gateway":{"RetrievalTimeout":"30s"}`,
		`"Mounts":{"IPFS":"/ipfs","IPNS":"/ipns"}`, `"Import":{"CidVersion":0,"RawLeaves":false,"Chunker":"size-262144","HashFunction":"sha2-256"}`,
		`"Ipns":{"RepublishPeriod":"4h","RecordLifetime":"48h","ResolveCacheSize":128}`} {
		if !strings.Contains(string(b), name) {
			t.Errorf("config JSON lacks %s:\n%s", name, b)
		}
	}
}
