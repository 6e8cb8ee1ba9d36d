package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"

	"node/blockstore"
	"node/unixfs"
)

// NameResolver resolves /ipns paths; namesys.NameSystem satisfies it.
type NameResolver interface {
	// ResolvePath turns "/ipns/NAME/rest" into "/ipfs/CID/rest"; ttl is
	// how long the answer may be cached. Errors: wrapping ipns.ErrNotFound
	// (404), ipns.ErrInvalidName (400), a context deadline (504).
	ResolvePath(ctx context.Context, p string) (resolved string, ttl time.Duration, err error)
	// Record returns the marshalled signed IPNS record of name, served
	// for ?format=ipns-record.
	Record(ctx context.Context, name string) ([]byte, error)
}

// DefaultRetrievalTimeout is Config.RetrievalTimeout when it is zero.
const DefaultRetrievalTimeout = 30 * time.Second

// Config is what the gateway serves from.
type Config struct {
	// Blocks fetches blocks; in the daemon it asks the network (Bitswap)
	// for blocks the local store does not have. Required.
	Blocks unixfs.Getter
	// Names resolves /ipns paths. When nil, /ipns requests answer 501.
	Names NameResolver
	// RetrievalTimeout is how long the gateway waits for one block (or for
	// a name to resolve) before it answers 504 Gateway Timeout, or, when
	// the response has begun, aborts it. Zero means DefaultRetrievalTimeout.
	RetrievalTimeout time.Duration
	// Log receives the gateway's logs; nil means slog.Default().
	Log *slog.Logger
	// Local, when set, says which blocks are stored locally (the node's
	// block store). Requests with "Cache-Control: only-if-cached" then
	// answer 412 without fetching anything when the root block is not
	// local. When nil, such requests are served as usual.
	Local LocalBlocks
}

// LocalBlocks says whether a block is in the local store, without
// fetching it; blockstore.Store satisfies it.
type LocalBlocks interface {
	Has(ctx context.Context, c cid.Cid) (bool, error)
}

// New returns the path gateway handler for /ipfs/ and /ipns/ requests.
// It panics when cfg.Blocks is nil.
func New(cfg Config) http.Handler {
	if cfg.Blocks == nil {
		panic("gateway.New: Config.Blocks is nil")
	}
	if cfg.RetrievalTimeout <= 0 {
		cfg.RetrievalTimeout = DefaultRetrievalTimeout
	}
	log := cfg.Log
	if log == nil {
		log = slog.Default()
	}
	return &handler{
		source:    cfg.Blocks,
		names:     cfg.Names,
		local:     cfg.Local,
		sortLimit: sortLimit,
		timeout:   cfg.RetrievalTimeout,
		log:       log.With("subsystem", "gateway"),
	}
}

// handler serves the gateway. It holds no mutable state: every request is
// independent.
type handler struct {
	source unixfs.Getter // Config.Blocks
	// A request's blocks are read in one session of source (see
	// blockstore.Sessions). raw fetches without a time limit (the
	// caller's context has one); blocks bounds each fetch by the
	// retrieval timeout. Both are set per request, by forRequest.
	raw     unixfs.Getter
	blocks  unixfs.Getter
	names   NameResolver
	local   LocalBlocks
	timeout time.Duration
	log     *slog.Logger
	// sortLimit is the package's sortLimit when the handler was made.
	sortLimit int
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
	default:
		w.Header().Set("Allow", "GET, HEAD")
		h.fail(w, r, nil, withStatus(http.StatusMethodNotAllowed,
			fmt.Errorf("method %s is not allowed: this gateway is read-only and answers GET and HEAD", r.Method)))
		return
	}
	rq, err := newRequest(r)
	if err != nil {
		h.fail(w, r, nil, err)
		return
	}
	h = h.forRequest(r.Context())
	if err := h.serve(w, rq); err != nil {
		h.fail(w, r, rq, err)
	}
}

// forRequest is the handler with the getters of one request: its blocks
// are read in one session, which ends with ctx.
func (h *handler) forRequest(ctx context.Context) *handler {
	in := *h
	in.raw = identityGetter{blockstore.InSession(ctx, h.source)}
	in.blocks = timeoutGetter{g: in.raw, timeout: h.timeout}
	return &in
}

// identityGetter answers identity CIDs (whose bytes are the CID's
// digest) itself and passes the others on.
type identityGetter struct{ g unixfs.Getter }

func (i identityGetter) Get(ctx context.Context, c cid.Cid) ([]byte, error) {
	if c.Prefix().MhType == multihash.IDENTITY {
		dm, err := multihash.Decode(c.Hash())
		if err != nil {
			return nil, withStatus(http.StatusBadRequest, fmt.Errorf("identity CID %s does not decode: %w", c, err))
		}
		return dm.Digest, nil
	}
	return i.g.Get(ctx, c)
}

// timeoutGetter bounds each block fetch by the retrieval timeout.
type timeoutGetter struct {
	g       unixfs.Getter
	timeout time.Duration
}

func (t timeoutGetter) Get(ctx context.Context, c cid.Cid) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	b, err := t.g.Get(ctx, c)
	if err != nil && ctx.Err() == context.DeadlineExceeded {
		return nil, &timeoutError{what: "block " + c.String(), after: t.timeout, err: err}
	}
	return b, err
}

// timeoutError says that something could not be retrieved in time.
type timeoutError struct {
	what  string
	after time.Duration
	err   error
}

func (e *timeoutError) Error() string {
	return fmt.Sprintf("%s could not be retrieved within %s", e.what, e.after)
}

// Unwrap lets errors.Is find both the getter's error and
// context.DeadlineExceeded.
func (e *timeoutError) Unwrap() []error { return []error{e.err, context.DeadlineExceeded} }
