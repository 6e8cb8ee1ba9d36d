package selector

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// ErrSyntax is wrapped by every parse error.
var ErrSyntax = errors.New("selector query error")

// Limits.
const (
	MaxQueryBytes = 64 << 10
	MaxDepth      = 24
	MaxResults    = 100000
	maxNodes      = 1000
)

// Query is a parsed Mango query.
type Query struct {
	Selector *Node
	Fields   []string
	Sort     []SortField
	Limit    int // 0: no limit (MaxResults)
	Skip     int
	bookmark int
	raw      []byte // canonical selector+sort, to bind bookmarks
}

// SortField is one sort key.
type SortField struct {
	Path []string
	Desc bool
}

// Node is a selector tree node.
type Node struct {
	Op    string // "$and" "$or" "$nor" "$not" or a condition operator
	Path  []string
	Value any // json.Number, string, bool, nil, []any, map[string]any
	Kids  []*Node
	Regex *regexp.Regexp
}

func errf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrSyntax, fmt.Sprintf(format, args...))
}

// Parse reads a query: {"selector": {...}, "fields": [...], "sort": [...],
// "limit": N, "skip": N, "bookmark": "..."}. "use_index" is accepted and
// ignored (SQLite picks indexes itself).
func Parse(b []byte) (*Query, error) {
	if len(b) > MaxQueryBytes {
		return nil, errf("query is %d bytes, over the %d-byte limit", len(b), MaxQueryBytes)
	}
	if err := checkDepth(b); err != nil {
		return nil, err
	}
	var top map[string]json.RawMessage
	if err := decode(b, &top); err != nil {
		return nil, errf("the query must be a JSON object: %v", err)
	}
	q := &Query{}
	p := &parser{}
	bookmark := ""
	raw, ok := top["selector"]
	if !ok {
		return nil, errf(`no "selector"`)
	}
	var sel any
	if err := decode(raw, &sel); err != nil {
		return nil, errf("selector: %v", err)
	}
	obj, ok := sel.(map[string]any)
	if !ok {
		return nil, errf("the selector must be an object")
	}
	n, err := p.selector(obj, nil, 0, false)
	if err != nil {
		return nil, err
	}
	q.Selector = n
	for k, v := range top {
		switch k {
		case "selector":
		case "fields":
			var fs []string
			if err := decode(v, &fs); err != nil {
				return nil, errf("fields must be an array of strings")
			}
			for _, f := range fs {
				if _, err := splitPath(f); err != nil {
					return nil, err
				}
			}
			q.Fields = fs
		case "sort":
			var items []any
			if err := decode(v, &items); err != nil {
				return nil, errf("sort must be an array")
			}
			for _, it := range items {
				sf, err := sortField(it)
				if err != nil {
					return nil, err
				}
				q.Sort = append(q.Sort, sf)
			}
		case "limit", "skip":
			var x json.Number
			if err := decode(v, &x); err != nil {
				return nil, errf("%s must be a number", k)
			}
			i, err := strconv.ParseInt(string(x), 10, 64)
			if err != nil || i < 0 || i > MaxResults*10 {
				return nil, errf("%s must be an integer from 0 to %d", k, MaxResults*10)
			}
			if k == "limit" {
				q.Limit = int(i)
			} else {
				q.Skip = int(i)
			}
		case "bookmark":
			var s string
			if err := decode(v, &s); err != nil {
				return nil, errf("bookmark must be a string")
			}
			if s != "" && s != "nil" {
				bookmark = s
			}
		case "use_index", "execution_stats", "r", "conflicts", "update", "stable":
		default:
			return nil, errf("unknown query field %q", k)
		}
	}
	canon, _ := json.Marshal(struct {
		S any
		O []SortField
	}{sel, q.Sort})
	q.raw = canon
	if bookmark != "" {
		off, err := q.decodeBookmark(bookmark)
		if err != nil {
			return nil, err
		}
		q.bookmark = off
	}
	return q, nil
}

func decode(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return errors.New("trailing data")
	}
	return nil
}

// checkDepth refuses deeply nested JSON before decoding it.
func checkDepth(b []byte) error {
	depth, inStr, esc := 0, false, false
	for _, c := range b {
		switch {
		case inStr:
			if esc {
				esc = false
			} else if c == '\\' {
				esc = true
			} else if c == '"' {
				inStr = false
			}
		case c == '"':
			inStr = true
		case c == '{' || c == '[':
			depth++
			if depth > MaxDepth*2 {
				return errf("nested deeper than %d levels", MaxDepth*2)
			}
		case c == '}' || c == ']':
			depth--
		}
	}
	return nil
}

func sortField(it any) (SortField, error) {
	switch v := it.(type) {
	case string:
		p, err := splitPath(v)
		return SortField{Path: p}, err
	case map[string]any:
		if len(v) != 1 {
			return SortField{}, errf(`a sort item is "field" or {"field": "asc"|"desc"}`)
		}
		for k, dir := range v {
			p, err := splitPath(k)
			if err != nil {
				return SortField{}, err
			}
			switch dir {
			case "asc":
				return SortField{Path: p}, nil
			case "desc":
				return SortField{Path: p, Desc: true}, nil
			}
			return SortField{}, errf("sort direction %v: use \"asc\" or \"desc\"", dir)
		}
	}
	return SortField{}, errf(`a sort item is "field" or {"field": "asc"|"desc"}`)
}

// splitPath splits a Mango field name on unescaped dots; "\." is a dot.
func splitPath(f string) ([]string, error) {
	if f == "" {
		return nil, errf("empty field name")
	}
	var out []string
	var cur strings.Builder
	for i := 0; i < len(f); i++ {
		c := f[i]
		switch {
		case c == '\\' && i+1 < len(f) && f[i+1] == '.':
			cur.WriteByte('.')
			i++
		case c == '.':
			out = append(out, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(c)
		}
	}
	out = append(out, cur.String())
	for _, s := range out {
		if s == "" {
			return nil, errf("field name %q has an empty part", f)
		}
		for _, r := range s {
			if r < 0x20 || r == '"' || r == '\\' || r == 0x7f {
				return nil, errf("field name %q has a character this store does not allow in field names", f)
			}
		}
	}
	return out, nil
}

type parser struct{ nodes int }

func (p *parser) count() error {
	p.nodes++
	if p.nodes > maxNodes {
		return errf("selector has more than %d conditions", maxNodes)
	}
	return nil
}

// selector parses an object of fields and combination operators. In an
// element context (inside $elemMatch/$allMatch) condition operators apply
// to the element itself.
func (p *parser) selector(obj map[string]any, base []string, depth int, elem bool) (*Node, error) {
	if depth > MaxDepth {
		return nil, errf("nested deeper than %d levels", MaxDepth)
	}
	and := &Node{Op: "$and"}
	for _, k := range sortedKeys(obj) {
		v := obj[k]
		if err := p.count(); err != nil {
			return nil, err
		}
		switch k {
		case "$and", "$or", "$nor":
			arr, ok := v.([]any)
			if !ok || len(arr) == 0 {
				return nil, errf("%s needs a non-empty array of selectors", k)
			}
			n := &Node{Op: k}
			for _, it := range arr {
				o, ok := it.(map[string]any)
				if !ok {
					return nil, errf("%s needs an array of selector objects", k)
				}
				kid, err := p.selector(o, base, depth+1, elem)
				if err != nil {
					return nil, err
				}
				n.Kids = append(n.Kids, kid)
			}
			and.Kids = append(and.Kids, n)
		case "$not":
			o, ok := v.(map[string]any)
			if !ok {
				return nil, errf("$not needs a selector object")
			}
			kid, err := p.selector(o, base, depth+1, elem)
			if err != nil {
				return nil, err
			}
			and.Kids = append(and.Kids, &Node{Op: "$not", Kids: []*Node{kid}})
		default:
			if strings.HasPrefix(k, "$") {
				if !elem {
					return nil, errf("unknown operator %q at the top of a selector", k)
				}
				n, err := p.condition(k, v, base, depth+1)
				if err != nil {
					return nil, err
				}
				and.Kids = append(and.Kids, n)
				continue
			}
			path, err := splitPath(k)
			if err != nil {
				return nil, err
			}
			n, err := p.field(append(slices.Clone(base), path...), v, depth+1)
			if err != nil {
				return nil, err
			}
			and.Kids = append(and.Kids, n)
		}
	}
	if len(and.Kids) == 1 {
		return and.Kids[0], nil
	}
	return and, nil
}

// field parses the value given for a field: operators, sub-fields or an
// implicit $eq.
func (p *parser) field(path []string, v any, depth int) (*Node, error) {
	if depth > MaxDepth {
		return nil, errf("nested deeper than %d levels", MaxDepth)
	}
	obj, ok := v.(map[string]any)
	if !ok || len(obj) == 0 {
		return p.condition("$eq", v, path, depth)
	}
	ops, subs := 0, 0
	for k := range obj {
		if strings.HasPrefix(k, "$") {
			ops++
		} else {
			subs++
		}
	}
	if ops > 0 && subs > 0 {
		return nil, errf("field %q mixes operators and sub-fields", strings.Join(path, "."))
	}
	and := &Node{Op: "$and"}
	for _, k := range sortedKeys(obj) {
		if err := p.count(); err != nil {
			return nil, err
		}
		var n *Node
		var err error
		if ops > 0 {
			n, err = p.condition(k, obj[k], path, depth+1)
		} else {
			var sub []string
			sub, err = splitPath(k)
			if err == nil {
				n, err = p.field(append(slices.Clone(path), sub...), obj[k], depth+1)
			}
		}
		if err != nil {
			return nil, err
		}
		and.Kids = append(and.Kids, n)
	}
	if len(and.Kids) == 1 {
		return and.Kids[0], nil
	}
	return and, nil
}

var typeNames = map[string][]string{
	"null": {"null"}, "boolean": {"true", "false"}, "number": {"integer", "real"},
	"string": {"text"}, "array": {"array"}, "object": {"object"},
}

func (p *parser) condition(op string, v any, path []string, depth int) (*Node, error) {
	n := &Node{Op: op, Path: path, Value: v}
	name := strings.Join(path, ".")
	if name == "" {
		name = "(element)"
	}
	switch op {
	case "$eq", "$ne":
		if err := checkValue(v, 0); err != nil {
			return nil, err
		}
	case "$gt", "$gte", "$lt", "$lte":
		switch x := v.(type) {
		case string:
		case json.Number:
			if _, err := number(x); err != nil {
				return nil, err
			}
		default:
			return nil, errf("%s on %s needs a number or a string", op, name)
		}
	case "$in", "$nin":
		arr, ok := v.([]any)
		if !ok {
			return nil, errf("%s on %s needs an array", op, name)
		}
		for _, x := range arr {
			if err := checkValue(x, 0); err != nil {
				return nil, err
			}
		}
	case "$exists":
		if _, ok := v.(bool); !ok {
			return nil, errf("$exists on %s needs true or false", name)
		}
	case "$type":
		s, ok := v.(string)
		if !ok || typeNames[s] == nil {
			return nil, errf("$type on %s needs one of null, boolean, number, string, array, object", name)
		}
	case "$regex":
		s, ok := v.(string)
		if !ok || len(s) > 1024 {
			return nil, errf("$regex on %s needs a pattern string of at most 1024 bytes", name)
		}
		re, err := regexp.Compile(s)
		if err != nil {
			return nil, errf("$regex on %s: %v", name, err)
		}
		n.Regex = re
	case "$size":
		x, ok := v.(json.Number)
		i, err := strconv.ParseInt(string(x), 10, 32)
		if !ok || err != nil || i < 0 {
			return nil, errf("$size on %s needs a non-negative integer", name)
		}
		n.Value = i
	case "$mod":
		arr, ok := v.([]any)
		if !ok || len(arr) != 2 {
			return nil, errf("$mod on %s needs [divisor, remainder]", name)
		}
		var ints [2]int64
		for i, x := range arr {
			num, ok := x.(json.Number)
			iv, err := strconv.ParseInt(string(num), 10, 64)
			if !ok || err != nil {
				return nil, errf("$mod on %s needs integers", name)
			}
			ints[i] = iv
		}
		if ints[0] == 0 {
			return nil, errf("$mod on %s: the divisor must not be 0", name)
		}
		n.Value = ints
	case "$elemMatch", "$allMatch":
		o, ok := v.(map[string]any)
		if !ok {
			return nil, errf("%s on %s needs a selector object", op, name)
		}
		kid, err := p.selector(o, nil, depth+1, true)
		if err != nil {
			return nil, err
		}
		n.Kids = []*Node{kid}
		n.Value = nil
	case "$not":
		o, ok := v.(map[string]any)
		if !ok || len(o) == 0 {
			return nil, errf("$not on %s needs an object of operators", name)
		}
		kid, err := p.field(path, o, depth+1)
		if err != nil {
			return nil, err
		}
		n.Kids = []*Node{kid}
		n.Value = nil
	default:
		return nil, errf("unknown operator %q on %s", op, name)
	}
	return n, nil
}

func checkValue(v any, depth int) error {
	if depth > MaxDepth {
		return errf("value nested too deeply")
	}
	switch x := v.(type) {
	case json.Number:
		_, err := number(x)
		return err
	case []any:
		for _, e := range x {
			if err := checkValue(e, depth+1); err != nil {
				return err
			}
		}
	case map[string]any:
		for _, e := range x {
			if err := checkValue(e, depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}

// number converts a JSON number to int64 when integral, else float64.
func number(x json.Number) (any, error) {
	if i, err := strconv.ParseInt(string(x), 10, 64); err == nil {
		return i, nil
	}
	f, err := strconv.ParseFloat(string(x), 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return nil, errf("number %s out of range", x)
	}
	return f, nil
}

func sortedKeys(m map[string]any) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// Offset is where the results start: skip plus the bookmark's position.
func (q *Query) Offset() int { return q.Skip + q.bookmark }

// Bookmark returns the bookmark for the page after one that returned n
// results: "" when n is short of the limit (there is no next page).
func (q *Query) Bookmark(n int) string {
	if q.Limit == 0 || n < q.Limit {
		return ""
	}
	h := sha256.Sum256(q.raw)
	var b [16]byte
	copy(b[:8], h[:8])
	binary.BigEndian.PutUint64(b[8:], uint64(q.bookmark+n))
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func (q *Query) decodeBookmark(s string) (int, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != 16 {
		return 0, errf("bookmark is not one this store made")
	}
	h := sha256.Sum256(q.raw)
	if !bytes.Equal(b[:8], h[:8]) {
		return 0, errf("bookmark belongs to another query")
	}
	off := binary.BigEndian.Uint64(b[8:])
	if off > MaxResults*10 {
		return 0, errf("bookmark out of range")
	}
	return int(off), nil
}

// EffectiveLimit is the SQL LIMIT: the query's limit or MaxResults.
func (q *Query) EffectiveLimit() int {
	if q.Limit == 0 || q.Limit > MaxResults {
		return MaxResults
	}
	return q.Limit
}
