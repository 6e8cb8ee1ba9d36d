package ledger

import (
	"os"
	"path/filepath"
	"testing"
)

// TestWriteFuzzSeeds regenerates the fuzz seeds of packages block and tx
// from a real channel when LEDGER_WRITE_SEEDS=1.
func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("LEDGER_WRITE_SEEDS") != "1" {
		t.Skip("set LEDGER_WRITE_SEEDS=1 to rewrite the fuzz seeds")
	}
	n := newNetwork(t)
	n.loadCarDealer()
	recall := n.invoke("recall", `{"selector": {"assembler": "panama-parts"}}`)
	ev := n.cut(recall, n.invoke("transfer", "dtrt10001", "X"))
	write := func(dir, name string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	g, err := n.members[0].ch.Block(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := n.members[0].ch.Block(ctx, ev.Number)
	if err != nil {
		t.Fatal(err)
	}
	body, err := n.members[0].store.Get(ctx, sb.Block.Body.Cid)
	if err != nil {
		t.Fatal(err)
	}
	write("block/testdata/seeds", "genesis.cbor", g.Header)
	write("block/testdata/seeds", "block.cbor", sb.Header)
	write("block/testdata/seeds", "body.cbor", body)
	write("tx/testdata/seeds", "recall.cbor", sb.Txs[0])
	write("tx/testdata/seeds", "transfer.cbor", sb.Txs[1])
}
