package statedb

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"node/ledger/config"
)

// ErrBadIndex is wrapped when an index definition is refused.
var ErrBadIndex = errors.New("invalid index definition")

// IndexDef is a custom index file:
//
//	{"name": "byOwner", "indexExpressions": ["json_extract(valueJson, '$.owner')"]}
//
// The name is optional (one is derived from the expressions). Each
// expression is a column (key, value, blockNum, txNum) or
// json_extract(valueJson, '<path>') / json_type(valueJson, '<path>') with
// a path of $ followed by .label, ."quoted label" or [index] steps.
type IndexDef struct {
	Name             string   `json:"name,omitempty"`
	IndexExpressions []string `json:"indexExpressions"`
}

// Index is an index as stored.
type Index struct {
	Chaincode   string   `json:"chaincode"`
	Name        string   `json:"name"`
	Expressions []string `json:"indexExpressions"`
}

var (
	indexExprRE = regexp.MustCompile(`^(?i:(json_extract|json_type))\s*\(\s*(?i:valuejson)\s*,\s*'(\$(?:\.[A-Za-z_][A-Za-z0-9_]*|\."[^"'\\\x00-\x1f]+"|\[[0-9]{1,6}\])*)'\s*\)$`)
	columns     = map[string]string{"key": "key", "value": "value", "blocknum": "blockNum", "txnum": "txNum"}
)

// ParseIndex reads and checks an index file's JSON.
func ParseIndex(b []byte) (*IndexDef, error) {
	var d IndexDef
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadIndex, err)
	}
	if _, err := d.canonical(); err != nil {
		return nil, err
	}
	return &d, nil
}

// canonical checks the expressions and returns them rewritten in one
// spelling: json_extract(valueJson, '$.owner').
func (d *IndexDef) canonical() ([]string, error) {
	if len(d.IndexExpressions) == 0 || len(d.IndexExpressions) > 8 {
		return nil, fmt.Errorf("%w: give 1 to 8 indexExpressions", ErrBadIndex)
	}
	if d.Name != "" && !config.ValidName(d.Name) {
		return nil, fmt.Errorf("%w: index name %q: use 1-64 letters, digits, '_', '.', '-'", ErrBadIndex, d.Name)
	}
	out := make([]string, len(d.IndexExpressions))
	for i, e := range d.IndexExpressions {
		e = strings.TrimSpace(e)
		if col, ok := columns[strings.ToLower(e)]; ok {
			out[i] = col
			continue
		}
		m := indexExprRE.FindStringSubmatch(e)
		if m == nil {
			return nil, fmt.Errorf("%w: expression %q: use json_extract(valueJson, '$.field') or a column (key, value, blockNum, txNum)", ErrBadIndex, e)
		}
		out[i] = strings.ToLower(m[1]) + "(valueJson, '" + m[2] + "')"
	}
	return out, nil
}

// AddIndex creates a custom index on a chaincode's state table. Adding the
// same definition again does nothing.
func (db *DB) AddIndex(ctx context.Context, cc string, d *IndexDef) (*Index, error) {
	if err := db.checkChaincode(cc); err != nil {
		return nil, err
	}
	exprs, err := d.canonical()
	if err != nil {
		return nil, err
	}
	name := d.Name
	if name == "" {
		h := sha256.Sum256([]byte(strings.Join(exprs, "\x00")))
		name = "idx-" + hex.EncodeToString(h[:6])
	}
	ix := &Index{Chaincode: cc, Name: name, Expressions: exprs}
	b, err := db.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer b.Rollback()
	var existing string
	err = db.wconn.QueryRowContext(ctx, `SELECT expressions FROM indexes WHERE chaincode = ? AND name = ?`, cc, name).Scan(&existing)
	js, _ := json.Marshal(exprs)
	if err == nil {
		if existing == string(js) {
			return ix, nil
		}
		return nil, fmt.Errorf("%w: index %q exists with other expressions", ErrBadIndex, name)
	}
	stmt := `CREATE INDEX "ix_` + cc + `_` + name + `" ON ` + StateTable(cc) + ` (` + strings.Join(exprs, ", ") + `)`
	if _, err := db.wconn.ExecContext(ctx, stmt); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadIndex, err)
	}
	if _, err := db.wconn.ExecContext(ctx, `INSERT INTO indexes (chaincode, name, expressions) VALUES (?, ?, ?)`, cc, name, string(js)); err != nil {
		return nil, err
	}
	if err := b.Commit(); err != nil {
		return nil, err
	}
	return ix, nil
}

// Indexes lists the custom indexes.
func (db *DB) Indexes(ctx context.Context) ([]Index, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT chaincode, name, expressions FROM indexes ORDER BY chaincode, name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Index
	for rows.Next() {
		var ix Index
		var js string
		if err := rows.Scan(&ix.Chaincode, &ix.Name, &js); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(js), &ix.Expressions); err != nil {
			return nil, err
		}
		out = append(out, ix)
	}
	return out, rows.Err()
}
