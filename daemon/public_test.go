package daemon

import (
	"context"
	"errors"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"

	"node/blockstore"
	"node/internal/testutil"
)

// TestPublicBlocksSessionRefusesPrivate: the gateway's view of the store
// refuses private blocks as not found, in a session as outside one, and
// still reads the others.
func TestPublicBlocksSessionRefusesPrivate(t *testing.T) {
	ctx := context.Background()
	store := blockstore.NewMemory()
	var blocks [2]blockstore.Block
	for i := range blocks {
		data := []byte{byte(i), 'b', 'l', 'o', 'c', 'k'}
		mh, _ := multihash.Sum(data, multihash.SHA2_256, -1)
		blocks[i] = blockstore.Block{CID: cid.NewCidV1(cid.Raw, mh), Data: data}
	}
	if err := store.PutMany(ctx, blocks[:]); err != nil {
		t.Fatal(err)
	}
	private, public := blocks[0], blocks[1]
	rec := testutil.NewSessionRecorder(store)
	pb := publicBlocks{blocks: rec, private: func(c cid.Cid) bool { return c.Equals(private.CID) }}
	for name, g := range map[string]blockstore.Getter{"outside a session": pb, "in a session": blockstore.InSession(ctx, pb)} {
		if _, err := g.Get(ctx, private.CID); !errors.Is(err, blockstore.ErrNotFound) {
			t.Errorf("%s: private block read with error %v, want ErrNotFound", name, err)
		}
		if data, err := g.Get(ctx, public.CID); err != nil || string(data) != string(public.Data) {
			t.Errorf("%s: public block read as %q, %v", name, data, err)
		}
	}
	// The session reached the node's store: the public read in it was
	// not counted as outside one.
	if sessions, outside := rec.Counts(); sessions != 1 || outside != 1 {
		t.Fatalf("%d sessions of the store, %d blocks read outside one; want 1 and 1", sessions, outside)
	}
}
