package repo

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// TestAtomicWriteFault injects a write that stops halfway with ENOSPC: the
// old file must stay whole and no temporary file may remain.
func TestAtomicWriteFault(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "config")
	old := []byte(`{"old": true}`)
	if err := os.WriteFile(p, old, 0o600); err != nil {
		t.Fatal(err)
	}
	halfThenFull := func(f *os.File, data []byte) (int, error) {
		n, _ := f.Write(data[:len(data)/2])
		return n, syscall.ENOSPC
	}
	err := writeAtomic(p, []byte(`{"new": "a longer value than before"}`), 0o600, halfThenFull, false)
	if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "free some space") {
		t.Fatalf("error %v", err)
	}
	if got, _ := os.ReadFile(p); !bytes.Equal(got, old) {
		t.Errorf("file after a failed write: %q", got)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("directory holds %v, want only the config", ents)
	}
	// The same fault on a file that does not exist yet leaves nothing.
	err = writeAtomic(filepath.Join(dir, "fresh"), []byte("data"), 0o600, halfThenFull, true)
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("exclusive write: %v", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("directory holds %v after a failed create", ents)
	}
}

// mountTinyTmpfs mounts a 256 KiB tmpfs for the test, or skips.
func mountTinyTmpfs(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=256k,mode=0700"); err != nil {
		t.Skipf("cannot mount a tmpfs to simulate a full disk (%v): run the tests as root (or with CAP_SYS_ADMIN) to cover this", err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// fill writes a file until the file system reports ENOSPC.
func fill(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	for {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling the disk: %v", err)
			}
			return
		}
	}
}

func TestFullDisk(t *testing.T) {
	mnt := mountTinyTmpfs(t)
	root := filepath.Join(mnt, "repo")
	if _, err := Init(root, ProfileTest); err != nil {
		t.Fatal(err)
	}
	r, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ds, ks := r.Datastore(), r.Keystore()
	if err := ds.Put("/pins/recursive/x", []byte("old")); err != nil {
		t.Fatal(err)
	}
	cp := filepath.Join(root, "config")
	cfgBefore, _ := os.ReadFile(cp)

	filler := filepath.Join(mnt, "filler")
	fill(t, filler)

	err = r.SetConfigValue("Addresses.API", "/ip4/127.0.0.1/tcp/5001", false)
	if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), cp) || !strings.Contains(err.Error(), "free some space") {
		t.Errorf("SetConfigValue on a full disk: %v", err)
	}
	if got, _ := os.ReadFile(cp); !bytes.Equal(got, cfgBefore) {
		t.Error("the config file changed after a failed write")
	}
	if a, _ := r.ConfigValue("Addresses.API"); string(a) != `"/ip4/127.0.0.1/tcp/0"` {
		t.Errorf("in-memory config changed after a failed write: %s", a)
	}
	if _, err := ReadConfig(root); err != nil {
		t.Errorf("config unreadable after a failed write: %v", err)
	}

	err = ds.Put("/pins/recursive/x", bytes.Repeat([]byte("new"), 3000))
	if !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("datastore Put on a full disk: %v", err)
	}
	if v, err := ds.Get("/pins/recursive/x"); err != nil || string(v) != "old" {
		t.Errorf("datastore value after a failed Put: %q, %v", v, err)
	}
	if err := ks.Put("k", genKey(t)); !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("keystore Put on a full disk: %v", err)
	}
	if _, err := ks.Get("k"); !errors.Is(err, ErrNoSuchKey) {
		t.Errorf("keystore after a failed Put: %v", err)
	}
	for _, d := range []string{root, filepath.Join(root, "datastore"), filepath.Join(root, "keystore")} {
		ents, _ := os.ReadDir(d)
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), tmpPrefix) {
				t.Errorf("temporary file %s left in %s", e.Name(), d)
			}
		}
	}

	// Once space is freed, writes work again.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if err := r.SetConfigValue("Addresses.API", "/ip4/127.0.0.1/tcp/5001", false); err != nil {
		t.Errorf("SetConfigValue after freeing space: %v", err)
	}
	if err := ds.Put("/pins/recursive/x", []byte("new")); err != nil {
		t.Errorf("datastore Put after freeing space: %v", err)
	}
}
