package repo

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/libp2p/go-libp2p/core/crypto"
)

// Seed corpora live in testdata/fuzz/<FuzzName>/; the f.Add calls below add
// a few more inline.

func FuzzEscapeKey(f *testing.F) {
	for _, k := range []string{"/pins/recursive/bafy", "..", "/", "\x00", "%2F", strings.Repeat("/", 86)} {
		f.Add(k)
	}
	f.Fuzz(func(t *testing.T, key string) {
		name, err := escapeKey(key)
		if err != nil {
			if !errors.Is(err, ErrInvalidKey) {
				t.Fatalf("escapeKey(%q): error %v does not wrap ErrInvalidKey", key, err)
			}
			if key != "" && len(key) <= maxNameLen/3 {
				t.Fatalf("escapeKey rejected a short key %q: %v", key, err)
			}
			return
		}
		if name == "" || len(name) > maxNameLen || name == "." || name == ".." ||
			strings.HasPrefix(name, ".") || strings.ContainsAny(name, "/\x00") {
			t.Fatalf("escapeKey(%q) = %q: not a safe file name", key, name)
		}
		back, err := unescapeKey(name)
		if err != nil || back != key {
			t.Fatalf("unescapeKey(escapeKey(%q)) = %q, %v", key, back, err)
		}
	})
}

func FuzzUnescapeKey(f *testing.F) {
	for _, n := range []string{"%2Fpins", "%2f", "%41", "abc", "%", "%2", ".tmp-x", ""} {
		f.Add(n)
	}
	f.Fuzz(func(t *testing.T, name string) {
		key, err := unescapeKey(name)
		if err != nil {
			return
		}
		// Only canonical names decode, so a file name maps to at most one key.
		again, err := escapeKey(key)
		if err != nil || again != name {
			t.Fatalf("unescapeKey(%q) = %q, which escapes to %q, %v", name, key, again, err)
		}
	})
}

func FuzzDecodeConfig(f *testing.F) {
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"Addresses": {"API": "/ip4/127.0.0.1/tcp/5001"}, "Bootstrap": null}`))
	f.Add([]byte(`{"Swarm": {"ConnMgr": {"LowWater": 1e400}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := decodeConfig(data)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("decode error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		valid := c.Validate() == nil
		enc, err := encodeConfig(c)
		if err != nil {
			t.Fatalf("encode a decoded config: %v", err)
		}
		c2, err := decodeConfig(enc)
		if err != nil {
			t.Fatalf("decode(encode(c)): %v\n%s", err, enc)
		}
		if !reflect.DeepEqual(normalizeNil(c), normalizeNil(c2)) {
			t.Fatalf("config changed across encode/decode:\n%+v\n%+v", c, c2)
		}
		if valid != (c2.Validate() == nil) {
			t.Fatal("validity changed across encode/decode")
		}
		for _, k := range []string{"Addresses.API", "Identity", "Identity.PrivKey", "Bootstrap", "Swarm.ConnMgr"} {
			getConfigValue(c, k)
		}
	})
}

// normalizeNil makes nil and empty slices compare equal.
func normalizeNil(c *Config) *Config {
	d := c.Clone()
	for _, s := range []*[]string{&d.Addresses.Swarm, &d.Bootstrap, &d.Bitswap.TrustedPeers} {
		if len(*s) == 0 {
			*s = nil
		}
	}
	return d
}

func FuzzParseLockHolder(f *testing.F) {
	f.Add([]byte("1234\nnode daemon\n"))
	f.Add([]byte(""))
	f.Add([]byte("99999999999999999999\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		pid, cmd := parseLockHolder(data)
		if pid < 0 || len(cmd) > maxCmdLen || !utf8.ValidString(cmd) {
			t.Fatalf("parseLockHolder(%q) = %d, %q", data, pid, cmd)
		}
		if pid > 0 {
			p2, c2 := parseLockHolder(formatLockHolder(pid, []string{cmd}))
			if p2 != pid || c2 != cmd {
				t.Fatalf("round trip of (%d, %q) gave (%d, %q)", pid, cmd, p2, c2)
			}
		}
	})
}

func FuzzParseVersion(f *testing.F) {
	f.Add([]byte("1\n"))
	f.Add([]byte("-1"))
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := parseVersion(data)
		if err == nil && v <= 0 {
			t.Fatalf("parseVersion(%q) = %d", data, v)
		}
		if err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("error %v does not wrap ErrCorrupt", err)
		}
	})
}

func FuzzParseAddrFile(f *testing.F) {
	f.Add([]byte("/ip4/127.0.0.1/tcp/5001\n"))
	f.Add([]byte("/dns4/example.com/tcp/443/tls/http"))
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := parseAddrFile(data)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		if a2, err := parseAddrFile([]byte(a + "\n")); err != nil || a2 != a {
			t.Fatalf("re-parsing %q: %q, %v", a, a2, err)
		}
	})
}

func FuzzDecodeKeyFile(f *testing.F) {
	f.Add([]byte{0x08, 0x01, 0x12, 0x40})
	f.Fuzz(func(t *testing.T, data []byte) {
		sk, err := decodeKeyFile(data)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		if sk == nil {
			t.Fatal("nil key without an error")
		}
		raw, err := crypto.MarshalPrivateKey(sk)
		if err != nil {
			t.Fatalf("re-encode a decoded key: %v", err)
		}
		sk2, err := decodeKeyFile(raw)
		if err != nil || !sk.Equals(sk2) {
			t.Fatalf("key changed across encode/decode: %v", err)
		}
	})
}
