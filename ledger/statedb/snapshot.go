package statedb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/ipfs/go-cid"
	"github.com/mattn/go-sqlite3"

	"node/ledger/selector"
	"node/ledger/tx"
)

// Snapshot is a consistent read-only view of the state: everything it
// reads is as of one committed height. It is not safe for concurrent use;
// Close it when done.
type Snapshot struct {
	db     *DB
	ctx    context.Context
	conn   *sql.Conn
	g      *guard
	height uint64
	head   cid.Cid
	gets   map[string]*sql.Stmt
	closed bool
}

// Snapshot opens a read view.
func (db *DB) Snapshot(ctx context.Context) (*Snapshot, error) {
	conn, err := db.r.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("state database: %w", err)
	}
	s := &Snapshot{db: db, ctx: ctx, conn: conn, g: &guard{}, gets: map[string]*sql.Stmt{}}
	if err := conn.Raw(func(dc any) error {
		s.g.install(dc.(*sqlite3.SQLiteConn))
		return nil
	}); err != nil {
		conn.Close()
		return nil, err
	}
	if _, err := conn.ExecContext(ctx, "BEGIN"); err != nil {
		conn.Close()
		return nil, fmt.Errorf("state database: starting a read: %w", err)
	}
	// The first read fixes the snapshot.
	s.height, s.head, err = height(ctx, conn)
	if err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Height is the number of blocks the snapshot reflects.
func (s *Snapshot) Height() uint64 { return s.height }

// Head is the CID of the last block the snapshot reflects.
func (s *Snapshot) Head() cid.Cid { return s.head }

// Close ends the read.
func (s *Snapshot) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	for _, st := range s.gets {
		st.Close()
	}
	_, err := s.conn.ExecContext(context.Background(), "ROLLBACK")
	return errors.Join(err, s.conn.Close())
}

// Get returns a key's value and version; a missing key gives a nil value,
// a nil version and no error.
func (s *Snapshot) Get(cc, key string) ([]byte, *tx.Version, error) {
	if err := s.db.checkChaincode(cc); err != nil {
		return nil, nil, err
	}
	st := s.gets[cc]
	if st == nil {
		var err error
		st, err = s.conn.PrepareContext(s.ctx, `SELECT value, valueJson, blockNum, txNum FROM `+StateTable(cc)+` WHERE key = ?`)
		if err != nil {
			return nil, nil, err
		}
		s.gets[cc] = st
	}
	var v []byte
	var vj sql.NullString
	var b, t int64
	err := st.QueryRowContext(s.ctx, key).Scan(&v, &vj, &b, &t)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("reading key %q: %w", key, err)
	}
	return joinValue(v, vj), &tx.Version{Block: uint64(b), Tx: uint32(t)}, nil
}

func (s *Snapshot) userCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(s.ctx, s.db.opts.QueryTimeout)
}

// SQL runs a rich SQL query (see the package doc for what is allowed).
func (s *Snapshot) SQL(cc, query string) (*SQLResult, error) {
	if err := s.db.checkChaincode(cc); err != nil {
		return nil, err
	}
	ctx, cancel := s.userCtx()
	defer cancel()
	return runSQL(ctx, s.conn, s.g, cc, query)
}

// Find runs a selector query.
func (s *Snapshot) Find(cc string, q *selector.Query) ([]Doc, error) {
	if err := s.db.checkChaincode(cc); err != nil {
		return nil, err
	}
	ctx, cancel := s.userCtx()
	defer cancel()
	return runFind(ctx, s.conn, s.g, cc, q)
}

// Range returns the keys in [start, end) (end "" means no upper bound),
// in key order.
func (s *Snapshot) Range(cc, start, end string) ([]Doc, error) {
	if err := s.db.checkChaincode(cc); err != nil {
		return nil, err
	}
	ctx, cancel := s.userCtx()
	defer cancel()
	docs, err := runRange(ctx, s.conn, cc, start, end)
	if err == nil && len(docs) > MaxResults {
		err = ErrTooManyResults
	}
	return docs, err
}

// Explain returns SQLite's query plan (the detail column of EXPLAIN QUERY
// PLAN) for a rich SQL query.
func (s *Snapshot) Explain(cc, query string) ([]string, error) {
	if err := s.db.checkChaincode(cc); err != nil {
		return nil, err
	}
	text, err := rewriteSQL(query, StateTable(cc))
	if err != nil {
		return nil, err
	}
	return s.explain(text)
}

// ExplainFind returns the query plan of a selector query.
func (s *Snapshot) ExplainFind(cc string, q *selector.Query) ([]string, error) {
	if err := s.db.checkChaincode(cc); err != nil {
		return nil, err
	}
	text, args, err := FindSQL(cc, q)
	if err != nil {
		return nil, err
	}
	return s.explain(text, args...)
}

func (s *Snapshot) explain(text string, args ...any) ([]string, error) {
	rows, err := s.conn.QueryContext(s.ctx, "EXPLAIN QUERY PLAN "+text, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			return nil, err
		}
		out = append(out, detail)
	}
	return out, rows.Err()
}
