package gateway

import (
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"strconv"
	"strings"
	"unicode"

	"node/blockstore"
	"node/dag"
	"node/ipath"
	"node/ipns"
	"node/unixfs"
)

// statusError carries the HTTP status an error should be answered with.
type statusError struct {
	status int
	err    error
}

func (e *statusError) Error() string { return e.err.Error() }
func (e *statusError) Unwrap() error { return e.err }

// withStatus attaches an HTTP status to err.
func withStatus(status int, err error) error { return &statusError{status: status, err: err} }

// statusOf maps an error to the HTTP status that answers it.
func statusOf(err error) int {
	var se *statusError
	if errors.As(err, &se) {
		return se.status
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout
	case errors.Is(err, ipath.ErrInvalid), errors.Is(err, blockstore.ErrWeakCID), errors.Is(err, ipns.ErrInvalidName):
		return http.StatusBadRequest
	case errors.Is(err, blockstore.ErrNotFound), errors.Is(err, unixfs.ErrNoLink),
		errors.Is(err, unixfs.ErrNotDir), errors.Is(err, ipns.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, dag.ErrUnsupportedCodec):
		return http.StatusNotImplemented
	}
	return http.StatusInternalServerError
}

// advice is what to do about an error of a status, shown under the message.
func advice(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "Check the address: it should look like /ipfs/<cid>/path or /ipns/<name>/path."
	case http.StatusNotFound:
		return "The content or the path does not exist here. Check the CID and the names in the path; if the content was just added elsewhere, make sure the node that has it is online."
	case http.StatusGatewayTimeout:
		return "No peer delivered the content in time. Try again later, or make sure a node that has it is online and reachable."
	case http.StatusNotImplemented:
		return "This gateway cannot serve this kind of content in this form. Try ?format=raw or ?format=car."
	case http.StatusMethodNotAllowed:
		return "Use GET or HEAD."
	case http.StatusNotAcceptable:
		return "Ask for a variant this gateway serves (see the message above)."
	}
	return "The gateway failed to serve this request. The node's log has the details."
}

// fail answers the request with an error page: HTML for clients that
// accept it (browsers), plain text for the others. rq may be nil when
// the request could not be parsed.
func (h *handler) fail(w http.ResponseWriter, r *http.Request, rq *request, err error) {
	if r.Context().Err() != nil {
		// The client went away; nobody reads the answer.
		h.log.Debug("request abandoned by the client", "path", r.URL.Path, "err", err)
		return
	}
	status := statusOf(err)
	if status >= 500 {
		h.log.Warn("request failed", "method", r.Method, "path", r.URL.Path, "status", status, "err", err)
	} else {
		h.log.Debug("request refused", "method", r.Method, "path", r.URL.Path, "status", status, "err", err)
	}
	hd := w.Header()
	for _, k := range []string{"Etag", "Cache-Control", "Content-Disposition", "Content-Length", "Content-Range",
		"Accept-Ranges", "Content-Location", "X-Content-Type-Options", "Last-Modified", "Content-Type"} {
		hd.Del(k)
	}
	hd.Set("Cache-Control", "no-cache")
	if status == http.StatusGatewayTimeout {
		hd.Set("Retry-After", strconv.Itoa(max(1, int(h.timeout.Seconds()))))
	}
	if status == http.StatusPreconditionFailed {
		// only-if-cached: the spec wants no payload.
		w.WriteHeader(status)
		return
	}
	msg := err.Error()
	title := strconv.Itoa(status) + " " + http.StatusText(status)
	if acceptsHTML(r.Header.Values("Accept")) {
		hd.Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(status)
		if r.Method != http.MethodHead {
			writeErrorPage(w, title, msg, advice(status))
		}
		return
	}
	hd.Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		fmt.Fprintf(w, "%s\n%s\n%s\n", title, printable(msg), advice(status))
	}
}

func writeErrorPage(w io.Writer, title, msg, hint string) {
	var b strings.Builder
	b.WriteString(`<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">`)
	b.WriteString(`<meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,"><title>`)
	b.WriteString(html.EscapeString(title))
	b.WriteString(`</title><style>` + pageCSS + `</style></head><body><main class="error"><h1>`)
	b.WriteString(html.EscapeString(title))
	b.WriteString(`</h1><p class="msg"><code>`)
	b.WriteString(html.EscapeString(printable(msg)))
	b.WriteString(`</code></p><p>`)
	b.WriteString(html.EscapeString(hint))
	b.WriteString(`</p></main></body></html>`)
	io.WriteString(w, b.String())
}

// printable replaces control characters and invalid UTF-8 with U+FFFD, so
// names from hostile DAGs cannot garble what a person reads.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if isControl(r) {
			return unicode.ReplacementChar
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))
}

// isControl reports C0/C1 controls and the bidirectional overrides that
// can make a name display as something else.
func isControl(r rune) bool {
	return unicode.IsControl(r) || (r >= '\u202A' && r <= '\u202E') || (r >= '\u2066' && r <= '\u2069') ||
		r == '\u200E' || r == '\u200F' || r == '\u061C'
}

// abortResponse ends a response that has already begun and cannot be
// completed: the connection is cut, so the client sees a truncated body
// instead of a complete-looking wrong one.
func abortResponse() { panic(http.ErrAbortHandler) }
