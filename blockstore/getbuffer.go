package blockstore

import (
	"context"

	"github.com/ipfs/go-cid"
)

// GetBufferOverhead is the room GetBuffer needs in buf beyond the block's
// size: a pack record's header and longest key, which are read along with
// the data and checked with it.
const GetBufferOverhead = recHeaderLen + maxKeyLen

// GetBuffer is Get reading into buf: when cap(buf) is at least the block's
// size plus GetBufferOverhead, the returned data lies within buf's backing
// array (so buf must not be reused while the data is in use); otherwise a
// new slice is allocated, as by Get. The checks are Get's.
func (s *PackStore) GetBuffer(_ context.Context, c cid.Cid, buf []byte) ([]byte, error) {
	return s.get(c, buf)
}
