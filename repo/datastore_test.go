package repo

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

func TestDatastoreBasics(t *testing.T) {
	_, r := newRepo(t)
	ds := r.Datastore()
	if _, err := ds.Get("/pins/recursive/x"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get of absent key: %v", err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(ds.Put("/pins/recursive/b", []byte("1")))
	must(ds.Put("/pins/recursive/a", []byte("2")))
	must(ds.Put("/pins/direct/c", nil))
	must(ds.Put("/names/self", []byte("rec")))
	must(ds.Put("/pins/recursive/a", []byte("2b")))

	if v, err := ds.Get("/pins/recursive/a"); err != nil || string(v) != "2b" {
		t.Errorf("Get after overwrite: %q, %v", v, err)
	}
	if v, err := ds.Get("/pins/direct/c"); err != nil || len(v) != 0 {
		t.Errorf("Get of empty value: %q, %v", v, err)
	}
	keys, err := ds.List("/pins/")
	must(err)
	if want := []string{"/pins/direct/c", "/pins/recursive/a", "/pins/recursive/b"}; !slices.Equal(keys, want) {
		t.Errorf("List(/pins/) = %q, want %q", keys, want)
	}
	all, _ := ds.List("")
	if len(all) != 4 {
		t.Errorf("List(\"\") = %q", all)
	}
	must(ds.Delete("/pins/recursive/a"))
	must(ds.Delete("/pins/recursive/a")) // absent: not an error
	if _, err := ds.Get("/pins/recursive/a"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get after Delete: %v", err)
	}
	if keys, _ := ds.List("/pins/recursive/"); !slices.Equal(keys, []string{"/pins/recursive/b"}) {
		t.Errorf("List after Delete: %q", keys)
	}

	// Values are files of mode 0600, and survive reopening.
	fi, err := os.Stat(filepath.Join(ds.Dir(), "%2Fnames%2Fself"))
	must(err)
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("value file mode %v", fi.Mode().Perm())
	}
	ds2, err := NewDatastore(ds.Dir())
	must(err)
	if v, err := ds2.Get("/names/self"); err != nil || string(v) != "rec" {
		t.Errorf("Get through a second handle: %q, %v", v, err)
	}

	big := make([]byte, MaxValueSize+1)
	if err := ds.Put("/big", big); !errors.Is(err, ErrValueTooLarge) {
		t.Errorf("Put of an oversized value: %v", err)
	}
}

// TestDatastoreHostileKeys stores keys that would escape the directory, or
// break a naive file mapping, and checks that every one round-trips through
// List and lands as a plain file directly inside the datastore directory.
func TestDatastoreHostileKeys(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "ds")
	ds, err := NewDatastore(dir)
	if err != nil {
		t.Fatal(err)
	}
	hostile := []string{
		".", "..", "/", "//", "../../../etc/passwd", "/..", "a/../../b", "..\\..\\x",
		"\x00", "a\x00b", "%", "%2F", "%2f", "%%", "-", "_", ".hidden", "~", " ",
		"\xff\xfe", "ключ", "/pins/recursive/QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG",
		strings.Repeat("/", 85), // escapes to exactly 255 bytes
		strings.Repeat("a", 255),
	}
	for i, k := range hostile {
		if err := ds.Put(k, []byte(fmt.Sprint(i))); err != nil {
			t.Fatalf("Put(%q): %v", k, err)
		}
	}
	for i, k := range hostile {
		v, err := ds.Get(k)
		if err != nil || string(v) != fmt.Sprint(i) {
			t.Errorf("Get(%q) = %q, %v", k, v, err)
		}
	}
	keys, err := ds.List("")
	if err != nil {
		t.Fatal(err)
	}
	want := slices.Clone(hostile)
	slices.Sort(want)
	if !slices.Equal(keys, want) {
		t.Errorf("List = %q\nwant %q", keys, want)
	}
	// Nothing but the datastore directory in its parent, and nothing but
	// regular files (no subdirectories) in the datastore directory.
	if ents, _ := os.ReadDir(base); len(ents) != 1 || ents[0].Name() != "ds" {
		t.Errorf("the parent directory holds %v", ents)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != len(hostile) {
		t.Errorf("%d files for %d keys", len(ents), len(hostile))
	}
	for _, e := range ents {
		if !e.Type().IsRegular() || strings.HasPrefix(e.Name(), ".") {
			t.Errorf("unexpected entry %q (%v)", e.Name(), e.Type())
		}
	}
	for _, k := range hostile {
		if err := ds.Delete(k); err != nil {
			t.Errorf("Delete(%q): %v", k, err)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("after deleting every key: %v", ents)
	}

	for _, k := range []string{"", strings.Repeat("/", 86), strings.Repeat("a", 256), strings.Repeat("x", 1<<20)} {
		if err := ds.Put(k, nil); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("Put(%.20q... len %d) = %v, want ErrInvalidKey", k, len(k), err)
		}
		if _, err := ds.Get(k); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("Get(len %d) = %v, want ErrInvalidKey", len(k), err)
		}
		if err := ds.Delete(k); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("Delete(len %d) = %v, want ErrInvalidKey", len(k), err)
		}
	}
}

func TestDatastoreListIgnoresStrays(t *testing.T) {
	ds, _ := NewDatastore(t.TempDir())
	ds.Put("/k", []byte("v"))
	for _, name := range []string{".tmp-%2Fk-123", "not%escaped", "lower%2f", "%41", "sub"} {
		os.WriteFile(filepath.Join(ds.Dir(), name), []byte("x"), 0o600)
	}
	os.Mkdir(filepath.Join(ds.Dir(), "%2Fdir"), 0o700)
	keys, err := ds.List("")
	if err != nil || !slices.Equal(keys, []string{"/k", "sub"}) {
		t.Errorf("List = %q, %v", keys, err)
	}
}

func TestDatastoreConcurrentPuts(t *testing.T) {
	ds, _ := NewDatastore(t.TempDir())
	var wg sync.WaitGroup
	vals := [][]byte{bytes.Repeat([]byte("a"), 5000), bytes.Repeat([]byte("b"), 7000)}
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				if err := ds.Put("/shared", vals[i%2]); err != nil {
					t.Error(err)
					return
				}
				v, err := ds.Get("/shared")
				if err != nil || !(bytes.Equal(v, vals[0]) || bytes.Equal(v, vals[1])) {
					t.Errorf("read a torn value (%d bytes), %v", len(v), err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if ents, _ := os.ReadDir(ds.Dir()); len(ents) != 1 {
		t.Errorf("temporary files left: %v", ents)
	}
}

func TestEscapeKeyExamples(t *testing.T) {
	for key, want := range map[string]string{
		"/pins/recursive/bafy": "%2Fpins%2Frecursive%2Fbafy",
		"..":                   "%2E%2E",
		"a\x00":                "a%00",
		"%":                    "%25",
		"Az09-_":               "Az09-_",
	} {
		got, err := escapeKey(key)
		if err != nil || got != want {
			t.Errorf("escapeKey(%q) = %q, %v; want %q", key, got, err, want)
		}
	}
}
