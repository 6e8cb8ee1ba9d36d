package main

import (
	"strings"
	"testing"

	"node/ipns"
)

// TestKeys: gen prints a k51 name that list shows again; names are
// refused twice; self cannot be removed; rm forgets the key.
func TestKeys(t *testing.T) {
	r := newRepo(t)
	name := strings.TrimSpace(r.must("key", "gen", "web"))
	n, err := ipns.ParseName(name)
	if err != nil || !strings.HasPrefix(name, "k51") || n.String() != name {
		t.Fatalf("key gen printed %q: want a k51... IPNS name (%v)", name, err)
	}
	list := r.must("key", "list")
	if !strings.Contains(list, name+" web\n") || !strings.Contains(list, " self\n") {
		t.Fatalf("key list:\n%s\nwant web as %s and self", list, name)
	}
	if e := r.fails(nil, "key", "gen", "web"); !strings.Contains(e, "already exists") {
		t.Fatalf("a second gen of web: %q", e)
	}
	if e := r.fails(nil, "key", "rm", "self"); !strings.Contains(e, "identity") {
		t.Fatalf("rm self: %q", e)
	}
	if e := r.fails(nil, "key", "gen", "../x"); !strings.Contains(e, "key name") {
		t.Fatalf("gen ../x: %q", e)
	}
	r.must("key", "rm", "web")
	if list := r.must("key", "list"); strings.Contains(list, "web") {
		t.Fatalf("web still listed after rm:\n%s", list)
	}
}
