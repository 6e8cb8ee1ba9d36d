package statedb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/ipfs/go-cid"

	"node/ledger/selector"
	"node/ledger/tx"
)

// Batch is the one write transaction: a block's writes, history, TxIDs and
// block row, committed together. Reads through a Batch see its own writes.
type Batch struct {
	db    *DB
	ctx   context.Context
	stmts map[string]*sql.Stmt
	done  bool
}

// Begin starts the write transaction; only one Batch is open at a time
// (Begin waits for the previous one to end).
func (db *DB) Begin(ctx context.Context) (*Batch, error) {
	db.wmu.Lock()
	if db.wconn == nil {
		db.wmu.Unlock()
		return nil, ErrClosed
	}
	if _, err := db.wconn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		db.wmu.Unlock()
		return nil, fmt.Errorf("state database: starting a write: %w", err)
	}
	return &Batch{db: db, ctx: ctx, stmts: map[string]*sql.Stmt{}}, nil
}

func (b *Batch) stmt(text string) (*sql.Stmt, error) {
	if st := b.stmts[text]; st != nil {
		return st, nil
	}
	st, err := b.db.wconn.PrepareContext(b.ctx, text)
	if err != nil {
		return nil, err
	}
	b.stmts[text] = st
	return st, nil
}

// Commit makes the batch durable (as SQLite's WAL with synchronous=NORMAL
// is: atomic always, durable across power loss from the next checkpoint).
func (b *Batch) Commit() error {
	if b.done {
		return errors.New("batch already ended")
	}
	_, err := b.db.wconn.ExecContext(context.Background(), "COMMIT")
	if err != nil {
		b.rollback()
		return fmt.Errorf("state database: commit: %w", err)
	}
	b.end()
	return nil
}

// Rollback abandons the batch; after Commit it does nothing.
func (b *Batch) Rollback() {
	if b.done {
		return
	}
	b.rollback()
}

func (b *Batch) rollback() {
	b.db.wconn.ExecContext(context.Background(), "ROLLBACK")
	b.end()
}

func (b *Batch) end() {
	for _, st := range b.stmts {
		st.Close()
	}
	b.done = true
	b.db.wmu.Unlock()
}

// Height is the committed height as this batch sees it.
func (b *Batch) Height() (uint64, cid.Cid, error) { return height(b.ctx, b.db.wconn) }

// Version returns a key's current version, nil when it is absent.
func (b *Batch) Version(cc, key string) (*tx.Version, error) {
	if err := b.db.checkChaincode(cc); err != nil {
		return nil, err
	}
	st, err := b.stmt(`SELECT blockNum, txNum FROM ` + StateTable(cc) + ` WHERE key = ?`)
	if err != nil {
		return nil, err
	}
	var bn, tn int64
	err = st.QueryRowContext(b.ctx, key).Scan(&bn, &tn)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &tx.Version{Block: uint64(bn), Tx: uint32(tn)}, nil
}

// TxExists reports whether a TxID is already committed (valid or not).
func (b *Batch) TxExists(txid string) (bool, error) {
	st, err := b.stmt(`SELECT 1 FROM txs WHERE txid = ?`)
	if err != nil {
		return false, err
	}
	var one int
	err = st.QueryRowContext(b.ctx, txid).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// Apply writes a transaction's writes at version ver, with history.
func (b *Batch) Apply(cc string, writes []tx.Write, ver tx.Version, txid string) error {
	if err := b.db.checkChaincode(cc); err != nil {
		return err
	}
	upsert, err := b.stmt(`INSERT INTO ` + StateTable(cc) + ` (key, value, valueJson, blockNum, txNum) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value, valueJson = excluded.valueJson, blockNum = excluded.blockNum, txNum = excluded.txNum`)
	if err != nil {
		return err
	}
	del, err := b.stmt(`DELETE FROM ` + StateTable(cc) + ` WHERE key = ?`)
	if err != nil {
		return err
	}
	hist, err := b.stmt(`INSERT OR REPLACE INTO ` + historyTable(cc) + ` (key, blockNum, txNum, txid, value, valueJson, isDelete) VALUES (?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	bn, tn := int64(ver.Block), int64(ver.Tx)
	for _, w := range writes {
		if w.Delete {
			if _, err := del.ExecContext(b.ctx, w.Key); err != nil {
				return fmt.Errorf("deleting %q: %w", w.Key, err)
			}
			if _, err := hist.ExecContext(b.ctx, w.Key, bn, tn, txid, nil, nil, 1); err != nil {
				return fmt.Errorf("history of %q: %w", w.Key, err)
			}
			continue
		}
		v, vj := splitValue(w.Value)
		if _, err := upsert.ExecContext(b.ctx, w.Key, v, vj, bn, tn); err != nil {
			return fmt.Errorf("writing %q: %w", w.Key, err)
		}
		if _, err := hist.ExecContext(b.ctx, w.Key, bn, tn, txid, v, vj, 0); err != nil {
			return fmt.Errorf("history of %q: %w", w.Key, err)
		}
	}
	return nil
}

// RecordTx records a transaction's TxID, place and validation code. A
// TxID already recorded keeps its first record.
func (b *Batch) RecordTx(txid string, ver tx.Version, code int) error {
	st, err := b.stmt(`INSERT OR IGNORE INTO txs (txid, blockNum, txNum, code) VALUES (?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	_, err = st.ExecContext(b.ctx, txid, int64(ver.Block), int64(ver.Tx), code)
	return err
}

// RecordBlock records block number (header c, body body, which is
// cid.Undef for a block without transactions) as committed: the height
// becomes number+1 when the batch commits.
func (b *Batch) RecordBlock(number uint64, c, body cid.Cid, time int64, txCount int) error {
	st, err := b.stmt(`INSERT INTO blocks (number, cid, body, time, txCount) VALUES (?, ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	var bs any
	if body.Defined() {
		bs = body.String()
	}
	_, err = st.ExecContext(b.ctx, int64(number), c.String(), bs, time, txCount)
	return err
}

// SetMeta stores a named value (the channel's config, for example).
func (b *Batch) SetMeta(name, value string) error {
	_, err := b.db.wconn.ExecContext(b.ctx, `INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)`, name, value)
	return err
}

// SQL re-runs a rich SQL query inside the batch (with the same checks as
// Snapshot.SQL, but no deadline).
func (b *Batch) SQL(cc, query string) (*SQLResult, error) {
	if err := b.db.checkChaincode(cc); err != nil {
		return nil, err
	}
	return runSQL(b.ctx, b.db.wconn, b.db.wguard, cc, query)
}

// Find re-runs a selector query inside the batch.
func (b *Batch) Find(cc string, q *selector.Query) ([]Doc, error) {
	if err := b.db.checkChaincode(cc); err != nil {
		return nil, err
	}
	return runFind(b.ctx, b.db.wconn, b.db.wguard, cc, q)
}

// Range re-runs a range query inside the batch.
func (b *Batch) Range(cc, start, end string) ([]Doc, error) {
	if err := b.db.checkChaincode(cc); err != nil {
		return nil, err
	}
	docs, err := runRange(b.ctx, b.db.wconn, cc, start, end)
	if err == nil && len(docs) > MaxResults {
		err = ErrTooManyResults
	}
	return docs, err
}
