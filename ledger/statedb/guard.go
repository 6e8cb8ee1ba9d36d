package statedb

import (
	"errors"
	"fmt"
	"strings"
)

// ErrRejected is wrapped when a rich SQL query is refused: not exactly one
// read-only SELECT over <STATE>.
var ErrRejected = errors.New("SQL query rejected")

// MaxSQLBytes bounds a rich SQL query's text.
const MaxSQLBytes = 16 << 10

// forbidden words may not appear outside strings, whatever their place.
var forbidden = map[string]bool{
	"attach": true, "detach": true, "pragma": true, "insert": true, "update": true,
	"delete": true, "drop": true, "create": true, "alter": true, "vacuum": true,
	"reindex": true, "analyze": true, "begin": true, "commit": true, "rollback": true,
	"savepoint": true, "release": true, "load_extension": true, "transaction": true,
	"into": true, "upsert": true, "temp": true, "temporary": true, "trigger": true,
	"sqlite_master": true, "sqlite_schema": true, "sqlite_temp_master": true,
}

// rewriteSQL checks that query is a single SELECT statement without
// forbidden words and replaces every <STATE> (any case) outside string
// literals, quoted identifiers and comments with table (already quoted).
// It is the first of three defences: the authorizer and a read-only or
// rolled-back connection are the others.
func rewriteSQL(query, table string) (string, error) {
	reject := func(format string, args ...any) (string, error) {
		return "", fmt.Errorf("%w: %s", ErrRejected, fmt.Sprintf(format, args...))
	}
	if len(query) > MaxSQLBytes {
		return reject("the query is %d bytes, over the %d-byte limit", len(query), MaxSQLBytes)
	}
	if strings.IndexByte(query, 0) >= 0 {
		return reject("the query contains a NUL byte")
	}
	var out strings.Builder
	first := ""
	ended := false // a ';' was seen: only space and comments may follow
	i := 0
	n := len(query)
	for i < n {
		c := query[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f':
			out.WriteByte(c)
			i++
		case c == '-' && i+1 < n && query[i+1] == '-':
			j := strings.IndexByte(query[i:], '\n')
			if j < 0 {
				j = n - i
			}
			out.WriteString(" ")
			i += j
		case c == '/' && i+1 < n && query[i+1] == '*':
			j := strings.Index(query[i+2:], "*/")
			if j < 0 {
				return reject("unterminated comment")
			}
			out.WriteString(" ")
			i += j + 4
		case ended:
			return reject("only one statement is allowed")
		case c == ';':
			ended = true
			i++
		case c == '\'' || c == '"' || c == '`' || c == '[':
			end := byte(c)
			if c == '[' {
				end = ']'
			}
			j := i + 1
			for {
				k := strings.IndexByte(query[j:], end)
				if k < 0 {
					return reject("unterminated quote")
				}
				j += k + 1
				if end != ']' && j < n && query[j] == end { // doubled quote
					j++
					continue
				}
				break
			}
			if c != '\'' {
				name := strings.ToLower(query[i+1 : j-1])
				if forbidden[name] || strings.HasPrefix(name, "sqlite_") {
					return reject("%q may not be used", query[i:j])
				}
			}
			out.WriteString(query[i:j])
			i = j
		case c == '<' && i+7 <= n && strings.EqualFold(query[i:i+7], "<state>"):
			out.WriteString(table)
			i += 7
			if first == "" {
				return reject("the query must start with SELECT")
			}
		case isWordByte(c):
			j := i
			for j < n && isWordByte(query[j]) {
				j++
			}
			w := strings.ToLower(query[i:j])
			if first == "" {
				first = w
				if w != "select" {
					return reject("only SELECT is allowed, not %s", strings.ToUpper(w))
				}
			}
			if forbidden[w] {
				return reject("%s is not allowed", strings.ToUpper(w))
			}
			if w == "replace" && !nextIsParen(query[j:]) {
				return reject("REPLACE is not allowed")
			}
			out.WriteString(query[i:j])
			i = j
		default:
			if first == "" {
				return reject("the query must start with SELECT")
			}
			out.WriteByte(c)
			i++
		}
	}
	if first == "" {
		return reject("empty query")
	}
	return out.String(), nil
}

func isWordByte(c byte) bool {
	return c == '_' || c == '$' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 0x80
}

func nextIsParen(s string) bool {
	s = strings.TrimLeft(s, " \t\r\n")
	return strings.HasPrefix(s, "(")
}
