package statedb

import (
	"database/sql"
	"regexp"
	"sync"
	"sync/atomic"

	"github.com/mattn/go-sqlite3"
)

// driverName is the database/sql driver this package registers: SQLite
// (mattn/go-sqlite3) with a regexp(pattern, text) function and no
// attached databases.
const driverName = "node-ledger-sqlite3"

func init() {
	sql.Register(driverName, &sqlite3.SQLiteDriver{ConnectHook: connectHook})
}

const sqliteLimitAttached = 7 // SQLITE_LIMIT_ATTACHED

func connectHook(c *sqlite3.SQLiteConn) error {
	c.SetLimit(sqliteLimitAttached, 0)
	return c.RegisterFunc("regexp", regexpMatch, true)
}

// regexCache holds compiled patterns.
var regexCache struct {
	mu sync.Mutex // guards m
	m  map[string]*regexp.Regexp
}

func regexpMatch(pattern string, s any) (bool, error) {
	text, ok := s.(string)
	if !ok {
		if b, isBytes := s.([]byte); isBytes {
			text = string(b)
		} else {
			return false, nil
		}
	}
	regexCache.mu.Lock()
	re := regexCache.m[pattern]
	regexCache.mu.Unlock()
	if re == nil {
		var err error
		re, err = regexp.Compile(pattern)
		if err != nil {
			return false, err
		}
		regexCache.mu.Lock()
		if regexCache.m == nil || len(regexCache.m) > 1024 {
			regexCache.m = map[string]*regexp.Regexp{}
		}
		regexCache.m[pattern] = re
		regexCache.mu.Unlock()
	}
	return re.MatchString(text), nil
}

// SQLite authorizer action codes (sqlite3.h).
const (
	authRead      = 20
	authSelect    = 21
	authFunction  = 31
	authRecursive = 33
	authOK        = 0
	authDeny      = 1
)

// deniedFunctions may not appear in user queries: they load code, read
// the connection's state or are not deterministic (endorsers and
// validators must get the same answer).
var deniedFunctions = map[string]bool{
	"load_extension": true, "random": true, "randomblob": true, "changes": true,
	"total_changes": true, "last_insert_rowid": true, "sqlite_offset": true,
	"sqlite_compileoption_get": true, "sqlite_compileoption_used": true,
	"sqlite_source_id": true, "sqlite_version": true, "fts3_tokenizer": true,
	"readfile": true, "writefile": true, "edit": true, "sqlite_dbpage": true,
	"unlikely": false,
}

// guard is a connection's authorizer state: while table is set, the
// connection prepares only reads of that table (and json_each/json_tree)
// and allowed functions; otherwise everything (the package's own SQL).
type guard struct {
	table atomic.Pointer[string]
}

func (g *guard) restrict(table string) { g.table.Store(&table) }
func (g *guard) release()              { g.table.Store(nil) }

func (g *guard) authorize(op int, arg1, arg2, dbName string) int {
	t := g.table.Load()
	if t == nil {
		return authOK
	}
	switch op {
	case authSelect, authRecursive:
		return authOK
	case authRead:
		if dbName != "main" && dbName != "" {
			return authDeny
		}
		if arg1 == *t || arg1 == "json_each" || arg1 == "json_tree" {
			return authOK
		}
		return authDeny
	case authFunction:
		if deniedFunctions[arg2] {
			return authDeny
		}
		return authOK
	}
	return authDeny
}

// install registers g as c's authorizer.
func (g *guard) install(c *sqlite3.SQLiteConn) { c.RegisterAuthorizer(g.authorize) }
