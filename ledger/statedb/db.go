package statedb

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/mattn/go-sqlite3"

	"node/ledger/config"
	"node/ledger/tx"
)

var (
	// ErrNotFound is returned for a missing key, block or transaction.
	ErrNotFound = errors.New("not found")
	// ErrUnknownChaincode is returned for a chaincode without a table.
	ErrUnknownChaincode = errors.New("unknown chaincode")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("state database is closed")
)

// Options tune a database.
type Options struct {
	// ReadConns is the size of the read-only pool; 0 means 4.
	ReadConns int
	// QueryTimeout bounds a user query (SQL, selector); 0 means 30s.
	// Validation re-runs queries without it: a deadline could differ
	// between members, a row limit cannot.
	QueryTimeout time.Duration
}

// DB is a channel's state database.
type DB struct {
	path string
	opts Options

	// wmu guards the writer connection: one Batch at a time.
	wmu    sync.Mutex
	w      *sql.DB
	wconn  *sql.Conn
	wguard *guard

	r *sql.DB

	// ccmu guards chaincodes.
	ccmu       sync.RWMutex
	chaincodes map[string]bool
}

func dsn(path string, params string) string {
	u := url.URL{Scheme: "file", Opaque: (&url.URL{Path: path}).EscapedPath()}
	return u.String() + "?" + params
}

// Open opens (creating if needed) the state database at path.
func Open(path string, opts Options) (*DB, error) {
	if opts.ReadConns <= 0 {
		opts.ReadConns = 4
	}
	if opts.QueryTimeout <= 0 {
		opts.QueryTimeout = 30 * time.Second
	}
	w, err := sql.Open(driverName, dsn(path, "_journal_mode=WAL&_synchronous=NORMAL&_busy_timeout=10000&_txlock=immediate&cache=private"))
	if err != nil {
		return nil, fmt.Errorf("opening state database %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	ctx := context.Background()
	wconn, err := w.Conn(ctx)
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("opening state database %s: %w", path, err)
	}
	db := &DB{path: path, opts: opts, w: w, wconn: wconn, wguard: &guard{}, chaincodes: map[string]bool{}}
	if err := wconn.Raw(func(dc any) error {
		db.wguard.install(dc.(*sqlite3.SQLiteConn))
		return nil
	}); err != nil {
		db.Close()
		return nil, err
	}
	if err := db.schema(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("state database %s: %w", path, err)
	}
	r, err := sql.Open(driverName, dsn(path, "mode=ro&_query_only=1&_busy_timeout=10000&cache=private"))
	if err != nil {
		db.Close()
		return nil, err
	}
	r.SetMaxOpenConns(opts.ReadConns)
	r.SetMaxIdleConns(opts.ReadConns)
	db.r = r
	rows, err := wconn.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'state\_%' ESCAPE '\'`)
	if err != nil {
		db.Close()
		return nil, err
	}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err == nil {
			db.chaincodes[strings.TrimPrefix(name, "state_")] = true
		}
	}
	rows.Close()
	return db, nil
}

func (db *DB) schema(ctx context.Context) error {
	for _, s := range []string{
		`CREATE TABLE IF NOT EXISTS blocks (number INTEGER PRIMARY KEY, cid TEXT NOT NULL, body TEXT, time INTEGER NOT NULL, txCount INTEGER NOT NULL)`,
		`CREATE INDEX IF NOT EXISTS blocks_cid ON blocks (cid)`,
		`CREATE INDEX IF NOT EXISTS blocks_body ON blocks (body)`,
		`CREATE TABLE IF NOT EXISTS txs (txid TEXT PRIMARY KEY, blockNum INTEGER NOT NULL, txNum INTEGER NOT NULL, code INTEGER NOT NULL)`,
		`CREATE TABLE IF NOT EXISTS indexes (chaincode TEXT NOT NULL, name TEXT NOT NULL, expressions TEXT NOT NULL, PRIMARY KEY (chaincode, name))`,
		`CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)`,
	} {
		if _, err := db.wconn.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("creating tables: %w", err)
		}
	}
	return nil
}

// Path is the database file.
func (db *DB) Path() string { return db.path }

// Close closes the database.
func (db *DB) Close() error {
	db.wmu.Lock()
	defer db.wmu.Unlock()
	var errs []error
	if db.r != nil {
		errs = append(errs, db.r.Close())
	}
	if db.wconn != nil {
		errs = append(errs, db.wconn.Close())
		db.wconn = nil
	}
	if db.w != nil {
		errs = append(errs, db.w.Close())
	}
	return errors.Join(errs...)
}

// StateTable is the quoted table name of a chaincode's state.
func StateTable(cc string) string   { return `"state_` + cc + `"` }
func historyTable(cc string) string { return `"history_` + cc + `"` }

// EnsureChaincode creates the tables and default indexes of a chaincode.
func (db *DB) EnsureChaincode(ctx context.Context, cc string) error {
	if !config.ValidName(cc) {
		return fmt.Errorf("%w: %q is not a valid chaincode name", ErrUnknownChaincode, cc)
	}
	db.wmu.Lock()
	defer db.wmu.Unlock()
	if db.wconn == nil {
		return ErrClosed
	}
	for _, s := range []string{
		`CREATE TABLE IF NOT EXISTS ` + StateTable(cc) + ` (key TEXT PRIMARY KEY NOT NULL, value BLOB, valueJson TEXT, blockNum INTEGER NOT NULL, txNum INTEGER NOT NULL)`,
		`CREATE INDEX IF NOT EXISTS "state_` + cc + `_value" ON ` + StateTable(cc) + ` (value)`,
		`CREATE TABLE IF NOT EXISTS ` + historyTable(cc) + ` (key TEXT NOT NULL, blockNum INTEGER NOT NULL, txNum INTEGER NOT NULL, txid TEXT NOT NULL, value BLOB, valueJson TEXT, isDelete INTEGER NOT NULL, PRIMARY KEY (key, blockNum, txNum))`,
	} {
		if _, err := db.wconn.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("creating the tables of chaincode %s: %w", cc, err)
		}
	}
	db.ccmu.Lock()
	db.chaincodes[cc] = true
	db.ccmu.Unlock()
	return nil
}

func (db *DB) checkChaincode(cc string) error {
	db.ccmu.RLock()
	ok := db.chaincodes[cc]
	db.ccmu.RUnlock()
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknownChaincode, cc)
	}
	return nil
}

// Chaincodes lists the chaincodes with tables.
func (db *DB) Chaincodes() []string {
	db.ccmu.RLock()
	defer db.ccmu.RUnlock()
	out := make([]string, 0, len(db.chaincodes))
	for cc := range db.chaincodes {
		out = append(out, cc)
	}
	sortStrings(out)
	return out
}

// Height is the number of committed blocks and the CID of the last one
// (undefined at height 0).
func (db *DB) Height(ctx context.Context) (uint64, cid.Cid, error) {
	return height(ctx, db.r)
}

type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func height(ctx context.Context, q queryer) (uint64, cid.Cid, error) {
	var n sql.NullInt64
	var c sql.NullString
	err := q.QueryRowContext(ctx, `SELECT number, cid FROM blocks ORDER BY number DESC LIMIT 1`).Scan(&n, &c)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, cid.Undef, nil
	}
	if err != nil {
		return 0, cid.Undef, fmt.Errorf("reading the height: %w", err)
	}
	id, err := cid.Decode(c.String)
	if err != nil {
		return 0, cid.Undef, fmt.Errorf("block %d: stored CID: %w", n.Int64, err)
	}
	return uint64(n.Int64) + 1, id, nil
}

// BlockCID returns the CID of committed block n.
func (db *DB) BlockCID(ctx context.Context, n uint64) (cid.Cid, error) {
	var c string
	err := db.r.QueryRowContext(ctx, `SELECT cid FROM blocks WHERE number = ?`, int64(n)).Scan(&c)
	if errors.Is(err, sql.ErrNoRows) {
		return cid.Undef, fmt.Errorf("block %d: %w", n, ErrNotFound)
	}
	if err != nil {
		return cid.Undef, err
	}
	return cid.Decode(c)
}

// HasBlock reports whether c is the CID of a committed block's header or
// body (for deciding who may fetch it).
func (db *DB) HasBlock(ctx context.Context, c cid.Cid) (bool, error) {
	var one int
	s := c.String()
	err := db.r.QueryRowContext(ctx, `SELECT 1 FROM blocks WHERE cid = ? UNION ALL SELECT 1 FROM blocks WHERE body = ? LIMIT 1`, s, s).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// TxStatus is where and how a transaction was committed.
type TxStatus struct {
	TxID    string `json:"txid"`
	Block   uint64 `json:"block"`
	TxNum   uint32 `json:"txNum"`
	Code    int    `json:"code"`
	Present bool   `json:"-"`
}

// Tx looks up a committed transaction.
func (db *DB) Tx(ctx context.Context, txid string) (TxStatus, error) {
	st := TxStatus{TxID: txid}
	var b, t int64
	err := db.r.QueryRowContext(ctx, `SELECT blockNum, txNum, code FROM txs WHERE txid = ?`, txid).Scan(&b, &t, &st.Code)
	if errors.Is(err, sql.ErrNoRows) {
		return st, fmt.Errorf("transaction %s: %w", txid, ErrNotFound)
	}
	if err != nil {
		return st, err
	}
	st.Block, st.TxNum, st.Present = uint64(b), uint32(t), true
	return st, nil
}

// HistoryEntry is one write of a key.
type HistoryEntry struct {
	TxID     string     `json:"txid"`
	Version  tx.Version `json:"version"`
	Value    []byte     `json:"-"`
	IsDelete bool       `json:"isDelete"`
	Time     int64      `json:"time"` // the block's time, unix nanoseconds
}

// MarshalJSON shows JSON values as JSON and others as strings.
func (h HistoryEntry) MarshalJSON() ([]byte, error) {
	type plain HistoryEntry
	return json.Marshal(struct {
		plain
		Value json.RawMessage `json:"value,omitempty"`
	}{plain(h), ValueJSON(h.Value)})
}

// ValueJSON renders a stored value for JSON output: the value itself when
// it is JSON, else a JSON string (of the bytes, when they are UTF-8).
func ValueJSON(v []byte) json.RawMessage {
	if v == nil {
		return nil
	}
	if json.Valid(v) {
		return v
	}
	b, _ := json.Marshal(string(v))
	return b
}

// History lists the writes of a key, oldest first.
func (db *DB) History(ctx context.Context, cc, key string) ([]HistoryEntry, error) {
	if err := db.checkChaincode(cc); err != nil {
		return nil, err
	}
	rows, err := db.r.QueryContext(ctx, `SELECT h.txid, h.blockNum, h.txNum, h.value, h.valueJson, h.isDelete, COALESCE(b.time, 0)
		FROM `+historyTable(cc)+` h LEFT JOIN blocks b ON b.number = h.blockNum WHERE h.key = ? ORDER BY h.blockNum, h.txNum`, key)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []HistoryEntry
	for rows.Next() {
		var e HistoryEntry
		var b, t int64
		var v []byte
		var vj sql.NullString
		if err := rows.Scan(&e.TxID, &b, &t, &v, &vj, &e.IsDelete, &e.Time); err != nil {
			return nil, err
		}
		e.Version = tx.Version{Block: uint64(b), Tx: uint32(t)}
		e.Value = joinValue(v, vj)
		out = append(out, e)
	}
	return out, rows.Err()
}

// isJSONDoc reports whether a value goes in valueJson: a JSON object or array.
func isJSONDoc(v []byte) bool {
	for _, c := range v {
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		case '{', '[':
			return json.Valid(v)
		}
		return false
	}
	return false
}

// splitValue gives the value and valueJson columns for a value.
func splitValue(v []byte) (any, any) {
	if isJSONDoc(v) {
		return nil, string(v)
	}
	if v == nil {
		v = []byte{}
	}
	return v, nil
}

func joinValue(v []byte, vj sql.NullString) []byte {
	if vj.Valid {
		return []byte(vj.String)
	}
	if v == nil {
		return []byte{}
	}
	return v
}

// Meta reads a value stored with SetMeta.
func (db *DB) Meta(ctx context.Context, name string) (string, error) {
	var v string
	err := db.r.QueryRowContext(ctx, `SELECT value FROM meta WHERE name = ?`, name).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", ErrNotFound
	}
	return v, err
}
