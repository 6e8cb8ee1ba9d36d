package gateway

import (
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/ipfs/go-cid"

	"node/unixfs"
)

// immutableCacheControl is sent with everything under /ipfs/.
const immutableCacheControl = "public, max-age=29030400, immutable"

// maxTTL bounds the max-age of /ipns responses (a year).
const maxTTL = 365 * 24 * 3600

// serve answers a parsed request.
func (h *handler) serve(w http.ResponseWriter, rq *request) error {
	if rq.format == formatIPNSRecord {
		return h.serveIPNSRecord(w, rq)
	}
	wk, err := h.resolve(rq)
	if err != nil {
		return err
	}
	if rq.genericAccept && isUnixFSCodec(wk.cid) {
		// "Accept: application/json" from a script fetching data.json
		// wants the file, not the dag-json form of its dag-pb node.
		rq.format, rq.fromAccept, rq.genericAccept = formatDefault, false, false
	}
	hd := w.Header()
	hd.Set("X-Ipfs-Path", rq.path.String())
	wk.fillRootStrs(rq.path)
	hd.Set("X-Ipfs-Roots", strings.Join(wk.rootStrs, ","))
	hd.Add("Vary", "Accept")
	if wk.mutable {
		if secs := int64(wk.ttl.Seconds()); secs > 0 {
			hd.Set("Cache-Control", "public, max-age="+strconv.FormatInt(min(secs, maxTTL), 10))
		}
	} else {
		hd.Set("Cache-Control", immutableCacheControl)
	}
	if rq.fromAccept {
		hd.Set("Content-Location", rq.contentLocation())
	}
	switch rq.format {
	case formatRaw:
		return h.serveRaw(w, rq, wk)
	case formatCAR:
		return h.serveCAR(w, rq, wk)
	case formatTAR:
		return h.serveTAR(w, rq, wk)
	case formatDAGJSON, formatJSON, formatDAGCBOR, formatCBOR:
		return h.serveCodec(w, rq, wk)
	}
	return h.serveDeserialized(w, rq, wk)
}

// serveDeserialized answers the default response: a file's bytes, a
// directory's index.html or listing, or a non-UnixFS block.
func (h *handler) serveDeserialized(w http.ResponseWriter, rq *request, wk *walked) error {
	switch wk.cid.Type() {
	case cid.DagProtobuf, cid.Raw:
	case cid.DagCBOR, cid.DagJSON, codecJSON, codecCBOR:
		return h.serveCodecBlock(w, rq, wk)
	default:
		return withStatus(http.StatusNotImplemented, fmt.Errorf(
			"%s is a %s block, which this gateway cannot show: use ?format=raw or ?format=car", displayPath(wk.root, wk.segments), codecName(wk.cid)))
	}
	n, err := unixfs.Decode(wk.cid, wk.data)
	if err != nil {
		return withStatus(http.StatusNotImplemented, fmt.Errorf(
			"%s is not a UnixFS file or directory (%w): open it with ?format=dag-json or ?format=raw", displayPath(wk.root, wk.segments), err))
	}
	switch {
	case n.IsDir():
		if !rq.path.trailingSlash {
			// Relative links inside a directory only work below a "/".
			redirect(w, rq, rq.path.prefix(len(rq.path.segments), true))
			return nil
		}
		return h.serveDirectory(w, rq, wk, n)
	case n.IsFile():
		if rq.path.trailingSlash {
			redirect(w, rq, rq.path.prefix(len(rq.path.segments), false))
			return nil
		}
		return h.serveFile(w, rq, wk, n, rq.path.lastName())
	case n.FS.Type == unixfs.TSymlink:
		return h.serveSymlink(w, rq, wk, n)
	}
	return withStatus(http.StatusNotImplemented, fmt.Errorf(
		"%s is a UnixFS %s node, which this gateway cannot show: use ?format=raw", displayPath(wk.root, wk.segments), n.FS.Type))
}

// redirect answers 301 to an escaped path, keeping the query.
func redirect(w http.ResponseWriter, rq *request, to string) {
	if rq.r.URL.RawQuery != "" {
		to += "?" + rq.r.URL.RawQuery
	}
	hd := w.Header()
	hd.Set("Location", to)
	hd.Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusMovedPermanently)
	if !rq.head {
		io.WriteString(w, `<!DOCTYPE html><a href="`+html.EscapeString(to)+`">Moved here</a>.`)
	}
}

// serveDirectory serves a directory's index.html when it has one, else a
// generated listing.
func (h *handler) serveDirectory(w http.ResponseWriter, rq *request, wk *walked, dir *unixfs.Node) error {
	e, err := unixfs.Lookup(rq.ctx, h.blocks, dir, "index.html")
	switch {
	case err == nil:
		idx, err := unixfs.Get(rq.ctx, h.blocks, e.CID)
		if err != nil {
			return fmt.Errorf("fetching %s/index.html: %w", displayPath(wk.root, wk.segments), err)
		}
		if idx.IsFile() {
			return h.serveFile(w, rq, wk, idx, "index.html")
		}
	case !errors.Is(err, unixfs.ErrNoLink):
		return fmt.Errorf("looking for index.html in %s: %w", displayPath(wk.root, wk.segments), err)
	}
	return h.serveListing(w, rq, wk, dir)
}

// serveSymlink shows a symlink's target as text. The gateway never
// follows symlinks: their targets point outside the DAG.
func (h *handler) serveSymlink(w http.ResponseWriter, rq *request, wk *walked, n *unixfs.Node) error {
	etag := strongETag(wk.cidString(n.CID))
	hd := w.Header()
	hd.Set("Etag", etag)
	if etagMatches(rq.r.Header.Get("If-None-Match"), etag) {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	hd.Set("Content-Type", "text/plain; charset=utf-8")
	hd.Set("Content-Length", strconv.Itoa(len(n.FS.Data)))
	w.WriteHeader(http.StatusOK)
	if !rq.head {
		w.Write(n.FS.Data)
	}
	return nil
}

// strongETag quotes an entity tag.
func strongETag(s string) string { return `"` + s + `"` }

// etagMatches implements If-None-Match: a list of entity tags, or "*",
// compared weakly (a W/ prefix is ignored on both sides).
func etagMatches(header, etag string) bool {
	if header == "" {
		return false
	}
	etag = strings.TrimPrefix(etag, "W/")
	for t := range strings.SplitSeq(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == etag {
			return true
		}
	}
	return false
}

// contentDisposition sets Content-Disposition: ?filename= names the file
// (else defName), ?download=true makes it an attachment and
// ?download=false inline (else defKind). With neither a default kind nor
// the parameters, no header is sent.
func contentDisposition(hd http.Header, rq *request, defKind, defName string) {
	name := rq.query.Get("filename")
	kind := defKind
	switch rq.query.Get("download") {
	case "true":
		kind = "attachment"
	case "false":
		kind = "inline"
	}
	if kind == "" {
		if name == "" {
			return
		}
		kind = "inline"
	}
	if name == "" {
		name = defName
	}
	v := kind
	if name != "" {
		v += "; " + dispositionFilename(name)
	}
	hd.Set("Content-Disposition", v)
}

// dispositionFilename is filename="ascii"; filename*=UTF-8”percent
// (RFC 6266, RFC 8187): non-ASCII bytes become '_' in the first form.
func dispositionFilename(name string) string {
	var ascii strings.Builder
	plain := true
	for _, r := range name {
		switch {
		case r == '"' || r == '\\':
			ascii.WriteByte('\\')
			ascii.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			ascii.WriteByte('_')
			plain = false
		case r >= 0x80:
			ascii.WriteByte('_')
			plain = false
		default:
			ascii.WriteRune(r)
		}
	}
	v := `filename="` + ascii.String() + `"`
	if !plain {
		v += "; filename*=UTF-8''" + rfc8187Escape(name)
	}
	return v
}

// rfc8187Escape percent-encodes everything but attr-char.
func rfc8187Escape(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$&+-.^_`|~", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}
