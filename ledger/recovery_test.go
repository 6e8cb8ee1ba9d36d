package ledger

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"node/blockstore"
	"node/internal/crashtest"
	"node/internal/testutil"
	"node/ledger/block"
	"node/ledger/identity"
	"node/ledger/validate"
)

// A member that was offline for several blocks catches up from another
// member's store after a restart and ends with the same state.
func TestCatchUpAfterRestart(t *testing.T) {
	n := newNetwork(t)
	n.loadCarDealer()
	b := n.members[1]
	b.close(t) // offline from here
	for i := range 5 {
		var txs [][]byte
		for j := range 20 {
			txs = append(txs, endorseWithout(t, n, b, "put", fmt.Sprintf("k%d-%d", i, j), fmt.Sprintf(`{"i": %d, "j": %d}`, i, j)))
		}
		n.cut(txs...)
	}
	b.reopen(t)
	h, _, _ := b.ch.Digest(ctx)
	if h != 2 {
		t.Fatalf("B restarted at height %d, want 2", h)
	}
	_, head, _ := n.members[0].ch.Digest(ctx)
	if err := b.ch.CatchUp(ctx, head, n.members[0].store); err != nil {
		t.Fatal(err)
	}
	n.sameState()
	// Catching up to the head it has is a no-op; an unknown head is an error.
	if err := b.ch.CatchUp(ctx, head, n.members[0].store); err != nil {
		t.Fatal(err)
	}
	// An older head of the same chain (announcements out of order): no-op.
	if err := b.ch.CatchUp(ctx, n.members[0].ch.Genesis(), n.members[0].store); err != nil {
		t.Fatal(err)
	}
	// Another block 1 (an orderer signing two chains): a fork.
	a := n.orderer()
	other, err := block.Build("cars", 1, a.ch.Genesis(), [][]byte{{0xa0}}, time.Now(), a.id)
	if err != nil {
		t.Fatal(err)
	}
	a.store.Put(ctx, blockstore.Block{CID: other.BodyCID, Data: other.Body})
	a.store.Put(ctx, blockstore.Block{CID: other.CID, Data: other.Bytes})
	if err := b.ch.CatchUp(ctx, other.CID, a.store); !errors.Is(err, ErrFork) {
		t.Fatalf("catching up to a fork: %v", err)
	}
	if _, err := b.ch.Commit(ctx, other.Bytes, other.Body); !errors.Is(err, ErrBadBlock) {
		t.Fatalf("committing an old block number: %v", err)
	}
	n.sameState()
}

// endorseWithout endorses with A and, while B is offline, a stand-in: the
// policy needs Org2, so B's key signs (its keys are still at hand).
func endorseWithout(t *testing.T, n *network, offline *member, fn string, args ...string) []byte {
	t.Helper()
	sp := propose(t, n.members[0], fn, args...)
	r, err := n.members[0].ch.Endorse(ctx, sp)
	if err != nil {
		t.Fatal(err)
	}
	return signAs(t, sp, r, offline.id)
}

// A block damaged in a member's store is caught by Verify, which names it.
func TestVerifyFindsAlteredBlock(t *testing.T) {
	n := newNetwork(t)
	n.loadCarDealer()
	for i := range 4 {
		n.cut(n.invoke("put", fmt.Sprintf("x%d", i), `{"n": 1}`))
	}
	c := n.members[2]
	rep, err := c.ch.Verify(ctx)
	if err != nil || !rep.OK || rep.Height != 6 {
		t.Fatalf("clean chain: %+v %v", rep, err)
	}
	// 1. Bytes flipped on disk (the pack's CRC no longer matches).
	sb, err := c.ch.Block(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	c.close(t)
	testutil.FlipInPacks(t, filepath.Join(c.dir, "blocks"), sb.Header)
	c.reopen(t)
	rep, err = c.ch.Verify(ctx)
	if err != nil || rep.OK || rep.FirstBad == nil || *rep.FirstBad != 3 {
		t.Fatalf("after damage to block 3: %+v %v", rep, err)
	}
	t.Logf("damaged on disk: %s", rep.Problem)
	// 2. Other bytes stored under the block's CID (a store that does not
	// re-hash would hand them out): the CID check catches it.
	if err := c.store.Delete(ctx, sb.CID); err != nil {
		t.Fatal(err)
	}
	forged := bytes.Clone(sb.Header)
	forged[len(forged)/2] ^= 0x01
	if err := c.store.Put(ctx, blockstore.Block{CID: sb.CID, Data: forged}); err != nil {
		t.Fatal(err)
	}
	sb2, _ := c.ch.Block(ctx, 2)
	if err := c.store.Delete(ctx, sb2.CID); err != nil {
		t.Fatal(err)
	}
	rep, err = c.ch.Verify(ctx)
	if err != nil || rep.OK || *rep.FirstBad != 2 {
		t.Fatalf("after removing block 2: %+v %v", rep, err)
	}
	if err := c.store.Put(ctx, blockstore.Block{CID: sb2.CID, Data: sb2.Header}); err != nil {
		t.Fatal(err)
	}
	rep, err = c.ch.Verify(ctx)
	if err != nil || rep.OK || *rep.FirstBad != 3 || !strings.Contains(rep.Problem, "hash") {
		t.Fatalf("after forging block 3: %+v %v", rep, err)
	}
}

// A proof checks offline against the head digest and fails when any byte
// of it changes.
func TestProof(t *testing.T) {
	n := newNetwork(t)
	n.loadCarDealer()
	target := n.invoke("transfer", "abg1235", "Eve")
	ev := n.cut(n.invoke("put", "p1", `{"a": 1}`), target, n.invoke("put", "p2", `{"a": 2}`))
	wantCodes(t, ev, validate.Valid, validate.Valid, validate.Valid)
	for i := range 3 {
		n.cut(n.invoke("put", fmt.Sprintf("later%d", i), `{"a": 3}`))
	}
	txid := ev.Txs[1].TxID
	p, err := n.members[2].ch.Proof(ctx, txid)
	if err != nil {
		t.Fatal(err)
	}
	_, digest, _ := n.members[0].ch.Digest(ctx)
	// Through JSON, as `node ledger proof > proof.json` writes it.
	js, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var back block.Proof
	if err := json.Unmarshal(js, &back); err != nil {
		t.Fatal(err)
	}
	v, err := block.VerifyProof(&back, digest)
	if err != nil {
		t.Fatal(err)
	}
	if v.TxID != txid || v.Block != ev.Number || v.Index != 1 || v.Height != 6 || len(back.Headers) != 4 {
		t.Fatalf("verified %+v with %d headers", v, len(back.Headers))
	}
	if _, err := block.VerifyProof(&back, n.members[0].ch.Genesis()); err == nil {
		t.Fatal("verified against another digest")
	}
	// Every byte of the transaction, the audit path and the headers.
	flipped := 0
	check := func(b []byte, what string) {
		for i := range b {
			b[i] ^= 0x01
			if _, err := block.VerifyProof(&back, digest); err == nil {
				t.Fatalf("proof verified with byte %d of %s changed", i, what)
			}
			b[i] ^= 0x01
			flipped++
		}
	}
	check(back.Tx, "the transaction")
	for i := range back.AuditPath {
		check(back.AuditPath[i], fmt.Sprintf("audit path element %d", i))
	}
	for i := range back.Headers {
		check(back.Headers[i], fmt.Sprintf("header %d", i))
	}
	back.Index = 0
	if _, err := block.VerifyProof(&back, digest); err == nil {
		t.Fatal("verified with another index")
	}
	back.Index, back.Block = 1, back.Block+1
	if _, err := block.VerifyProof(&back, digest); err == nil {
		t.Fatal("verified with another block number")
	}
	t.Logf("%d single-byte changes all rejected", flipped)
}

// The crash test: a child process commits blocks into a member's store and
// state database and is killed with SIGKILL mid-stream; the member reopens
// at a whole block with the state every other member had at that height.
const (
	crashDirEnv = "LEDGER_CRASH_DIR"
	crashSrcEnv = "LEDGER_CRASH_SRC"
)

func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("helper process for TestKill9DuringCommit")
	}
	fail := func(err error) {
		fmt.Println("error", err)
		os.Exit(1)
	}
	id, _ := identity.Generate()
	m := &member{name: "V", id: id, dir: dir}
	m.openStore(t)
	src, err := blockstore.OpenPackStore(os.Getenv(crashSrcEnv), blockstore.PackOptions{})
	if err != nil {
		fail(err)
	}
	ch, err := Open(ctx, m.opts())
	if err != nil {
		fail(err)
	}
	heads, err := os.ReadFile(filepath.Join(dir, "heads.txt"))
	if err != nil {
		fail(err)
	}
	h, _, _ := ch.Digest(ctx)
	lines := strings.Fields(string(heads))
	for n := int(h); n < len(lines); n++ {
		c, _ := cid.Decode(lines[n])
		if err := ch.CatchUp(ctx, c, src); err != nil {
			fail(err)
		}
		if _, err := fmt.Printf("committed %d\n", n); err != nil {
			os.Exit(1)
		}
	}
	os.Exit(0)
}

func TestKill9DuringCommit(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	n := newNetwork(t)
	a, c := n.members[0], n.members[2]
	// The reference: C's state hash at every height.
	ref := map[uint64]string{}
	record := func() {
		h, height, err := c.ch.StateHash(ctx)
		if err != nil {
			t.Fatal(err)
		}
		ref[height] = string(h)
	}
	record()
	var heads []string
	heads = append(heads, a.ch.Genesis().String())
	for i := range 24 {
		var txs [][]byte
		for j := range 60 {
			k := fmt.Sprintf("k%03d", (i*7+j)%150)
			txs = append(txs, n.invoke("put", k, fmt.Sprintf(`{"i": %d, "j": %d, "pad": "%s"}`, i, j, strings.Repeat("x", 200))))
		}
		ev := n.cut(txs...)
		heads = append(heads, ev.CID.String())
		record()
	}
	final := len(heads)
	// The victim: a committer that has only the genesis block.
	v := newMember(t, "V")
	var err error
	v.ch, err = Join(ctx, v.opts(), a.ch.Genesis(), a.store)
	if err != nil {
		t.Fatal(err)
	}
	v.close(t)
	if err := os.WriteFile(filepath.Join(v.dir, "heads.txt"), []byte(strings.Join(heads, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	srcDir := filepath.Join(a.dir, "blocks")
	a.close(t) // the child opens A's store as its source
	env := []string{crashDirEnv + "=" + v.dir, crashSrcEnv + "=" + srcDir}
	next := 1
	for round := range 3 {
		committed := crashtest.KillChildAt(t, "TestCrashChild", env, "committed ", next-1, next+3+round*2)
		v.reopen(t)
		height, _, err := v.ch.Digest(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if height < uint64(committed+1) || height > uint64(committed+2) {
			t.Fatalf("round %d: height %d after the child reported block %d committed", round, height, committed)
		}
		h, _, err := v.ch.StateHash(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if string(h) != ref[height] {
			t.Fatalf("round %d: the state at height %d differs from the other members'", round, height)
		}
		rep, err := v.ch.Verify(ctx)
		if err != nil || !rep.OK {
			t.Fatalf("round %d: verify after the crash: %+v %v", round, rep, err)
		}
		t.Logf("round %d: killed after block %d; reopened at height %d with the right state", round, committed, height)
		v.close(t)
		next = int(height)
	}
	// The member finishes catching up.
	v.reopen(t)
	src, err := blockstore.OpenPackStore(srcDir, blockstore.PackOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	last, _ := cid.Decode(heads[final-1])
	if err := v.ch.CatchUp(ctx, last, src); err != nil {
		t.Fatal(err)
	}
	h, height, _ := v.ch.StateHash(ctx)
	if height != uint64(final) || string(h) != ref[height] {
		t.Fatalf("after catching up: height %d (want %d), same state: %v", height, final, string(h) == ref[height])
	}
}
