package unixfs_test

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"

	"node/blockstore"
	"node/dagpb"
	"node/unixfs"
	"node/unixfs/importer"
)

// snapshot describes every entry under dir by its relative path: "dir",
// "link:<target>" or "file:<content>".
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			out[rel] = "link:" + target
		case d.IsDir():
			out[rel] = "dir"
		default:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			out[rel] = "file:" + string(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sameSnapshot(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %q is %.40q, want %.40q", what, k, got[k], v)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: unexpected %q", what, k)
		}
	}
}

func TestExtractTree(t *testing.T) {
	ctx := context.Background()
	dir, entries := makeTree(t)
	store := blockstore.NewMemory()
	root := addPath(t, store, dir, importer.WalkOptions{Recursive: true, Hidden: true})

	out := filepath.Join(t.TempDir(), "out")
	var progress int64
	if err := unixfs.Extract(ctx, store, root, out, func(n int64) { progress += n }); err != nil {
		t.Fatal(err)
	}
	sameSnapshot(t, "extracted tree", snapshot(t, out), snapshot(t, dir))
	var total int64
	for _, e := range entries {
		total += int64(len(e.content))
	}
	if progress != total {
		t.Errorf("progress reported %d bytes, want %d", progress, total)
	}
	if fi, err := os.Stat(filepath.Join(out, "emptydir")); err != nil || !fi.IsDir() {
		t.Errorf("empty directory not extracted: %v", err)
	}

	// A single file and a single symlink.
	rn := mustGet(t, store, root)
	big, err := unixfs.Lookup(ctx, store, rn, "ünïcødé 文件.bin")
	if err != nil {
		t.Fatal(err)
	}
	link, err := unixfs.Lookup(ctx, store, rn, "link")
	if err != nil {
		t.Fatal(err)
	}
	parent := t.TempDir()
	one := filepath.Join(parent, "one.bin")
	if err := unixfs.Extract(ctx, store, big.CID, one, nil); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(one)
	if want, _ := os.ReadFile(filepath.Join(dir, "ünïcødé 文件.bin")); err != nil || string(got) != string(want) {
		t.Fatalf("single file: %d bytes, %v; want %d", len(got), err, len(want))
	}
	if err := unixfs.Extract(ctx, store, link.CID, filepath.Join(parent, "l"), nil); err != nil {
		t.Fatal(err)
	}
	if target, err := os.Readlink(filepath.Join(parent, "l")); err != nil || target != "a.txt" {
		t.Fatalf("single symlink: %q, %v", target, err)
	}

	// An output that exists is an error and is left as it was.
	exists := filepath.Join(parent, "exists")
	if err := os.WriteFile(exists, []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	existsDir := filepath.Join(parent, "existsdir")
	if err := os.Mkdir(existsDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(existsDir, "a.txt"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, parent)
	for _, tc := range []struct {
		c   cid.Cid
		out string
	}{
		{big.CID, exists}, {link.CID, exists}, {root, exists},
		{root, existsDir}, {big.CID, existsDir},
	} {
		if err := unixfs.Extract(ctx, store, tc.c, tc.out, nil); err == nil {
			t.Errorf("Extract of %s over the existing %s succeeded", tc.c, tc.out)
		}
	}
	sameSnapshot(t, "after refused extracts", snapshot(t, parent), before)
}

// TestExtractHostile: directory entries that are not plain names, listed
// twice, or that would reach through a symlink are refused with an error
// naming them, and nothing appears outside the output directory.
func TestExtractHostile(t *testing.T) {
	ctx := context.Background()
	store := blockstore.NewMemory()
	file := leafOf(t, store, "payload")
	fileLink := func(name string) dagpb.Link { return dagpb.Link{Hash: file, Name: name} }
	dirLink := func(name string, links ...dagpb.Link) dagpb.Link {
		return dagpb.Link{Hash: putPB(t, store, dirNode(links...)), Name: name}
	}
	symLink := func(name, target string) dagpb.Link {
		return dagpb.Link{Hash: putPB(t, store, symlinkNode(target)), Name: name}
	}

	for _, tc := range []struct {
		name  string
		root  func(victim string) *dagpb.Node
		inErr string
	}{
		{"dot-dot", func(string) *dagpb.Node { return dirNode(fileLink("..")) }, `".."`},
		{"dot", func(string) *dagpb.Node { return dirNode(fileLink(".")) }, `"."`},
		{"empty", func(string) *dagpb.Node { return dirNode(fileLink("")) }, "empty name"},
		{"slash", func(string) *dagpb.Node { return dirNode(fileLink("a/b")) }, `"a/b"`},
		{"traversal", func(string) *dagpb.Node { return dirNode(fileLink("../../etc/x")) }, `"../../etc/x"`},
		{"absolute", func(v string) *dagpb.Node { return dirNode(fileLink(v + "/x")) }, "/x\""},
		{"NUL", func(string) *dagpb.Node { return dirNode(fileLink("a\x00b")) }, `"a\x00b"`},
		{"nested dot-dot", func(string) *dagpb.Node { return dirNode(dirLink("d", fileLink(".."))) }, `".."`},
		{"listed twice", func(string) *dagpb.Node { return dirNode(fileLink("dup"), fileLink("dup")) }, "dup"},
		{"file after symlink of the same name", func(v string) *dagpb.Node {
			return dirNode(symLink("s", v), fileLink("s"))
		}, "/s"},
		{"entry through a symlink to an absolute dir", func(v string) *dagpb.Node {
			return dirNode(symLink("s", v), fileLink("s/x"))
		}, `"s/x"`},
		{"dir after symlink to ..", func(string) *dagpb.Node {
			return dirNode(symLink("s", ".."), dirLink("s", fileLink("x")))
		}, "/s"},
		{"dir after symlink to an absolute dir", func(v string) *dagpb.Node {
			return dirNode(symLink("s", v), dirLink("s", fileLink("x")))
		}, "/s"},
		{"nested symlink then traversal", func(v string) *dagpb.Node {
			return dirNode(dirLink("d", symLink("s", "../.."), fileLink("s/../../x")))
		}, `"s/../../x"`},
		{"HAMT listing a name twice", func(string) *dagpb.Node {
			a := putPB(t, store, hamtNode(256, dagpb.Link{Hash: file, Name: "00dup"}))
			b := putPB(t, store, hamtNode(256, dagpb.Link{Hash: file, Name: "01dup"}))
			return hamtNode(256, dagpb.Link{Hash: a, Name: "00"}, dagpb.Link{Hash: b, Name: "01"})
		}, "dup"},
		{"HAMT entry dot-dot", func(string) *dagpb.Node {
			return hamtNode(256, dagpb.Link{Hash: file, Name: "00.."})
		}, `".."`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			top := t.TempDir()
			parent := filepath.Join(top, "parent")
			victim := filepath.Join(top, "victim")
			for _, d := range []string{parent, victim, filepath.Join(parent, "etc")} {
				if err := os.Mkdir(d, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.WriteFile(filepath.Join(parent, "x"), []byte("orig"), 0o644); err != nil {
				t.Fatal(err)
			}
			root := putPB(t, store, tc.root(victim))
			before := snapshot(t, top)

			out := filepath.Join(parent, "out")
			err := unixfs.Extract(ctx, store, root, out, nil)
			if err == nil {
				t.Fatal("Extract succeeded")
			}
			if !strings.Contains(err.Error(), tc.inErr) {
				t.Errorf("error %q does not name the entry (%s)", err, tc.inErr)
			}
			// Whatever was written is below out: the rest is unchanged.
			after := snapshot(t, top)
			for k := range after {
				if k == filepath.Join("parent", "out") || strings.HasPrefix(k, filepath.Join("parent", "out")+"/") {
					delete(after, k)
				}
			}
			sameSnapshot(t, "outside the output", after, before)
			if ents, _ := os.ReadDir(victim); len(ents) != 0 {
				t.Errorf("something was written through the symlink: %v", ents)
			}
		})
	}
}

// TestExtractTooDeep: a chain of directories deeper than the limit is
// refused rather than followed without end.
func TestExtractTooDeep(t *testing.T) {
	ctx := context.Background()
	store := blockstore.NewMemory()
	c := putPB(t, store, dirNode())
	for range 1100 {
		c = putPB(t, store, dirNode(dagpb.Link{Hash: c, Name: "d"}))
	}
	err := unixfs.Extract(ctx, store, c, filepath.Join(t.TempDir(), "out"), nil)
	if err == nil || !strings.Contains(err.Error(), "deeper") {
		t.Fatalf("Extract of 1100 nested directories: %v", err)
	}
}
