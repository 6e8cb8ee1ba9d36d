package gateway

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	"github.com/ipfs/go-cid"
)

// serveCodec answers ?format=dag-json, json, dag-cbor and cbor: the
// terminal block converted to that codec (or as it is when it already
// is in it).
func (h *handler) serveCodec(w http.ResponseWriter, rq *request, wk *walked) error {
	var body []byte
	var err error
	var ctype, ext, disposition string
	switch rq.format {
	case formatDAGJSON, formatJSON:
		ctype, ext, disposition = rq.format.mediaType(), ".json", "inline"
		if wk.cid.Type() == codecJSON && rq.format == formatJSON {
			if !json.Valid(wk.data) {
				return fmt.Errorf("%w: %s is not valid JSON", ErrInvalidBlock, wk.cid)
			}
			body = wk.data
		} else {
			body, err = renderDAGJSON(wk.cid, wk.data, renderOptions{})
		}
	default:
		ctype, ext, disposition = rq.format.mediaType(), ".cbor", "attachment"
		if wk.cid.Type() == codecCBOR && rq.format == formatCBOR {
			body = wk.data
		} else {
			body, err = toDAGCBOR(wk.cid, wk.data)
		}
	}
	if err != nil {
		return err
	}
	hd := w.Header()
	contentDisposition(hd, rq, disposition, wk.cidString(wk.cid)+ext)
	hd.Set("X-Content-Type-Options", "nosniff")
	return serveBytes(w, rq, body, strongETag(wk.cidString(wk.cid)+"."+rq.format.param()), ctype)
}

// codecMediaType is the content type of a block of a non-UnixFS codec
// served as it is.
func codecMediaType(c cid.Cid) string {
	switch c.Type() {
	case cid.DagCBOR:
		return "application/vnd.ipld.dag-cbor"
	case cid.DagJSON:
		return "application/vnd.ipld.dag-json"
	case codecJSON:
		return "application/json"
	case codecCBOR:
		return "application/cbor"
	}
	return "application/octet-stream"
}

// serveCodecBlock is the default response for a dag-cbor, dag-json, json
// or cbor block: for browsers an HTML page showing it as dag-json with
// links to follow, for other clients the block as it is.
func (h *handler) serveCodecBlock(w http.ResponseWriter, rq *request, wk *walked) error {
	if !rq.wantsHTML {
		return serveBytes(w, rq, wk.data, strongETag(wk.cidString(wk.cid)), codecMediaType(wk.cid))
	}
	etag := strongETag("DagIndex-" + dirIndexVersion + "_CID-" + wk.cidString(wk.cid))
	hd := w.Header()
	hd.Set("Etag", etag)
	if etagMatches(rq.r.Header.Get("If-None-Match"), etag) {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	shown, err := renderDAGJSON(wk.cid, wk.data, renderOptions{pretty: true, html: true})
	if err != nil {
		return err
	}
	hd.Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	if rq.head {
		return nil
	}
	lw := &listingWriter{w: bufio.NewWriterSize(w, 32<<10)}
	c := wk.cidString(wk.cid)
	lw.s(`<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">`,
		`<meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,"><title>`)
	lw.text(printable(rq.path.String()))
	lw.s(`</title><style>`, pageCSS, `</style></head><body><header><h1>`)
	lw.text(printable(unescapedPath(rq.path)))
	lw.s(`</h1><div class="meta"><code>`, c, `</code> · `, codecName(wk.cid), ` · `, strconv.Itoa(len(wk.data)), ` bytes · `)
	lw.s(`<a href="/ipfs/`, c, `?format=dag-json">dag-json</a> · <a href="/ipfs/`, c, `?format=dag-cbor">dag-cbor</a> · `)
	lw.s(`<a href="/ipfs/`, c, `?format=raw">raw block</a> · <a href="/ipfs/`, c, `?format=car">CAR</a>`)
	lw.s(`</div></header><main><pre>`, string(shown), `</pre></main></body></html>`)
	if lw.err == nil {
		lw.w.Flush()
	}
	return nil
}

// serveBytes serves an in-memory body with an entity tag, a content type,
// one byte range when asked, and nothing but headers for HEAD.
func serveBytes(w http.ResponseWriter, rq *request, body []byte, etag, ctype string) error {
	hd := w.Header()
	hd.Set("Etag", etag)
	if etagMatches(rq.r.Header.Get("If-None-Match"), etag) {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	hd.Set("Content-Type", ctype)
	status, rg, done := rangeHeaders(w, rq, int64(len(body)), etag, "body")
	if done {
		return nil
	}
	w.WriteHeader(status)
	if !rq.head {
		w.Write(body[rg.start:rg.end])
	}
	return nil
}
