package blockstore

import (
	"context"

	"github.com/ipfs/go-cid"
)

// Getter reads blocks: the read side of a Store.
type Getter interface {
	Get(ctx context.Context, c cid.Cid) ([]byte, error)
}

// Sessions is a Getter that can group the reads of one DAG. The node's
// store is one: it fetches missing blocks over Bitswap, and the reads
// through one session share what they learn of which peers have the
// blocks, so the blocks after the first are asked of those peers, not of
// every connected peer.
type Sessions interface {
	Session(ctx context.Context) Getter
}

// InSession returns g's session for ctx when g has sessions, else g. A
// reader of a whole file or tree calls it once and reads every block
// through what it returns; the session ends with ctx.
func InSession(ctx context.Context, g Getter) Getter {
	if s, ok := g.(Sessions); ok {
		return s.Session(ctx)
	}
	return g
}
