package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func needFUSE(t *testing.T) {
	t.Helper()
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Skip("FUSE mount tests need /dev/fuse, which this machine does not have")
	}
}

// TestMountThroughTheDaemon: `node mount DIR` in a running daemon shows
// content by CID; a file written under ipns/local is published under the
// node's name, and another daemon reads it through its gateway; --unmount
// ends the mounts.
func TestMountThroughTheDaemon(t *testing.T) {
	needFUSE(t)
	if testing.Short() {
		t.Skip("starts four daemons")
	}
	repos, ds := nameNet(t)
	node, reader := repos[1], repos[3]
	dir := t.TempDir()
	out := node.must("mount", dir)
	if !strings.Contains(out, filepath.Join(dir, "ipfs")) {
		t.Fatalf("mount printed %q", out)
	}
	t.Cleanup(func() { node.run(nil, "mount", "--unmount", dir) })

	// Content by CID, fetched by the mount as any reader.
	tree := makeTree(t)
	root := lastLine(reader.must("add", "-r", "-Q", tree))
	node.must("swarm", "connect", addrOf(t, reader))
	big, err := os.ReadFile(filepath.Join(dir, "ipfs", root, "sub", "big.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if string(big) != string(randomBytes(1, 1100*1024)) {
		t.Fatal("a file read through the mount differs from what was added")
	}
	var x [64]byte
	n, err := unix.Getxattr(filepath.Join(dir, "ipfs", root), "user.ipfs.cid", x[:])
	if err != nil || string(x[:n]) != root {
		t.Fatalf("user.ipfs.cid of the root = %q, %v; want %s", x[:n], err, root)
	}

	// Writing under ipns/local publishes the node's name.
	name := keyNameOf(t, node, "self")
	f, err := os.Create(filepath.Join(dir, "ipns", "local", "hello.txt"))
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("written through the mount\n")
	if err := f.Sync(); err != nil { // fsync publishes at once
		t.Fatal(err)
	}
	f.Close()
	waitFor(t, "the written file to be readable by another node through its gateway", func() bool {
		out, _, err := reader.run(nil, "name", "resolve", "--nocache", name)
		if err != nil || !strings.HasPrefix(out, "/ipfs/") {
			return false
		}
		body, status := gatewayTry(t, reader, "/ipns/"+name+"/hello.txt")
		return status == 200 && body == "written through the mount\n"
	})

	// What was written is pinned, so garbage collection keeps it.
	published := strings.TrimPrefix(strings.TrimSpace(node.must("name", "resolve", name)), "/ipfs/")
	if pins := node.must("pin", "ls", "--type", "recursive"); !strings.Contains(pins, published) {
		t.Fatalf("the published root %s of ipns/local is not pinned:\n%s", published, pins)
	}

	node.must("mount", "--unmount", dir)
	if _, err := os.Stat(filepath.Join(dir, "ipfs", root)); err == nil {
		t.Fatal("content is still reachable after --unmount")
	}
	for _, d := range ds {
		d.stop(t)
	}
}

// addrOf is r's daemon's first swarm address.
func addrOf(t *testing.T, r *testRepo) string {
	t.Helper()
	out := r.must("id")
	i := strings.Index(out, "/ip4/")
	if i < 0 {
		t.Fatalf("no address in `node id`: %s", out)
	}
	return strings.Trim(strings.Fields(out[i:])[0], `",`)
}

// mounted reports whether dir is a mount point in /proc/self/mounts.
func mounted(t *testing.T, dir string) bool {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 1 && f[1] == dir {
			return true
		}
	}
	return false
}

// TestDaemonMountEndsWithTheDaemon: `node daemon --mount` mounts the
// config's mount points, and SIGINT unmounts them cleanly.
func TestDaemonMountEndsWithTheDaemon(t *testing.T) {
	needFUSE(t)
	r := newRepo(t)
	dir := t.TempDir()
	ipfsDir, ipnsDir := filepath.Join(dir, "ipfs"), filepath.Join(dir, "ipns")
	r.must("config", "Mounts.IPFS", ipfsDir)
	r.must("config", "Mounts.IPNS", ipnsDir)
	d := startDaemon(t, r, "--mount")
	t.Cleanup(func() { r.run(nil, "mount", "--unmount", dir) })
	if !mounted(t, ipfsDir) || !mounted(t, ipnsDir) {
		t.Fatal("daemon --mount did not mount Mounts.IPFS and Mounts.IPNS")
	}
	c := strings.TrimSpace(r.mustIn([]byte("through the mount\n"), "add", "-Q"))
	if b, err := os.ReadFile(filepath.Join(ipfsDir, c)); err != nil || string(b) != "through the mount\n" {
		t.Fatalf("reading %s through the mount: %q, %v", c, b, err)
	}
	d.stop(t)
	if mounted(t, ipfsDir) || mounted(t, ipnsDir) {
		t.Fatal("the mounts outlived the daemon")
	}
}
