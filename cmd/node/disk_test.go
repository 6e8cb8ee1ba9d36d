package main

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestFullDisk runs the node on a small tmpfs: an add that does not fit
// fails with a clear error, and what was stored before stays whole and
// readable.
func TestFullDisk(t *testing.T) {
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs to fill (needs root): %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", mnt).Run() })
	r := &testRepo{t: t, path: filepath.Join(mnt, "repo")}
	r.must("init", "--profile", "test")

	small := randomBytes(5, 3<<20)
	keep := strings.TrimSpace(r.mustIn(small, "add", "-Q", "-"))

	big := randomBytes(6, 40<<20)
	e := r.fails(big, "add", "-Q", "-")
	if !strings.Contains(e, "no space left") {
		t.Fatalf("add on a full disk: %q does not say the disk is full", e)
	}
	if got := r.must("cat", keep); !bytes.Equal([]byte(got), small) {
		t.Fatal("content added before the disk filled is damaged")
	}
	if out := r.must("repo", "verify"); !strings.Contains(out, "all good") {
		t.Fatalf("repo verify after a full disk:\n%s", out)
	}
	if ls := r.must("pin", "ls", "--type", "recursive"); strings.TrimSpace(ls) != keep+" recursive" {
		t.Fatalf("pins after a failed add:\n%s", ls)
	}
	// Freeing space (GC of the partial add) lets work go on.
	r.must("repo", "gc")
	more := randomBytes(7, 2<<20)
	c := strings.TrimSpace(r.mustIn(more, "add", "-Q", "-"))
	if got := r.must("cat", c); !bytes.Equal([]byte(got), more) {
		t.Fatal("add after gc on the formerly full disk")
	}
}
