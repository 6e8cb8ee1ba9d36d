package selector

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Column names of the state table the SQL refers to.
const (
	docColumn = "valueJson"
	keyColumn = "key"
)

// JSONPath is the SQLite JSON path of a field: $.a.b, with labels that
// are not plain identifiers quoted: $."a-b".
func JSONPath(path []string) string {
	var b strings.Builder
	b.WriteString("$")
	for _, s := range path {
		b.WriteByte('.')
		if isIdent(s) {
			b.WriteString(s)
		} else {
			b.WriteByte('"')
			b.WriteString(s)
			b.WriteByte('"')
		}
	}
	return b.String()
}

func isIdent(s string) bool {
	for i, c := range s {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return s != ""
}

// sqlString quotes s as an SQL string literal.
func sqlString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

type gen struct {
	args  []any
	alias int
}

// ctx is where a path is resolved: the document root, or an array
// element (base is the SQL expression of the element's full JSON path).
type ctx struct{ base string }

func (c ctx) path(p []string) string {
	if c.base == "" {
		return sqlString(JSONPath(p))
	}
	if len(p) == 0 {
		return c.base
	}
	return "(" + c.base + " || " + sqlString(JSONPath(p)[1:]) + ")"
}

func extract(p string) string { return "json_extract(" + docColumn + ", " + p + ")" }
func jtype(p string) string   { return "json_type(" + docColumn + ", " + p + ")" }

// SQL translates the selector to an SQL condition over the valueJson
// column, the ORDER BY terms (always ending with key, for a stable
// order), and the values to bind, in order.
func (q *Query) SQL() (where, orderBy string, args []any, err error) {
	g := &gen{}
	where, err = g.node(q.Selector, ctx{})
	if err != nil {
		return "", "", nil, err
	}
	var terms []string
	for _, s := range q.Sort {
		t := extract(sqlString(JSONPath(s.Path)))
		if s.Desc {
			t += " DESC"
		}
		terms = append(terms, t)
	}
	terms = append(terms, keyColumn)
	return where, strings.Join(terms, ", "), g.args, nil
}

func (g *gen) bind(v any) string {
	g.args = append(g.args, v)
	return "?"
}

func (g *gen) node(n *Node, c ctx) (string, error) {
	switch n.Op {
	case "$and", "$or":
		parts := make([]string, 0, len(n.Kids))
		for _, k := range n.Kids {
			s, err := g.node(k, c)
			if err != nil {
				return "", err
			}
			parts = append(parts, s)
		}
		sep := " AND "
		if n.Op == "$or" {
			sep = " OR "
		}
		return "(" + strings.Join(parts, sep) + ")", nil
	case "$nor":
		inner, err := g.node(&Node{Op: "$or", Kids: n.Kids}, c)
		if err != nil {
			return "", err
		}
		return "NOT COALESCE(" + inner + ", 0)", nil
	case "$not":
		if n.Path == nil && len(n.Kids) == 1 {
			inner, err := g.node(n.Kids[0], c)
			if err != nil {
				return "", err
			}
			return "NOT COALESCE(" + inner + ", 0)", nil
		}
	}
	p := c.path(n.Path)
	x, t := extract(p), jtype(p)
	switch n.Op {
	case "$not":
		inner, err := g.node(n.Kids[0], c)
		if err != nil {
			return "", err
		}
		return "NOT COALESCE(" + inner + ", 0)", nil
	case "$eq":
		return g.eq(x, t, n.Value)
	case "$ne":
		eq, err := g.eq(x, t, n.Value)
		if err != nil {
			return "", err
		}
		return "(" + t + " IS NOT NULL AND NOT COALESCE(" + eq + ", 0))", nil
	case "$gt", "$gte", "$lt", "$lte":
		op := map[string]string{"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}[n.Op]
		switch v := n.Value.(type) {
		case string:
			return "(" + x + " " + op + " " + g.bind(v) + " AND " + t + " = 'text')", nil
		case json.Number:
			num, err := number(v)
			if err != nil {
				return "", err
			}
			return "(" + x + " " + op + " " + g.bind(num) + " AND " + t + " IN ('integer', 'real'))", nil
		}
		return "", errf("%s needs a number or a string", n.Op)
	case "$in", "$nin":
		arr := n.Value.([]any)
		parts := make([]string, 0, len(arr))
		for _, v := range arr {
			s, err := g.eq(x, t, v)
			if err != nil {
				return "", err
			}
			parts = append(parts, s)
		}
		in := "0"
		if len(parts) > 0 {
			in = "(" + strings.Join(parts, " OR ") + ")"
		}
		if n.Op == "$in" {
			return in, nil
		}
		return "(" + t + " IS NOT NULL AND NOT COALESCE(" + in + ", 0))", nil
	case "$exists":
		if n.Value.(bool) {
			return t + " IS NOT NULL", nil
		}
		return t + " IS NULL", nil
	case "$type":
		names := typeNames[n.Value.(string)]
		q := make([]string, len(names))
		for i, s := range names {
			q[i] = sqlString(s)
		}
		return t + " IN (" + strings.Join(q, ", ") + ")", nil
	case "$regex":
		return "(" + t + " = 'text' AND regexp(" + g.bind(n.Value.(string)) + ", " + x + "))", nil
	case "$size":
		return "(" + t + " = 'array' AND json_array_length(" + docColumn + ", " + p + ") = " + g.bind(n.Value.(int64)) + ")", nil
	case "$mod":
		m := n.Value.([2]int64)
		return "(" + t + " = 'integer' AND " + x + " % " + g.bind(m[0]) + " = " + g.bind(m[1]) + ")", nil
	case "$elemMatch", "$allMatch":
		g.alias++
		e := fmt.Sprintf("e%d", g.alias)
		inner, err := g.node(n.Kids[0], ctx{base: e + ".fullkey"})
		if err != nil {
			return "", err
		}
		each := "json_each(" + docColumn + ", " + p + ") AS " + e
		if n.Op == "$elemMatch" {
			return "(" + t + " = 'array' AND EXISTS (SELECT 1 FROM " + each + " WHERE " + inner + "))", nil
		}
		return "(" + t + " = 'array' AND json_array_length(" + docColumn + ", " + p + ") > 0 AND NOT EXISTS (SELECT 1 FROM " +
			each + " WHERE NOT COALESCE(" + inner + ", 0)))", nil
	}
	return "", errf("unknown operator %q", n.Op)
}

// eq is the condition "the value at x equals v", restricted to v's JSON type.
func (g *gen) eq(x, t string, v any) (string, error) {
	switch v := v.(type) {
	case nil:
		return t + " = 'null'", nil
	case bool:
		if v {
			return t + " = 'true'", nil
		}
		return t + " = 'false'", nil
	case string:
		return "(" + x + " = " + g.bind(v) + " AND " + t + " = 'text')", nil
	case json.Number:
		num, err := number(v)
		if err != nil {
			return "", err
		}
		return "(" + x + " = " + g.bind(num) + " AND " + t + " IN ('integer', 'real'))", nil
	case []any, map[string]any:
		b, err := json.Marshal(v)
		if err != nil {
			return "", errf("value: %v", err)
		}
		kind := "array"
		if _, ok := v.(map[string]any); ok {
			kind = "object"
		}
		return "(" + t + " = '" + kind + "' AND " + x + " = json(" + g.bind(string(b)) + "))", nil
	}
	return "", errf("unsupported value %T", v)
}

// Project keeps only the query's fields of a JSON document (all of it
// when the query names none). Fields missing from the document are left
// out, as in CouchDB.
func (q *Query) Project(doc []byte) ([]byte, error) {
	if len(q.Fields) == 0 {
		return doc, nil
	}
	var m map[string]any
	d := json.NewDecoder(strings.NewReader(string(doc)))
	d.UseNumber()
	if err := d.Decode(&m); err != nil {
		return doc, nil // not an object: nothing to project
	}
	out := map[string]any{}
	for _, f := range q.Fields {
		path, _ := splitPath(f)
		var cur any = m
		ok := true
		for _, s := range path {
			obj, isObj := cur.(map[string]any)
			if !isObj {
				ok = false
				break
			}
			cur, ok = obj[s]
			if !ok {
				break
			}
		}
		if !ok {
			continue
		}
		dst := out
		for _, s := range path[:len(path)-1] {
			next, isObj := dst[s].(map[string]any)
			if !isObj {
				next = map[string]any{}
				dst[s] = next
			}
			dst = next
		}
		dst[path[len(path)-1]] = cur
	}
	return json.Marshal(out)
}
