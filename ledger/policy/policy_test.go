package policy

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func set(orgs ...string) func(string) bool {
	m := map[string]bool{}
	for _, o := range orgs {
		m[o] = true
	}
	return func(o string) bool { return m[o] }
}

func TestEvaluate(t *testing.T) {
	cases := []struct {
		policy string
		orgs   []string
		want   bool
	}{
		{"AND('Org1','Org2')", []string{"Org1", "Org2"}, true},
		{"AND('Org1','Org2')", []string{"Org1"}, false},
		{"OR('Org1','Org2')", []string{"Org2"}, true},
		{"OR('Org1','Org2')", nil, false},
		{"OutOf(2, 'A', 'B', 'C')", []string{"A", "C"}, true},
		{"OutOf(2, 'A', 'B', 'C')", []string{"B"}, false},
		{"outof(1,A,B)", []string{"B"}, true},
		{"OR('Org1.member', AND(\"Org2.peer\", 'Org3'))", []string{"Org2", "Org3"}, true},
		{"OR('Org1.member', AND(\"Org2.peer\", 'Org3'))", []string{"Org2"}, false},
		{"'Solo'", []string{"Solo"}, true},
		{"OutOf(2, AND('A','B'), OR('C','D'), 'E')", []string{"A", "B", "D"}, true},
		{"OutOf(2, AND('A','B'), OR('C','D'), 'E')", []string{"A", "D"}, false},
	}
	for _, c := range cases {
		p, err := Parse(c.policy)
		if err != nil {
			t.Fatalf("Parse(%q): %v", c.policy, err)
		}
		if got := p.Satisfied(set(c.orgs...)); got != c.want {
			t.Errorf("%s with %v: got %v, want %v", c.policy, c.orgs, got, c.want)
		}
		// The canonical form parses to the same policy.
		q, err := Parse(p.String())
		if err != nil || q.String() != p.String() {
			t.Errorf("canonical form %q does not round-trip: %v", p.String(), err)
		}
	}
}

func TestOrgs(t *testing.T) {
	p := MustParse("OR('A', AND('B','A'), OutOf(1,'C'))")
	if got := strings.Join(p.Orgs(), ","); got != "A,B,C" {
		t.Fatalf("Orgs = %s", got)
	}
}

func TestSyntaxErrors(t *testing.T) {
	for _, s := range []string{
		"", "AND(", "AND()", "AND('A' 'B')", "XOR('A','B')", "OutOf(3,'A','B')",
		"OutOf(0,'A')", "OutOf('A')", "'A", "AND('A'))", "AND('A',)", "''",
		strings.Repeat("AND(", 40) + "'A'" + strings.Repeat(")", 40),
	} {
		if _, err := Parse(s); !errors.Is(err, ErrSyntax) {
			t.Errorf("Parse(%q) = %v, want ErrSyntax", s, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/seeds/*.txt")
	for _, s := range seeds {
		b, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := Parse(s)
		if err != nil {
			if !errors.Is(err, ErrSyntax) {
				t.Fatalf("error does not wrap ErrSyntax: %v", err)
			}
			return
		}
		q, err := Parse(p.String())
		if err != nil {
			t.Fatalf("canonical form %q of %q does not parse: %v", p.String(), s, err)
		}
		if q.String() != p.String() {
			t.Fatalf("canonical form not stable: %q vs %q", q.String(), p.String())
		}
		_ = p.Satisfied(func(string) bool { return true })
	})
}
