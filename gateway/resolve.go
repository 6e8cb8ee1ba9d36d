package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/ipfs/go-cid"

	"node/blockstore"
	"node/ipath"
	"node/unixfs"
)

// block is a fetched block.
type block struct {
	cid  cid.Cid
	data []byte
}

// walked is where a content path leads.
type walked struct {
	// root and segments are the immutable path walked: an /ipns path's
	// resolved root and the segments of its value and of the request.
	root     cid.Cid
	segments []string
	// ttl is how long an /ipns resolution may be cached (0: unknown);
	// mutable reports an /ipns request.
	ttl     time.Duration
	mutable bool

	// cid and data are the block at the end of the path.
	cid  cid.Cid
	data []byte
	// roots has one CID per logical root: the root, then the CID each
	// segment led to (X-Ipfs-Roots).
	roots []cid.Cid
	// trail is every block fetched to walk the path, in order, ending
	// with the terminal block: what a client needs to verify the path
	// (HAMT shards included).
	trail []block
	// rootStrs are the roots as text (base58 encoding is slow: each is
	// encoded once per request).
	rootStrs []string
}

// cidString is c as text, from rootStrs when c is one of the roots.
func (wk *walked) cidString(c cid.Cid) string {
	for i, r := range wk.roots {
		if i < len(wk.rootStrs) && r == c {
			return wk.rootStrs[i]
		}
	}
	return c.String()
}

// fillRootStrs encodes the roots once; the first is the request's own
// text when that is the only way to write it (CIDv0).
func (wk *walked) fillRootStrs(p contentPath) {
	wk.rootStrs = make([]string, len(wk.roots))
	for i, r := range wk.roots {
		if i == 0 && p.ns == "ipfs" && r.Version() == 0 {
			wk.rootStrs[i] = p.root
			continue
		}
		wk.rootStrs[i] = r.String()
	}
}

// immutablePath is the /ipfs path walked, escaped.
func (wk *walked) immutablePath() string {
	p := contentPath{ns: "ipfs", root: wk.root.String(), segments: wk.segments}
	return p.String()
}

// resolve turns the request's content path into an immutable root and
// segments, resolving an /ipns name first, and walks it.
func (h *handler) resolve(rq *request) (*walked, error) {
	wk := &walked{root: rq.path.rootCID, segments: rq.path.segments}
	if rq.path.ns == "ipns" {
		if err := h.resolveName(rq, wk); err != nil {
			return nil, err
		}
	}
	if h.local != nil && onlyIfCached(rq.r) {
		has, err := h.local.Has(rq.ctx, wk.root)
		if err != nil || !has {
			return nil, withStatus(http.StatusPreconditionFailed, fmt.Errorf(
				"%s is not stored on this node, and the request asked for cached content only", wk.root))
		}
	}
	if err := h.walk(rq.ctx, wk); err != nil {
		return nil, err
	}
	return wk, nil
}

// onlyIfCached reports a request with "Cache-Control: only-if-cached".
func onlyIfCached(r *http.Request) bool {
	for _, v := range r.Header.Values("Cache-Control") {
		for d := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(d), "only-if-cached") {
				return true
			}
		}
	}
	return false
}

// resolveName resolves the /ipns root of the request into wk.
func (h *handler) resolveName(rq *request, wk *walked) error {
	if h.names == nil {
		return withStatus(http.StatusNotImplemented, errors.New(
			"this gateway has no name system, so /ipns paths cannot be resolved here: use /ipfs/<cid> instead"))
	}
	ctx, cancel := context.WithTimeout(rq.ctx, h.timeout)
	defer cancel()
	name := rq.path.root
	resolved, ttl, err := h.names.ResolvePath(ctx, "/ipns/"+name)
	if err != nil {
		if ctx.Err() == context.DeadlineExceeded {
			return &timeoutError{what: "the name " + validUTF8OrEscape(name), after: h.timeout, err: err}
		}
		return fmt.Errorf("resolving /ipns/%s: %w", validUTF8OrEscape(name), err)
	}
	p, err := ipath.Parse(resolved)
	if err != nil || p.Namespace != "ipfs" {
		return fmt.Errorf("the name system resolved /ipns/%s to %q, which is not an /ipfs path", validUTF8OrEscape(name), resolved)
	}
	if err := blockstore.CheckCID(p.CID); err != nil {
		return fmt.Errorf("/ipns/%s points at an unacceptable CID: %w", validUTF8OrEscape(name), err)
	}
	wk.root = p.CID
	wk.segments = append(p.Segments, rq.path.segments...)
	wk.ttl, wk.mutable = ttl, true
	return nil
}

// recordingGetter remembers the blocks fetched through it.
type recordingGetter struct {
	g unixfs.Getter

	mu  sync.Mutex // guards got
	got []block
}

func (r *recordingGetter) Get(ctx context.Context, c cid.Cid) ([]byte, error) {
	b, err := r.g.Get(ctx, c)
	if err == nil {
		r.mu.Lock()
		r.got = append(r.got, block{c, b})
		r.mu.Unlock()
	}
	return b, err
}

// isUnixFSCodec reports the codecs UnixFS nodes come in.
func isUnixFSCodec(c cid.Cid) bool {
	return c.Type() == cid.DagProtobuf || c.Type() == cid.Raw
}

// walk follows wk.segments from wk.root through UnixFS directories (plain
// or HAMT-sharded) to the terminal block. The whole walk has
// RetrievalTimeout to finish.
func (h *handler) walk(ctx context.Context, wk *walked) error {
	ctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	err := h.walkSteps(ctx, wk)
	if err != nil && ctx.Err() == context.DeadlineExceeded && !errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("%w (%w)", err, context.DeadlineExceeded)
	}
	if err != nil && errors.Is(err, context.DeadlineExceeded) {
		var te *timeoutError
		if !errors.As(err, &te) {
			err = &timeoutError{what: displayPath(wk.root, wk.segments), after: h.timeout, err: err}
		}
	}
	return err
}

func (h *handler) walkSteps(ctx context.Context, wk *walked) error {
	rec := &recordingGetter{g: h.raw, got: make([]block, 0, len(wk.segments)+1)}
	cur := wk.root
	wk.roots = make([]cid.Cid, 1, len(wk.segments)+1)
	wk.roots[0] = cur
	for i, seg := range wk.segments {
		here := func() string { return displayPath(wk.root, wk.segments[:i]) }
		if !isUnixFSCodec(cur) {
			return withStatus(http.StatusNotImplemented, fmt.Errorf(
				"%s is a %s block: paths inside non-UnixFS data are not supported (open %s?format=dag-json to read it)",
				here(), codecName(cur), here()))
		}
		data, err := rec.Get(ctx, cur)
		if err != nil {
			return fmt.Errorf("fetching %s (%s): %w", here(), cur, err)
		}
		n, err := unixfs.Decode(cur, data)
		if err != nil {
			return fmt.Errorf("reading %s: %w", here(), err)
		}
		if !n.IsDir() {
			return withStatus(http.StatusNotFound, fmt.Errorf("%s is a %s, not a directory, so it has no entry %q: %w",
				here(), n.FS.Type, validUTF8OrEscape(seg), unixfs.ErrNotDir))
		}
		e, err := unixfs.Lookup(ctx, rec, n, seg)
		if errors.Is(err, unixfs.ErrNoLink) {
			return withStatus(http.StatusNotFound, fmt.Errorf("%s has no entry named %q: %w", here(), validUTF8OrEscape(seg), unixfs.ErrNoLink))
		}
		if err != nil {
			return fmt.Errorf("looking up %q in %s: %w", validUTF8OrEscape(seg), here(), err)
		}
		if err := blockstore.CheckCID(e.CID); err != nil {
			return fmt.Errorf("%s links to an unacceptable CID: %w", displayPath(wk.root, wk.segments[:i+1]), err)
		}
		cur = e.CID
		wk.roots = append(wk.roots, cur)
	}
	data, err := rec.Get(ctx, cur)
	if err != nil {
		return fmt.Errorf("fetching %s (%s): %w", displayPath(wk.root, wk.segments), cur, err)
	}
	wk.cid, wk.data, wk.trail = cur, data, rec.got
	return nil
}

// displayPath is a path for messages: names unescaped but quoted when
// they hold control characters or invalid UTF-8.
func displayPath(root cid.Cid, segs []string) string {
	var b strings.Builder
	b.WriteString("/ipfs/")
	b.WriteString(root.String())
	for _, s := range segs {
		b.WriteString("/")
		b.WriteString(validUTF8OrEscape(s))
	}
	return b.String()
}

// codecName names the codecs the gateway knows.
func codecName(c cid.Cid) string {
	switch c.Type() {
	case cid.DagProtobuf:
		return "dag-pb"
	case cid.Raw:
		return "raw"
	case cid.DagCBOR:
		return "dag-cbor"
	case cid.DagJSON:
		return "dag-json"
	case codecJSON:
		return "json"
	case codecCBOR:
		return "cbor"
	}
	return fmt.Sprintf("codec 0x%x", c.Type())
}

// Multicodecs go-cid has no constant for.
const (
	codecJSON = 0x0200
	codecCBOR = 0x51
)
