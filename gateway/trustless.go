package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"

	"node/car"
	"node/dag"
	"node/ipns"
	"node/unixfs"
)

// carContentType is what CAR responses are: CARv1, blocks in depth-first
// order, each block once.
const carContentType = "application/vnd.ipld.car; version=1; order=dfs; dups=n"

// serveRaw answers ?format=raw: the terminal block's bytes.
func (h *handler) serveRaw(w http.ResponseWriter, rq *request, wk *walked) error {
	hd := w.Header()
	contentDisposition(hd, rq, "attachment", wk.cidString(wk.cid)+".bin")
	hd.Set("X-Content-Type-Options", "nosniff")
	return serveBytes(w, rq, wk.data, strongETag(wk.cidString(wk.cid)+".raw"), "application/vnd.ipld.raw")
}

// serveIPNSRecord answers ?format=ipns-record on /ipns/<name>.
func (h *handler) serveIPNSRecord(w http.ResponseWriter, rq *request) error {
	if rq.path.ns != "ipns" || len(rq.path.segments) > 0 {
		return withStatus(http.StatusBadRequest, errors.New(
			"?format=ipns-record is only for a bare /ipns/<name> (no /ipfs path, no path below the name)"))
	}
	if h.names == nil {
		return withStatus(http.StatusNotImplemented, errors.New(
			"this gateway has no name system, so it has no IPNS records to serve"))
	}
	ctx, cancel := context.WithTimeout(rq.ctx, h.timeout)
	defer cancel()
	name := rq.path.root
	rec, err := h.names.Record(ctx, name)
	if err != nil {
		if ctx.Err() == context.DeadlineExceeded {
			return &timeoutError{what: "the IPNS record of " + validUTF8OrEscape(name), after: h.timeout, err: err}
		}
		return fmt.Errorf("getting the IPNS record of %s: %w", validUTF8OrEscape(name), err)
	}
	hd := w.Header()
	hd.Set("X-Ipfs-Path", rq.path.String())
	hd.Add("Vary", "Accept")
	if r, err := ipns.Unmarshal(rec); err == nil {
		if secs := int64(r.TTL().Seconds()); secs > 0 {
			hd.Set("Cache-Control", "public, max-age="+strconv.FormatInt(min(secs, maxTTL), 10))
		}
	}
	if rq.fromAccept {
		hd.Set("Content-Location", rq.contentLocation())
	}
	contentDisposition(hd, rq, "attachment", name+".ipns-record")
	hd.Set("X-Content-Type-Options", "nosniff")
	sum := sha256.Sum256(rec)
	return serveBytes(w, rq, rec, strongETag(hex.EncodeToString(sum[:16])+".ipns-record"), "application/vnd.ipfs.ipns-record")
}

// dagScope is how much of the DAG at the end of the path a CAR holds.
type dagScope string

const (
	scopeBlock  dagScope = "block"
	scopeEntity dagScope = "entity"
	scopeAll    dagScope = "all"
)

// carParams are a CAR request's options.
type carParams struct {
	scope dagScope
	// bytesSpec is the raw entity-bytes value ("" when absent).
	bytesSpec string
}

// parseCARParams reads dag-scope and entity-bytes from the query, and the
// CAR variant from car-version/car-order/car-dups or the Accept
// parameters: only version 1, order dfs (or unknown) and dups=n exist here.
func parseCARParams(rq *request) (carParams, error) {
	pick := func(query, accept string) string {
		if v := rq.query.Get(query); v != "" {
			return v
		}
		return rq.acceptParams[accept]
	}
	if v := pick("car-version", "version"); v != "" && v != "1" {
		return carParams{}, withStatus(http.StatusNotAcceptable, fmt.Errorf("CAR version %q is not served: ask for version 1", v))
	}
	if v := pick("car-order", "order"); v != "" && v != "dfs" && v != "unk" {
		return carParams{}, withStatus(http.StatusNotAcceptable, fmt.Errorf("CAR block order %q is not served: ask for dfs", v))
	}
	if v := pick("car-dups", "dups"); v != "" && v != "n" {
		return carParams{}, withStatus(http.StatusNotAcceptable, fmt.Errorf("CAR dups=%q is not served: this gateway sends each block once (dups=n)", v))
	}
	p := carParams{scope: scopeAll}
	switch v := rq.query.Get("dag-scope"); v {
	case "", "all":
	case "entity", "block":
		p.scope = dagScope(v)
	default:
		return carParams{}, withStatus(http.StatusBadRequest, fmt.Errorf("dag-scope %q is not one of block, entity, all", v))
	}
	if v := rq.query.Get("entity-bytes"); v != "" {
		if _, _, err := parseEntityBytes(v, 1<<62); err != nil {
			return carParams{}, err
		}
		p.scope, p.bytesSpec = scopeEntity, v
	}
	return p, nil
}

// parseEntityBytes resolves an entity-bytes value "from:to" (to may be
// "*"; negative values count from the end) against a size, returning the
// half-open range it names (empty when it names nothing).
func parseEntityBytes(v string, size int64) (from, to int64, err error) {
	bad := withStatus(http.StatusBadRequest, fmt.Errorf("entity-bytes %q is not from:to (integers; to may be *)", v))
	fs, ts, ok := strings.Cut(v, ":")
	if !ok {
		return 0, 0, bad
	}
	f, err := strconv.ParseInt(fs, 10, 64)
	if err != nil {
		return 0, 0, bad
	}
	var t int64
	if ts == "*" {
		t = size - 1
	} else if t, err = strconv.ParseInt(ts, 10, 64); err != nil {
		return 0, 0, bad
	}
	if f >= 0 && t >= 0 && t < f {
		return 0, 0, bad
	}
	if f < 0 {
		f = max(size+f, 0)
	}
	if t < 0 {
		t = size + t
	}
	t = min(t, size-1)
	if t < f {
		return 0, 0, nil
	}
	return f, t + 1, nil
}

// carETag names a CAR response: the path walked and its options.
func carETag(wk *walked, p carParams) string {
	sum := sha256.Sum256([]byte(wk.immutablePath() + "\x00scope=" + string(p.scope) + "\x00bytes=" + p.bytesSpec))
	return strongETag(wk.cidString(wk.cid) + ".car." + hex.EncodeToString(sum[:8]))
}

// serveCAR answers ?format=car: the blocks that prove the path (every
// block walked, HAMT shards included), then the DAG at its end as far as
// dag-scope says, depth-first, each block once, without identity blocks.
// The header's root is the CID at the end of the path.
func (h *handler) serveCAR(w http.ResponseWriter, rq *request, wk *walked) error {
	p, err := parseCARParams(rq)
	if err != nil {
		return err
	}
	if p.scope == scopeAll {
		if _, err := dag.Links(wk.cid, wk.data); errors.Is(err, dag.ErrUnsupportedCodec) {
			return withStatus(http.StatusNotImplemented, fmt.Errorf(
				"%s is a %s block, whose links this gateway cannot follow: ask for dag-scope=block", displayPath(wk.root, wk.segments), codecName(wk.cid)))
		}
	}
	var fileRange *byteRange
	var terminal *unixfs.Node
	if isUnixFSCodec(wk.cid) {
		if n, err := unixfs.Decode(wk.cid, wk.data); err == nil {
			terminal = n
		}
	}
	if p.bytesSpec != "" && terminal != nil && terminal.IsFile() {
		size := int64(terminal.FileSize())
		from, to, err := parseEntityBytes(p.bytesSpec, size)
		if err != nil {
			return err
		}
		if from >= size && size > 0 {
			return withStatus(http.StatusBadRequest, fmt.Errorf("entity-bytes %q starts past the end of the %d-byte file", p.bytesSpec, size))
		}
		fileRange = &byteRange{from, to}
	}
	etag := carETag(wk, p)
	hd := w.Header()
	hd.Set("Etag", etag)
	if etagMatches(rq.r.Header.Get("If-None-Match"), etag) {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	hd.Set("Content-Type", carContentType)
	contentDisposition(hd, rq, "attachment", wk.cidString(wk.cid)+".car")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Accept-Ranges", "none")
	w.WriteHeader(http.StatusOK)
	if rq.head {
		return nil
	}

	ctx, cancel := context.WithCancel(rq.ctx)
	defer cancel()
	cw, err := car.NewWriter(w, []cid.Cid{wk.cid})
	if err != nil {
		return err // cannot happen: the root is defined
	}
	cb := &carBuilder{cw: cw, seen: map[string]struct{}{}, pf: newPrefetcher(ctx, h.blocks)}
	for _, b := range wk.trail {
		if err = cb.put(b.cid, b.data); err != nil {
			break
		}
	}
	if err == nil {
		switch {
		case p.scope == scopeBlock:
		case fileRange != nil:
			err = cb.fileRange(ctx, terminal, 0, *fileRange, 0)
		case p.scope == scopeAll, terminal != nil && terminal.IsFile():
			err = cb.all(ctx, wk.cid, wk.data)
		case terminal != nil && terminal.FS.Type == unixfs.THAMTShard:
			err = cb.shards(ctx, terminal, 0)
		}
	}
	if err == nil {
		err = cw.Flush()
	}
	if err != nil {
		if rq.ctx.Err() == nil {
			h.log.Warn("CAR response failed midway; cutting the connection", "path", rq.path.String(), "err", err)
		}
		abortResponse()
	}
	return nil
}

// carBuilder writes blocks to a CAR, each once.
type carBuilder struct {
	cw   *car.Writer
	seen map[string]struct{} // CIDs written (or, for identity CIDs, walked)
	pf   *prefetcher
}

// put writes a block unless it was written before or is an identity
// block (its bytes are in the CID: the spec keeps them out of CARs).
func (cb *carBuilder) put(c cid.Cid, data []byte) error {
	k := c.KeyString()
	if _, ok := cb.seen[k]; ok {
		return nil
	}
	cb.seen[k] = struct{}{}
	if c.Prefix().MhType == multihash.IDENTITY {
		return nil
	}
	return cb.cw.Put(c, data)
}

// prefetchWindow is how many blocks a CAR walk fetches ahead.
const prefetchWindow = 32

// all writes the whole DAG under root (whose block is data), depth-first.
func (cb *carBuilder) all(ctx context.Context, root cid.Cid, data []byte) error {
	if err := cb.put(root, data); err != nil {
		return err
	}
	links, err := dag.Links(root, data)
	if err != nil {
		return err
	}
	stack := make([]cid.Cid, 0, 256)
	push := func(links []cid.Cid) {
		for i := len(links) - 1; i >= 0; i-- {
			if _, ok := cb.seen[links[i].KeyString()]; !ok {
				stack = append(stack, links[i])
			}
		}
	}
	push(links)
	for len(stack) > 0 {
		c := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for j := 1; j <= prefetchWindow && j <= len(stack); j++ {
			cb.pf.want(stack[len(stack)-j])
		}
		if _, ok := cb.seen[c.KeyString()]; ok {
			cb.pf.discard(c)
			continue
		}
		data, err := cb.pf.get(c)
		if err != nil {
			return fmt.Errorf("block %s: %w", c, err)
		}
		if err := cb.put(c, data); err != nil {
			return err
		}
		links, err := dag.Links(c, data)
		if err != nil {
			return err
		}
		push(links)
	}
	return nil
}

// shards writes the shards of a HAMT-sharded directory (not its entries).
func (cb *carBuilder) shards(ctx context.Context, n *unixfs.Node, depth int) error {
	if depth > 64 {
		return fmt.Errorf("%s: %w: HAMT nested too deep", n.CID, unixfs.ErrInvalid)
	}
	prefix := unixfs.HAMTPrefixLen(n.FS.Fanout)
	for _, l := range n.Links {
		if len(l.Name) != prefix {
			continue
		}
		if _, ok := cb.seen[l.Hash.KeyString()]; ok {
			continue
		}
		data, err := cb.pf.get(l.Hash)
		if err != nil {
			return fmt.Errorf("HAMT shard %s: %w", l.Hash, err)
		}
		child, err := unixfs.Decode(l.Hash, data)
		if err != nil {
			return err
		}
		if child.FS.Type != unixfs.THAMTShard {
			return fmt.Errorf("%s: %w: HAMT child %s is a %s", n.CID, unixfs.ErrInvalid, l.Hash, child.FS.Type)
		}
		if err := cb.put(l.Hash, data); err != nil {
			return err
		}
		if err := cb.shards(ctx, child, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// fileRange writes the blocks of a file that hold bytes of rg (n begins
// at file offset base): the nodes on the way down and the leaves.
func (cb *carBuilder) fileRange(ctx context.Context, n *unixfs.Node, base int64, rg byteRange, depth int) error {
	if depth > 64 {
		return fmt.Errorf("%s: %w: file DAG nested too deep", n.CID, unixfs.ErrInvalid)
	}
	pos := base + int64(len(n.FS.Data))
	var want []int
	for i, bs := range n.FS.BlockSizes {
		if pos >= rg.end {
			break
		}
		if bs > 0 && pos+int64(bs) > rg.start {
			want = append(want, i)
		}
		pos += int64(bs)
	}
	for _, i := range want[:min(len(want), prefetchWindow)] {
		cb.pf.want(n.Links[i].Hash)
	}
	pos = base + int64(len(n.FS.Data))
	k := 0
	for i, bs := range n.FS.BlockSizes {
		if k < len(want) && want[k] == i {
			if k+prefetchWindow < len(want) {
				cb.pf.want(n.Links[want[k+prefetchWindow]].Hash)
			}
			k++
			c := n.Links[i].Hash
			data, err := cb.pf.get(c)
			if err != nil {
				return fmt.Errorf("block %s: %w", c, err)
			}
			child, err := unixfs.Decode(c, data)
			if err != nil {
				return err
			}
			if err := cb.put(c, data); err != nil {
				return err
			}
			if child.IsFile() && len(child.Links) > 0 {
				if err := cb.fileRange(ctx, child, pos, rg, depth+1); err != nil {
					return err
				}
			}
		}
		pos += int64(bs)
	}
	return nil
}

// prefetcher fetches blocks ahead of a walk. It is used by the walk's
// goroutine only; the fetches run in their own goroutines.
type prefetcher struct {
	ctx     context.Context
	g       unixfs.Getter
	pending map[string]chan fetched // fetches started and not yet taken
}

type fetched struct {
	data []byte
	err  error
}

func newPrefetcher(ctx context.Context, g unixfs.Getter) *prefetcher {
	return &prefetcher{ctx: ctx, g: g, pending: map[string]chan fetched{}}
}

// want starts fetching c unless it is being fetched or the window is full.
func (p *prefetcher) want(c cid.Cid) {
	k := c.KeyString()
	if _, ok := p.pending[k]; ok || len(p.pending) >= prefetchWindow {
		return
	}
	ch := make(chan fetched, 1)
	p.pending[k] = ch
	go func() {
		b, err := p.g.Get(p.ctx, c)
		ch <- fetched{b, err}
	}()
}

// get returns c's bytes, from a fetch already started or a new one.
func (p *prefetcher) get(c cid.Cid) ([]byte, error) {
	k := c.KeyString()
	if ch, ok := p.pending[k]; ok {
		delete(p.pending, k)
		r := <-ch
		return r.data, r.err
	}
	return p.g.Get(p.ctx, c)
}

// discard forgets a fetch whose block is no longer needed.
func (p *prefetcher) discard(c cid.Cid) { delete(p.pending, c.KeyString()) }
