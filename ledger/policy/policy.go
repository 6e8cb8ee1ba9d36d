package policy

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
)

// ErrSyntax is wrapped by every parse error.
var ErrSyntax = errors.New("endorsement policy syntax error")

// Limits keep hostile policies small.
const (
	maxLen   = 4096
	maxDepth = 32
)

// Policy is a parsed endorsement policy.
type Policy struct {
	root node
}

type node struct {
	op   string // "org", "and", "or", "outof"
	org  string // for "org"
	n    int    // for "outof"
	kids []node
}

// Parse reads a policy expression.
func Parse(s string) (*Policy, error) {
	if len(s) > maxLen {
		return nil, fmt.Errorf("%w: policy is %d bytes, over the %d-byte limit", ErrSyntax, len(s), maxLen)
	}
	p := &parser{s: s}
	n, err := p.expr(0)
	if err != nil {
		return nil, err
	}
	p.space()
	if p.i != len(p.s) {
		return nil, p.errf("unexpected %q after the policy", p.s[p.i:])
	}
	return &Policy{root: n}, nil
}

// MustParse is Parse for constant policies; it panics on error.
func MustParse(s string) *Policy {
	p, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return p
}

// Satisfied reports whether the organisations for which has returns true
// satisfy the policy.
func (p *Policy) Satisfied(has func(org string) bool) bool { return p.root.eval(has) }

// Orgs lists the organisations the policy names, each once, in order of
// first appearance.
func (p *Policy) Orgs() []string {
	var out []string
	seen := map[string]bool{}
	var walk func(n node)
	walk = func(n node) {
		if n.op == "org" {
			if !seen[n.org] {
				seen[n.org] = true
				out = append(out, n.org)
			}
			return
		}
		for _, k := range n.kids {
			walk(k)
		}
	}
	walk(p.root)
	return out
}

// String gives the policy in canonical form: AND('Org1', 'Org2').
func (p *Policy) String() string { return p.root.String() }

// MarshalText implements encoding.TextMarshaler.
func (p *Policy) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (p *Policy) UnmarshalText(b []byte) error {
	q, err := Parse(string(b))
	if err != nil {
		return err
	}
	*p = *q
	return nil
}

func (n node) eval(has func(string) bool) bool {
	switch n.op {
	case "org":
		return has(n.org)
	case "and":
		for _, k := range n.kids {
			if !k.eval(has) {
				return false
			}
		}
		return true
	case "or":
		for _, k := range n.kids {
			if k.eval(has) {
				return true
			}
		}
		return false
	default: // outof
		got := 0
		for _, k := range n.kids {
			if k.eval(has) {
				got++
				if got >= n.n {
					return true
				}
			}
		}
		return got >= n.n
	}
}

func (n node) String() string {
	switch n.op {
	case "org":
		return "'" + n.org + "'"
	}
	var b strings.Builder
	switch n.op {
	case "and":
		b.WriteString("AND(")
	case "or":
		b.WriteString("OR(")
	default:
		b.WriteString("OutOf(" + strconv.Itoa(n.n))
		if len(n.kids) > 0 {
			b.WriteString(", ")
		}
	}
	for i, k := range n.kids {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(k.String())
	}
	b.WriteString(")")
	return b.String()
}

type parser struct {
	s string
	i int
}

func (p *parser) errf(format string, args ...any) error {
	return fmt.Errorf("%w at offset %d: %s", ErrSyntax, p.i, fmt.Sprintf(format, args...))
}

func (p *parser) space() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t' || p.s[p.i] == '\n' || p.s[p.i] == '\r') {
		p.i++
	}
}

func (p *parser) ident() string {
	start := p.i
	for p.i < len(p.s) {
		c := rune(p.s[p.i])
		if c < 0x80 && (unicode.IsLetter(c) || unicode.IsDigit(c) || c == '_' || c == '-' || c == '.') {
			p.i++
			continue
		}
		break
	}
	return p.s[start:p.i]
}

func (p *parser) expr(depth int) (node, error) {
	if depth > maxDepth {
		return node{}, p.errf("nested deeper than %d levels", maxDepth)
	}
	p.space()
	if p.i >= len(p.s) {
		return node{}, p.errf("expected AND, OR, OutOf or an organisation name, found the end")
	}
	if c := p.s[p.i]; c == '\'' || c == '"' {
		end := strings.IndexByte(p.s[p.i+1:], c)
		if end < 0 {
			return node{}, p.errf("unterminated quoted name")
		}
		name := p.s[p.i+1 : p.i+1+end]
		p.i += end + 2
		return orgNode(p, name)
	}
	word := p.ident()
	if word == "" {
		return node{}, p.errf("unexpected %q", p.s[p.i:p.i+1])
	}
	p.space()
	if p.i >= len(p.s) || p.s[p.i] != '(' {
		return orgNode(p, word)
	}
	op := strings.ToLower(word)
	if op != "and" && op != "or" && op != "outof" {
		return node{}, p.errf("unknown operator %q (want AND, OR or OutOf)", word)
	}
	p.i++ // (
	n := node{op: op}
	if op == "outof" {
		p.space()
		start := p.i
		for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
			p.i++
		}
		v, err := strconv.Atoi(p.s[start:p.i])
		if err != nil || p.i-start > 4 {
			return node{}, p.errf("OutOf needs a count first")
		}
		n.n = v
		p.space()
		if p.i >= len(p.s) || p.s[p.i] != ',' {
			return node{}, p.errf("OutOf needs operands after the count")
		}
		p.i++
	}
	p.space()
	if p.i < len(p.s) && p.s[p.i] == ')' {
		return node{}, p.errf("%s needs at least one operand", word)
	}
	for {
		k, err := p.expr(depth + 1)
		if err != nil {
			return node{}, err
		}
		n.kids = append(n.kids, k)
		p.space()
		if p.i >= len(p.s) {
			return node{}, p.errf("missing ')'")
		}
		if p.s[p.i] == ',' {
			p.i++
			continue
		}
		if p.s[p.i] != ')' {
			return node{}, p.errf("expected ',' or ')', found %q", p.s[p.i:p.i+1])
		}
		p.i++
		break
	}
	if op == "outof" && (n.n < 1 || n.n > len(n.kids)) {
		return node{}, p.errf("OutOf(%d, ...) with %d operands: the count must be between 1 and the number of operands", n.n, len(n.kids))
	}
	return n, nil
}

func orgNode(p *parser, name string) (node, error) {
	// 'Org1.member', 'Org1.peer', 'Org1.admin'... name the organisation.
	if i := strings.LastIndexByte(name, '.'); i > 0 {
		switch strings.ToLower(name[i+1:]) {
		case "member", "peer", "admin", "client", "orderer":
			name = name[:i]
		}
	}
	if name == "" || len(name) > 256 {
		return node{}, p.errf("empty or over-long organisation name")
	}
	for _, r := range name {
		if r < 0x20 || r == '\'' || r == '"' {
			return node{}, p.errf("organisation name %q has a forbidden character", name)
		}
	}
	return node{op: "org", org: name}, nil
}
