package gateway

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"

	"node/blockstore"
	"node/dagpb"
	"node/internal/testutil"
	"node/unixfs"
	"node/unixfs/importer"
)

// openStore opens a real pack store in a temporary directory.
func openStore(t testing.TB) *blockstore.PackStore {
	t.Helper()
	s, err := blockstore.OpenPackStore(t.TempDir(), blockstore.PackOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// addDir stores a directory of entries with the real importer (a HAMT
// when the entries pass the sharding threshold).
func addDir(t testing.TB, s *blockstore.PackStore, entries ...importer.Entry) importer.Node {
	t.Helper()
	im, err := importer.New(context.Background(), importer.DefaultOptions(), s)
	if err != nil {
		t.Fatal(err)
	}
	n, err := im.AddDirectory(entries)
	if err != nil {
		t.Fatal(err)
	}
	if err := im.Close(); err != nil {
		t.Fatal(err)
	}
	return n
}

func addSymlink(t testing.TB, s *blockstore.PackStore, target string) importer.Node {
	t.Helper()
	im, err := importer.New(context.Background(), importer.DefaultOptions(), s)
	if err != nil {
		t.Fatal(err)
	}
	n, err := im.AddSymlink(target)
	if err != nil {
		t.Fatal(err)
	}
	if err := im.Close(); err != nil {
		t.Fatal(err)
	}
	return n
}

// putBlock stores a block made by hand (dag-pb v0 or any codec v1).
func putBlock(t testing.TB, s *blockstore.PackStore, codec uint64, data []byte) cid.Cid {
	t.Helper()
	mh, err := multihash.Sum(data, multihash.SHA2_256, -1)
	if err != nil {
		t.Fatal(err)
	}
	c := cid.NewCidV1(codec, mh)
	if err := s.Put(context.Background(), blockstore.Block{CID: c, Data: data}); err != nil {
		t.Fatal(err)
	}
	return c
}

// hostileDir stores a dag-pb directory whose links have the given names,
// all pointing at target: names no importer would write.
func hostileDir(t testing.TB, s *blockstore.PackStore, target cid.Cid, names ...string) cid.Cid {
	t.Helper()
	var links []dagpb.Link
	for _, n := range names {
		links = append(links, dagpb.Link{Hash: target, Name: n, Tsize: 10})
	}
	fsd := unixfs.Data{Type: unixfs.TDirectory}
	return putBlock(t, s, cid.DagProtobuf, dagpb.Encode(&dagpb.Node{Links: links, Data: fsd.Encode()}))
}

func randomBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 0x6a7e))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// site is the content most tests serve.
type site struct {
	store *blockstore.PackStore
	root  cid.Cid // the top directory

	hello, big, bigRaw, empty, noext, htmlNoExt, spaced, nfc, link importer.Node
	docs, web, hamt                                                importer.Node
	bigData                                                        []byte
	hamtNames                                                      []string
	hamtFile                                                       importer.Node
}

const (
	helloText  = "Hello, gateway!\n"
	spacedName = "name with spaces & <tags>.txt"
	nfcName    = "caf\u00e9.txt"  // é precomposed
	nfdName    = "cafe\u0301.txt" // e + combining acute
	indexHTML  = "<!DOCTYPE html><title>site</title><p>Welcome to the site</p>"
	// hamtEntries makes a directory pass the 256 KiB sharding threshold.
	hamtEntries = 4500
)

// newSite imports the test content into a fresh pack store.
func newSite(t testing.TB) *site {
	t.Helper()
	s := &site{store: openStore(t)}
	st := s.store
	def := importer.DefaultOptions()
	raw := importer.DefaultOptions()
	raw.CIDVersion, raw.RawLeaves = 1, true

	s.hello = testutil.ImportFile(t, st, def, []byte(helloText))
	s.bigData = randomBytes(1, 3<<20+12345)
	s.big = testutil.ImportFile(t, st, def, s.bigData)
	s.bigRaw = testutil.ImportFile(t, st, raw, s.bigData)
	s.empty = testutil.ImportFile(t, st, def, nil)
	png := append([]byte("\x89PNG\r\n\x1a\n"), randomBytes(2, 300<<10)...)
	s.noext = testutil.ImportFile(t, st, def, png)
	s.htmlNoExt = testutil.ImportFile(t, st, def, []byte("<html><body>sniffed</body></html>"))
	s.spaced = testutil.ImportFile(t, st, def, []byte("spaced file\n"))
	s.nfc = testutil.ImportFile(t, st, def, []byte("precomposed\n"))
	s.link = addSymlink(t, st, "../../etc/passwd")

	s.docs = addDir(t, st,
		importer.Entry{Name: "a.md", Node: testutil.ImportFile(t, st, def, []byte("# A\n"))},
		importer.Entry{Name: "plain", Node: testutil.ImportFile(t, st, def, []byte("just text, no extension\n"))},
		importer.Entry{Name: spacedName, Node: s.spaced},
		importer.Entry{Name: nfcName, Node: s.nfc},
		importer.Entry{Name: "data.json", Node: testutil.ImportFile(t, st, def, []byte(`{"k":1}`))},
	)
	s.web = addDir(t, st,
		importer.Entry{Name: "index.html", Node: testutil.ImportFile(t, st, def, []byte(indexHTML))},
		importer.Entry{Name: "style.css", Node: testutil.ImportFile(t, st, def, []byte("p{color:red}"))},
	)
	s.hamtFile = testutil.ImportFile(t, st, raw, []byte("one of many\n"))
	var entries []importer.Entry
	for i := range hamtEntries {
		name := fmt.Sprintf("entry-%05d-%s.txt", i, strings.Repeat("x", 20))
		s.hamtNames = append(s.hamtNames, name)
		entries = append(entries, importer.Entry{Name: name, Node: s.hamtFile})
	}
	s.hamt = addDir(t, st, entries...)

	top := addDir(t, st,
		importer.Entry{Name: "hello.txt", Node: s.hello},
		importer.Entry{Name: "big.bin", Node: s.big},
		importer.Entry{Name: "bigraw.bin", Node: s.bigRaw},
		importer.Entry{Name: "empty.txt", Node: s.empty},
		importer.Entry{Name: "noext", Node: s.noext},
		importer.Entry{Name: "page", Node: s.htmlNoExt},
		importer.Entry{Name: "link", Node: s.link},
		importer.Entry{Name: "docs", Node: s.docs},
		importer.Entry{Name: "site", Node: s.web},
		importer.Entry{Name: "many", Node: s.hamt},
	)
	s.root = top.CID
	return s
}

// blockingGetter never delivers: each Get waits for its context to end,
// as a network fetch of content nobody has would.
type blockingGetter struct{}

func (blockingGetter) Get(ctx context.Context, c cid.Cid) ([]byte, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

// serve starts a real HTTP server on loopback for a gateway.
func serve(t testing.TB, cfg Config) *httptest.Server {
	t.Helper()
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	srv := httptest.NewServer(New(cfg))
	t.Cleanup(srv.Close)
	return srv
}

// client does not follow redirects, so tests see them.
var client = &http.Client{
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	Timeout:       30 * time.Second,
}

// response is a finished HTTP exchange.
type response struct {
	*http.Response
	body []byte
	// readErr is the error reading the body ended with (nil: complete).
	readErr error
}

// do sends a request with the given headers ("Key: value" pairs).
func do(t testing.TB, method, url string, headers ...string) response {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ":")
		req.Header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	body, rerr := io.ReadAll(resp.Body)
	return response{Response: resp, body: body, readErr: rerr}
}

func get(t testing.TB, url string, headers ...string) response {
	t.Helper()
	return do(t, http.MethodGet, url, headers...)
}

// wantStatus fails unless the response has the status.
func (r response) wantStatus(t testing.TB, status int) response {
	t.Helper()
	if r.StatusCode != status {
		t.Fatalf("%s %s: status %d, want %d; body: %.400s", r.Request.Method, r.Request.URL, r.StatusCode, status, r.body)
	}
	if r.readErr != nil {
		t.Fatalf("%s %s: reading the body: %v", r.Request.Method, r.Request.URL, r.readErr)
	}
	return r
}

// wantHeader fails unless the header has the value.
func (r response) wantHeader(t testing.TB, key, value string) response {
	t.Helper()
	if got := r.Header.Get(key); got != value {
		t.Fatalf("%s %s: %s is %q, want %q", r.Request.Method, r.Request.URL, key, got, value)
	}
	return r
}

func discardLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
