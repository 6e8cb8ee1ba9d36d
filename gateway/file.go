package gateway

import (
	"context"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"

	"node/unixfs"
)

// sniffLen is how many leading bytes content-type sniffing looks at.
const sniffLen = 512

// serveFile serves a UnixFS file: its content type from name (or
// ?filename=), else sniffed from its first bytes; one byte range when
// asked; nothing but headers for HEAD.
func (h *handler) serveFile(w http.ResponseWriter, rq *request, wk *walked, n *unixfs.Node, name string) error {
	size := int64(n.FileSize())
	etag := strongETag(wk.cidString(n.CID))
	hd := w.Header()
	hd.Set("Etag", etag)
	if etagMatches(rq.r.Header.Get("If-None-Match"), etag) {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	if fn := rq.query.Get("filename"); fn != "" {
		name = fn
	}
	ctype := typeByName(name)
	if ctype == "" {
		head, err := readHead(rq.ctx, h.blocks, n)
		if err != nil {
			return fmt.Errorf("reading the start of %s: %w", n.CID, err)
		}
		ctype = http.DetectContentType(head)
	}
	hd.Set("Content-Type", ctype)
	contentDisposition(hd, rq, "", name)
	status, rg, done := rangeHeaders(w, rq, size, etag, "file")
	if done {
		return nil
	}
	if rq.head {
		w.WriteHeader(status)
		return nil
	}
	return h.streamFile(w, rq, n, rg, status)
}

// rangeHeaders sets the headers of a response of size bytes (what names
// it in the error text) for the request's Range: Accept-Ranges, and
// Content-Range and Content-Length for the status it returns with the
// range to send. An unsatisfiable range is answered here (416), and done
// is true.
func rangeHeaders(w http.ResponseWriter, rq *request, size int64, etag, what string) (status int, rg byteRange, done bool) {
	hd := w.Header()
	hd.Set("Accept-Ranges", "bytes")
	status, rg = rangeFor(rq.r, size, etag)
	if status == http.StatusRequestedRangeNotSatisfiable {
		hd.Set("Content-Range", "bytes */"+strconv.FormatInt(size, 10))
		hd.Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(status)
		if !rq.head {
			fmt.Fprintf(w, "416 Range Not Satisfiable\nThe %s is %d bytes long; ask for a range inside it.\n", what, size)
		}
		return status, rg, true
	}
	if status == http.StatusPartialContent {
		hd.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", rg.start, rg.end-1, size))
	}
	hd.Set("Content-Length", strconv.FormatInt(rg.end-rg.start, 10))
	return status, rg, false
}

// rangeFor decides between the whole file (200), one range (206) and an
// unsatisfiable request (416). A request for several ranges is answered
// with the whole file (RFC 9110 lets a server ignore Range); an If-Range
// that does not match the current ETag also gets the whole file.
func rangeFor(r *http.Request, size int64, etag string) (int, byteRange) {
	whole := byteRange{0, size}
	h := r.Header.Get("Range")
	if h == "" {
		return http.StatusOK, whole
	}
	if ir := r.Header.Get("If-Range"); ir != "" && strings.TrimSpace(ir) != etag {
		return http.StatusOK, whole
	}
	ranges, valid := parseRange(h, size)
	switch {
	case !valid:
		return http.StatusOK, whole
	case len(ranges) == 0:
		return http.StatusRequestedRangeNotSatisfiable, byteRange{}
	case len(ranges) > 1:
		return http.StatusOK, whole
	}
	return http.StatusPartialContent, ranges[0]
}

// clientWriteError marks a failure to write to the client.
type clientWriteError struct{ err error }

func (e *clientWriteError) Error() string { return "writing the response: " + e.err.Error() }
func (e *clientWriteError) Unwrap() error { return e.err }

// streamFile writes the bytes of rg with the given status. The status is
// sent with the first bytes, so a file whose first block cannot be
// fetched still gets a proper error (404, 504); a failure after that
// cuts the connection.
func (h *handler) streamFile(w http.ResponseWriter, rq *request, n *unixfs.Node, rg byteRange, status int) error {
	started := false
	err := unixfs.ReadRange(rq.ctx, h.blocks, n, uint64(rg.start), uint64(rg.end), func(b []byte) error {
		if !started {
			w.WriteHeader(status)
			started = true
		}
		if _, err := w.Write(b); err != nil {
			return &clientWriteError{err}
		}
		return nil
	})
	if err == nil {
		if !started {
			w.WriteHeader(status)
		}
		return nil
	}
	if !started {
		return fmt.Errorf("reading %s: %w", n.CID, err)
	}
	var cw *clientWriteError
	if errors.As(err, &cw) || rq.ctx.Err() != nil {
		return nil // the client is gone
	}
	h.log.Warn("file transfer failed midway; cutting the connection", "path", rq.path.String(), "cid", n.CID, "err", err)
	abortResponse()
	return nil
}

// readHead returns up to sniffLen bytes from the start of a file: one
// leaf at most.
func readHead(ctx context.Context, g unixfs.Getter, n *unixfs.Node) ([]byte, error) {
	if n.FS.Type == unixfs.TRaw || len(n.Links) == 0 {
		d := n.FS.Data
		return d[:min(len(d), sniffLen)], nil
	}
	buf := make([]byte, 0, sniffLen)
	err := unixfs.ReadRange(ctx, g, n, 0, sniffLen, func(b []byte) error {
		buf = append(buf, b...)
		return nil
	})
	return buf, err
}

// extraTypes are content types for common extensions that Go's built-in
// table lacks (it reads the rest from the system's mime.types, which may
// be missing): the answer must not depend on the machine.
var extraTypes = map[string]string{
	".txt":   "text/plain; charset=utf-8",
	".md":    "text/markdown; charset=utf-8",
	".csv":   "text/csv; charset=utf-8",
	".ico":   "image/vnd.microsoft.icon",
	".mp4":   "video/mp4",
	".webm":  "video/webm",
	".mp3":   "audio/mpeg",
	".ogg":   "audio/ogg",
	".wav":   "audio/wav",
	".woff":  "font/woff",
	".woff2": "font/woff2",
	".ttf":   "font/ttf",
	".otf":   "font/otf",
	".zip":   "application/zip",
	".gz":    "application/gzip",
	".tar":   "application/x-tar",
	".mjs":   "text/javascript; charset=utf-8",
	".map":   "application/json",
	".wasm":  "application/wasm",
	".xhtml": "application/xhtml+xml",
	".car":   "application/vnd.ipld.car",
}

// typeByName is the content type a file name's extension implies, or "".
func typeByName(name string) string {
	ext := strings.ToLower(path.Ext(name))
	if ext == "" {
		return ""
	}
	if t, ok := extraTypes[ext]; ok {
		return t
	}
	return mime.TypeByExtension(ext)
}
