package gateway

import (
	"bytes"
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"

	"node/blockstore"
	"node/car"
	"node/internal/testutil"
	"node/unixfs"
)

// readCAR parses a CAR response, each block checked against its CID by
// the reader, into a fresh in-memory store.
func readCAR(t testing.TB, body []byte) (roots []cid.Cid, order []cid.Cid, store *blockstore.Memory) {
	t.Helper()
	cr, err := car.NewReader(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	store = blockstore.NewMemory()
	for {
		b, err := cr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("CAR block %d: %v", len(order)+1, err)
		}
		if slices.ContainsFunc(order, b.CID.Equals) {
			t.Fatalf("CAR holds %s twice (dups=n)", b.CID)
		}
		order = append(order, b.CID)
		if err := store.Put(context.Background(), b); err != nil {
			t.Fatal(err)
		}
	}
	return cr.Roots(), order, store
}

func TestCAR(t *testing.T) {
	s := newSite(t)
	srv := serve(t, Config{Blocks: s.store})
	root := srv.URL + "/ipfs/" + s.root.String()
	ctx := context.Background()

	// The whole DAG: byte for byte what `node dag export` writes.
	r := get(t, root+"?format=car").wantStatus(t, 200).
		wantHeader(t, "Content-Type", "application/vnd.ipld.car; version=1; order=dfs; dups=n").
		wantHeader(t, "Content-Disposition", `attachment; filename="`+s.root.String()+`.car"`).
		wantHeader(t, "X-Content-Type-Options", "nosniff").
		wantHeader(t, "Accept-Ranges", "none")
	var export bytes.Buffer
	if err := car.Export(ctx, s.store.Get, []cid.Cid{s.root}, &export); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(r.body, export.Bytes()) {
		t.Fatalf("CAR of the root (%d bytes) differs from car.Export (%d bytes)", len(r.body), export.Len())
	}
	roots, _, mem := readCAR(t, r.body)
	if len(roots) != 1 || !roots[0].Equals(s.root) {
		t.Fatalf("roots %v", roots)
	}
	// Everything can be read from the CAR alone.
	checkFile(t, mem, s.root, []string{"big.bin"}, s.bigData)
	checkFile(t, mem, s.root, []string{"many", s.hamtNames[7]}, []byte("one of many\n"))

	// dag-scope=block through a HAMT: only the blocks that prove the path.
	name := s.hamtNames[1234]
	r = get(t, root+"/many/"+name+"?format=car&dag-scope=block").wantStatus(t, 200)
	roots, order, mem := readCAR(t, r.body)
	if !roots[0].Equals(s.hamtFile.CID) {
		t.Fatalf("root of a path's CAR is %s, want the CID at its end %s", roots[0], s.hamtFile.CID)
	}
	if len(order) < 4 || len(order) > 6 || !order[0].Equals(s.root) || !order[len(order)-1].Equals(s.hamtFile.CID) {
		t.Fatalf("block-scoped CAR holds %d blocks %v: want the root, the HAMT shards on the way, the file", len(order), order)
	}
	checkFile(t, mem, s.root, []string{"many", name}, []byte("one of many\n"))

	// dag-scope=entity of a file: the path and every block of the file.
	r = get(t, root+"/big.bin?format=car&dag-scope=entity").wantStatus(t, 200)
	_, order, mem = readCAR(t, r.body)
	bigNode, err := unixfs.Get(ctx, s.store, s.big.CID)
	if err != nil {
		t.Fatal(err)
	}
	if len(order) != 2+len(bigNode.Links) {
		t.Fatalf("entity CAR of big.bin has %d blocks, want %d", len(order), 2+len(bigNode.Links))
	}
	checkFile(t, mem, s.root, []string{"big.bin"}, s.bigData)

	// dag-scope=entity of a plain directory: just its node.
	r = get(t, root+"/docs?format=car&dag-scope=entity").wantStatus(t, 200)
	if _, order, _ = readCAR(t, r.body); len(order) != 2 {
		t.Fatalf("entity CAR of a directory holds %d blocks, want 2", len(order))
	}
	// ... of a HAMT: its shards, enough to list it, and none of its entries.
	r = get(t, root+"/many/?format=car&dag-scope=entity").wantStatus(t, 200)
	_, order, mem = readCAR(t, r.body)
	if slices.ContainsFunc(order, s.hamtFile.CID.Equals) {
		t.Fatal("entity CAR of a HAMT holds an entry's block")
	}
	hn, err := unixfs.Get(ctx, mem, s.hamt.CID)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := unixfs.List(ctx, mem, hn)
	if err != nil || len(entries) != hamtEntries {
		t.Fatalf("listing the HAMT from its entity CAR: %d entries, %v", len(entries), err)
	}

	// entity-bytes: the blocks holding the range, no others.
	const leaf = 256 << 10
	r = get(t, root+"/big.bin?format=car&entity-bytes=262144:524287").wantStatus(t, 200)
	_, order, mem = readCAR(t, r.body)
	if len(order) != 3 || !order[2].Equals(bigNode.Links[1].Hash) {
		t.Fatalf("entity-bytes CAR holds %v, want the root, the file and its second leaf", order)
	}
	f, _ := unixfs.Get(ctx, mem, s.big.CID)
	var got []byte
	if err := unixfs.ReadRange(ctx, mem, f, leaf, 2*leaf, func(b []byte) error { got = append(got, b...); return nil }); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, s.bigData[leaf:2*leaf]) {
		t.Fatal("entity-bytes range reads back wrong")
	}
	r = get(t, root+"/big.bin?format=car&entity-bytes=-10:*").wantStatus(t, 200)
	if _, order, _ = readCAR(t, r.body); len(order) != 3 || !order[2].Equals(bigNode.Links[len(bigNode.Links)-1].Hash) {
		t.Fatalf("entity-bytes=-10:* holds %v, want the last leaf", order)
	}
	get(t, root+"/big.bin?format=car&entity-bytes=99999999:*").wantStatus(t, 400)
	get(t, root+"/big.bin?format=car&entity-bytes=nope").wantStatus(t, 400)

	// Negotiated through Accept, with the parameters we serve.
	get(t, root+"/hello.txt", "Accept: application/vnd.ipld.car; version=1; order=dfs; dups=n").wantStatus(t, 200).
		wantHeader(t, "Content-Type", carContentType).
		wantHeader(t, "Content-Location", "/ipfs/"+s.root.String()+"/hello.txt?format=car")
	get(t, root+"/hello.txt", "Accept: application/vnd.ipld.car; dups=y").wantStatus(t, 406)
	get(t, root+"/hello.txt?format=car&car-version=2").wantStatus(t, 406)
	get(t, root+"/hello.txt?format=car&dag-scope=everything").wantStatus(t, 400)

	// A codec whose links cannot be followed: only its block.
	dj := putBlock(t, s.store, cid.DagJSON, []byte(`{"a":1}`))
	get(t, srv.URL+"/ipfs/"+dj.String()+"?format=car").wantStatus(t, 501)
	r = get(t, srv.URL+"/ipfs/"+dj.String()+"?format=car&dag-scope=block").wantStatus(t, 200)
	if _, order, _ := readCAR(t, r.body); len(order) != 1 {
		t.Fatalf("block CAR of a dag-json block holds %d blocks", len(order))
	}

	// The trustless probe: the empty identity CID.
	r = get(t, srv.URL+"/ipfs/bafkqaaa?format=car").wantStatus(t, 200)
	if roots, order, _ := readCAR(t, r.body); len(roots) != 1 || roots[0].String() != "bafkqaaa" || len(order) != 0 {
		t.Fatalf("probe CAR: roots %v blocks %v", roots, order)
	}
	if r := get(t, srv.URL+"/ipfs/bafkqaaa?format=raw").wantStatus(t, 200); len(r.body) != 0 {
		t.Fatal("probe raw block is not empty")
	}
}

// checkFile reads a file by path from a store and compares its bytes.
func checkFile(t testing.TB, g unixfs.Getter, root cid.Cid, path []string, want []byte) {
	t.Helper()
	ctx := context.Background()
	n, err := unixfs.Resolve(ctx, g, root, path)
	if err != nil {
		t.Fatalf("resolving %s from the CAR: %v", strings.Join(path, "/"), err)
	}
	var got []byte
	if err := unixfs.ReadRange(ctx, g, n, 0, n.FileSize(), func(b []byte) error { got = append(got, b...); return nil }); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s read from the CAR differs", strings.Join(path, "/"))
	}
}

func TestRawBlock(t *testing.T) {
	s := newSite(t)
	srv := serve(t, Config{Blocks: s.store})
	ctx := context.Background()
	for _, c := range []cid.Cid{s.root, s.big.CID, s.hamtFile.CID} {
		want, err := s.store.Get(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range [][]string{nil, {"Accept: application/vnd.ipld.raw"}} {
			u := srv.URL + "/ipfs/" + c.String()
			if h == nil {
				u += "?format=raw"
			}
			r := get(t, u, h...).wantStatus(t, 200).
				wantHeader(t, "Content-Type", "application/vnd.ipld.raw").
				wantHeader(t, "Content-Disposition", `attachment; filename="`+c.String()+`.bin"`).
				wantHeader(t, "Etag", `"`+c.String()+`.raw"`).
				wantHeader(t, "X-Content-Type-Options", "nosniff")
			if !bytes.Equal(r.body, want) {
				t.Fatalf("raw block of %s differs", c)
			}
			if err := blockstore.VerifyBlock(c, r.body); err != nil {
				t.Fatal(err)
			}
			if h != nil && r.Header.Get("Content-Location") != "/ipfs/"+c.String()+"?format=raw" {
				t.Fatalf("Content-Location %q", r.Header.Get("Content-Location"))
			}
		}
	}
	// A block at the end of a path, and a range of a block.
	r := get(t, srv.URL+"/ipfs/"+s.root.String()+"/hello.txt?format=raw").wantStatus(t, 200)
	if err := blockstore.VerifyBlock(s.hello.CID, r.body); err != nil {
		t.Fatal(err)
	}
	r = get(t, srv.URL+"/ipfs/"+s.root.String()+"?format=raw", "Range: bytes=0-3").wantStatus(t, 206)
	if len(r.body) != 4 {
		t.Fatalf("ranged raw block: %d bytes", len(r.body))
	}
	get(t, srv.URL+"/ipfs/"+s.root.String()+"?format=nope").wantStatus(t, 400)
}

// TestMissingBlockMidway removes a block from the middle of a file: the
// responses that have begun are cut (the client sees a truncated body, not
// a complete-looking one); those that have not get a proper 404.
func TestMissingBlockMidway(t *testing.T) {
	s := newSite(t)
	ctx := context.Background()
	bigNode, err := unixfs.Get(ctx, s.store, s.big.CID)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.store.Delete(ctx, bigNode.Links[5].Hash); err != nil {
		t.Fatal(err)
	}
	srv := serve(t, Config{Blocks: s.store})
	base := srv.URL + "/ipfs/" + s.root.String()
	for _, u := range []string{base + "/big.bin", base + "?format=car", base + "/big.bin?format=car", base + "?format=tar"} {
		r := get(t, u)
		if r.StatusCode != 200 || r.readErr == nil {
			t.Fatalf("%s: status %d, body error %v: want 200 and a cut body", u, r.StatusCode, r.readErr)
		}
	}
	// A range starting in the missing block fails before anything is sent.
	get(t, base+"/big.bin", "Range: bytes=1310720-1310730").wantStatus(t, 404)
	// A range elsewhere still works.
	r := get(t, base+"/big.bin", "Range: bytes=0-9").wantStatus(t, 206)
	if !bytes.Equal(r.body, s.bigData[:10]) {
		t.Fatal("range before the hole reads wrong")
	}
}

func TestCARHeadFetchesNothingMore(t *testing.T) {
	s := newSite(t)
	cg := testutil.NewCountingGetter(s.store)
	srv := serve(t, Config{Blocks: cg})
	r := do(t, "HEAD", srv.URL+"/ipfs/"+s.root.String()+"?format=car").wantStatus(t, 200).
		wantHeader(t, "Content-Type", carContentType)
	if len(r.body) != 0 {
		t.Fatal("HEAD returned a body")
	}
	if got := cg.Take(); len(got) != 1 {
		t.Fatalf("HEAD of a CAR fetched %d blocks, want 1 (the root)", len(got))
	}
}
