package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// testDaemon is a `node daemon` process.
type testDaemon struct {
	*testRepo
	cmd   *exec.Cmd
	lines chan string // the daemon's stdout, line by line
}

// startDaemon starts a daemon on r and waits for its ready line.
func startDaemon(t *testing.T, r *testRepo, args ...string) *testDaemon {
	t.Helper()
	cmd := r.cmd(append([]string{"daemon"}, args...)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d := &testDaemon{testRepo: r, cmd: cmd, lines: make(chan string, 100)}
	go func() {
		defer close(d.lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			d.lines <- sc.Text()
		}
	}()
	t.Cleanup(func() {
		if d.cmd.ProcessState == nil {
			d.cmd.Process.Kill()
			d.cmd.Wait()
		}
	})
	d.waitLine(t, "daemon is ready")
	return d
}

// waitLine waits for a line of the daemon's output containing s.
func (d *testDaemon) waitLine(t *testing.T, s string) string {
	t.Helper()
	timeout := time.After(60 * time.Second)
	for {
		select {
		case l, ok := <-d.lines:
			if !ok {
				t.Fatalf("daemon exited before printing %q", s)
			}
			if strings.Contains(l, s) {
				return l
			}
		case <-timeout:
			t.Fatalf("timed out waiting for the daemon to print %q", s)
		}
	}
}

// stop sends SIGINT and waits for a clean exit.
func (d *testDaemon) stop(t *testing.T) {
	t.Helper()
	if err := d.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- d.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("daemon did not exit cleanly: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("daemon did not stop within 30 s of SIGINT")
	}
}

func TestDaemonServesCommands(t *testing.T) {
	r := newRepo(t)
	d := startDaemon(t, r)
	if _, err := os.Stat(filepath.Join(r.path, "api")); err != nil {
		t.Fatalf("the daemon wrote no api file: %v", err)
	}
	// The daemon holds the lock: these work only through its API.
	data := randomBytes(11, 3<<20)
	c := strings.TrimSpace(r.mustIn(data, "add", "-Q"))
	if got := r.must("cat", c); got != string(data) {
		t.Fatal("cat through the daemon differs")
	}
	out := filepath.Join(t.TempDir(), "got")
	r.must("get", "-o", out, c)
	if b, _ := os.ReadFile(out); string(b) != string(data) {
		t.Fatal("get through the daemon differs")
	}
	if e := r.fails(nil, "cat", "bafkreaa"); !strings.Contains(e, "not accepted") {
		t.Fatalf("errors come back from the daemon: %q", e)
	}
	var id struct {
		ID        string
		Addresses []string
	}
	if err := json.Unmarshal([]byte(r.must("id")), &id); err != nil || len(id.Addresses) == 0 {
		t.Fatalf("node id through the daemon: %+v, %v", id, err)
	}

	// Metrics and pprof on the API address.
	api, err := os.ReadFile(filepath.Join(r.path, "api"))
	if err != nil {
		t.Fatal(err)
	}
	hostport, err := dialAddr(strings.TrimSpace(string(api)))
	if err != nil {
		t.Fatal(err)
	}
	token, err := os.ReadFile(filepath.Join(r.path, "api.token"))
	if err != nil {
		t.Fatal(err)
	}
	get := func(path string, hdr map[string]string) (int, string) {
		req, _ := http.NewRequest("GET", "http://"+hostport+path, nil)
		for k, v := range hdr {
			if k == "Host" {
				req.Host = v
			} else {
				req.Header.Set(k, v)
			}
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	tok := map[string]string{"X-Node-Token": strings.TrimSpace(string(token))}
	for path, want := range map[string]string{
		"/debug/metrics/prometheus": "node_bitswap_blocks_sent_total",
		"/debug/pprof/":             "goroutine",
	} {
		if code, body := get(path, tok); code != 200 || !strings.Contains(body, want) {
			t.Fatalf("GET %s: %d, body lacks %q", path, code, want)
		}
	}
	// What a web page or another user could send is refused.
	for name, hdr := range map[string]map[string]string{
		"no token":           {},
		"DNS rebinding":      {"X-Node-Token": tok["X-Node-Token"], "Host": "attacker.example:5001"},
		"a page's fetch":     {"X-Node-Token": tok["X-Node-Token"], "Origin": "http://attacker.example"},
		"a cross-site fetch": {"X-Node-Token": tok["X-Node-Token"], "Sec-Fetch-Site": "cross-site"},
	} {
		if code, _ := get("/debug/pprof/", hdr); code != http.StatusUnauthorized && code != http.StatusForbidden {
			t.Errorf("%s: got %d, want 401 or 403", name, code)
		}
	}
	if info, err := os.Stat(filepath.Join(r.path, "api.token")); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("token file mode: %v, %v", info.Mode(), err)
	}
	// A command's stdin is read only when it wants it: a shell loop
	// feeding file names keeps working through the daemon.
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "f1"), []byte("one"), 0o644)
	os.WriteFile(filepath.Join(dir, "f2"), []byte("two"), 0o644)
	loop := exec.Command("sh", "-c", `printf 'f1\nf2\n' | while read f; do "$NODE" add -Q "$f"; done`)
	loop.Dir = dir
	loop.Env = append(os.Environ(), "NODE_PATH="+r.path, "NODE="+nodeBin)
	if out, err := loop.Output(); err != nil || len(strings.Fields(string(out))) != 2 {
		t.Fatalf("a loop reading names from stdin added %q (%v), want 2 CIDs", out, err)
	}
	// Config can be set while the daemon holds the repository.
	r.must("config", "Gateway.RetrievalTimeout", "45s")
	if got := strings.TrimSpace(r.must("config", "Gateway.RetrievalTimeout")); got != "45s" {
		t.Fatalf("config through the daemon: %q", got)
	}

	d.stop(t)
	if _, err := os.Stat(filepath.Join(r.path, "api")); !os.IsNotExist(err) {
		t.Fatalf("api file left after a clean shutdown: %v", err)
	}
	// Without the daemon, commands open the repository themselves.
	if got := r.must("cat", c); got != string(data) {
		t.Fatal("cat after the daemon stopped differs")
	}
}

func TestDaemonInitialisesRepository(t *testing.T) {
	r := &testRepo{t: t, path: filepath.Join(t.TempDir(), "fresh")}
	d := startDaemon(t, r, "--init-profile", "test", "--offline")
	if _, err := os.Stat(filepath.Join(r.path, "config")); err != nil {
		t.Fatalf("no repository after the first start: %v", err)
	}
	if e := r.fails(nil, "swarm", "peers"); !strings.Contains(e, "offline") {
		t.Fatalf("swarm peers on an offline daemon: %q", e)
	}
	d.stop(t)
	if e := r.fails(nil, "swarm", "peers"); !strings.Contains(e, "node daemon") {
		t.Fatalf("swarm peers without a daemon: %q", e)
	}
}

func TestTwoDaemonsFindEachOther(t *testing.T) {
	a, b := newRepo(t), newRepo(t)
	for _, r := range []*testRepo{a, b} {
		r.must("config", "Routing.Type", "server")
	}
	da, db := startDaemon(t, a), startDaemon(t, b)
	var idB struct{ Addresses []string }
	json.Unmarshal([]byte(b.must("id")), &idB)
	a.must(append([]string{"swarm", "connect"}, idB.Addresses[0])...)
	if peers := a.must("swarm", "peers"); !strings.Contains(peers, strings.Split(idB.Addresses[0], "/p2p/")[1]) {
		t.Fatalf("a's peers do not include b:\n%s", peers)
	}
	c := strings.TrimSpace(a.mustIn([]byte("provided by a"), "add", "-Q"))
	a.must("routing", "provide", c)
	var idA struct {
		ID        string
		Protocols []string
	}
	json.Unmarshal([]byte(a.must("id")), &idA)
	if !slices.Contains(idA.Protocols, "/ipfs/kad/1.0.0") || !slices.Contains(idA.Protocols, "/ipfs/bitswap/1.2.0") {
		t.Fatalf("the daemon does not speak the public DHT and Bitswap protocols: %v", idA.Protocols)
	}
	if provs := b.must("routing", "findprovs", "--timeout", "20s", c); !strings.Contains(provs, idA.ID) {
		t.Fatalf("b found providers %q, want a (%s)", provs, idA.ID)
	}
	da.stop(t)
	db.stop(t)
}

// TestTwoDaemonsExchangeContent: a tree added on one daemon is fetched by
// another over Bitswap, byte for byte, and the ledgers show the transfer.
func TestTwoDaemonsExchangeContent(t *testing.T) {
	a, b := newRepo(t), newRepo(t)
	da, db := startDaemon(t, a), startDaemon(t, b)
	tree := makeTree(t)
	root := lastLine(a.must("add", "-r", "-Q", tree))
	var idA struct {
		ID        string
		Addresses []string
	}
	json.Unmarshal([]byte(a.must("id")), &idA)
	b.must("swarm", "connect", idA.Addresses[0])

	out := filepath.Join(t.TempDir(), "fetched")
	b.must("get", "-o", out, root)
	sameTree(t, tree, out, true)
	big := randomBytes(1, 1100*1024)
	if got := b.must("cat", root+"/sub/big.bin"); got != string(big) {
		t.Fatal("cat over the network differs")
	}
	// B now has the blocks: it can serve them and verify them.
	if v := b.must("repo", "verify"); !strings.Contains(v, "all good") {
		t.Fatalf("fetched blocks do not verify:\n%s", v)
	}
	var idB struct{ ID string }
	json.Unmarshal([]byte(b.must("id")), &idB)
	if led := a.must("bitswap", "ledger", idB.ID); !strings.Contains(led, "blocks sent: ") || strings.Contains(led, "blocks sent: 0\n") {
		t.Fatalf("a's ledger with b shows no blocks sent:\n%s", led)
	}
	// Pinning content only a peer has fetches it; it then stays here.
	only := randomBytes(77, 900<<10)
	onlyCID := strings.TrimSpace(a.mustIn(only, "add", "-Q"))
	b.must("pin", "add", onlyCID)
	da.stop(t)
	if got := b.must("cat", onlyCID); got != string(only) {
		t.Fatal("content pinned from a peer is not readable after the peer left")
	}
	if st := b.must("stats", "bitswap"); !strings.Contains(st, "blocks received: ") || strings.Contains(st, "\tblocks received: 0\n") {
		t.Fatalf("b's bitswap stats show nothing received:\n%s", st)
	}
	db.stop(t)
}

// TestTenDaemonsFindContentThroughTheDHT: ten daemons that know only a
// bootstrap peer; content added on three of them is fetched by another
// that is not connected to them, found through the DHT.
func TestTenDaemonsFindContentThroughTheDHT(t *testing.T) {
	if testing.Short() {
		t.Skip("starts ten daemons")
	}
	repos := make([]*testRepo, 10)
	for i := range repos {
		repos[i] = newRepo(t)
		repos[i].must("config", "Routing.Type", "server")
	}
	boot := startDaemon(t, repos[0])
	var bootID struct{ Addresses []string }
	json.Unmarshal([]byte(repos[0].must("id")), &bootID)
	bootAddrs, _ := json.Marshal(bootID.Addresses[:1])
	var ds []*testDaemon
	for _, r := range repos[1:] {
		r.must("config", "--json", "Bootstrap", string(bootAddrs))
		ds = append(ds, startDaemon(t, r))
	}
	// Three providers, each with its own file.
	files := map[string][]byte{}
	for i := 1; i <= 3; i++ {
		data := randomBytes(uint64(100+i), 600<<10+i)
		c := strings.TrimSpace(repos[i].mustIn(data, "add", "-Q"))
		files[c] = data
		// Wait until the provider's announcement is findable.
		waitFor(t, "the provider record of "+c, func() bool {
			out, _, err := repos[0].run(nil, "routing", "findprovs", "--timeout", "2s", "-n", "1", c)
			return err == nil && strings.TrimSpace(out) != ""
		})
	}
	fetcher := repos[9]
	for c, data := range files {
		if got := fetcher.must("cat", c); got != string(data) {
			t.Fatalf("content %s fetched through the DHT differs", c)
		}
	}
	// The fetcher reached the providers only through the DHT.
	peers := fetcher.must("swarm", "peers")
	for i := 1; i <= 3; i++ {
		var id struct{ ID string }
		json.Unmarshal([]byte(repos[i].must("id")), &id)
		if !strings.Contains(peers, id.ID) {
			t.Errorf("the fetcher is not connected to provider %d after fetching from it", i)
		}
	}
	for _, d := range append(ds, boot) {
		d.stop(t)
	}
}

// TestDaemonStartFailureExits: a daemon that cannot start (its swarm port
// is taken) says why and exits instead of hanging.
func TestDaemonStartFailureExits(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	r := newRepo(t)
	r.must("config", "--json", "Addresses.Swarm", fmt.Sprintf(`["/ip4/127.0.0.1/tcp/%d"]`, port))
	cmd := r.cmd("daemon")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(stderr.String(), "Error:") {
			t.Fatalf("daemon on a taken port: %v, stderr %q", err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatal("the daemon hung after failing to start")
	}
}

// TestDaemonsFindEachOtherByMDNS: with Discovery.MDNS.Enabled, two daemons
// on this machine connect without being told about each other.
func TestDaemonsFindEachOtherByMDNS(t *testing.T) {
	a, b := newRepo(t), newRepo(t)
	for _, r := range []*testRepo{a, b} {
		r.must("config", "--json", "Discovery.MDNS.Enabled", "true")
	}
	da, db := startDaemon(t, a), startDaemon(t, b)
	var idB struct{ ID string }
	json.Unmarshal([]byte(b.must("id")), &idB)
	waitFor(t, "a to find b by mDNS", func() bool {
		return strings.Contains(a.must("swarm", "peers"), idB.ID)
	})
	da.stop(t)
	db.stop(t)
}

// A CLI next to the daemon hands it its open files (local.go): the daemon
// writes into the CLI's stdout itself, a closed pipe ends the command as
// SIGPIPE would, Ctrl-C reaches the command in the daemon, and without
// the socket the HTTP API still serves.
func TestDaemonWritesIntoTheCLIsFiles(t *testing.T) {
	r := newRepo(t)
	startDaemon(t, r)
	if info, err := os.Stat(filepath.Join(r.path, localSocket)); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("the daemon's CLI socket: %v, %v; want mode 0600", info, err)
	}
	data := randomBytes(31, 5<<20)
	c := strings.TrimSpace(r.mustIn(data, "add", "-Q")) // stdin goes to the daemon as a file too

	// Only the socket can serve while the API address leads nowhere.
	apiFile := filepath.Join(r.path, "api")
	api, err := os.ReadFile(apiFile)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", l.Addr().(*net.TCPAddr).Port)
	l.Close()
	if err := os.WriteFile(apiFile, []byte(dead), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := r.must("cat", c); got != string(data) {
		t.Fatal("cat through the socket differs")
	}
	if err := os.WriteFile(apiFile, api, 0o600); err != nil {
		t.Fatal(err)
	}

	// A reader that stops early: the CLI ends quietly with the status of
	// a process killed by SIGPIPE.
	cat := r.cmd("cat", c)
	out, err := cat.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cat.Stderr = &stderr
	if err := cat.Start(); err != nil {
		t.Fatal(err)
	}
	head := make([]byte, 10)
	if _, err := io.ReadFull(out, head); err != nil || !bytes.Equal(head, data[:10]) {
		t.Fatalf("first bytes %x, %v", head, err)
	}
	out.Close()
	err = cat.Wait()
	if code := cat.ProcessState.ExitCode(); code != 128+int(syscall.SIGPIPE) {
		t.Fatalf("cat into a closed pipe ended with %v (stderr %q), want exit status 141", err, stderr.String())
	}
	if stderr.Len() != 0 {
		t.Fatalf("cat into a closed pipe printed %q", stderr.String())
	}

	// Ctrl-C on a command waiting for the network cancels it in the
	// daemon: its want leaves the daemon's want-list.
	missing := "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"
	wait := r.cmd("cat", missing)
	var waitErr bytes.Buffer
	wait.Stderr = &waitErr
	if err := wait.Start(); err != nil {
		t.Fatal(err)
	}
	wanted := func() bool { return strings.Contains(r.must("bitswap", "wantlist"), missing) }
	waitFor(t, "the daemon to want "+missing, wanted)
	if err := wait.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- wait.Wait() }()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("an interrupted cat succeeded")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("cat did not end within 30 s of Ctrl-C")
	}
	waitFor(t, "the daemon to drop the want", func() bool { return !wanted() })

	// Without the socket, the CLI uses the HTTP API.
	if err := os.Remove(filepath.Join(r.path, localSocket)); err != nil {
		t.Fatal(err)
	}
	if got := r.must("cat", c); got != string(data) {
		t.Fatal("cat through the HTTP API differs")
	}
}
