package selector

import (
	"errors"
	"node/internal/testutil"
	"testing"
)

// placeholders counts '?' outside SQL string literals.
func placeholders(s string) int {
	n, in := 0, false
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\'':
			in = !in
		case s[i] == '?' && !in:
			n++
		}
	}
	return n
}

// FuzzParse: every query either fails with ErrSyntax or translates to SQL
// whose placeholders match the bound values, with balanced quotes.
func FuzzParse(f *testing.F) {
	testutil.AddSeedFiles(f, "testdata/seeds/*.json")
	f.Fuzz(func(t *testing.T, data []byte) {
		q, err := Parse(data)
		if err != nil {
			if !errors.Is(err, ErrSyntax) {
				t.Fatalf("error does not wrap ErrSyntax: %v", err)
			}
			return
		}
		where, order, args, err := q.SQL()
		if err != nil {
			t.Fatalf("parsed query does not translate: %v", err)
		}
		text := where + " ORDER BY " + order
		if got := placeholders(text); got != len(args) {
			t.Fatalf("%d placeholders for %d values in %s", got, len(args), text)
		}
		_, _ = q.Project([]byte(`{"a": {"b": 1}, "c": [1]}`))
		_ = q.Bookmark(q.Limit)
	})
}
