package namesys

import (
	"context"
	"errors"
	"maps"
	"strings"
	"testing"
	"time"

	"node/ipath"
	"node/ipns"
)

// FuzzParseDNSLink: TXT texts from the network (one per line) never
// crash the parser; what it accepts is a canonical /ipfs or /ipns path
// that parses again to itself.
func FuzzParseDNSLink(f *testing.F) {
	f.Add("dnslink=/ipfs/bafkqaaa")
	f.Add("v=spf1 -all\ndnslink=/ipns/example.org/a")
	f.Add("dnslink=/ipns/k51qzi5uqu5dh0hmqwzu47an7qt7e1h5lyer5kjjntgl9e4qwb07kctxsovmdu")
	f.Add("dnslink=/ipfs/bafkqaaa\ndnslink=/ipfs/bafkqaaa/")
	f.Fuzz(func(t *testing.T, in string) {
		v, err := parseDNSLink(strings.Split(in, "\n"))
		if err != nil {
			if !errors.Is(err, ipns.ErrNotFound) && !errors.Is(err, ErrMultipleDNSLink) {
				t.Fatalf("error without a sentinel: %v", err)
			}
			return
		}
		if !strings.HasPrefix(v, "/ipfs/") && !strings.HasPrefix(v, "/ipns/") {
			t.Fatalf("accepted %q", v)
		}
		p, err := ipath.Parse(v)
		if err != nil || p.String() != v {
			t.Fatalf("accepted %q, which parses to %v, %v", v, p, err)
		}
	})
}

// FuzzDecodeIndex: the index file from disk never crashes the decoder;
// what it accepts encodes and decodes back to the same index.
func FuzzDecodeIndex(f *testing.F) {
	f.Add([]byte(`{"version":1,"keys":{"self":{"name":"k51qzi5uqu5dh0hmqwzu47an7qt7e1h5lyer5kjjntgl9e4qwb07kctxsovmdu","seq":7,"lifetime":"48h0m0s"}}}`))
	f.Add([]byte(`{"version":1,"keys":{}}`))
	f.Add([]byte(`{"version":2}`))
	f.Add([]byte(`{`))
	f.Fuzz(func(t *testing.T, b []byte) {
		ix, err := decodeIndex(b)
		if err != nil {
			if !errors.Is(err, ErrCorruptIndex) {
				t.Fatalf("error without ErrCorruptIndex: %v", err)
			}
			return
		}
		again, err := decodeIndex(encodeIndex(ix))
		if err != nil {
			t.Fatalf("re-decoding: %v", err)
		}
		if !maps.Equal(ix.Keys, again.Keys) {
			t.Fatalf("round trip: %v != %v", ix.Keys, again.Keys)
		}
	})
}

// FuzzResolvePath: any path given to an offline name system gets an
// answer or an error with a sentinel, never a crash; /ipfs paths come
// back unchanged.
func FuzzResolvePath(f *testing.F) {
	f.Add("/ipfs/bafkqaaa/a/b")
	f.Add("/ipns/example.org/x")
	f.Add("/ipns/k51qzi5uqu5dh0hmqwzu47an7qt7e1h5lyer5kjjntgl9e4qwb07kctxsovmdu/x/")
	f.Add("/ipns/12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA")
	ns, err := New(Config{Store: newMemStore(), DNSResolver: "127.0.0.1:1", CacheSize: -1})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, p string) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		got, _, err := ns.ResolvePath(ctx, p)
		if err != nil {
			for _, s := range []error{ipath.ErrInvalid, ipns.ErrInvalidName, ipns.ErrNotFound, ErrDNS, context.DeadlineExceeded} {
				if errors.Is(err, s) {
					return
				}
			}
			t.Fatalf("ResolvePath(%q): error without a sentinel: %v", p, err)
		}
		if strings.HasPrefix(p, "/ipfs/") && got != p {
			t.Fatalf("ResolvePath(%q) = %q", p, got)
		}
		if !strings.HasPrefix(got, "/ipfs/") {
			t.Fatalf("ResolvePath(%q) = %q", p, got)
		}
	})
}
