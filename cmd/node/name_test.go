package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"

	"node/repo"
)

// nameNet is four daemons in DHT server mode that know the first one.
func nameNet(t *testing.T) ([]*testRepo, []*testDaemon) {
	t.Helper()
	repos := make([]*testRepo, 4)
	for i := range repos {
		repos[i] = newRepo(t)
		repos[i].must("config", "Routing.Type", "server")
	}
	ds := []*testDaemon{startDaemon(t, repos[0])}
	var boot struct{ Addresses []string }
	json.Unmarshal([]byte(repos[0].must("id")), &boot)
	bootAddrs, _ := json.Marshal(boot.Addresses[:1])
	for _, r := range repos[1:] {
		r.must("config", "--json", "Bootstrap", string(bootAddrs))
		ds = append(ds, startDaemon(t, r))
	}
	return repos, ds
}

// site writes a one-page website and adds it on r, returning its CID.
func site(t *testing.T, r *testRepo, page string) string {
	dir := filepath.Join(t.TempDir(), "site")
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "index.html"), []byte(page), 0o644)
	return lastLine(r.must("add", "-r", "-Q", dir))
}

// gatewayURL is the base URL of r's daemon's gateway.
func gatewayURL(t *testing.T, r *testRepo) string {
	t.Helper()
	addr, err := repo.ReadAddr(r.path, repo.AddrGateway)
	if err != nil {
		t.Fatal(err)
	}
	m, err := multiaddr.NewMultiaddr(addr)
	if err != nil {
		t.Fatal(err)
	}
	_, hostport, err := manet.DialArgs(m)
	if err != nil {
		t.Fatal(err)
	}
	return "http://" + hostport
}

// gatewayTry fetches path from r's daemon's gateway: body and status, or
// status 0 when the request fails.
func gatewayTry(t *testing.T, r *testRepo, path string) (string, int) {
	t.Helper()
	resp, err := http.Get(gatewayURL(t, r) + path)
	if err != nil {
		return err.Error(), 0
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err.Error(), 0
	}
	return string(b), resp.StatusCode
}

// gatewayGet fetches path from r's daemon's gateway, which must answer 200.
func gatewayGet(t *testing.T, r *testRepo, path string) (string, http.Header) {
	t.Helper()
	resp, err := http.Get(gatewayURL(t, r) + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %v\n%s", path, resp.Status, err, b)
	}
	return string(b), resp.Header
}

// keyNameOf is the IPNS name of r's key, from `key list`.
func keyNameOf(t *testing.T, r *testRepo, key string) string {
	t.Helper()
	for _, l := range strings.Split(strings.TrimSpace(r.must("key", "list")), "\n") {
		if f := strings.Fields(l); len(f) == 2 && f[1] == key {
			return f[0]
		}
	}
	t.Fatalf("no key %q in key list", key)
	return ""
}

// TestNamesAcrossDaemons: a name published on one daemon resolves on
// another through the DHT, in `name resolve` and in /ipns paths; an
// update is seen at once with --nocache, which also refreshes the cache
// that later /ipns paths use.
func TestNamesAcrossDaemons(t *testing.T) {
	if testing.Short() {
		t.Skip("starts four daemons")
	}
	repos, ds := nameNet(t)
	pub, reader := repos[1], repos[3]
	pub.must("key", "gen", "web")
	name := keyNameOf(t, pub, "web")
	v1 := site(t, pub, "<h1>version one</h1>")
	// The first publish may find the routing tables still empty: publish
	// until another node resolves it.
	waitFor(t, "the name to resolve on another node", func() bool {
		pub.run(nil, "name", "publish", "--key", "web", v1)
		out, _, err := reader.run(nil, "name", "resolve", "--nocache", name)
		return err == nil && strings.TrimSpace(out) == "/ipfs/"+v1
	})
	if got := reader.must("cat", "/ipns/"+name+"/index.html"); got != "<h1>version one</h1>" {
		t.Fatalf("cat /ipns/%s/index.html = %q", name, got)
	}
	if ls := reader.must("ls", "/ipns/"+name); !strings.Contains(ls, "index.html") {
		t.Fatalf("ls /ipns/%s:\n%s", name, ls)
	}

	v2 := site(t, pub, "<h1>version two</h1>")
	if out := pub.must("name", "publish", "--key", "web", "--ttl", "1h", "/ipfs/"+v2); !strings.Contains(out, name) || !strings.Contains(out, v2) {
		t.Fatalf("publish printed %q", out)
	}
	// The reader's cache still holds version one; --nocache goes to the
	// network and refreshes the cache...
	if got := strings.TrimSpace(reader.must("name", "resolve", "--nocache", name)); got != "/ipfs/"+v2 {
		t.Fatalf("resolve --nocache after the update = %q, want /ipfs/%s", got, v2)
	}
	// ...so the next /ipns path sees the same value.
	if got := reader.must("cat", "/ipns/"+name+"/index.html"); got != "<h1>version two</h1>" {
		t.Fatalf("cat after the update = %q", got)
	}
	// The reader's gateway serves the site under the name, cacheable for
	// the record's TTL.
	body, hdr := gatewayGet(t, reader, "/ipns/"+name+"/")
	var maxAge int
	fmt.Sscanf(hdr.Get("Cache-Control"), "public, max-age=%d", &maxAge)
	if body != "<h1>version two</h1>" || maxAge < 3000 || maxAge > 3600 {
		t.Fatalf("gateway /ipns/%s/: %q, Cache-Control %q (want a max-age up to the 1h TTL)", name, body, hdr.Get("Cache-Control"))
	}
	if body, _ := gatewayGet(t, reader, "/ipfs/"+v1+"/index.html"); body != "<h1>version one</h1>" {
		t.Fatalf("gateway /ipfs/%s/index.html: %q", v1, body)
	}

	// One step at a time: a name pointing at a name.
	pub.must("name", "publish", "/ipns/"+name)
	self := keyNameOf(t, pub, "self")
	if got := strings.TrimSpace(pub.must("name", "resolve", "--recursive=false", self)); got != "/ipns/"+name {
		t.Fatalf("one step from self = %q, want /ipns/%s", got, name)
	}
	if got := strings.TrimSpace(pub.must("name", "resolve", self)); got != "/ipfs/"+v2 {
		t.Fatalf("recursive from self = %q, want /ipfs/%s", got, v2)
	}
	for _, d := range ds {
		d.stop(t)
	}
}
