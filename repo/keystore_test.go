package repo

import (
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
)

func genKey(t *testing.T) crypto.PrivKey {
	t.Helper()
	sk, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return sk
}

func TestKeystore(t *testing.T) {
	root, r := newRepo(t)
	ks := r.Keystore()
	self, _ := r.Identity()
	if got, err := ks.Get("self"); err != nil || !crypto.KeyEqual(got, self) {
		t.Fatalf("Get(self): %v", err)
	}
	if names, err := ks.List(); err != nil || !slices.Equal(names, []string{"self"}) {
		t.Fatalf("List of a new keystore: %q, %v", names, err)
	}
	k1, k2 := genKey(t), genKey(t)
	if err := ks.Put("blog", k1); err != nil {
		t.Fatal(err)
	}
	if err := ks.Put("my key ü", k2); err != nil {
		t.Fatal(err)
	}
	if err := ks.Put("blog", k2); !errors.Is(err, ErrKeyExists) || !strings.Contains(err.Error(), "node key rm blog") {
		t.Errorf("Put over an existing name: %v", err)
	}
	if err := ks.Put("self", k2); !errors.Is(err, ErrKeyExists) {
		t.Errorf("Put(self): %v", err)
	}
	if got, err := ks.Get("blog"); err != nil || !crypto.KeyEqual(got, k1) {
		t.Errorf("Get(blog) after a refused overwrite: %v", err)
	}
	fi, err := os.Stat(filepath.Join(root, "keystore", "blog"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file: %v, %v", fi, err)
	}
	if names, _ := ks.List(); !slices.Equal(names, []string{"blog", "my key ü", "self"}) {
		t.Errorf("List = %q", names)
	}
	if _, err := ks.Get("nope"); !errors.Is(err, ErrNoSuchKey) {
		t.Errorf("Get(nope): %v", err)
	}
	if err := ks.Delete("nope"); !errors.Is(err, ErrNoSuchKey) {
		t.Errorf("Delete(nope): %v", err)
	}
	if err := ks.Delete("self"); err == nil {
		t.Error("Delete(self) succeeded")
	}

	// Keys persist across reopening.
	r.Close()
	r2, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	ks = r2.Keystore()
	if got, err := ks.Get("my key ü"); err != nil || !crypto.KeyEqual(got, k2) {
		t.Errorf("Get after reopen: %v", err)
	}
	if err := ks.Delete("blog"); err != nil {
		t.Fatal(err)
	}
	if _, err := ks.Get("blog"); !errors.Is(err, ErrNoSuchKey) {
		t.Errorf("Get after Delete: %v", err)
	}

	// A corrupt key file is reported with its path.
	p := filepath.Join(root, "keystore", "broken")
	os.WriteFile(p, []byte("not a key"), 0o600)
	if _, err := ks.Get("broken"); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), p) {
		t.Errorf("Get of a corrupt key: %v", err)
	}
}

func TestKeyNames(t *testing.T) {
	_, r := newRepo(t)
	ks := r.Keystore()
	k := genKey(t)
	bad := []string{"", ".", "..", "...", ".hidden", "a/b", "/", "../x", "a\\b", "a\x00b", "tab\there", "\x7f",
		"\xff", strings.Repeat("n", MaxKeyNameLen+1)}
	for _, name := range bad {
		if err := ks.Put(name, k); !errors.Is(err, ErrBadKeyName) {
			t.Errorf("Put(%q) = %v, want ErrBadKeyName", name, err)
		}
		if _, err := ks.Get(name); !errors.Is(err, ErrBadKeyName) {
			t.Errorf("Get(%q) = %v, want ErrBadKeyName", name, err)
		}
		if err := ks.Delete(name); !errors.Is(err, ErrBadKeyName) {
			t.Errorf("Delete(%q) = %v, want ErrBadKeyName", name, err)
		}
	}
	for _, name := range []string{"a", "a.b", "a..", "-", "日本", strings.Repeat("n", MaxKeyNameLen)} {
		if err := ks.Put(name, k); err != nil {
			t.Errorf("Put(%q): %v", name, err)
		}
	}
	if ents, _ := os.ReadDir(filepath.Dir(ks.dir)); len(ents) == 0 {
		t.Error("repository root is empty?")
	}
	// Nothing escaped the keystore directory.
	ents, _ := os.ReadDir(ks.dir)
	if len(ents) != 6 {
		t.Errorf("keystore holds %d files, want 6", len(ents))
	}
}
