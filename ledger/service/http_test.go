package service

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"node/ledger/block"
)

// apiClient talks to a real HTTP server serving Handler.
type apiClient struct {
	t    *testing.T
	base string
}

func (c *apiClient) do(method, path string, body any) (int, []byte) {
	c.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		r = bytes.NewReader(j)
	}
	req, _ := http.NewRequest(method, c.base+path, r)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

// ok expects status want and decodes the answer into v.
func (c *apiClient) ok(want int, method, path string, body, v any) {
	c.t.Helper()
	code, out := c.do(method, path, body)
	if code != want {
		c.t.Fatalf("%s %s: %d %s, want %d", method, path, code, out, want)
	}
	if v != nil {
		if err := json.Unmarshal(out, v); err != nil {
			c.t.Fatalf("%s %s: %v in %s", method, path, err, out)
		}
	}
}

// The HTTP API does what the CLI does, JSON in and out, with statuses
// that say what went wrong.
func TestHTTPAPI(t *testing.T) {
	a := newNode(t, "A")
	srv := httptest.NewServer(a.m.Handler())
	defer srv.Close()
	c := &apiClient{t: t, base: srv.URL + APIPrefix}

	var info ChannelInfo
	c.ok(201, "POST", "channels", map[string]any{"name": "demo"}, &info)
	if !info.Ordering || info.Height != 1 {
		t.Fatalf("created %+v", info)
	}
	// Events, from before the first transaction.
	evResp, err := http.Get(c.base + "channels/demo/events")
	if err != nil {
		t.Fatal(err)
	}
	defer evResp.Body.Close()
	events := bufio.NewScanner(evResp.Body)

	var r InvokeResult
	c.ok(200, "POST", "channels/demo/invoke", InvokeRequest{Function: "put", Args: []string{"car1", `{"owner": "Ann", "model": "coupe"}`}}, &r)
	if r.Code.String() != "VALID" || r.Block != 1 {
		t.Fatalf("invoke: %+v", r)
	}
	for events.Scan() && strings.TrimSpace(events.Text()) == "" {
	}
	var ev EventView
	if err := json.Unmarshal(events.Bytes(), &ev); err != nil || ev.Number != 1 || len(ev.Txs) != 1 || ev.Txs[0].TxID != r.TxID {
		t.Fatalf("event %s: %v", events.Text(), err)
	}
	c.ok(200, "POST", "channels/demo/invoke", InvokeRequest{Function: "transfer", Args: []string{"car1", "Bob"}}, &r)

	var g GetResponse
	c.ok(200, "GET", "channels/demo/state/car1", nil, &g)
	if string(g.Value) != `{"model":"coupe","owner":"Bob"}` || g.Version.Block != 2 {
		t.Fatalf("get: %+v %s", g, g.Value)
	}
	var hist []map[string]any
	c.ok(200, "GET", "channels/demo/history/car1", nil, &hist)
	if len(hist) != 2 {
		t.Fatalf("history: %v", hist)
	}
	var sq SQLView
	c.ok(200, "POST", "channels/demo/sql", SQLRequest{Query: `SELECT key, json_extract(valueJson, '$.owner') AS owner FROM <STATE>`}, &sq)
	if len(sq.Rows) != 1 || sq.Rows[0][1] != "Bob" || sq.Columns[1] != "owner" {
		t.Fatalf("sql: %+v", sq)
	}
	var found FindResponse
	c.ok(200, "POST", "channels/demo/find", `{"selector": {"owner": "Bob"}, "fields": ["model"]}`, &found)
	if len(found.Docs) != 1 || string(found.Docs[0].Value) != `{"model":"coupe"}` {
		t.Fatalf("find: %+v", found)
	}
	c.ok(201, "POST", "channels/demo/indexes", `{"name": "byOwner", "indexExpressions": ["json_extract(valueJson, '$.owner')"]}`, nil)
	var ixs []map[string]any
	c.ok(200, "GET", "channels/demo/indexes", nil, &ixs)
	if len(ixs) != 1 || ixs[0]["name"] != "byOwner" {
		t.Fatalf("indexes: %v", ixs)
	}
	var bv BlockView
	c.ok(200, "GET", "channels/demo/blocks/head", nil, &bv)
	if bv.Number != 2 || len(bv.Txs) != 1 || bv.Txs[0].Function != "transfer" || bv.Txs[0].Code != "VALID" {
		t.Fatalf("head block: %+v", bv)
	}
	var dg Digest
	c.ok(200, "GET", "channels/demo/digest", nil, &dg)
	if dg.Height != 3 || dg.Head != bv.CID {
		t.Fatalf("digest %+v, head block %s", dg, bv.CID)
	}
	var vr map[string]any
	c.ok(200, "GET", "channels/demo/verify", nil, &vr)
	if vr["ok"] != true {
		t.Fatalf("verify: %v", vr)
	}
	var proof block.Proof
	c.ok(200, "GET", "channels/demo/proof/"+r.TxID, nil, &proof)
	var pr ProofResult
	c.ok(200, "POST", "verify-proof", VerifyProofRequest{Proof: &proof, Digest: dg.Head}, &pr)
	if !pr.OK || pr.TxID != r.TxID || pr.Block != 2 {
		t.Fatalf("verify-proof: %+v", pr)
	}
	proof.Tx[len(proof.Tx)/2] ^= 1
	c.ok(400, "POST", "verify-proof", VerifyProofRequest{Proof: &proof, Digest: dg.Head}, nil)

	// Errors say what failed, with fitting statuses.
	for _, e := range []struct {
		method, path string
		body         any
		want         int
	}{
		{"GET", "channels/boats", nil, 404},
		{"GET", "channels/demo/state/nope", nil, 404},
		{"POST", "channels/demo/sql", SQLRequest{Query: "DROP TABLE x"}, 400},
		{"POST", "channels/demo/sql", SQLRequest{Query: "SELECT 1; SELECT 2"}, 400},
		{"POST", "channels/demo/find", `{"selector": {"$bogus": 1}}`, 400},
		{"POST", "channels", map[string]any{"name": "demo"}, 409},
		{"POST", "channels", map[string]any{"name": "x", "extra": 1}, 400},
		{"POST", "channels/demo/invoke", InvokeRequest{Function: "transfer", Args: []string{"nope", "X"}}, 400},
		{"POST", "channels/demo/join", JoinRequest{Orderer: "nonsense"}, 400},
		{"GET", "channels/demo/blocks/nine", nil, 400},
		{"GET", "nothing/here", nil, 404},
	} {
		code, body := c.do(e.method, e.path, e.body)
		var ae apiError
		if code != e.want || json.Unmarshal(body, &ae) != nil || ae.Error == "" {
			t.Errorf("%s %s: %d %s, want %d with an error message", e.method, e.path, code, body, e.want)
		}
	}
	// The state is unchanged by all that.
	c.ok(200, "GET", "channels/demo/digest", nil, &dg)
	if dg.Height != 3 {
		t.Fatalf("height %d after refused requests", dg.Height)
	}
}
