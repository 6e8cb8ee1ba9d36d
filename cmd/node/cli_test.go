package main

// End-to-end tests of the CLI: they build the real binary and run it as a
// user would, against real repositories in temporary directories.

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"node/car"
)

var nodeBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "node-cli-test")
	if err != nil {
		panic(err)
	}
	nodeBin = filepath.Join(dir, "node")
	build := exec.Command("go", "build", "-o", nodeBin, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		panic("building node: " + err.Error())
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// testRepo is a repository in a temporary directory.
type testRepo struct {
	t    *testing.T
	path string
}

func newRepo(t *testing.T) *testRepo {
	t.Helper()
	r := &testRepo{t: t, path: filepath.Join(t.TempDir(), "repo")}
	r.must("init", "--profile", "test")
	return r
}

func (r *testRepo) cmd(args ...string) *exec.Cmd {
	c := exec.Command(nodeBin, args...)
	c.Env = append(os.Environ(), "NODE_PATH="+r.path)
	return c
}

// run runs node with stdin and returns stdout, stderr and the error.
func (r *testRepo) run(stdin []byte, args ...string) (string, string, error) {
	r.t.Helper()
	c := r.cmd(args...)
	if stdin != nil {
		c.Stdin = bytes.NewReader(stdin)
	}
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	err := c.Run()
	return out.String(), errb.String(), err
}

// must runs node and fails the test if it fails.
func (r *testRepo) must(args ...string) string {
	r.t.Helper()
	out, errOut, err := r.run(nil, args...)
	if err != nil {
		r.t.Fatalf("node %s: %v\n%s", strings.Join(args, " "), err, errOut)
	}
	return out
}

// mustIn runs node with stdin.
func (r *testRepo) mustIn(stdin []byte, args ...string) string {
	r.t.Helper()
	out, errOut, err := r.run(stdin, args...)
	if err != nil {
		r.t.Fatalf("node %s: %v\n%s", strings.Join(args, " "), err, errOut)
	}
	return out
}

// fails runs node, expects it to fail, and returns its stderr.
func (r *testRepo) fails(stdin []byte, args ...string) string {
	r.t.Helper()
	out, errOut, err := r.run(stdin, args...)
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		r.t.Fatalf("node %s succeeded (or did not run: %v), want failure; stdout:\n%s", strings.Join(args, " "), err, out)
	}
	if !strings.HasPrefix(lastLine(errOut), "Error: ") {
		r.t.Fatalf("node %s: stderr %q does not end with an \"Error: \" line", strings.Join(args, " "), errOut)
	}
	return errOut
}

func randomBytes(seed uint64, n int) []byte {
	rng := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// makeTree writes a small directory tree and returns its path.
func makeTree(t *testing.T) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "tree")
	files := map[string][]byte{
		"empty":                 {},
		"one byte":              {'x'},
		"ünïcödé ☃.txt":         []byte("snow\n"),
		"sub/big.bin":           randomBytes(1, 1100*1024),
		"sub/chunk.bin":         randomBytes(2, 256*1024),
		"sub/deeper/a file.txt": []byte("deep\n"),
		".hidden":               []byte("secret\n"),
	}
	for name, data := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(root, "empty dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("sub/big.bin", filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}
	return root
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// sameTree compares two directory trees: names, file bytes, symlink targets.
func sameTree(t *testing.T, want, got string, skipHidden bool) {
	t.Helper()
	seen := 0
	err := filepath.WalkDir(want, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(want, p)
		if skipHidden && strings.HasPrefix(d.Name(), ".") && rel != "." {
			if _, err := os.Lstat(filepath.Join(got, rel)); err == nil {
				t.Errorf("hidden %s was extracted", rel)
			}
			return nil
		}
		seen++
		gp := filepath.Join(got, rel)
		gi, err := os.Lstat(gp)
		if err != nil {
			t.Errorf("missing %s: %v", rel, err)
			return nil
		}
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			wt, _ := os.Readlink(p)
			gt, err := os.Readlink(gp)
			if err != nil || wt != gt {
				t.Errorf("symlink %s: target %q, want %q (%v)", rel, gt, wt, err)
			}
		case d.IsDir():
			if !gi.IsDir() {
				t.Errorf("%s is not a directory", rel)
			}
		default:
			wb, _ := os.ReadFile(p)
			gb, err := os.ReadFile(gp)
			if err != nil || !bytes.Equal(wb, gb) {
				t.Errorf("file %s differs (%d vs %d bytes, %v)", rel, len(gb), len(wb), err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if seen < 2 {
		t.Fatalf("compared only %d entries", seen)
	}
}

func TestAddCatGetLs(t *testing.T) {
	r := newRepo(t)
	tree := makeTree(t)
	out := r.must("add", "-r", tree)
	root := strings.Fields(lastLine(out))[1]
	if !strings.Contains(out, "added ") || !strings.HasSuffix(lastLine(out), " tree") {
		t.Fatalf("add output does not list the root last:\n%s", out)
	}
	if strings.Contains(out, ".hidden") {
		t.Fatalf("hidden file added without -H:\n%s", out)
	}
	if q := strings.TrimSpace(r.must("add", "-r", "-Q", tree)); q != root {
		t.Fatalf("add -Q printed %q, want %q", q, root)
	}

	ls := r.must("ls", root)
	for _, want := range []string{"empty dir/", "sub/", "ünïcödé ☃.txt", "one byte", "link"} {
		if !strings.Contains(ls, want) {
			t.Errorf("ls lacks %q:\n%s", want, ls)
		}
	}

	big := randomBytes(1, 1100*1024)
	for _, p := range []string{root + "/sub/big.bin", "/ipfs/" + root + "/sub/big.bin"} {
		if got := r.must("cat", p); got != string(big) {
			t.Fatalf("cat %s: %d bytes differ from the file", p, len(got))
		}
	}
	if got := r.must("cat", "--offset", "300000", "--length", "5000", root+"/sub/big.bin"); got != string(big[300000:305000]) {
		t.Fatalf("cat with offset and length returned %d wrong bytes", len(got))
	}
	if got := r.must("cat", "--offset", "1126390", root+"/sub/big.bin"); got != string(big[1126390:]) {
		t.Fatalf("cat of the tail returned %d bytes, want %d", len(got), len(big)-1126390)
	}

	out2 := filepath.Join(t.TempDir(), "out")
	r.must("get", "-o", out2, root)
	sameTree(t, tree, out2, true)

	single := filepath.Join(t.TempDir(), "single")
	r.must("get", "-o", single, root+"/sub/big.bin")
	if b, _ := os.ReadFile(single); !bytes.Equal(b, big) {
		t.Fatal("get of a single file differs")
	}
	// get refuses to overwrite.
	r.fails(nil, "get", "-o", single, root+"/sub/big.bin")

	// cat of a directory, ls of a file.
	if e := r.fails(nil, "cat", root); !strings.Contains(e, "not a file") {
		t.Fatalf("cat of a directory: %s", e)
	}
}

func TestAddHiddenAndStdin(t *testing.T) {
	r := newRepo(t)
	tree := makeTree(t)
	with := lastLine(r.must("add", "-r", "-Q", "-H", tree))
	without := lastLine(r.must("add", "-r", "-Q", tree))
	if with == without {
		t.Fatal("-H did not change the root")
	}
	if !strings.Contains(r.must("ls", with), ".hidden") {
		t.Fatal("-H did not add the hidden file")
	}

	data := []byte("hello from stdin\n")
	out := r.mustIn(data, "add", "-")
	f := strings.Fields(out)
	if len(f) != 3 || f[0] != "added" || f[1] != f[2] {
		t.Fatalf("add - printed %q, want \"added CID CID\"", out)
	}
	if got := r.must("cat", f[1]); got != string(data) {
		t.Fatalf("cat of stdin content: %q", got)
	}
	wrapped := strings.TrimSpace(r.mustIn(data, "add", "-Q", "-w", "--stdin-name", "hello.txt", "-"))
	if got := r.must("cat", wrapped+"/hello.txt"); got != string(data) {
		t.Fatalf("cat of wrapped stdin content: %q", got)
	}
}

func TestOnlyHashStoresNothing(t *testing.T) {
	r := newRepo(t)
	before := r.must("repo", "stat")
	data := randomBytes(9, 600*1024)
	c := strings.TrimSpace(r.mustIn(data, "add", "-n", "-Q", "-"))
	if after := r.must("repo", "stat"); after != before {
		t.Fatalf("--only-hash stored blocks:\n%s\nthen\n%s", before, after)
	}
	r.fails(nil, "cat", c)
	if c2 := strings.TrimSpace(r.mustIn(data, "add", "-Q", "-")); c2 != c {
		t.Fatalf("add gave %s, --only-hash gave %s", c2, c)
	}
}

func TestErrorsAreClear(t *testing.T) {
	r := &testRepo{t: t, path: filepath.Join(t.TempDir(), "nothing")}
	if e := r.fails(nil, "cat", "QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn"); !strings.Contains(e, "node init") {
		t.Errorf("missing repository: %q does not say how to create one", e)
	}
	r = newRepo(t)
	if e := r.fails(nil, "init"); !strings.Contains(e, r.path) {
		t.Errorf("second init: %q does not name the repository", e)
	}
	if e := r.fails(nil, "cat", "notacid"); !strings.Contains(e, "not a CID") {
		t.Errorf("invalid CID: %q", e)
	}
	if e := r.fails(nil, "add", filepath.Join(t.TempDir(), "missing")); !strings.Contains(e, "no such file") {
		t.Errorf("missing file: %q", e)
	}
	if e := r.fails(nil, "add", t.TempDir()); !strings.Contains(e, "-r") {
		t.Errorf("directory without -r: %q", e)
	}
	if e := r.fails(nil, "cat", "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"); !strings.Contains(e, "not found") {
		t.Errorf("absent block: %q", e)
	}
	if e := r.fails(nil, "add", "--chunker", "rabin", "-"); !strings.Contains(e, "size-N") {
		t.Errorf("bad chunker: %q", e)
	}
	if e := r.fails(nil, "add", "--cid-version", "0", "--hash", "blake3", "-"); !strings.Contains(e, "CIDv0") {
		t.Errorf("CIDv0 with blake3: %q", e)
	}
	if e := r.fails(nil, "config", "No.Such.Key"); !strings.Contains(e, "No") {
		t.Errorf("unknown config key: %q", e)
	}
}

func TestConfig(t *testing.T) {
	r := newRepo(t)
	api := strings.TrimSpace(r.must("config", "Addresses.API"))
	if !strings.HasPrefix(api, "/ip4/127.0.0.1/tcp/") {
		t.Fatalf("test profile API address %q is not loopback", api)
	}
	r.must("config", "Addresses.API", "/ip4/127.0.0.1/tcp/5999")
	if got := strings.TrimSpace(r.must("config", "Addresses.API")); got != "/ip4/127.0.0.1/tcp/5999" {
		t.Fatalf("config set then get: %q", got)
	}
	r.must("config", "--json", "Discovery.MDNS.Enabled", "true")
	if got := strings.TrimSpace(r.must("config", "Discovery.MDNS.Enabled")); got != "true" {
		t.Fatalf("json config value: %q", got)
	}
	if bs := strings.TrimSpace(r.must("config", "--json", "Bootstrap")); bs != "[]" && bs != "null" {
		t.Fatalf("test profile has bootstrap peers: %s", bs)
	}
}

func TestBlockCommands(t *testing.T) {
	r := newRepo(t)
	data := []byte("a raw block")
	c := strings.TrimSpace(r.mustIn(data, "block", "put"))
	if !strings.HasPrefix(c, "bafkrei") {
		t.Fatalf("block put gave %s, want a CIDv1 raw CID", c)
	}
	if got := r.must("block", "get", c); got != string(data) {
		t.Fatalf("block get: %q", got)
	}
	if st := r.must("block", "stat", c); !strings.Contains(st, fmt.Sprintf("Size: %d", len(data))) {
		t.Fatalf("block stat: %q", st)
	}
	big := make([]byte, 2<<20+1)
	if e := r.fails(big, "block", "put"); !strings.Contains(e, "larger than") && !strings.Contains(e, "over") {
		t.Fatalf("oversized block: %q", e)
	}
	exact := make([]byte, 2<<20)
	r.mustIn(exact, "block", "put")

	// A pinned block cannot be removed; an unpinned one can.
	r.must("pin", "add", "-r=false", c)
	if e := r.fails(nil, "block", "rm", c); !strings.Contains(e, "not removed") {
		t.Fatalf("rm of a pinned block: %q", e)
	}
	if got := r.must("block", "get", c); got != string(data) {
		t.Fatalf("a refused rm damaged the block: %q", got)
	}
	r.must("pin", "rm", "-r=false", c)
	r.must("block", "rm", c)
	r.fails(nil, "block", "get", c)
}

func TestPinsAndGC(t *testing.T) {
	r := newRepo(t)
	a := randomBytes(20, 700*1024)
	b := randomBytes(21, 700*1024)
	ca := strings.TrimSpace(r.mustIn(a, "add", "-Q", "-"))
	cb := strings.TrimSpace(r.mustIn(b, "add", "-Q", "--pin=false", "-"))
	ls := r.must("pin", "ls", "--type", "recursive")
	if !strings.Contains(ls, ca) || strings.Contains(ls, cb) {
		t.Fatalf("pin ls:\n%s", ls)
	}
	if ind := r.must("pin", "ls", "--type", "indirect"); len(strings.Split(strings.TrimSpace(ind), "\n")) != 3 {
		t.Fatalf("want the 3 leaves of %s as indirect pins:\n%s", ca, ind)
	}
	gc := r.must("repo", "gc")
	if n := strings.Count(gc, "removed "); n != 4 { // root + 3 leaves of b
		t.Fatalf("gc removed %d blocks, want 4:\n%s", n, gc)
	}
	if got := r.must("cat", ca); got != string(a) {
		t.Fatal("pinned content damaged by gc")
	}
	r.fails(nil, "cat", cb)

	r.must("pin", "rm", ca)
	r.must("repo", "gc")
	st := r.must("repo", "stat")
	if !strings.Contains(st, "NumObjects: 0") {
		t.Fatalf("after unpinning everything and gc:\n%s", st)
	}
	if e := r.fails(nil, "pin", "rm", ca); !strings.Contains(e, "not pinned") {
		t.Fatalf("unpinning twice: %q", e)
	}
}

func TestDagExportImport(t *testing.T) {
	src, dst := newRepo(t), newRepo(t)
	tree := makeTree(t)
	root := lastLine(src.must("add", "-r", "-Q", tree))
	carFile := filepath.Join(t.TempDir(), "tree.car")
	exp := src.cmd("dag", "export", root)
	f, err := os.Create(carFile)
	if err != nil {
		t.Fatal(err)
	}
	exp.Stdout = f
	if err := exp.Run(); err != nil {
		t.Fatal(err)
	}
	f.Close()

	// A truncated CAR: an error, and nothing pinned, whether it is cut in
	// the middle of a section or exactly between two (where it reads as a
	// valid, shorter CAR, and only the DAG check stops the pin).
	whole, _ := os.ReadFile(carFile)
	cr, err := car.NewReader(bytes.NewReader(whole))
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if _, err := cr.Next(); err != nil {
			t.Fatal(err)
		}
	}
	for _, end := range []int64{int64(len(whole) * 2 / 3), cr.Offset()} {
		cut := filepath.Join(t.TempDir(), "cut.car")
		os.WriteFile(cut, whole[:end], 0o644)
		dst.fails(nil, "dag", "import", cut)
		if ls := dst.must("pin", "ls"); strings.TrimSpace(ls) != "" {
			t.Fatalf("an import cut at byte %d of %d pinned something:\n%s", end, len(whole), ls)
		}
	}

	out := dst.must("dag", "import", carFile)
	if !strings.Contains(out, "pinned root "+root) {
		t.Fatalf("import output:\n%s", out)
	}
	got := filepath.Join(t.TempDir(), "got")
	dst.must("get", "-o", got, root)
	sameTree(t, tree, got, true)
	// The exported CAR re-exports identically.
	exp2 := dst.cmd("dag", "export", root)
	again, err := exp2.Output()
	if err != nil || !bytes.Equal(again, whole) {
		t.Fatalf("re-export differs (%v)", err)
	}
}

// TestProgressBar: on a terminal (a pty made by script(1)) add and get show
// a progress bar with a percentage; with stderr not a terminal they print
// nothing to it, and -Q prints only the root.
func TestProgressBar(t *testing.T) {
	script, err := exec.LookPath("script")
	if err != nil {
		t.Skip("script(1) is not installed: cannot run the node on a pseudo-terminal")
	}
	r := newRepo(t)
	file := filepath.Join(t.TempDir(), "big")
	if err := os.WriteFile(file, randomBytes(3, 64<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	onTTY := func(args string) string {
		c := exec.Command(script, "-qec", nodeBin+" "+args, "/dev/null")
		c.Env = append(os.Environ(), "NODE_PATH="+r.path)
		out, err := c.Output()
		if err != nil {
			t.Fatalf("%s on a terminal: %v\n%s", args, err, out)
		}
		return string(out)
	}
	out := onTTY("add " + file)
	if !strings.Contains(out, "adding") || !strings.Contains(out, "%") {
		t.Fatalf("add on a terminal showed no progress bar:\n%q", out)
	}
	i := strings.Index(out, "added ")
	if i < 0 {
		t.Fatalf("add on a terminal printed no \"added\" line:\n%q", out)
	}
	root := strings.Fields(out[i:])[1]
	if out := onTTY("get -o " + filepath.Join(t.TempDir(), "x") + " " + root); !strings.Contains(out, "getting") || !strings.Contains(out, "%") {
		t.Fatalf("get on a terminal showed no progress bar:\n%q", out)
	}
	if out := onTTY("add -Q " + file); strings.TrimSpace(out) != root {
		t.Fatalf("add -Q on a terminal printed %q, want only %s", out, root)
	}
	stdout, stderr, err := r.run(nil, "add", file)
	if err != nil || stderr != "" || !strings.HasPrefix(stdout, "added "+root) {
		t.Fatalf("add without a terminal: stderr %q, stdout %q, %v", stderr, stdout, err)
	}
}

// TestAddNamesLikeTheReference: piped input needs no "-", "added" lines
// name entries under the argument's base name, and -w works on ".".
func TestAddNamesLikeTheReference(t *testing.T) {
	r := newRepo(t)
	if out := r.mustIn([]byte("piped\n"), "add"); !strings.HasPrefix(out, "added ") {
		t.Fatalf("add with piped input and no path: %q", out)
	}
	tree := makeTree(t)
	out := r.must("add", "-r", tree)
	if !strings.Contains(out, " tree/sub/big.bin\n") || !strings.HasSuffix(strings.TrimSpace(out), " tree") {
		t.Fatalf("add -r output does not name entries under the base name:\n%s", out)
	}
	cmd := r.cmd("add", "-r", "-w", "-Q", ".")
	cmd.Dir = filepath.Join(tree, "sub")
	root, err := cmd.Output()
	if err != nil {
		t.Fatalf("add -r -w . : %v", err)
	}
	if ls := r.must("ls", strings.TrimSpace(string(root))); !strings.Contains(ls, "sub/") {
		t.Fatalf("add -w . did not wrap the directory under its name:\n%s", ls)
	}
}

// TestIdentityAndWeakCIDs: identity CIDs read from the CID itself; CIDs
// whose digest is too short to verify anything are refused.
func TestIdentityAndWeakCIDs(t *testing.T) {
	r := newRepo(t)
	// A raw CID whose identity multihash inlines "inline-bits".
	id := "bafkqac3jnzwgs3tffvrgs5dt"
	if got := r.must("block", "get", id); got != "inline-bits" {
		t.Fatalf("block get of an identity CID: %q", got)
	}
	if got := r.must("cat", id); got != "inline-bits" {
		t.Fatalf("cat of an identity CID: %q", got)
	}
	// sha2-256 with an empty digest would let any bytes pass.
	if e := r.fails(nil, "block", "get", "bafkreaa"); !strings.Contains(e, "not accepted") {
		t.Fatalf("a zero-length digest: %q", e)
	}
}
