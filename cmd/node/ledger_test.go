package main

// End-to-end tests of `node ledger`: real daemons on loopback, each with
// its own repository, talking the ledger protocol and fetching blocks
// through Bitswap.

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"node/internal/testutil"
	"node/ledger/ledgertest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// nodeID is a daemon's peer ID and first swarm address.
func nodeID(t *testing.T, r *testRepo) (id, addr string) {
	t.Helper()
	var v struct {
		ID        string
		Addresses []string
	}
	if err := json.Unmarshal([]byte(r.must("id")), &v); err != nil || len(v.Addresses) == 0 {
		t.Fatalf("node id: %+v %v", v, err)
	}
	for _, a := range v.Addresses {
		if strings.Contains(a, "/tcp/") {
			return v.ID, a
		}
	}
	return v.ID, v.Addresses[0]
}

// channelInfo is `node ledger channel info`.
type channelInfo struct {
	Name      string
	Height    uint64
	Head      string
	StateHash string
	Ordering  bool
}

func ledgerInfo(t *testing.T, r *testRepo, name string) channelInfo {
	t.Helper()
	var i channelInfo
	if err := json.Unmarshal([]byte(r.must("ledger", "channel", "info", name)), &i); err != nil {
		t.Fatal(err)
	}
	return i
}

// invoked is what `node ledger invoke` printed.
type invoked struct {
	txid, block, code string
	err               error
	stderr            string
}

func parseInvoke(out, errOut string, err error) invoked {
	v := invoked{err: err, stderr: errOut}
	for _, l := range strings.Split(out, "\n") {
		k, val, _ := strings.Cut(l, " ")
		switch k {
		case "txid":
			v.txid = val
		case "block":
			v.block = val
		case "code":
			v.code = val
		}
	}
	return v
}

// invoke runs `node ledger invoke` and expects VALID.
func invoke(t *testing.T, r *testRepo, args ...string) invoked {
	t.Helper()
	v := parseInvoke(r.run(nil, append([]string{"ledger", "invoke"}, args...)...))
	if v.err != nil || v.code != "VALID" {
		t.Fatalf("node ledger invoke %s: code %q, %v\n%s", strings.Join(args, " "), v.code, v.err, v.stderr)
	}
	return v
}

// sqlRows runs `node ledger sql` and returns the rows (header dropped),
// cells joined by "|".
func sqlRows(t *testing.T, r *testRepo, name, q string) []string {
	t.Helper()
	lines := strings.Split(strings.TrimRight(r.must("ledger", "sql", name, q), "\n"), "\n")
	var out []string
	for _, l := range lines[1:] {
		out = append(out, strings.ReplaceAll(l, "\t", "|"))
	}
	return out
}

func writeJSONFile(t *testing.T, v any) string {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "file.json")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// digest is `node ledger digest`: height and head.
func digest(t *testing.T, r *testRepo, name string) (int, string) {
	t.Helper()
	out := r.must("ledger", "digest", name)
	var h int
	var head string
	if _, err := fmt.Sscanf(out, "height %d\nhead %s\n", &h, &head); err != nil {
		t.Fatalf("digest output %q: %v", out, err)
	}
	return h, head
}

// apiGet does an HTTP request on a daemon's API with its token.
func apiDo(t *testing.T, r *testRepo, method, path, token string, body string) (int, string) {
	t.Helper()
	api, err := os.ReadFile(filepath.Join(r.path, "api"))
	if err != nil {
		t.Fatal(err)
	}
	hostport, err := dialAddr(strings.TrimSpace(string(api)))
	if err != nil {
		t.Fatal(err)
	}
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, "http://"+hostport+path, rd)
	if token != "" {
		req.Header.Set("X-Node-Token", token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// A newcomer's channel, in one command, on one node: create with no
// config, invoke, query, index, blocks, proofs, events, the HTTP API;
// the channel survives gc and restarts, and works without the daemon.
func TestLedgerOneNode(t *testing.T) {
	r := newRepo(t)
	d := startDaemon(t, r)
	if out := r.must("ledger", "channel", "create", "demo"); !strings.Contains(out, "this node orders the channel") {
		t.Fatalf("create: %s", out)
	}
	if e := r.fails(nil, "ledger", "channel", "create", "demo"); !strings.Contains(e, "already exists") {
		t.Fatalf("creating it twice: %s", e)
	}
	// Commit events stream while we work.
	events := r.cmd("ledger", "events", "demo")
	evOut, err := events.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	evErr, err := events.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := events.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { events.Process.Kill(); events.Wait() })
	evLines := bufio.NewScanner(evOut)
	// It says so once subscribed.
	if line, err := bufio.NewReader(evErr).ReadString('\n'); err != nil || !strings.Contains(line, "watching channel demo") {
		t.Fatalf("events: %q %v", line, err)
	}
	first := invoke(t, r, "demo", "put", "car1", `{"owner": "Ann", "model": "coupe", "docType": "vehicle"}`)
	type event struct {
		Number uint64
		Txs    []struct{ TxID, Code string }
	}
	got := make(chan event, 1)
	go func() {
		for evLines.Scan() {
			var ev event
			if err := json.Unmarshal(evLines.Bytes(), &ev); err != nil {
				t.Errorf("event line %q: %v", evLines.Text(), err)
				return
			}
			if len(ev.Txs) == 1 && ev.Txs[0].TxID == first.txid {
				got <- ev
				return
			}
		}
	}()
	select {
	case ev := <-got:
		if ev.Txs[0].Code != "VALID" || ev.Number != 1 {
			t.Fatalf("event %+v", ev)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no commit event for the first transaction")
	}
	transfer := invoke(t, r, "demo", "transfer", "car1", "Bob")
	invoke(t, r, "demo", "put", "car2", `{"owner": "Cy", "model": "van", "docType": "vehicle"}`)

	if got := strings.TrimSpace(r.must("ledger", "get", "demo", "car1")); got != `{"docType":"vehicle","model":"coupe","owner":"Bob"}` {
		t.Fatalf("get: %s", got)
	}
	if h := strings.Split(strings.TrimSpace(r.must("ledger", "history", "demo", "car1")), "\n"); len(h) != 2 || !strings.Contains(h[0], `"owner":"Ann"`) {
		t.Fatalf("history: %q", h)
	}
	if rows := sqlRows(t, r, "demo", `SELECT key, json_extract(valueJson, '$.owner') FROM <STATE> ORDER BY key`); !slices.Equal(rows, []string{"car1|Bob", "car2|Cy"}) {
		t.Fatalf("sql: %q", rows)
	}
	if got := r.must("ledger", "find", "demo", `{"selector": {"model": "van"}, "fields": ["owner"]}`); got != "{\"owner\":\"Cy\"}\n" {
		t.Fatalf("find: %q", got)
	}
	ixFile := writeJSONFile(t, map[string]any{"name": "byOwner", "indexExpressions": []string{"json_extract(valueJson, '$.owner')"}})
	r.must("ledger", "index", "add", "demo", ixFile)
	if l := r.must("ledger", "index", "list", "demo"); !strings.Contains(l, "byOwner") {
		t.Fatalf("index list: %s", l)
	}
	var head struct {
		Number uint64
		CID    string
		Txs    []struct{ TxID, Code, Function string }
	}
	if err := json.Unmarshal([]byte(r.must("ledger", "block", "demo", "head")), &head); err != nil || head.Number != 3 || head.Txs[0].Code != "VALID" {
		t.Fatalf("block head: %+v %v", head, err)
	}
	h, dg := digest(t, r, "demo")
	// The gateway does not serve channel blocks (only members may read
	// them), while it serves public content.
	if body, status := gatewayTry(t, r, "/ipfs/"+dg+"?format=raw"); status != http.StatusNotFound {
		t.Fatalf("gateway GET of the channel head: status %d, want 404\n%s", status, body)
	}
	pub := strings.TrimSpace(r.mustIn([]byte("public"), "add", "-Q"))
	if body, status := gatewayTry(t, r, "/ipfs/"+pub); status != http.StatusOK || body != "public" {
		t.Fatalf("gateway GET of public content: %d %q", status, body)
	}
	if h != 4 || dg != head.CID {
		t.Fatalf("digest %d %s, head block %s", h, dg, head.CID)
	}
	if v := r.must("ledger", "verify", "demo"); !strings.Contains(v, "all 4 blocks verified") {
		t.Fatalf("verify: %s", v)
	}
	// A proof, checked where there is no repository at all.
	proofFile := filepath.Join(t.TempDir(), "proof.json")
	os.WriteFile(proofFile, []byte(r.must("ledger", "proof", "demo", transfer.txid)), 0o644)
	nowhere := &testRepo{t: t, path: filepath.Join(t.TempDir(), "no-repo")}
	if out := nowhere.must("ledger", "verify-proof", proofFile, dg); !strings.Contains(out, "proof holds: transaction "+transfer.txid) {
		t.Fatalf("verify-proof: %s", out)
	}

	// The HTTP API, with the daemon's token.
	token, _ := os.ReadFile(filepath.Join(r.path, "api.token"))
	tok := strings.TrimSpace(string(token))
	if code, body := apiDo(t, r, "GET", "/api/v0/ledger/channels/demo/state/car2", tok, ""); code != 200 || !strings.Contains(body, `"owner":"Cy"`) {
		t.Fatalf("API get: %d %s", code, body)
	}
	if code, body := apiDo(t, r, "POST", "/api/v0/ledger/channels/demo/invoke", tok, `{"function": "put", "args": ["car3", "{\"owner\": \"Di\"}"]}`); code != 200 || !strings.Contains(body, `"code":"VALID"`) {
		t.Fatalf("API invoke: %d %s", code, body)
	}
	if code, _ := apiDo(t, r, "GET", "/api/v0/ledger/channels", "", ""); code != http.StatusUnauthorized && code != http.StatusForbidden {
		t.Fatalf("the ledger API without the token answered %d", code)
	}

	// Garbage collection keeps the chain (its head is pinned).
	r.must("repo", "gc")
	if v := r.must("ledger", "verify", "demo"); !strings.Contains(v, "all 5 blocks verified") {
		t.Fatalf("verify after gc: %s", v)
	}
	// The channel reopens with the daemon, and its orderer goes on from
	// the head.
	d.stop(t)
	d = startDaemon(t, r)
	if l := r.must("ledger", "channel", "list"); !strings.HasPrefix(l, "demo\theight 5\t") {
		t.Fatalf("channel list after a restart: %q", l)
	}
	if v := invoke(t, r, "demo", "put", "car4", `{"owner": "Ed"}`); v.block != "5" {
		t.Fatalf("first block after a restart: %s", v.block)
	}
	d.stop(t)
	// Without the daemon: queries, verify, and (this node does everything)
	// invoke.
	if v := invoke(t, r, "demo", "put", "car5", `{"owner": "Flo"}`); v.block != "6" {
		t.Fatalf("offline invoke: block %s", v.block)
	}
	if got := r.must("ledger", "get", "demo", "car5"); !strings.Contains(got, "Flo") {
		t.Fatalf("offline get: %s", got)
	}
	if v := r.must("ledger", "verify", "demo"); !strings.Contains(v, "all 7 blocks verified") {
		t.Fatalf("offline verify: %s", v)
	}
	if e := r.fails(nil, "ledger", "events", "demo"); !strings.Contains(e, "node daemon") {
		t.Fatalf("events without a daemon: %s", e)
	}
}

// Three daemons: Org1 and Org2 share channel cars under AND(Org1, Org2),
// Org1's node orders; Org3's node is outside. The seed's data and queries
// on both members; a write-write race; Org3 refused everywhere; a member
// killed mid-stream catches up through Bitswap; verify catches a damaged
// block; a proof checks offline and fails when a byte changes.
func TestLedgerThreeOrganisations(t *testing.T) {
	o1, o2, o3 := newRepo(t), newRepo(t), newRepo(t)
	d1, d2 := startDaemon(t, o1), startDaemon(t, o2)
	startDaemon(t, o3)
	id1, addr1 := nodeID(t, o1)
	id2, _ := nodeID(t, o2)
	id3, _ := nodeID(t, o3)
	all := []string{"orderer", "endorser", "committer", "client", "admin"}
	cars := map[string]any{
		"organizations": []map[string]any{
			{"name": "Org1", "members": []map[string]any{{"peer": id1, "roles": all}}},
			{"name": "Org2", "members": []map[string]any{{"peer": id2, "roles": []string{"endorser", "committer", "client"}}}},
		},
		"endorsementPolicy": "AND('Org1', 'Org2')",
		// Long enough for two racing transfers to be endorsed before the
		// first is committed.
		"blockCutting": map[string]any{"timeout": "1s"},
	}
	o1.must("ledger", "channel", "create", "cars", "--config", writeJSONFile(t, cars))
	if out := o2.must("ledger", "channel", "join", "cars", "--orderer", addr1); !strings.Contains(out, "joined channel cars at height 1") {
		t.Fatalf("join: %s", out)
	}
	if e := o3.fails(nil, "ledger", "channel", "join", "cars", "--orderer", addr1); !strings.Contains(e, "is not a member of channel cars") {
		t.Fatalf("Org3 joining: %s", e)
	}

	// The car dealer's data, from both organisations' clients at once.
	keys, docs := ledgertest.CarDealerKeys, ledgertest.CarDealer()
	var wg sync.WaitGroup
	results := make([]invoked, len(keys))
	for i, k := range keys {
		client := []*testRepo{o1, o2}[i%2]
		wg.Go(func() {
			results[i] = parseInvoke(client.run(nil, "ledger", "invoke", "cars", "put", k, string(docs[k])))
		})
	}
	wg.Wait()
	for i, v := range results {
		if v.err != nil || v.code != "VALID" {
			t.Fatalf("loading %s: %q %v\n%s", keys[i], v.code, v.err, v.stderr)
		}
	}
	sameLedger(t, "cars", o1, o2)

	// The seed's queries give the seed's answers on both members.
	queries, err := ledgertest.CarDealerSQL()
	if err != nil {
		t.Fatal(err)
	}
	selectors := ledgertest.CarDealerSelectors()
	for _, r := range []*testRepo{o1, o2} {
		for _, q := range queries {
			if got := sqlRows(t, r, "cars", q.Q); !q.Matches(got) {
				t.Fatalf("%s\n got %q\nwant %q", q.Q, got, q.Want)
			}
		}
		for _, q := range selectors {
			got := strings.Split(strings.TrimSpace(r.must("ledger", "find", "cars", q.Q)), "\n")
			if !q.Matches(got) {
				t.Fatalf("%s\n got %q\nwant %q", q.Q, got, q.Want)
			}
		}
	}
	// Hostile SQL is refused and changes nothing.
	before := ledgerInfo(t, o2, "cars")
	for _, q := range []string{`DROP TABLE "state_docs"`, `ATTACH DATABASE '/tmp/x' AS x`, `PRAGMA writable_schema = 1`,
		`SELECT key FROM <STATE>; DELETE FROM <STATE>`, `SELECT load_extension('x')`} {
		o2.fails(nil, "ledger", "sql", "cars", q)
	}
	if after := ledgerInfo(t, o2, "cars"); after.StateHash != before.StateHash {
		t.Fatal("the state changed after hostile SQL")
	}

	// Two transfers of one car at once, one from each organisation: one
	// is applied, the other read a version that is stale by then.
	race := make([]invoked, 2)
	for i, r := range []*testRepo{o1, o2} {
		wg.Go(func() {
			race[i] = parseInvoke(r.run(nil, "ledger", "invoke", "cars", "transfer", "dtrt10001", []string{"Alice Dealer", "Bob Dealer"}[i]))
		})
	}
	wg.Wait()
	codes := []string{race[0].code, race[1].code}
	slices.Sort(codes)
	if !slices.Equal(codes, []string{"MVCC_READ_CONFLICT", "VALID"}) {
		t.Fatalf("racing transfers: %q (%v / %v)\n%s\n%s", codes, race[0].err, race[1].err, race[0].stderr, race[1].stderr)
	}
	for _, v := range race {
		if (v.code == "VALID") != (v.err == nil) {
			t.Fatalf("exit status of a %s transaction: %v", v.code, v.err)
		}
		if v.code != "VALID" && !strings.Contains(v.stderr, "MVCC_READ_CONFLICT") {
			t.Fatalf("the failed transfer's error does not say why: %s", v.stderr)
		}
	}
	sameLedger(t, "cars", o1, o2)

	// Org3 cannot fetch the channel's blocks, though it fetches public
	// content from the same node over the same connection.
	o3.must("swarm", "connect", addr1)
	public := randomBytes(9, 5000)
	pc := strings.TrimSpace(o1.mustIn(public, "add", "-Q"))
	if got := o3.must("cat", pc); got != string(public) {
		t.Fatal("Org3 could not fetch public content from Org1")
	}
	_, carsHead := digest(t, o1, "cars")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
	get := exec.CommandContext(ctx, nodeBin, "block", "get", carsHead)
	get.Env = append(os.Environ(), "NODE_PATH="+o3.path)
	out, err := get.Output()
	cancel()
	if err == nil || len(out) > 0 {
		t.Fatalf("Org3 fetched the channel's head block (%d bytes, %v)", len(out), err)
	}
	// Nor can it have its transactions endorsed or ordered: a channel it
	// makes up under the same name, naming Org1 and Org2, gets it nowhere.
	forged := map[string]any{
		"organizations": []map[string]any{
			{"name": "Org1", "members": []map[string]any{{"peer": id1, "roles": []string{"orderer", "endorser"}}}},
			{"name": "Org2", "members": []map[string]any{{"peer": id2, "roles": []string{"endorser"}}}},
			{"name": "Org3", "members": []map[string]any{{"peer": id3, "roles": []string{"admin", "client", "committer"}}}},
		},
		"endorsementPolicy": "AND('Org1', 'Org2')",
	}
	o3.must("ledger", "channel", "create", "cars", "--config", writeJSONFile(t, forged))
	if e := o3.fails(nil, "ledger", "invoke", "cars", "put", "stolen", `{"owner": "Org3"}`); !strings.Contains(e, "is not a client of channel cars") {
		t.Fatalf("Org3's invoke: %s", e)
	}
	if got := o1.fails(nil, "ledger", "get", "cars", "stolen"); !strings.Contains(got, "not found") {
		t.Fatalf("Org3's key reached the channel: %s", got)
	}

	// A proof from Org2, checked offline against Org1's digest; a changed
	// byte breaks it.
	var winner invoked
	for _, v := range race {
		if v.code == "VALID" {
			winner = v
		}
	}
	proof := o2.must("ledger", "proof", "cars", winner.txid)
	_, head := digest(t, o1, "cars")
	nowhere := &testRepo{t: t, path: filepath.Join(t.TempDir(), "no-repo")}
	pf := filepath.Join(t.TempDir(), "proof.json")
	os.WriteFile(pf, []byte(proof), 0o644)
	if out := nowhere.must("ledger", "verify-proof", pf, head); !strings.Contains(out, "proof holds") {
		t.Fatalf("verify-proof: %s", out)
	}
	var pj map[string]any
	json.Unmarshal([]byte(proof), &pj)
	txb, _ := base64.StdEncoding.DecodeString(pj["tx"].(string))
	txb[len(txb)/3] ^= 0x01
	pj["tx"] = base64.StdEncoding.EncodeToString(txb)
	bad, _ := json.Marshal(pj)
	os.WriteFile(pf, bad, 0o644)
	if e := nowhere.fails(nil, "ledger", "verify-proof", pf, head); !strings.Contains(e, "proof does not verify") {
		t.Fatalf("verify-proof of an altered proof: %s", e)
	}

	// A second channel, parts, which Org1 alone endorses: Org2 is killed
	// while Org1 commits a stream of transactions, and catches up after
	// its restart.
	parts := map[string]any{
		"organizations": []map[string]any{
			{"name": "Org1", "members": []map[string]any{{"peer": id1, "roles": all}}},
			{"name": "Org2", "members": []map[string]any{{"peer": id2, "roles": []string{"committer", "client"}}}},
		},
		"endorsementPolicy": "OR('Org1')",
		"blockCutting":      map[string]any{"timeout": "20ms"},
	}
	o1.must("ledger", "channel", "create", "parts", "--config", writeJSONFile(t, parts))
	o2.must("ledger", "channel", "join", "parts", "--orderer", addr1)
	stream := make(chan error, 1)
	stop := make(chan struct{})
	go func() {
		defer close(stream)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			v := parseInvoke(o1.run(nil, "ledger", "invoke", "parts", "put", fmt.Sprintf("part%03d", i), fmt.Sprintf(`{"n": %d, "owner": "o%d"}`, i, i%4)))
			if v.err != nil || v.code != "VALID" {
				stream <- fmt.Errorf("part %d: %q %v %s", i, v.code, v.err, v.stderr)
				return
			}
		}
	}()
	waitFor(t, "Org2 to commit a few parts blocks", func() bool {
		h, _ := digest(t, o2, "parts")
		return h >= 4
	})
	if err := d2.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	d2.cmd.Wait()
	h1, _ := digest(t, o1, "parts")
	waitFor(t, "Org1 to commit more parts blocks while Org2 is down", func() bool {
		h, _ := digest(t, o1, "parts")
		return h >= h1+5
	})
	d2 = startDaemon(t, o2)
	waitFor(t, "Org2 to catch up with the stream", func() bool {
		h1, head1 := digest(t, o1, "parts")
		h2, head2 := digest(t, o2, "parts")
		return h1 == h2 && head1 == head2
	})
	close(stop)
	if err := <-stream; err != nil {
		t.Fatal(err)
	}
	sameLedger(t, "parts", o1, o2)
	sameLedger(t, "cars", o1, o2)

	// A block altered in Org2's store is caught by verify, offline.
	var b2 struct{ CID string }
	json.Unmarshal([]byte(o2.must("ledger", "block", "parts", "2")), &b2)
	header := o2.must("block", "get", b2.CID)
	d2.stop(t)
	testutil.FlipInPacks(t, filepath.Join(o2.path, "blocks"), []byte(header))
	if e := o2.fails(nil, "ledger", "verify", "parts"); !strings.Contains(e, "block 2 is bad") {
		t.Fatalf("verify after damage: %s", e)
	}
	if v := o2.must("ledger", "verify", "cars"); !strings.Contains(v, "blocks verified") {
		t.Fatalf("the other channel: %s", v)
	}
	d1.stop(t)
}

// sameLedger waits until both members have the same height, head and
// state hash for the channel.
func sameLedger(t *testing.T, name string, a, b *testRepo) {
	t.Helper()
	var ia, ib channelInfo
	waitFor(t, "the members to agree on "+name, func() bool {
		ia, ib = ledgerInfo(t, a, name), ledgerInfo(t, b, name)
		return ia.Height == ib.Height && ia.Head == ib.Head && ia.StateHash == ib.StateHash
	})
	if ia.StateHash == "" {
		t.Fatal("no state hash in channel info")
	}
}
