package statedb

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"fmt"
)

// StateHash is a digest of the whole state: every chaincode's keys, values
// and versions, in order. Two members with the same committed blocks have
// the same state hash.
func (s *Snapshot) StateHash() ([]byte, error) {
	h := sha256.New()
	var num [8]byte
	put := func(b []byte) {
		binary.BigEndian.PutUint64(num[:], uint64(len(b)))
		h.Write(num[:])
		h.Write(b)
	}
	for _, cc := range s.db.Chaincodes() {
		put([]byte(cc))
		rows, err := s.conn.QueryContext(s.ctx, `SELECT key, value, valueJson, blockNum, txNum FROM `+StateTable(cc)+` ORDER BY key`)
		if err != nil {
			return nil, fmt.Errorf("hashing the state of %s: %w", cc, err)
		}
		for rows.Next() {
			var k string
			var v []byte
			var vj sql.NullString
			var b, t int64
			if err := rows.Scan(&k, &v, &vj, &b, &t); err != nil {
				rows.Close()
				return nil, err
			}
			put([]byte(k))
			if vj.Valid {
				h.Write([]byte{1})
				put([]byte(vj.String))
			} else {
				h.Write([]byte{0})
				put(v)
			}
			binary.BigEndian.PutUint64(num[:], uint64(b))
			h.Write(num[:])
			binary.BigEndian.PutUint64(num[:], uint64(t))
			h.Write(num[:])
		}
		if err := rows.Err(); err != nil {
			rows.Close()
			return nil, err
		}
		rows.Close()
	}
	return h.Sum(nil), nil
}

// StateHash computes the state hash at the current height.
func (db *DB) StateHash(ctx context.Context) ([]byte, uint64, error) {
	s, err := db.Snapshot(ctx)
	if err != nil {
		return nil, 0, err
	}
	defer s.Close()
	h, err := s.StateHash()
	return h, s.Height(), err
}
