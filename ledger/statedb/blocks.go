package statedb

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/ipfs/go-cid"
)

// EachBlock calls fn for every committed block in order with its header
// CID and body CID (cid.Undef for a block without transactions): how the
// ledger service learns, at start, which blocks are a channel's.
func (db *DB) EachBlock(ctx context.Context, fn func(number uint64, header, body cid.Cid) error) error {
	rows, err := db.r.QueryContext(ctx, `SELECT number, cid, body FROM blocks ORDER BY number`)
	if err != nil {
		return fmt.Errorf("listing blocks: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var n int64
		var hs string
		var bs sql.NullString
		if err := rows.Scan(&n, &hs, &bs); err != nil {
			return err
		}
		h, err := cid.Decode(hs)
		if err != nil {
			return fmt.Errorf("block %d: stored CID: %w", n, err)
		}
		body := cid.Undef
		if bs.Valid {
			if body, err = cid.Decode(bs.String); err != nil {
				return fmt.Errorf("block %d: stored body CID: %w", n, err)
			}
		}
		if err := fn(uint64(n), h, body); err != nil {
			return err
		}
	}
	return rows.Err()
}
