package statedb

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"node/ledger/ledgertest"
	"node/ledger/selector"
	"node/ledger/tx"
)

var ctx = context.Background()

// carDealer returns the seed's car-dealer documents in insertion order.
func carDealer(testing.TB) ([]string, map[string]json.RawMessage) {
	return ledgertest.CarDealerKeys, ledgertest.CarDealer()
}

func openLoaded(t *testing.T) *DB {
	t.Helper()
	db, err := Open(filepath.Join(t.TempDir(), "state.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.EnsureChaincode(ctx, "docs"); err != nil {
		t.Fatal(err)
	}
	keys, docs := carDealer(t)
	b, err := db.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i, k := range keys {
		if err := b.Apply("docs", []tx.Write{{Key: k, Value: docs[k]}}, tx.Version{Block: 1, Tx: uint32(i)}, "tx"+k); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Apply("docs", []tx.Write{{Key: "plain", Value: []byte("not json")}}, tx.Version{Block: 1, Tx: 9}, "txplain"); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	return db
}

func sqlStrings(t *testing.T, db *DB, q string) []string {
	t.Helper()
	s, err := db.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r, err := s.SQL("docs", q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	var out []string
	for _, row := range r.Rows {
		var cells []string
		for _, v := range row {
			switch x := v.(type) {
			case string:
				cells = append(cells, x)
			case []byte:
				cells = append(cells, string(x))
			default:
				b, _ := json.Marshal(x)
				cells = append(cells, string(b))
			}
		}
		out = append(out, strings.Join(cells, "|"))
	}
	return out
}

func TestValueColumns(t *testing.T) {
	db := openLoaded(t)
	got := sqlStrings(t, db, `SELECT key, value IS NULL, valueJson IS NULL FROM <STATE> WHERE key IN ('abg1234', 'plain') ORDER BY key`)
	want := []string{"abg1234|1|0", "plain|0|1"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	s, _ := db.Snapshot(ctx)
	defer s.Close()
	v, ver, err := s.Get("docs", "plain")
	if err != nil || string(v) != "not json" || ver == nil || ver.Tx != 9 {
		t.Fatalf("Get plain = %q %v %v", v, ver, err)
	}
	v, ver, err = s.Get("docs", "missing")
	if err != nil || v != nil || ver != nil {
		t.Fatalf("Get missing = %q %v %v", v, ver, err)
	}
}

// The seed's SQL rich queries and their answers.
func TestCarDealerSQL(t *testing.T) {
	db := openLoaded(t)
	check := func(q string, want ...string) {
		t.Helper()
		got := sqlStrings(t, db, q)
		if !slices.Equal(got, want) {
			t.Fatalf("%s\n got %q\nwant %q", q, got, want)
		}
	}
	_, docs := carDealer(t)
	// All keys (ordered here, the seed lists them in insertion order).
	check(`SELECT key FROM <STATE> WHERE valueJson IS NOT NULL ORDER BY rowid`, "abg1234", "abg1235", "ser1236", "bra1238", "dtrt10001")
	check(`SELECT key AS serialNumber, valueJson AS details FROM <state> WHERE valueJson IS NOT NULL ORDER BY key`,
		"abg1234|"+string(docs["abg1234"]), "abg1235|"+string(docs["abg1235"]), "bra1238|"+string(docs["bra1238"]),
		"dtrt10001|"+string(docs["dtrt10001"]), "ser1236|"+string(docs["ser1236"]))
	check(`SELECT key FROM <StAtE> WHERE key LIKE 'abg%' ORDER BY key`, "abg1234", "abg1235")
	check(`SELECT key FROM <STATE> WHERE json_extract(valueJson, '$.docType') = 'vehiclePart' AND json_extract(valueJson, '$.owner') = 'Detroit Auto' ORDER BY key`,
		"abg1234", "abg1235", "bra1238", "ser1236")
	check(`SELECT json_extract(valueJson, '$.model') AS model, json_extract(valueJson, '$.manufacturer') AS manufacturer FROM <STATE> WHERE json_extract(valueJson, '$.docType') = 'vehicle' AND json_extract(valueJson, '$.owner') = 'Sam Dealer'`,
		"a coupe|Detroit Auto")
	check(`SELECT json_extract(s.valueJson, '$.model'), json_extract(s.valueJson, '$.manufacturer') FROM <STATE> AS s, json_each(s.valueJson) AS j WHERE j.key = 'owner' AND j.value = 'Sam Dealer'`,
		"a coupe|Detroit Auto")
}

func TestHostileSQL(t *testing.T) {
	db := openLoaded(t)
	before, _, err := db.StateHash(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`DROP TABLE <STATE>`,
		`SELECT 1; DROP TABLE <STATE>`,
		`SELECT key FROM <STATE>; SELECT 1`,
		`ATTACH DATABASE '/tmp/x.db' AS x`,
		`SELECT * FROM <STATE> WHERE 1; ATTACH '/tmp/x' AS y`,
		`PRAGMA writable_schema = 1`,
		`SELECT * FROM pragma_table_info('state_docs')`,
		`SELECT load_extension('/tmp/evil.so')`,
		`SELECT "load_extension"('/tmp/evil.so')`,
		`SELECT * FROM sqlite_master`,
		`SELECT * FROM "sqlite_master"`,
		`SELECT * FROM history_docs`,
		`SELECT * FROM txs`,
		`SELECT * FROM blocks`,
		`DELETE FROM <STATE>`,
		`UPDATE <STATE> SET value = 1`,
		`INSERT INTO <STATE> (key, blockNum, txNum) VALUES ('x', 0, 0)`,
		`REPLACE INTO <STATE> (key, blockNum, txNum) VALUES ('x', 0, 0)`,
		`WITH x AS (SELECT 1) DELETE FROM <STATE>`,
		`SELECT random()`,
		`VACUUM`,
		`SELECT 1 /* unterminated`,
		`SELECT 'x`,
		"SELECT 1;\x00DROP TABLE x",
		``,
		`   ;`,
		`CREATE TABLE t (x)`,
		`BEGIN; DELETE FROM <STATE>; COMMIT`,
	} {
		s, err := db.Snapshot(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.SQL("docs", q); err == nil {
			t.Errorf("accepted: %s", q)
		} else if !errors.Is(err, ErrRejected) {
			t.Errorf("%s: error does not wrap ErrRejected: %v", q, err)
		}
		s.Close()
		// The re-run at validation goes through the writer: same refusal.
		b, err := db.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.SQL("docs", q); err == nil {
			t.Errorf("writer accepted: %s", q)
		}
		if err := b.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	after, _, err := db.StateHash(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if string(before) != string(after) {
		t.Fatal("hostile SQL changed the state")
	}
	// Allowed: comments, quotes, replace() as a function, a final ';'.
	got := sqlStrings(t, db, "-- owners\nSELECT replace(key, 'abg', 'ABG') FROM <state> /* c */ WHERE key = 'abg1234' AND 'DROP' <> 'x';")
	if !slices.Equal(got, []string{"ABG1234"}) {
		t.Fatalf("got %v", got)
	}
}

func find(t *testing.T, db *DB, q string) []string {
	t.Helper()
	sq, err := selector.Parse([]byte(q))
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	s, err := db.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	docs, err := s.Find("docs", sq)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	var keys []string
	for _, d := range docs {
		keys = append(keys, d.Key)
	}
	return keys
}

func TestCarDealerSelectors(t *testing.T) {
	db := openLoaded(t)
	check := func(q string, want ...string) {
		t.Helper()
		if got := find(t, db, q); !slices.Equal(got, want) {
			t.Fatalf("%s\n got %v\nwant %v", q, got, want)
		}
	}
	check(`{"selector": {"docType": "vehiclePart", "owner": "Detroit Auto"}}`, "abg1234", "abg1235", "bra1238", "ser1236")
	check(`{"selector": {"docType": "vehicle", "owner": "Sam Dealer"}, "fields": ["model", "manufacturer"]}`, "dtrt10001")
	check(`{"selector": {"serialNumber": {"$regex": "^abg"}}}`, "abg1234", "abg1235")
	check(`{"selector": {"$or": [{"name": "brakepad 4200"}, {"model": "a coupe"}]}}`, "bra1238", "dtrt10001")
	check(`{"selector": {"$nor": [{"docType": "vehiclePart"}]}}`, "dtrt10001")
	check(`{"selector": {"docType": {"$ne": "vehiclePart"}}}`, "dtrt10001")
	check(`{"selector": {"assembler": {"$in": ["bobs-bits", "nobody"]}}}`, "bra1238")
	check(`{"selector": {"assembler": {"$nin": ["panama-parts"]}}}`, "bra1238")
	check(`{"selector": {"chassisNumber": {"$exists": true}}}`, "dtrt10001")
	check(`{"selector": {"chassisNumber": {"$exists": false}, "recall": false}}`, "abg1234", "abg1235", "bra1238", "ser1236")
	check(`{"selector": {"assemblyDate": {"$gte": 1502688979, "$lt": 1502688980}, "docType": "vehicle"}}`, "dtrt10001")
	check(`{"selector": {"assemblyDate": {"$gt": 1502688979}}}`)
	check(`{"selector": {"recall": {"$type": "boolean"}, "serialNumber": {"$gt": "bra"}}}`, "bra1238", "ser1236")
	check(`{"selector": {"assemblyDate": {"$mod": [2, 1]}, "docType": "vehicle"}}`, "dtrt10001")
	check(`{"selector": {"name": {"$not": {"$regex": "airbag"}}, "docType": "vehiclePart"}}`, "bra1238", "ser1236")
	check(`{"selector": {"$not": {"owner": "Detroit Auto"}}}`, "dtrt10001")
	check(`{"selector": {"docType": "vehiclePart"}, "sort": [{"serialNumber": "desc"}], "limit": 2}`, "ser1236", "bra1238")
	check(`{"selector": {"docType": "vehiclePart"}, "sort": ["serialNumber"], "skip": 3}`, "ser1236")
}

func TestArraysSelectors(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), "state.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.EnsureChaincode(ctx, "docs")
	b, _ := db.Begin(ctx)
	for i, d := range []string{
		`{"tags": ["red", "blue"], "parts": [{"n": "wheel", "q": 4}, {"n": "door", "q": 2}], "meta": {"weird.key": 1}}`,
		`{"tags": ["red"], "parts": [{"n": "wheel", "q": 3}]}`,
		`{"tags": [], "parts": []}`,
	} {
		if err := b.Apply("docs", []tx.Write{{Key: string(rune('a' + i)), Value: []byte(d)}}, tx.Version{Block: 1, Tx: uint32(i)}, "t"); err != nil {
			t.Fatal(err)
		}
	}
	b.Commit()
	check := func(q string, want ...string) {
		t.Helper()
		if got := find(t, db, q); !slices.Equal(got, want) {
			t.Fatalf("%s\n got %v\nwant %v", q, got, want)
		}
	}
	check(`{"selector": {"tags": {"$elemMatch": {"$eq": "blue"}}}}`, "a")
	check(`{"selector": {"tags": {"$allMatch": {"$eq": "red"}}}}`, "b")
	check(`{"selector": {"tags": {"$size": 0}}}`, "c")
	check(`{"selector": {"tags": ["red"]}}`, "b")
	check(`{"selector": {"parts": {"$elemMatch": {"n": "wheel", "q": {"$gte": 4}}}}}`, "a")
	check(`{"selector": {"parts": {"$allMatch": {"q": {"$gt": 2}}}}}`, "b")
	check(`{"selector": {"meta.weird\\.key": 1}}`, "a")
	check(`{"selector": {"meta": {"weird\\.key": {"$exists": true}}}}`, "a")
	check(`{"selector": {"tags": {"$type": "array"}}, "limit": 2}`, "a", "b")
}

func TestBookmarks(t *testing.T) {
	db := openLoaded(t)
	q := `{"selector": {"docType": "vehiclePart"}, "limit": 3}`
	sq, _ := selector.Parse([]byte(q))
	s, _ := db.Snapshot(ctx)
	page1, err := s.Find("docs", sq)
	s.Close()
	if err != nil || len(page1) != 3 {
		t.Fatalf("page 1: %v %v", page1, err)
	}
	bm := sq.Bookmark(len(page1))
	if bm == "" {
		t.Fatal("no bookmark after a full page")
	}
	got := find(t, db, `{"selector": {"docType": "vehiclePart"}, "limit": 3, "bookmark": "`+bm+`"}`)
	if !slices.Equal(got, []string{"ser1236"}) {
		t.Fatalf("page 2 = %v", got)
	}
	if _, err := selector.Parse([]byte(`{"selector": {"docType": "vehicle"}, "limit": 3, "bookmark": "` + bm + `"}`)); err == nil {
		t.Fatal("a bookmark of another query was accepted")
	}
}

// Custom indexes are used by both SQL and selector queries: the plan says so.
func TestIndexPlan(t *testing.T) {
	db := openLoaded(t)
	planOf := func(sqlq, sel string) (string, string) {
		s, err := db.Snapshot(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		p1, err := s.Explain("docs", sqlq)
		if err != nil {
			t.Fatal(err)
		}
		sq, err := selector.Parse([]byte(sel))
		if err != nil {
			t.Fatal(err)
		}
		p2, err := s.ExplainFind("docs", sq)
		if err != nil {
			t.Fatal(err)
		}
		return strings.Join(p1, "; "), strings.Join(p2, "; ")
	}
	sqlq := `SELECT key FROM <STATE> WHERE json_extract(valueJson, '$.owner') = 'Detroit Auto'`
	sel := `{"selector": {"owner": "Detroit Auto"}}`
	a, b := planOf(sqlq, sel)
	if strings.Contains(a, "ix_docs_byOwner") || strings.Contains(b, "ix_docs_byOwner") {
		t.Fatal("index used before it exists")
	}
	for _, bad := range []string{
		`{"indexExpressions": ["json_extract(valueJson, '$.owner'); DROP TABLE x"]}`,
		`{"indexExpressions": ["random()"]}`,
		`{"indexExpressions": []}`,
		`{"indexExpressions": ["json_extract(valueJson, '$.a'')"]}`,
		`{"name": "x\"y", "indexExpressions": ["key"]}`,
		`{"indexExpressions": ["key"], "extra": 1}`,
	} {
		if _, err := ParseIndex([]byte(bad)); !errors.Is(err, ErrBadIndex) {
			t.Errorf("index %s: %v, want ErrBadIndex", bad, err)
		}
	}
	def, err := ParseIndex([]byte(`{"name": "byOwner", "indexExpressions": ["JSON_EXTRACT( valueJson , '$.owner' )"]}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.AddIndex(ctx, "docs", def); err != nil {
		t.Fatal(err)
	}
	if _, err := db.AddIndex(ctx, "docs", def); err != nil {
		t.Fatalf("adding the same index again: %v", err)
	}
	a, b = planOf(sqlq, sel)
	if !strings.Contains(a, "USING INDEX ix_docs_byOwner") {
		t.Fatalf("SQL plan does not use the index: %s", a)
	}
	if !strings.Contains(b, "USING INDEX ix_docs_byOwner") {
		t.Fatalf("selector plan does not use the index: %s", b)
	}
	ixs, err := db.Indexes(ctx)
	if err != nil || len(ixs) != 1 || ixs[0].Expressions[0] != "json_extract(valueJson, '$.owner')" {
		t.Fatalf("Indexes = %+v, %v", ixs, err)
	}
	// The answers do not change.
	if got := find(t, db, sel); len(got) != 4 {
		t.Fatalf("with the index: %v", got)
	}
}

// A batch that is rolled back leaves nothing; the height moves only with
// a committed block row.
func TestBatchAtomic(t *testing.T) {
	db := openLoaded(t)
	h0, _, _ := db.StateHash(ctx)
	b, _ := db.Begin(ctx)
	b.Apply("docs", []tx.Write{{Key: "abg1234", Delete: true}}, tx.Version{Block: 2}, "x")
	b.Rollback()
	h1, _, _ := db.StateHash(ctx)
	if string(h0) != string(h1) {
		t.Fatal("rollback changed the state")
	}
	hist, err := db.History(ctx, "docs", "abg1234")
	if err != nil || len(hist) != 1 || hist[0].TxID != "txabg1234" {
		t.Fatalf("history = %+v, %v", hist, err)
	}
}
