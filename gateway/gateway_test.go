package gateway

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"node/blockstore"
	"node/dagpb"
	"node/internal/testutil"
	"node/ipns"
	"node/unixfs"
)

func TestFile(t *testing.T) {
	s := newSite(t)
	srv := serve(t, Config{Blocks: s.store})
	r := get(t, srv.URL+"/ipfs/"+s.root.String()+"/hello.txt").wantStatus(t, 200).
		wantHeader(t, "Content-Type", "text/plain; charset=utf-8").
		wantHeader(t, "Etag", `"`+s.hello.CID.String()+`"`).
		wantHeader(t, "Cache-Control", "public, max-age=29030400, immutable").
		wantHeader(t, "X-Ipfs-Path", "/ipfs/"+s.root.String()+"/hello.txt").
		wantHeader(t, "X-Ipfs-Roots", s.root.String()+","+s.hello.CID.String()).
		wantHeader(t, "Content-Length", strconv.Itoa(len(helloText))).
		wantHeader(t, "Accept-Ranges", "bytes")
	if string(r.body) != helloText {
		t.Fatalf("body %q", r.body)
	}
	// The whole multi-block file, and the same bytes with raw leaves.
	for _, name := range []string{"big.bin", "bigraw.bin"} {
		r := get(t, srv.URL+"/ipfs/"+s.root.String()+"/"+name).wantStatus(t, 200).
			wantHeader(t, "Content-Type", "application/octet-stream")
		if !bytes.Equal(r.body, s.bigData) {
			t.Fatalf("%s: %d bytes differ from the %d imported", name, len(r.body), len(s.bigData))
		}
	}
	// A bare file CID, and the empty file.
	r = get(t, srv.URL+"/ipfs/"+s.hello.CID.String()).wantStatus(t, 200).wantHeader(t, "X-Ipfs-Roots", s.hello.CID.String())
	if string(r.body) != helloText {
		t.Fatalf("bare CID: body %q", r.body)
	}
	r = get(t, srv.URL+"/ipfs/"+s.root.String()+"/empty.txt").wantStatus(t, 200).wantHeader(t, "Content-Length", "0")
	if len(r.body) != 0 {
		t.Fatalf("empty file: body %q", r.body)
	}
	// A file asked for with a trailing slash is redirected to its name.
	get(t, srv.URL+"/ipfs/"+s.root.String()+"/hello.txt/?x=1").wantStatus(t, 301).
		wantHeader(t, "Location", "/ipfs/"+s.root.String()+"/hello.txt?x=1")
}

func TestContentType(t *testing.T) {
	s := newSite(t)
	srv := serve(t, Config{Blocks: s.store})
	base := srv.URL + "/ipfs/" + s.root.String()
	cases := []struct{ path, want string }{
		{"/noext", "image/png"},                                // sniffed
		{"/page", "text/html; charset=utf-8"},                  // sniffed
		{"/docs/plain", "text/plain; charset=utf-8"},           // sniffed
		{"/docs/a.md", "text/markdown; charset=utf-8"},         // by extension
		{"/site/style.css", "text/css; charset=utf-8"},         // by extension
		{"/noext?filename=x.txt", "text/plain; charset=utf-8"}, // by ?filename
	}
	for _, c := range cases {
		get(t, base+c.path).wantStatus(t, 200).wantHeader(t, "Content-Type", c.want)
	}
	get(t, base+"/noext?filename=pic.png&download=true").wantStatus(t, 200).
		wantHeader(t, "Content-Disposition", `attachment; filename="pic.png"`)
	get(t, base+"/docs/a.md?download=true").wantStatus(t, 200).
		wantHeader(t, "Content-Disposition", `attachment; filename="a.md"`)
	if cd := get(t, base+"/docs/a.md").wantStatus(t, 200).Header.Get("Content-Disposition"); cd != "" {
		t.Fatalf("Content-Disposition %q without download or filename", cd)
	}
	get(t, base+"/hello.txt?filename=t%D1%82.txt").wantStatus(t, 200).
		wantHeader(t, "Content-Disposition", `inline; filename="t_.txt"; filename*=UTF-8''t%D1%82.txt`)
}

func TestDirectory(t *testing.T) {
	s := newSite(t)
	srv := serve(t, Config{Blocks: s.store})
	root := "/ipfs/" + s.root.String()
	// Without the trailing slash: a permanent redirect keeping the query.
	for _, m := range []string{"GET", "HEAD"} {
		do(t, m, srv.URL+root+"/docs?a=b").wantStatus(t, 301).wantHeader(t, "Location", root+"/docs/?a=b")
	}
	do(t, "GET", srv.URL+root).wantStatus(t, 301).wantHeader(t, "Location", root+"/")

	// index.html is served for a directory that has one.
	r := get(t, srv.URL+root+"/site/").wantStatus(t, 200).wantHeader(t, "Content-Type", "text/html; charset=utf-8").
		wantHeader(t, "X-Ipfs-Roots", s.root.String()+","+s.web.CID.String())
	if string(r.body) != indexHTML {
		t.Fatalf("index.html: %q", r.body)
	}

	// Otherwise a listing.
	r = get(t, srv.URL+root+"/docs/").wantStatus(t, 200).wantHeader(t, "Content-Type", "text/html; charset=utf-8").
		wantHeader(t, "Etag", `"DirIndex-`+dirIndexVersion+`_CID-`+s.docs.CID.String()+`"`)
	page := string(r.body)
	for _, want := range []string{
		`<a href="./a.md"><bdi>a.md</bdi></a>`,
		`<a href="./name%20with%20spaces%20&amp;%20%3Ctags%3E.txt"><bdi>name with spaces &amp; &lt;tags&gt;.txt</bdi></a>`,
		`<a href="./caf%C3%A9.txt"><bdi>café.txt</bdi></a>`,
		`<a href="../" title="parent directory">..</a>`,
		`title="` + s.spaced.CID.String() + `"`,
		"5 entries",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("listing lacks %s", want)
		}
	}
	if strings.Contains(page, "<tags>") {
		t.Error("listing holds an unescaped name")
	}
	// Each link resolves, relative to the listing, to the entry.
	hrefs := regexp.MustCompile(`<td class="name"><a href="\./([^"]+)"`).FindAllStringSubmatch(page, -1)
	if len(hrefs) != 5 {
		t.Fatalf("%d entry links, want 5", len(hrefs))
	}
	base, _ := url.Parse(srv.URL + root + "/docs/")
	for _, h := range hrefs {
		ref, err := url.Parse("./" + strings.ReplaceAll(h[1], "&amp;", "&"))
		if err != nil {
			t.Fatal(err)
		}
		get(t, base.ResolveReference(ref).String()).wantStatus(t, 200)
	}
	r = get(t, base.ResolveReference(&url.URL{Path: "./" + spacedName}).String()).wantStatus(t, 200)
	if string(r.body) != "spaced file\n" {
		t.Fatalf("spaced file: %q", r.body)
	}
	// The top directory has no parent link; HEAD sends no body.
	r = get(t, srv.URL+root+"/").wantStatus(t, 200)
	if strings.Contains(string(r.body), `title="parent directory"`) {
		t.Error("the root listing links to a parent")
	}
	r = do(t, "HEAD", srv.URL+root+"/docs/").wantStatus(t, 200).wantHeader(t, "Content-Type", "text/html; charset=utf-8")
	if len(r.body) != 0 {
		t.Fatal("HEAD returned a body")
	}
}

func TestHAMTDirectory(t *testing.T) {
	s := newSite(t)
	n, err := unixfs.Get(context.Background(), s.store, s.hamt.CID)
	if err != nil {
		t.Fatal(err)
	}
	if n.FS.Type != unixfs.THAMTShard {
		t.Fatalf("the big directory is a %s, want a HAMT shard", n.FS.Type)
	}
	srv := serve(t, Config{Blocks: s.store})
	dir := srv.URL + "/ipfs/" + s.root.String() + "/many/"
	check := func(wantSorted bool) {
		t.Helper()
		page := string(get(t, dir).wantStatus(t, 200).body)
		names := regexp.MustCompile(`<bdi>(entry-[^<]+)</bdi>`).FindAllStringSubmatch(page, -1)
		if len(names) != hamtEntries {
			t.Fatalf("listing shows %d entries, want %d", len(names), hamtEntries)
		}
		var got []string
		for _, m := range names {
			got = append(got, m[1])
		}
		if slices.IsSorted(got) != wantSorted {
			t.Fatalf("entries sorted: %v, want %v", slices.IsSorted(got), wantSorted)
		}
		slices.Sort(got)
		if !slices.Equal(got, s.hamtNames) {
			t.Fatal("listing names differ from the directory's")
		}
		if !strings.Contains(page, strconv.Itoa(hamtEntries)+" entries") || !strings.Contains(page, "HAMT-sharded directory") {
			t.Fatal("listing does not say how many entries, or that it is sharded")
		}
	}
	check(true)
	// Past the sort limit, the listing streams in shard order.
	old := sortLimit
	sortLimit = 100
	srv = serve(t, Config{Blocks: s.store})
	sortLimit = old
	dir = srv.URL + "/ipfs/" + s.root.String() + "/many/"
	check(false)

	// A path through the shards.
	name := s.hamtNames[4321]
	r := get(t, dir+name).wantStatus(t, 200).wantHeader(t, "X-Ipfs-Roots", s.root.String()+","+s.hamt.CID.String()+","+s.hamtFile.CID.String())
	if string(r.body) != "one of many\n" {
		t.Fatalf("file in HAMT: %q", r.body)
	}
	get(t, dir+"entry-99999.txt").wantStatus(t, 404)
}

func TestRange(t *testing.T) {
	s := newSite(t)
	srv := serve(t, Config{Blocks: s.store})
	size := len(s.bigData)
	const leaf = 256 << 10
	for _, name := range []string{"big.bin", "bigraw.bin"} {
		u := srv.URL + "/ipfs/" + s.root.String() + "/" + name
		for _, c := range []struct {
			spec       string
			start, end int // inclusive end
		}{
			{"bytes=0-0", 0, 0},
			{"bytes=262143-262144", leaf - 1, leaf},        // across a leaf boundary
			{"bytes=262144-524287", leaf, 2*leaf - 1},      // exactly one leaf
			{"bytes=524287-1310720", 2*leaf - 1, 5 * leaf}, // across several
			{"bytes=-10", size - 10, size - 1},             // suffix
			{"bytes=3000000-", 3000000, size - 1},          // open end
			{"bytes=100-999999999", 100, size - 1},         // end past the file
			{fmt.Sprintf("bytes=%d-", size-1), size - 1, size - 1},
		} {
			r := get(t, u, "Range: "+c.spec).wantStatus(t, 206).
				wantHeader(t, "Content-Range", fmt.Sprintf("bytes %d-%d/%d", c.start, c.end, size)).
				wantHeader(t, "Content-Length", strconv.Itoa(c.end-c.start+1))
			if !bytes.Equal(r.body, s.bigData[c.start:c.end+1]) {
				t.Fatalf("%s %s: wrong bytes", name, c.spec)
			}
		}
		// Unsatisfiable.
		for _, spec := range []string{fmt.Sprintf("bytes=%d-", size), "bytes=99999999-", "bytes=-0"} {
			get(t, u, "Range: "+spec).wantStatus(t, 416).wantHeader(t, "Content-Range", fmt.Sprintf("bytes */%d", size))
		}
		// Several ranges, malformed ranges and a stale If-Range: the whole file.
		for _, hs := range [][]string{
			{"Range: bytes=0-1,5-6"},
			{"Range: bytes=5-1"},
			{"Range: pages=1-2"},
			{"Range: bytes=0-1", `If-Range: "something else"`},
		} {
			r := get(t, u, hs...).wantStatus(t, 200)
			if len(r.body) != size {
				t.Fatalf("%v: %d bytes, want the whole %d", hs, len(r.body), size)
			}
		}
		etag := `"` + map[string]cid.Cid{"big.bin": s.big.CID, "bigraw.bin": s.bigRaw.CID}[name].String() + `"`
		get(t, u, "Range: bytes=0-1", "If-Range: "+etag).wantStatus(t, 206)
		// HEAD with a range: the headers of the 206, no body.
		r := do(t, "HEAD", u, "Range: bytes=10-19").wantStatus(t, 206).wantHeader(t, "Content-Length", "10").
			wantHeader(t, "Content-Range", fmt.Sprintf("bytes 10-19/%d", size))
		if len(r.body) != 0 {
			t.Fatal("HEAD returned a body")
		}
	}
}

func TestConditional(t *testing.T) {
	s := newSite(t)
	srv := serve(t, Config{Blocks: s.store})
	root := srv.URL + "/ipfs/" + s.root.String()
	for _, u := range []string{
		root + "/hello.txt",
		root + "/docs/",
		root + "/site/",
		root + "/hello.txt?format=raw",
		root + "/docs/?format=car",
		root + "/docs/?format=dag-json",
		root + "/docs/?format=tar",
	} {
		r := get(t, u).wantStatus(t, 200)
		etag := r.Header.Get("Etag")
		if etag == "" {
			t.Fatalf("%s: no Etag", u)
		}
		for _, inm := range []string{etag, "W/" + etag, `"other", ` + etag, "*"} {
			r := get(t, u, "If-None-Match: "+inm).wantStatus(t, 304).wantHeader(t, "Etag", etag)
			if len(r.body) != 0 {
				t.Fatalf("%s: 304 with a body", u)
			}
		}
		get(t, u, `If-None-Match: "other"`).wantStatus(t, 200)
	}
	// Different formats of one block have different tags.
	a := get(t, root+"/hello.txt").Header.Get("Etag")
	b := get(t, root+"/hello.txt?format=raw").Header.Get("Etag")
	c := get(t, root+"/hello.txt?format=car").Header.Get("Etag")
	d := get(t, root+"/hello.txt?format=car&dag-scope=block").Header.Get("Etag")
	if len(map[string]bool{a: true, b: true, c: true, d: true}) != 4 {
		t.Fatalf("etags collide: %s %s %s %s", a, b, c, d)
	}
}

func TestHEADReadsLittle(t *testing.T) {
	s := newSite(t)
	cg := testutil.NewCountingGetter(s.store)
	srv := serve(t, Config{Blocks: cg})
	// The extension gives the type: the path and the file's root only.
	r := do(t, "HEAD", srv.URL+"/ipfs/"+s.root.String()+"/big.bin").wantStatus(t, 200).
		wantHeader(t, "Content-Length", strconv.Itoa(len(s.bigData)))
	if len(r.body) != 0 {
		t.Fatal("HEAD returned a body")
	}
	if got := cg.Take(); len(got) != 2 {
		t.Fatalf("HEAD of a typed file fetched %d blocks (%v), want 2: the directory and the file's root", len(got), got)
	}
	// Sniffing reads the first leaf, and nothing more.
	do(t, "HEAD", srv.URL+"/ipfs/"+s.root.String()+"/noext").wantStatus(t, 200).wantHeader(t, "Content-Type", "image/png")
	if got := cg.Take(); len(got) != 3 {
		t.Fatalf("HEAD of a sniffed file fetched %d blocks (%v), want 3", len(got), got)
	}
	// A HAMT listing's HEAD does not walk the shards.
	do(t, "HEAD", srv.URL+"/ipfs/"+s.hamt.CID.String()+"/").wantStatus(t, 200)
	if got := cg.Take(); len(got) > 2 { // the root shard, and the shard index.html would be in
		t.Fatalf("HEAD of a HAMT listing fetched %d blocks, want at most 2", len(got))
	}
}

func TestMethods(t *testing.T) {
	s := newSite(t)
	srv := serve(t, Config{Blocks: s.store})
	for _, m := range []string{"POST", "PUT", "DELETE", "PATCH", "OPTIONS"} {
		do(t, m, srv.URL+"/ipfs/"+s.root.String()+"/hello.txt").wantStatus(t, 405).wantHeader(t, "Allow", "GET, HEAD")
	}
}

func TestErrors(t *testing.T) {
	s := newSite(t)
	srv := serve(t, Config{Blocks: s.store})
	absent := putBlockNowhere(t, []byte("never stored"))
	for _, c := range []struct {
		path   string
		status int
		says   string
	}{
		{"/ipfs/not-a-cid", 400, "not a CID"},
		{"/ipfs/", 400, "needs a CID"},
		{"/ipfs/" + weakCID(t).String(), 400, "digest"},
		{"/ipfs/" + absent.String(), 404, "not found"},
		{"/ipfs/" + s.root.String() + "/nope", 404, `no entry named "nope"`},
		{"/ipfs/" + s.root.String() + "/docs/nope/deeper", 404, `no entry named "nope"`},
		{"/ipfs/" + s.root.String() + "/hello.txt/x", 404, "not a directory"},
		{"/elsewhere", 404, "not a content path"},
		{"/", 404, "not a content path"},
		{"/ipns/anything", 501, "no name system"},
	} {
		r := get(t, srv.URL+c.path)
		if r.StatusCode != c.status {
			t.Errorf("%s: status %d, want %d (%s)", c.path, r.StatusCode, c.status, r.body)
			continue
		}
		if !strings.Contains(string(r.body), c.says) || r.Header.Get("Content-Type") != "text/plain; charset=utf-8" {
			t.Errorf("%s: plain-text page %q does not say %q", c.path, r.body, c.says)
		}
		// Browsers get an HTML page saying the same.
		h := get(t, srv.URL+c.path, "Accept: text/html,*/*;q=0.8")
		if h.StatusCode != c.status || h.Header.Get("Content-Type") != "text/html; charset=utf-8" ||
			!strings.Contains(string(h.body), "<h1>"+strconv.Itoa(c.status)) {
			t.Errorf("%s: HTML error page: %d %q", c.path, h.StatusCode, h.body)
		}
	}
}

// putBlockNowhere returns the CID of data without storing it.
func putBlockNowhere(t testing.TB, data []byte) cid.Cid {
	t.Helper()
	c, err := cid.V1Builder{Codec: cid.Raw, MhType: 0x12}.Sum(data)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// weakCID is a sha2-256 CID whose digest is cut to 8 bytes.
func weakCID(t testing.TB) cid.Cid {
	t.Helper()
	c, err := cid.V1Builder{Codec: cid.Raw, MhType: 0x12, MhLength: 8}.Sum([]byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestPathSafety(t *testing.T) {
	s := newSite(t)
	// A hostile directory whose entries have names no path may reach.
	evil := hostileDir(t, s.store, s.hello.CID, "a/b", "..", ".", "", "ok\u202etxt.exe", "nul\x00name")
	top := addDirWith(t, s, "evil", evil)
	srv := serve(t, Config{Blocks: s.store})
	root := "/ipfs/" + s.root.String()
	raw := func(path string) response {
		t.Helper()
		// Send the path exactly as written, without client-side cleaning.
		req, err := http.NewRequest("GET", srv.URL+"/", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.URL.Opaque = path
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		return response{resp, body, err}
	}
	for _, c := range []struct {
		path   string
		status int
	}{
		{root + "/docs/../hello.txt", 400},
		{root + "/docs/%2e%2e/hello.txt", 400},
		{root + "/docs/%2E%2E", 400},
		{root + "/./hello.txt", 400},
		{root + "/docs/%2F..%2Fhello.txt", 404},
		{root + "/hello.txt%2F", 404},
		{root + "/docs/a.md%00", 400},
		{root + "/%00", 400},
		{root + "/docs/%zz", 400},
		{"/ipfs/" + top.String() + "/evil/a%2Fb", 404}, // the entry "a/b" exists but no path can name it
		{"/ipfs/" + top.String() + "/evil/a/b", 404},
		{"/ipfs/" + top.String() + "/evil/%2e%2e", 400},
		{"/ipfs/" + top.String() + "/evil/ok%E2%80%AEtxt.exe", 200},
		{root + "/docs/" + url.PathEscape(nfdName), 404}, // names are bytes: no Unicode normalisation
		{root + "/docs/" + url.PathEscape(nfcName), 200},
		{root + "//docs//a.md", 200},
		{root + "/docs/%ff", 404},
	} {
		r := raw(c.path)
		if r.StatusCode != c.status {
			t.Errorf("%s: status %d, want %d: %s", c.path, r.StatusCode, c.status, r.body)
		}
	}
	// The hostile listing shows every name escaped, and links none that
	// would leave the directory.
	page := string(get(t, srv.URL+"/ipfs/"+top.String()+"/evil/").wantStatus(t, 200).body)
	for _, bad := range []string{`href="./.."`, `href="./."`, `href="./"`, `href="./a/b"`, "\u202e", "\x00"} {
		if strings.Contains(page, bad) {
			t.Errorf("hostile listing contains %q", bad)
		}
	}
	if !strings.Contains(page, `<span class="bad" title="this name cannot be part of a path">&#34;a/b&#34;</span>`) {
		t.Error("hostile listing does not show the name a/b as unreachable")
	}
	// Symlinks are shown, never followed.
	r := get(t, srv.URL+root+"/link").wantStatus(t, 200).wantHeader(t, "Content-Type", "text/plain; charset=utf-8")
	if string(r.body) != "../../etc/passwd" {
		t.Fatalf("symlink body %q", r.body)
	}
	get(t, srv.URL+root+"/link/x").wantStatus(t, 404)
}

// addDirWith stores a directory holding the site's root and one more entry.
func addDirWith(t testing.TB, s *site, name string, c cid.Cid) cid.Cid {
	t.Helper()
	return hostileDirNamed(t, s.store, map[string]cid.Cid{"root": s.root, name: c})
}

// hostileDirNamed stores a plain directory linking names to CIDs.
func hostileDirNamed(t testing.TB, st *blockstore.PackStore, links map[string]cid.Cid) cid.Cid {
	t.Helper()
	var names []string
	for n := range links {
		names = append(names, n)
	}
	slices.Sort(names)
	var ls []dagpb.Link
	for _, n := range names {
		ls = append(ls, dagpb.Link{Hash: links[n], Name: n, Tsize: 1})
	}
	d := unixfs.Data{Type: unixfs.TDirectory}
	return putBlock(t, st, cid.DagProtobuf, dagpb.Encode(&dagpb.Node{Links: ls, Data: d.Encode()}))
}

func TestOnlyIfCached(t *testing.T) {
	s := newSite(t)
	absent := putBlockNowhere(t, []byte("elsewhere"))
	// The getter would wait for the network; only-if-cached must not.
	cg := testutil.NewCountingGetter(blockingGetter{})
	srv := serve(t, Config{Blocks: cg, Local: s.store})
	for _, m := range []string{"HEAD", "GET"} {
		r := do(t, m, srv.URL+"/ipfs/"+absent.String(), "Cache-Control: only-if-cached")
		if r.StatusCode != 412 || len(r.body) != 0 {
			t.Fatalf("%s only-if-cached of an absent block: %d %q", m, r.StatusCode, r.body)
		}
	}
	if got := cg.Take(); len(got) != 0 {
		t.Fatalf("only-if-cached fetched %v", got)
	}
	local := serve(t, Config{Blocks: s.store, Local: s.store})
	do(t, "HEAD", local.URL+"/ipfs/"+s.root.String()+"/hello.txt", "Cache-Control: only-if-cached").wantStatus(t, 200)
}

func TestServiceWorker(t *testing.T) {
	s := newSite(t)
	srv := serve(t, Config{Blocks: s.store})
	get(t, srv.URL+"/ipfs/"+s.hello.CID.String(), "Service-Worker: script").wantStatus(t, 400)
	get(t, srv.URL+"/ipfs/"+s.root.String()+"/hello.txt", "Service-Worker: script").wantStatus(t, 200)
}

func TestAcceptJSONOnUnixFS(t *testing.T) {
	s := newSite(t)
	srv := serve(t, Config{Blocks: s.store})
	// A script fetching a JSON file gets the file, not its dag-pb node.
	r := get(t, srv.URL+"/ipfs/"+s.root.String()+"/docs/data.json", "Accept: application/json").wantStatus(t, 200).
		wantHeader(t, "Content-Type", "application/json")
	if string(r.body) != `{"k":1}` {
		t.Fatalf("body %q", r.body)
	}
	// ?format=json asks for the node itself.
	r = get(t, srv.URL+"/ipfs/"+s.root.String()+"/docs/data.json?format=json").wantStatus(t, 200)
	if !strings.HasPrefix(string(r.body), `{"Data":{"/":{"bytes":`) {
		t.Fatalf("?format=json: %s", r.body)
	}
}

func TestTimeout(t *testing.T) {
	srv := serve(t, Config{Blocks: blockingGetter{}, RetrievalTimeout: 50 * time.Millisecond})
	c := putBlockNowhere(t, []byte("nobody has this"))
	for _, f := range []string{"", "?format=raw", "?format=car", "?format=dag-json"} {
		r := get(t, srv.URL+"/ipfs/"+c.String()+f)
		if r.StatusCode != 504 || r.Header.Get("Retry-After") == "" {
			t.Fatalf("%s: status %d (Retry-After %q), want 504 with Retry-After", f, r.StatusCode, r.Header.Get("Retry-After"))
		}
		if !strings.Contains(string(r.body), "could not be retrieved within 50ms") {
			t.Fatalf("%s: 504 page says %q", f, r.body)
		}
	}
}

// fakeNames resolves names from a map. A test double of the name system,
// for the gateway's unit tests only.
type fakeNames struct {
	paths   map[string]string
	ttl     time.Duration
	records map[string][]byte
	block   bool // wait for the context to end instead of answering
}

func (f *fakeNames) ResolvePath(ctx context.Context, p string) (string, time.Duration, error) {
	if f.block {
		<-ctx.Done()
		return "", 0, ctx.Err()
	}
	name := strings.TrimPrefix(p, "/ipns/")
	if name == "bad!name" {
		return "", 0, fmt.Errorf("%q: %w", name, ipns.ErrInvalidName)
	}
	v, ok := f.paths[name]
	if !ok {
		return "", 0, fmt.Errorf("%s: %w", name, ipns.ErrNotFound)
	}
	return v, f.ttl, nil
}

func (f *fakeNames) Record(ctx context.Context, name string) ([]byte, error) {
	if r, ok := f.records[name]; ok {
		return r, nil
	}
	return nil, fmt.Errorf("%s: %w", name, ipns.ErrNotFound)
}

func TestIPNS(t *testing.T) {
	s := newSite(t)
	names := &fakeNames{
		paths:   map[string]string{"k51example": "/ipfs/" + s.root.String(), "sub.example": "/ipfs/" + s.root.String() + "/docs"},
		ttl:     90 * time.Second,
		records: map[string][]byte{"k51example": []byte("a signed record")},
	}
	srv := serve(t, Config{Blocks: s.store, Names: names})
	r := get(t, srv.URL+"/ipns/k51example/hello.txt").wantStatus(t, 200).
		wantHeader(t, "Cache-Control", "public, max-age=90").
		wantHeader(t, "X-Ipfs-Path", "/ipns/k51example/hello.txt").
		wantHeader(t, "X-Ipfs-Roots", s.root.String()+","+s.hello.CID.String()).
		wantHeader(t, "Etag", `"`+s.hello.CID.String()+`"`)
	if string(r.body) != helloText {
		t.Fatalf("body %q", r.body)
	}
	// A name whose value has a path of its own.
	r = get(t, srv.URL+"/ipns/sub.example/a.md").wantStatus(t, 200)
	if string(r.body) != "# A\n" {
		t.Fatalf("body %q", r.body)
	}
	get(t, srv.URL+"/ipns/k51example").wantStatus(t, 301).wantHeader(t, "Location", "/ipns/k51example/")
	get(t, srv.URL+"/ipns/k51example/docs/").wantStatus(t, 200)
	get(t, srv.URL+"/ipns/unknown/").wantStatus(t, 404)
	get(t, srv.URL+"/ipns/bad!name/").wantStatus(t, 400)

	// The record.
	for _, h := range [][]string{nil, {"Accept: application/vnd.ipfs.ipns-record"}} {
		u := srv.URL + "/ipns/k51example"
		if h == nil {
			u += "?format=ipns-record"
		}
		r := get(t, u, h...).wantStatus(t, 200).wantHeader(t, "Content-Type", "application/vnd.ipfs.ipns-record")
		if string(r.body) != "a signed record" {
			t.Fatalf("record %q", r.body)
		}
	}
	get(t, srv.URL+"/ipns/k51example/docs?format=ipns-record").wantStatus(t, 400)
	get(t, srv.URL+"/ipfs/"+s.root.String()+"?format=ipns-record").wantStatus(t, 400)
	get(t, srv.URL+"/ipns/unknown?format=ipns-record").wantStatus(t, 404)

	// A resolver that never answers: 504 after the retrieval timeout.
	slow := serve(t, Config{Blocks: s.store, Names: &fakeNames{block: true}, RetrievalTimeout: 30 * time.Millisecond})
	r = get(t, slow.URL+"/ipns/k51example/")
	if r.StatusCode != 504 || !strings.Contains(string(r.body), "the name k51example could not be retrieved") {
		t.Fatalf("blocked resolver: %d %s", r.StatusCode, r.body)
	}
}

func TestTAR(t *testing.T) {
	s := newSite(t)
	srv := serve(t, Config{Blocks: s.store})
	r := get(t, srv.URL+"/ipfs/"+s.root.String()+"/docs?format=tar").wantStatus(t, 200).
		wantHeader(t, "Content-Type", "application/x-tar").
		wantHeader(t, "Content-Disposition", `attachment; filename="docs.tar"`)
	tr := tar.NewReader(bytes.NewReader(r.body))
	got := map[string]string{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		got[h.Name] = string(b)
	}
	want := map[string]string{"docs/": "", "docs/a.md": "# A\n", "docs/plain": "just text, no extension\n",
		"docs/" + spacedName: "spaced file\n", "docs/" + nfcName: "precomposed\n", "docs/data.json": `{"k":1}`}
	if len(got) != len(want) {
		t.Fatalf("tar holds %v", got)
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("tar entry %q = %q, want %q", k, got[k], v)
		}
	}
}

// TestRequestReadsInOneSession: each request reads its blocks in one
// session of Config.Blocks (one Bitswap session in the daemon), none
// outside it.
func TestRequestReadsInOneSession(t *testing.T) {
	s := newSite(t)
	rec := testutil.NewSessionRecorder(s.store)
	srv := serve(t, Config{Blocks: rec})
	for i := 1; i <= 2; i++ {
		r := get(t, srv.URL+"/ipfs/"+s.root.String()+"/big.bin").wantStatus(t, 200)
		if !bytes.Equal(r.body, s.bigData) {
			t.Fatalf("request %d: %d bytes differ from the %d imported", i, len(r.body), len(s.bigData))
		}
		if sessions, outside := rec.Counts(); sessions != i || outside != 0 {
			t.Fatalf("after %d requests: %d sessions, %d blocks read outside one", i, sessions, outside)
		}
	}
}
