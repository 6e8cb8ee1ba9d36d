package docs

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"node/ledger/chaincode"
	"node/ledger/identity"
	"node/ledger/statedb"
	"node/ledger/tx"
)

var ctx = context.Background()

// fixture is a real state database with two documents and a plain value.
func fixture(t *testing.T) *statedb.DB {
	db, err := statedb.Open(filepath.Join(t.TempDir(), "state.db"), statedb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	db.EnsureChaincode(ctx, "docs")
	b, _ := db.Begin(ctx)
	b.Apply("docs", []tx.Write{
		{Key: "car1", Value: []byte(`{"owner":"Ann","model":"a","tags":{"x":1}}`)},
		{Key: "car2", Value: []byte(`{"owner":"Bob","model":"b","recall":true}`)},
		{Key: "raw", Value: []byte("plain")},
	}, tx.Version{Block: 1, Tx: 0}, "t0")
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	return db
}

func run(t *testing.T, db *statedb.DB, fn string, args ...string) ([]byte, *tx.RWSet, error) {
	t.Helper()
	id, _ := identity.Generate()
	s, err := db.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	p := &tx.Proposal{Channel: "c", Chaincode: "docs", Function: fn, Args: args, Creator: id.PublicKey(),
		Nonce: make([]byte, tx.NonceSize), Time: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC).UnixNano()}
	return chaincode.Simulate(s, New(), p)
}

func TestDocs(t *testing.T) {
	db := fixture(t)
	// put: a blind write, keys sorted.
	res, rw, err := run(t, db, "put", "car3", `{"z": 1, "a": {"b": 2}}`)
	if err != nil || string(res) != `{"a":{"b":2},"z":1}` || len(rw.Reads) != 0 || len(rw.Writes) != 1 {
		t.Fatalf("put: %s %+v %v", res, rw, err)
	}
	// patch: reads then merges (null deletes).
	res, rw, err = run(t, db, "patch", "car1", `{"model": null, "tags": {"y": 2}, "color": "red"}`)
	if err != nil || string(res) != `{"color":"red","owner":"Ann","tags":{"x":1,"y":2}}` {
		t.Fatalf("patch: %s %v", res, err)
	}
	if len(rw.Reads) != 1 || rw.Reads[0].Key != "car1" || *rw.Reads[0].Version != (tx.Version{Block: 1, Tx: 0}) {
		t.Fatalf("patch reads %+v", rw.Reads)
	}
	// delete: reads, then a delete write.
	_, rw, err = run(t, db, "delete", "car2")
	if err != nil || len(rw.Reads) != 1 || !rw.Writes[0].Delete {
		t.Fatalf("delete: %+v %v", rw, err)
	}
	// transfer: checks.
	res, _, err = run(t, db, "transfer", "car1", "Cid")
	if err != nil || !strings.Contains(string(res), `"owner":"Cid"`) {
		t.Fatalf("transfer: %s %v", res, err)
	}
	for _, c := range [][]string{
		{"transfer", "car1", "Ann"}, // same owner
		{"transfer", "car2", "Cid"}, // recalled
		{"transfer", "nope", "Cid"}, // missing
		{"transfer", "raw", "Cid"},  // not JSON
		{"delete", "nope"},          // missing
		{"put", "k", `[1, 2]`},      // not an object
		{"put", "k", `{"a": 1} x`},  // trailing data
		{"patch", "car1", `[1]`},    // result not an object
		{"put", "", `{}`},           // empty key
		{"frobnicate"},              // unknown function
		{"put", "k"},                // usage
		{"recall", `{"selector": {"$bad": 1}}`},
	} {
		if _, _, err := run(t, db, c[0], c[1:]...); !errors.Is(err, chaincode.ErrChaincode) {
			t.Errorf("%v: %v, want ErrChaincode", c, err)
		}
	}
	// recall: a query in the read set, writes to each match.
	res, rw, err = run(t, db, "recall", `{"owner": "Ann"}`)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	json.Unmarshal(res, &keys)
	if len(keys) != 1 || keys[0] != "car1" || len(rw.Queries) != 1 || rw.Queries[0].Kind != tx.QuerySelector || rw.Queries[0].Count != 1 {
		t.Fatalf("recall: %s %+v", res, rw)
	}
	if !strings.Contains(string(rw.Writes[0].Value), `"recall":true`) || !strings.Contains(string(rw.Writes[0].Value), `"recallDate":1704164645`) {
		t.Fatalf("recall wrote %s", rw.Writes[0].Value)
	}
	// The results hash is what a re-run gives.
	s, _ := db.Snapshot(ctx)
	defer s.Close()
	h, err := chaincode.Rerun(s, "docs", rw.Queries[0])
	if err != nil || string(h) != string(rw.Queries[0].ResultsHash) {
		t.Fatalf("re-run hash differs: %v", err)
	}
}
