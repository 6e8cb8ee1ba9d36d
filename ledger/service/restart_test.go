package service

import (
	"testing"

	"github.com/ipfs/go-cid"

	"node/ledger/identity"
)

// After a restart the service knows every block of its channels again
// before it serves any: members may fetch them, strangers may not, and
// none is announced; until the channels are loaded no dag-cbor block is
// served at all. Offline (no host), the one-organisation channel works.
func TestAccessAfterRestart(t *testing.T) {
	n := newNode(t, "A")
	root := t.TempDir()
	opts := Options{Root: root, Identity: n.id, Local: n.packs, Blocks: n.packs, Logger: quiet}
	m, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Create(ctx, "demo", nil); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"a", "b"} {
		if r, err := m.Invoke(ctx, "demo", InvokeRequest{Function: "put", Args: []string{k, `{"v": 1}`}}); err != nil || r.Code != 0 {
			t.Fatalf("offline invoke: %+v %v", r, err)
		}
	}
	ch, _ := m.Channel(ctx, "demo")
	var blocks []cid.Cid
	for i := range uint64(3) {
		sb, err := ch.Block(ctx, i)
		if err != nil {
			t.Fatal(err)
		}
		blocks = append(blocks, sb.CID)
		if sb.Block.Body.Defined() {
			blocks = append(blocks, sb.Block.Body.Cid)
		}
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}

	m, err = New(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	stranger, _ := identity.Generate()
	public := rawBlock(t, []byte("public"))
	if m.MayFetch(stranger.PeerID(), blocks[0]) || !m.MayFetch(stranger.PeerID(), public.CID) {
		t.Fatal("before Start: dag-cbor blocks must be held back, raw ones served")
	}
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	for _, b := range blocks {
		if !m.Private(b) || m.MayFetch(stranger.PeerID(), b) || !m.MayFetch(n.peer(), b) {
			t.Fatalf("block %s after a restart: private %v, stranger %v, member %v", b, m.Private(b), m.MayFetch(stranger.PeerID(), b), m.MayFetch(n.peer(), b))
		}
	}
	if m.Private(public.CID) || !m.MayFetch(stranger.PeerID(), public.CID) {
		t.Fatal("a public block is treated as a channel's")
	}
	if l, err := m.List(ctx); err != nil || len(l) != 1 || l[0].Height != 3 {
		t.Fatalf("list after a restart: %+v %v", l, err)
	}
}
