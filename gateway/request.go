package gateway

import (
	"context"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/ipfs/go-cid"

	"node/blockstore"
	"node/ipath"
)

// contentPath is the content path of a request, split and decoded.
type contentPath struct {
	// ns is "ipfs" or "ipns".
	ns string
	// root is the CID (ipfs) or the name (ipns), as written.
	root string
	// rootCID is the parsed root of an /ipfs path.
	rootCID cid.Cid
	// segments are the decoded names below the root: never empty, ".",
	// "..", and never containing '/' or NUL.
	segments []string
	// trailingSlash reports whether the path ended with '/'.
	trailingSlash bool
}

// errNameWithSlash is wrapped when a segment decodes to a name with '/'.
var errNameWithSlash = errors.New("a name in a content path cannot contain '/'")

// parseContentPath splits the escaped path of a request URL (as
// url.URL.EscapedPath returns it) into a content path. Each segment is
// unescaped on its own, so "%2F" inside a segment stays part of a name
// (and, since no UnixFS name can hold '/', the path cannot exist: 404).
// Segments "." and ".." (also when percent-encoded) and NUL bytes are
// refused (400): a content path names a place inside one DAG and has no
// parent to climb to.
func parseContentPath(escaped string) (contentPath, error) {
	var p contentPath
	rest, ok := strings.CutPrefix(escaped, "/ipfs/")
	if ok {
		p.ns = "ipfs"
	} else if rest, ok = strings.CutPrefix(escaped, "/ipns/"); ok {
		p.ns = "ipns"
	} else {
		return p, withStatus(http.StatusNotFound,
			fmt.Errorf("%q is not a content path: this gateway serves /ipfs/<cid>[/path] and /ipns/<name>[/path]", escaped))
	}
	parts := strings.Split(rest, "/")
	p.trailingSlash = len(parts) > 1 && parts[len(parts)-1] == ""
	root, err := url.PathUnescape(parts[0])
	if err != nil {
		return p, withStatus(http.StatusBadRequest, fmt.Errorf("%w: %q is not a valid escaped path segment", ipath.ErrInvalid, parts[0]))
	}
	if root == "" {
		return p, withStatus(http.StatusBadRequest, fmt.Errorf("%w: /%s/ needs a %s after it", ipath.ErrInvalid, p.ns, map[string]string{"ipfs": "CID", "ipns": "name"}[p.ns]))
	}
	if strings.ContainsAny(root, "/\x00") {
		return p, withStatus(http.StatusBadRequest, fmt.Errorf("%w: root %q contains '/' or NUL", ipath.ErrInvalid, root))
	}
	p.root = root
	if p.ns == "ipfs" {
		parsed, err := ipath.Parse("/ipfs/" + root)
		if err != nil {
			return p, withStatus(http.StatusBadRequest, err)
		}
		if err := blockstore.CheckCID(parsed.CID); err != nil {
			return p, withStatus(http.StatusBadRequest, err)
		}
		p.rootCID = parsed.CID
	}
	for _, raw := range parts[1:] {
		if raw == "" {
			continue
		}
		seg, err := url.PathUnescape(raw)
		if err != nil {
			return p, withStatus(http.StatusBadRequest, fmt.Errorf("%w: %q is not a valid escaped path segment", ipath.ErrInvalid, raw))
		}
		switch {
		case seg == "" || seg == "." || seg == "..":
			return p, withStatus(http.StatusBadRequest, fmt.Errorf("%w: segment %q is not allowed: a content path has no parent to go back to", ipath.ErrInvalid, raw))
		case strings.ContainsRune(seg, 0):
			return p, withStatus(http.StatusBadRequest, fmt.Errorf("%w: segment %q contains a NUL byte", ipath.ErrInvalid, raw))
		case strings.ContainsRune(seg, '/'):
			return p, withStatus(http.StatusNotFound, fmt.Errorf("no entry named %q: %w", seg, errNameWithSlash))
		}
		p.segments = append(p.segments, seg)
	}
	return p, nil
}

// String is the escaped path: /ipfs/CID/a/b, with a trailing slash when
// the request had one. It is safe in a header and in a URL.
func (p contentPath) String() string {
	return p.prefix(len(p.segments), p.trailingSlash)
}

// prefix is the escaped path of the root and the first n segments.
func (p contentPath) prefix(n int, slash bool) string {
	var b strings.Builder
	b.WriteString("/")
	b.WriteString(p.ns)
	b.WriteString("/")
	b.WriteString(url.PathEscape(p.root))
	for _, s := range p.segments[:n] {
		b.WriteString("/")
		b.WriteString(url.PathEscape(s))
	}
	if slash {
		b.WriteString("/")
	}
	return b.String()
}

// format is a response type a request asks for.
type format int

const (
	formatDefault format = iota // deserialized: files, directory listings
	formatRaw
	formatCAR
	formatTAR
	formatDAGJSON
	formatDAGCBOR
	formatJSON
	formatCBOR
	formatIPNSRecord
)

// formatInfo names a format in ?format= and in Accept.
var formatInfo = []struct {
	f         format
	param     string
	mediaType string
}{
	{formatRaw, "raw", "application/vnd.ipld.raw"},
	{formatCAR, "car", "application/vnd.ipld.car"},
	{formatTAR, "tar", "application/x-tar"},
	{formatDAGJSON, "dag-json", "application/vnd.ipld.dag-json"},
	{formatDAGCBOR, "dag-cbor", "application/vnd.ipld.dag-cbor"},
	{formatJSON, "json", "application/json"},
	{formatCBOR, "cbor", "application/cbor"},
	{formatIPNSRecord, "ipns-record", "application/vnd.ipfs.ipns-record"},
}

func (f format) param() string {
	for _, fi := range formatInfo {
		if fi.f == f {
			return fi.param
		}
	}
	return ""
}

func (f format) mediaType() string {
	for _, fi := range formatInfo {
		if fi.f == f {
			return fi.mediaType
		}
	}
	return ""
}

// request is a parsed gateway request.
type request struct {
	r    *http.Request
	ctx  context.Context
	head bool
	path contentPath
	// query is the parsed URL query.
	query url.Values
	// format is the response type; fromAccept says it came from the
	// Accept header rather than ?format=.
	format     format
	fromAccept bool
	// genericAccept is set when the format came from a generic Accept
	// type (application/json or application/cbor): it applies only to
	// data that is not UnixFS.
	genericAccept bool
	// acceptParams are the parameters of the chosen Accept media type
	// (CAR version, order, dups).
	acceptParams map[string]string
	// wantsHTML reports whether the client accepts text/html (browsers).
	wantsHTML bool
}

// newRequest parses the path, query and Accept header of r.
func newRequest(r *http.Request) (*request, error) {
	rq := &request{r: r, ctx: r.Context(), head: r.Method == http.MethodHead}
	p, err := parseContentPath(r.URL.EscapedPath())
	if err != nil {
		return nil, err
	}
	rq.path = p
	if r.URL.RawQuery != "" {
		rq.query = r.URL.Query()
	}
	rq.wantsHTML = acceptsHTML(r.Header.Values("Accept"))

	if r.Header.Get("Service-Worker") == "script" && len(p.segments) == 0 {
		return nil, withStatus(http.StatusBadRequest, errors.New(
			"registering a service worker for a whole content root is not allowed: its scope would be the entire namespace"))
	}

	acceptFormat, params, err := formatFromAccept(r.Header.Values("Accept"))
	if err != nil {
		return nil, err
	}
	if v := rq.query.Get("format"); v != "" {
		found := false
		for _, fi := range formatInfo {
			if fi.param == v {
				rq.format, found = fi.f, true
			}
		}
		if !found {
			return nil, withStatus(http.StatusBadRequest, fmt.Errorf(
				"format %q is not supported: use raw, car, tar, dag-json, dag-cbor, json, cbor or ipns-record", v))
		}
		if acceptFormat == rq.format {
			rq.acceptParams = params
		}
		return rq, nil
	}
	if acceptFormat != formatDefault {
		rq.format, rq.fromAccept, rq.acceptParams = acceptFormat, true, params
		rq.genericAccept = acceptFormat == formatJSON || acceptFormat == formatCBOR
	}
	return rq, nil
}

// formatFromAccept picks the response format from Accept headers: the
// known IPFS/IPLD media type (or application/json, application/cbor,
// application/x-tar) with the highest q-value, the first on a tie.
// Generic types (text/html, */*) choose the default response.
func formatFromAccept(values []string) (format, map[string]string, error) {
	best, bestQ := formatDefault, 0.0
	var bestParams map[string]string
	for _, v := range values {
		for item := range strings.SplitSeq(v, ",") {
			item = strings.TrimSpace(item)
			if item == "" {
				continue
			}
			mt, params, err := mime.ParseMediaType(item)
			if err != nil {
				// Browsers never send malformed types; skip what we
				// cannot read rather than fail the request.
				continue
			}
			var f format
			for _, fi := range formatInfo {
				if fi.mediaType == mt {
					f = fi.f
				}
			}
			if f == formatDefault {
				continue
			}
			q := 1.0
			if qs, ok := params["q"]; ok {
				q, err = strconv.ParseFloat(qs, 64)
				if err != nil || q < 0 || q > 1 {
					continue
				}
			}
			if q > bestQ {
				best, bestQ, bestParams = f, q, params
			}
		}
	}
	return best, bestParams, nil
}

// acceptsHTML reports whether Accept names text/html: browsers' page
// loads do, scripts and command-line tools usually do not.
func acceptsHTML(values []string) bool {
	for _, v := range values {
		for item := range strings.SplitSeq(v, ",") {
			mt, _, _ := strings.Cut(strings.TrimSpace(item), ";")
			if strings.EqualFold(strings.TrimSpace(mt), "text/html") {
				return true
			}
		}
	}
	return false
}

// contentLocation is the URL of the response with its format in the
// query, for responses negotiated through Accept.
func (rq *request) contentLocation() string {
	q := make(url.Values, len(rq.query)+1)
	for k, v := range rq.query {
		q[k] = slices.Clone(v)
	}
	q.Set("format", rq.format.param())
	return rq.path.String() + "?" + q.Encode()
}

// lastName is the name of what the path points at: the last segment, or
// "" for a bare root.
func (p contentPath) lastName() string {
	if len(p.segments) == 0 {
		return ""
	}
	return p.segments[len(p.segments)-1]
}

// validUTF8OrEscape returns s when it is valid UTF-8 without control
// characters, else a quoted Go string: for names shown in messages.
func validUTF8OrEscape(s string) string {
	if utf8.ValidString(s) && !strings.ContainsFunc(s, isControl) {
		return s
	}
	return strconv.Quote(s)
}
