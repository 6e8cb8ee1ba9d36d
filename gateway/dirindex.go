package gateway

import (
	"bufio"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"node/unixfs"
)

// dirIndexVersion changes whenever the generated listing changes, so that
// caches holding an older page under the same directory CID refetch it.
const dirIndexVersion = "1"

// pageCSS styles the listing and the error pages: inline, no external
// resources, light and dark.
const pageCSS = `:root{color-scheme:light dark;--fg:#1b1f23;--muted:#6a737d;--bg:#fff;--line:#e1e4e8;--head:#f6f8fa;--link:#0366d6;--accent:#0b7285}
@media (prefers-color-scheme:dark){:root{--fg:#e1e4e8;--muted:#959da5;--bg:#0d1117;--line:#30363d;--head:#161b22;--link:#58a6ff;--accent:#3bc9db}}
*{box-sizing:border-box}body{margin:0;font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
header{padding:1.2rem 1.5rem;border-bottom:1px solid var(--line);background:var(--head)}
h1{margin:0 0 .3rem;font-size:1.15rem;font-weight:600;word-break:break-all}
h1 a{color:var(--fg);text-decoration:none}h1 a:hover{color:var(--link)}
.meta{color:var(--muted);font-size:.85rem;word-break:break-all}.meta a{color:var(--link)}
main{padding:1rem 1.5rem}table{border-collapse:collapse;width:100%}
th{text-align:left;font-weight:600;font-size:.8rem;color:var(--muted);text-transform:uppercase;letter-spacing:.04em;padding:.4rem .6rem;border-bottom:1px solid var(--line)}
td{padding:.35rem .6rem;border-bottom:1px solid var(--line);vertical-align:top}tr:hover td{background:var(--head)}
td.name{word-break:break-all}td.name a{color:var(--link);text-decoration:none}td.name a:hover{text-decoration:underline}
td.cid a,code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.85rem}td.cid a{color:var(--muted);text-decoration:none}
td.size,th.size{text-align:right;white-space:nowrap}td.size{color:var(--muted);font-variant-numeric:tabular-nums}
.bad{color:var(--muted);font-style:italic}footer{padding:0 1.5rem 1.5rem;color:var(--muted);font-size:.8rem}
.error{max-width:46rem;margin:3rem auto;padding:0 1.5rem}.error h1{font-size:1.6rem;color:var(--accent)}.error .msg code{word-break:break-all;white-space:pre-wrap}
pre{font:13px/1.45 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;white-space:pre-wrap;word-break:break-all}pre a{color:var(--link)}`

// sortLimit bounds how many entries of a HAMT-sharded directory the
// listing holds in memory to sort them by name. Past it the page streams
// the rest in shard order. It is a variable so tests can lower it; New
// copies it.
var sortLimit = 100_000

// serveListing streams an HTML listing of a directory: each entry's name
// (linked), CID and DAG size (the Tsize of its link: children are not
// fetched, so the page stays fast for huge directories). Entries of a
// plain directory come in link order (sorted by name, as importers write
// them); those of a HAMT-sharded directory are sorted by name when there
// are at most sortLimit of them, else streamed in shard order.
func (h *handler) serveListing(w http.ResponseWriter, rq *request, wk *walked, dir *unixfs.Node) error {
	etag := strongETag("DirIndex-" + dirIndexVersion + "_CID-" + wk.cidString(dir.CID))
	hd := w.Header()
	hd.Set("Etag", etag)
	if etagMatches(rq.r.Header.Get("If-None-Match"), etag) {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	hd.Set("Content-Type", "text/html; charset=utf-8")
	if rq.head {
		w.WriteHeader(http.StatusOK)
		return nil
	}
	lw := &listingWriter{w: bufio.NewWriterSize(w, 32<<10), path: rq.path, dir: dir}
	if dir.FS.Type != unixfs.THAMTShard {
		w.WriteHeader(http.StatusOK)
		lw.head()
		for _, l := range dir.Links {
			lw.entry(unixfs.DirEntry{Name: l.Name, CID: l.Hash, Tsize: l.Tsize})
		}
		lw.foot(false)
		return nil // a failed write means the client went away
	}
	var held []unixfs.DirEntry
	streaming := false
	err := unixfs.Each(rq.ctx, h.blocks, dir, func(e unixfs.DirEntry) error {
		if streaming {
			lw.entry(e)
			return lw.err
		}
		held = append(held, e)
		if len(held) > h.sortLimit {
			streaming = true
			w.WriteHeader(http.StatusOK)
			lw.head()
			for _, e := range held {
				lw.entry(e)
			}
			held = nil
		}
		return lw.err
	})
	switch {
	case err != nil && !streaming:
		return fmt.Errorf("listing %s: %w", displayPath(wk.root, wk.segments), err)
	case err != nil && lw.err != nil:
		return nil // the client went away
	case err != nil:
		h.log.Warn("directory listing failed midway; cutting the connection", "path", rq.path.String(), "err", err)
		lw.w.Flush()
		abortResponse()
	case streaming:
		lw.foot(true)
		return nil
	}
	slices.SortFunc(held, func(a, b unixfs.DirEntry) int { return strings.Compare(a.Name, b.Name) })
	w.WriteHeader(http.StatusOK)
	lw.head()
	for _, e := range held {
		lw.entry(e)
	}
	lw.foot(false)
	return nil
}

// listingWriter writes a listing page to a bufio.Writer, remembering the
// first error (the client going away) and counting entries.
type listingWriter struct {
	w     *bufio.Writer
	err   error
	path  contentPath
	dir   *unixfs.Node
	count int
	total uint64
}

func (lw *listingWriter) s(parts ...string) {
	for _, p := range parts {
		if lw.err == nil {
			_, lw.err = lw.w.WriteString(p)
		}
	}
}

// text writes s escaped for HTML text and attributes.
func (lw *listingWriter) text(s string) { lw.s(html.EscapeString(s)) }

// head writes the page up to the first entry.
func (lw *listingWriter) head() {
	p := lw.path
	lw.s(`<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">`,
		`<meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,"><title>`)
	lw.text(printable(unescapedPath(p)))
	lw.s(`</title><style>`, pageCSS, `</style></head><body><header><h1>Index of `)
	// Breadcrumbs: each step of the path links to itself.
	lw.s(`<a href="`)
	lw.text(p.prefix(0, true))
	lw.s(`">/`, p.ns, `/`)
	lw.text(printable(p.root))
	lw.s(`</a>`)
	for i, seg := range p.segments {
		lw.s(`/<a href="`)
		lw.text(p.prefix(i+1, true))
		lw.s(`"><bdi>`)
		lw.text(printable(seg))
		lw.s(`</bdi></a>`)
	}
	c := lw.dir.CID.String()
	lw.s(`/</h1><div class="meta"><code title="CID of this directory">`, c, `</code>`)
	if lw.dir.FS.Type == unixfs.THAMTShard {
		lw.s(` · HAMT-sharded directory`)
	}
	lw.s(` · <a href="/ipfs/`, c, `?format=car" title="every block of this directory, as a CAR">CAR</a> · `)
	lw.s(`<a href="/ipfs/`, c, `?format=dag-json" title="this directory's node, as dag-json">dag-json</a>`)
	lw.s(`</div></header><main><table><thead><tr><th>Name</th><th>CID</th><th class="size" title="DAG size: the bytes of all blocks under the entry">Size</th></tr></thead><tbody>`)
	if len(p.segments) > 0 {
		lw.s(`<tr><td class="name"><a href="../" title="parent directory">..</a></td><td class="cid"></td><td class="size"></td></tr>`)
	}
}

// entry writes one row.
func (lw *listingWriter) entry(e unixfs.DirEntry) {
	lw.count++
	lw.total += e.Tsize
	c := e.CID.String()
	reachable := unixfs.CheckName(e.Name) == nil
	lw.s(`<tr><td class="name">`)
	if reachable {
		lw.s(`<a href="./`)
		lw.text(url.PathEscape(e.Name))
		lw.s(`"><bdi>`)
		lw.text(printable(e.Name))
		lw.s(`</bdi></a>`)
	} else {
		// A name no path can reach ("", ".", "..", or holding '/'):
		// shown, and reachable through its CID only.
		lw.s(`<span class="bad" title="this name cannot be part of a path">`)
		lw.text(strconv.Quote(e.Name))
		lw.s(`</span>`)
	}
	lw.s(`</td><td class="cid"><a href="/ipfs/`, c)
	if reachable {
		lw.s(`?filename=`)
		lw.text(url.QueryEscape(e.Name))
	}
	lw.s(`" title="`, c, `">`, shortCID(c), `</a></td><td class="size" title="`,
		strconv.FormatUint(e.Tsize, 10), ` bytes">`, humanSize(e.Tsize), `</td></tr>`)
}

// foot ends the page and flushes it.
func (lw *listingWriter) foot(unsorted bool) {
	lw.s(`</tbody></table></main><footer>`, strconv.Itoa(lw.count), plural(lw.count, " entry", " entries"),
		` · <span title="`, strconv.FormatUint(lw.total, 10), ` bytes">`, humanSize(lw.total), `</span>`)
	if unsorted {
		lw.s(` · too many entries to sort: shown in shard order`)
	}
	lw.s(` · sizes are DAG sizes (content plus UnixFS overhead).</footer></body></html>`)
	if lw.err == nil {
		lw.err = lw.w.Flush()
	}
}

// unescapedPath is the path for reading: /ipfs/CID/a b/c/.
func unescapedPath(p contentPath) string {
	return "/" + p.ns + "/" + strings.Join(append([]string{p.root}, p.segments...), "/") + "/"
}

// shortCID abbreviates a CID for display: the full one is in the title.
func shortCID(c string) string {
	if len(c) <= 16 {
		return c
	}
	return c[:8] + "…" + c[len(c)-6:]
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// humanSize formats a byte count with binary units.
func humanSize(n uint64) string {
	if n < 1024 {
		return strconv.FormatUint(n, 10) + " B"
	}
	units := []string{"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	v := float64(n) / 1024
	i := 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	if v < 10 {
		return strconv.FormatFloat(v, 'f', 1, 64) + " " + units[i]
	}
	return strconv.FormatFloat(v, 'f', 0, 64) + " " + units[i]
}
