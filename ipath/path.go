package ipath

import (
	"errors"
	"fmt"
	"strings"

	"github.com/ipfs/go-cid"
)

// ErrInvalid is wrapped by every parse error.
var ErrInvalid = errors.New("invalid path")

// Path is a parsed content path.
type Path struct {
	// Namespace is "ipfs" or "ipns".
	Namespace string
	// CID is the root for /ipfs paths.
	CID cid.Cid
	// Name is the root for /ipns paths.
	Name string
	// Segments are the names below the root; never "", "." or "..".
	Segments []string
}

// Parse parses a content path. Empty segments (doubled or trailing
// slashes) are dropped; "." and ".." are refused, since a content path
// names a place in a DAG and has no parent to go back to.
func Parse(s string) (Path, error) {
	orig := s
	if s == "" {
		return Path{}, fmt.Errorf("%w: empty path", ErrInvalid)
	}
	ns := "ipfs"
	switch {
	case strings.HasPrefix(s, "/ipfs/"):
		s = s[len("/ipfs/"):]
	case strings.HasPrefix(s, "/ipns/"):
		s, ns = s[len("/ipns/"):], "ipns"
	case strings.HasPrefix(s, "/"):
		return Path{}, fmt.Errorf("%w: %q: a path starts with /ipfs/, /ipns/ or a CID", ErrInvalid, orig)
	}
	parts := strings.Split(s, "/")
	p := Path{Namespace: ns}
	if parts[0] == "" {
		return Path{}, fmt.Errorf("%w: %q has no root", ErrInvalid, orig)
	}
	if ns == "ipfs" {
		c, err := cid.Decode(parts[0])
		if err != nil {
			return Path{}, fmt.Errorf("%w: %q: %q is not a CID: %v", ErrInvalid, orig, parts[0], err)
		}
		p.CID = c
	} else {
		p.Name = parts[0]
	}
	for _, seg := range parts[1:] {
		switch seg {
		case "":
			continue
		case ".", "..":
			return Path{}, fmt.Errorf("%w: %q: segments . and .. are not allowed", ErrInvalid, orig)
		}
		if strings.ContainsRune(seg, 0) {
			return Path{}, fmt.Errorf("%w: %q contains a NUL byte", ErrInvalid, orig)
		}
		p.Segments = append(p.Segments, seg)
	}
	return p, nil
}

// String is the canonical form: /ipfs/CID/a/b or /ipns/NAME/a/b.
func (p Path) String() string {
	root := p.Name
	if p.Namespace == "ipfs" {
		root = p.CID.String()
	}
	return "/" + strings.Join(append([]string{p.Namespace, root}, p.Segments...), "/")
}
