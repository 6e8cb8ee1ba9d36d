package statedb

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"slices"

	"node/ledger/codec"
	"node/ledger/merkle"
	"node/ledger/selector"
	"node/ledger/tx"
)

// MaxResults bounds every query's result rows, the same on every member.
const MaxResults = selector.MaxResults

// ErrTooManyResults is returned when a query gives more than MaxResults rows.
var ErrTooManyResults = fmt.Errorf("query gives more than %d results: narrow it or page with limit and bookmark", MaxResults)

// Doc is a state entry.
type Doc struct {
	Key     string
	Value   []byte
	Version tx.Version
}

// SQLResult is the answer to a rich SQL query.
type SQLResult struct {
	Columns []string
	Rows    [][]any // int64, float64, string, []byte or nil
}

// connQueryer is a connection to run queries on, with its authorizer.
type connQueryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func runSQL(ctx context.Context, q connQueryer, g *guard, cc, query string) (*SQLResult, error) {
	text, err := rewriteSQL(query, StateTable(cc))
	if err != nil {
		return nil, err
	}
	g.restrict("state_" + cc)
	defer g.release()
	rows, err := q.QueryContext(ctx, text)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRejected, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	res := &SQLResult{Columns: cols}
	for rows.Next() {
		if len(res.Rows) >= MaxResults {
			return nil, ErrTooManyResults
		}
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		for i, v := range vals {
			switch x := v.(type) {
			case bool:
				if x {
					vals[i] = int64(1)
				} else {
					vals[i] = int64(0)
				}
			case []byte:
				vals[i] = bytes.Clone(x)
			}
		}
		res.Rows = append(res.Rows, vals)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("running the query: %w", err)
	}
	return res, nil
}

const docColumns = `key, value, valueJson, blockNum, txNum`

func scanDocs(rows *sql.Rows) ([]Doc, error) {
	defer rows.Close()
	var out []Doc
	for rows.Next() {
		if len(out) >= MaxResults {
			return nil, ErrTooManyResults
		}
		var d Doc
		var v []byte
		var vj sql.NullString
		var b, t int64
		if err := rows.Scan(&d.Key, &v, &vj, &b, &t); err != nil {
			return nil, err
		}
		d.Value = joinValue(bytes.Clone(v), vj)
		d.Version = tx.Version{Block: uint64(b), Tx: uint32(t)}
		out = append(out, d)
	}
	return out, rows.Err()
}

func runFind(ctx context.Context, q connQueryer, g *guard, cc string, sq *selector.Query) ([]Doc, error) {
	where, order, args, err := sq.SQL()
	if err != nil {
		return nil, err
	}
	text := `SELECT ` + docColumns + ` FROM ` + StateTable(cc) + ` WHERE valueJson IS NOT NULL AND ` + where + ` ORDER BY ` + order + ` LIMIT ? OFFSET ?`
	args = append(args, sq.EffectiveLimit(), sq.Offset())
	g.restrict("state_" + cc)
	defer g.release()
	rows, err := q.QueryContext(ctx, text, args...)
	if err != nil {
		return nil, fmt.Errorf("running the selector: %w", err)
	}
	return scanDocs(rows)
}

// FindSQL is the SQL a selector query runs, for EXPLAIN and debugging.
func FindSQL(cc string, sq *selector.Query) (string, []any, error) {
	where, order, args, err := sq.SQL()
	if err != nil {
		return "", nil, err
	}
	return `SELECT ` + docColumns + ` FROM ` + StateTable(cc) + ` WHERE valueJson IS NOT NULL AND ` + where + ` ORDER BY ` + order, args, nil
}

func runRange(ctx context.Context, q connQueryer, cc, start, end string) ([]Doc, error) {
	text := `SELECT ` + docColumns + ` FROM ` + StateTable(cc) + ` WHERE key >= ?`
	args := []any{start}
	if end != "" {
		text += ` AND key < ?`
		args = append(args, end)
	}
	text += ` ORDER BY key LIMIT ?`
	args = append(args, MaxResults+1)
	rows, err := q.QueryContext(ctx, text, args...)
	if err != nil {
		return nil, fmt.Errorf("running the range query: %w", err)
	}
	return scanDocs(rows)
}

// HashDocs is the results hash of a selector or range query: the Merkle
// root over the sorted encodings of each result's key and version.
func HashDocs(docs []Doc) []byte {
	leaves := make([][]byte, len(docs))
	for i, d := range docs {
		leaves[i] = codec.MustMarshal([]any{d.Key, d.Version.Block, d.Version.Tx})
	}
	return sortedRoot(leaves)
}

// HashSQL is the results hash of an SQL query: the Merkle root over the
// sorted encodings of each row's values (order-independent, so members
// whose indexes differ, and so return rows in another order, agree).
func HashSQL(r *SQLResult) []byte {
	leaves := make([][]byte, len(r.Rows))
	for i, row := range r.Rows {
		leaves[i] = codec.MustMarshal(row)
	}
	return sortedRoot(leaves)
}

func sortedRoot(leaves [][]byte) []byte {
	slices.SortFunc(leaves, bytes.Compare)
	return merkle.Root(leaves)
}
