package ipath

import (
	"errors"
	"testing"
)

func TestParse(t *testing.T) {
	const c0 = "QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn"
	const c1 = "bafybeiczsscdsbs7ffqz55asqdf3smv6klcw3gofszvwlyarci47bgf354"
	good := map[string]string{
		c0:                         "/ipfs/" + c0,
		"/ipfs/" + c0 + "/a/b":     "/ipfs/" + c0 + "/a/b",
		c1 + "//a/b/":              "/ipfs/" + c1 + "/a/b",
		"/ipfs/" + c1 + "/ü n/x y": "/ipfs/" + c1 + "/ü n/x y",
		"/ipns/example.org/a":      "/ipns/example.org/a",
	}
	for in, want := range good {
		p, err := Parse(in)
		if err != nil {
			t.Errorf("Parse(%q): %v", in, err)
			continue
		}
		if p.String() != want {
			t.Errorf("Parse(%q) = %q, want %q", in, p.String(), want)
		}
	}
	bad := []string{"", "/", "/ipfs/", "/ipfs/notacid", "notacid/a", "/foo/" + c0, c0 + "/../x", c0 + "/./x", "/ipns/", c0 + "/a\x00b"}
	for _, in := range bad {
		if _, err := Parse(in); !errors.Is(err, ErrInvalid) {
			t.Errorf("Parse(%q) = %v, want ErrInvalid", in, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn/a", "/ipns/x/../y", "/ipfs/bafkqaaa//"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := Parse(s)
		if err != nil {
			return
		}
		for _, seg := range p.Segments {
			if seg == "" || seg == "." || seg == ".." {
				t.Fatalf("Parse(%q) kept segment %q", s, seg)
			}
		}
		again, err := Parse(p.String())
		if err != nil || again.String() != p.String() {
			t.Fatalf("round trip of %q: %q, %v", s, again.String(), err)
		}
	})
}
