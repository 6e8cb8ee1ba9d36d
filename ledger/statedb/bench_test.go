package statedb

import (
	"flag"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"node/ledger/selector"
	"node/ledger/tx"
)

var benchDocs = flag.Int("ledger.docs", 100000, "documents in the query benchmarks' state (1000000 for the recorded figures)")

// BenchmarkQuery times a selector and the equivalent SQL query picking
// 1/1000 of the documents by owner, without and then with a custom index
// on json_extract(valueJson, '$.owner'). Run with -ledger.docs=1000000
// for the recorded figures (loading takes a while).
func BenchmarkQuery(b *testing.B) {
	n := *benchDocs
	db, err := Open(filepath.Join(b.TempDir(), "state.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if err := db.EnsureChaincode(ctx, "docs"); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	const perBatch = 10000
	for i := 0; i < n; i += perBatch {
		batch, err := db.Begin(ctx)
		if err != nil {
			b.Fatal(err)
		}
		for j := i; j < min(i+perBatch, n); j++ {
			doc := fmt.Sprintf(`{"docType": "vehiclePart", "serialNumber": "p%08d", "owner": "owner-%d", "assembler": "a%d", "recall": false, "year": %d}`,
				j, j%1000, j%17, 1990+j%30)
			if err := batch.Apply("docs", []tx.Write{{Key: fmt.Sprintf("p%08d", j), Value: []byte(doc)}}, tx.Version{Block: uint64(1 + j/500), Tx: uint32(j % 500)}, "t"); err != nil {
				b.Fatal(err)
			}
		}
		if err := batch.Commit(); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("loaded %d documents in %v", n, time.Since(start))
	sel, _ := selector.Parse([]byte(`{"selector": {"owner": "owner-417", "docType": "vehiclePart"}}`))
	const sqlq = `SELECT key, valueJson FROM <STATE> WHERE json_extract(valueJson, '$.owner') = 'owner-417' AND json_extract(valueJson, '$.docType') = 'vehiclePart'`
	want := n / 1000
	run := func(b *testing.B, useSQL bool) {
		s, err := db.Snapshot(ctx)
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		plan, _ := s.ExplainFind("docs", sel)
		if useSQL {
			plan, _ = s.Explain("docs", sqlq)
		}
		b.Logf("plan: %s", strings.Join(plan, "; "))
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			got := 0
			if useSQL {
				r, err := s.SQL("docs", sqlq)
				if err != nil {
					b.Fatal(err)
				}
				got = len(r.Rows)
			} else {
				docs, err := s.Find("docs", sel)
				if err != nil {
					b.Fatal(err)
				}
				got = len(docs)
			}
			if got != want {
				b.Fatalf("%d results, want %d", got, want)
			}
		}
	}
	b.Run(fmt.Sprintf("docs=%d/NoIndex/Selector", n), func(b *testing.B) { run(b, false) })
	b.Run(fmt.Sprintf("docs=%d/NoIndex/SQL", n), func(b *testing.B) { run(b, true) })
	start = time.Now()
	def, _ := ParseIndex([]byte(`{"name": "byOwner", "indexExpressions": ["json_extract(valueJson, '$.owner')"]}`))
	if _, err := db.AddIndex(ctx, "docs", def); err != nil {
		b.Fatal(err)
	}
	b.Logf("index built in %v", time.Since(start))
	b.Run(fmt.Sprintf("docs=%d/Index/Selector", n), func(b *testing.B) { run(b, false) })
	b.Run(fmt.Sprintf("docs=%d/Index/SQL", n), func(b *testing.B) { run(b, true) })
}
