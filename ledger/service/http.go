package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"node/ledger"
	"node/ledger/block"
	"node/ledger/chaincode"
	"node/ledger/config"
	"node/ledger/selector"
	"node/ledger/statedb"
	"node/ledger/tx"
)

// APIPrefix is where the daemon mounts Handler.
const APIPrefix = "/api/v0/ledger/"

// maxBody bounds a request body (a config, a query, an index file, a
// proof).
const maxBody = 4 << 20

// Handler is the ledger's HTTP API (JSON in and out) under APIPrefix; the
// daemon mounts it behind its API token. See docs/ledger.md.
func (m *Manager) Handler() http.Handler {
	mux := http.NewServeMux()
	p := APIPrefix
	mux.HandleFunc("GET "+p+"channels", m.apiList)
	mux.HandleFunc("POST "+p+"channels", m.apiCreate)
	mux.HandleFunc("GET "+p+"channels/{name}", m.apiInfo)
	mux.HandleFunc("POST "+p+"channels/{name}/join", m.apiJoin)
	mux.HandleFunc("POST "+p+"channels/{name}/invoke", m.apiInvoke)
	mux.HandleFunc("GET "+p+"channels/{name}/state/{key...}", m.channelView(viewGet))
	mux.HandleFunc("GET "+p+"channels/{name}/history/{key...}", m.channelView(viewHistory))
	mux.HandleFunc("POST "+p+"channels/{name}/sql", m.apiSQL)
	mux.HandleFunc("POST "+p+"channels/{name}/find", m.apiFind)
	mux.HandleFunc("GET "+p+"channels/{name}/indexes", m.channelView(viewIndexes))
	mux.HandleFunc("POST "+p+"channels/{name}/indexes", m.apiAddIndex)
	mux.HandleFunc("GET "+p+"channels/{name}/blocks/{n}", m.channelView(viewBlock))
	mux.HandleFunc("GET "+p+"channels/{name}/digest", m.channelView(viewDigest))
	mux.HandleFunc("GET "+p+"channels/{name}/verify", m.channelView(viewVerify))
	mux.HandleFunc("GET "+p+"channels/{name}/tx/{txid}", m.channelView(viewTx))
	mux.HandleFunc("GET "+p+"channels/{name}/proof/{txid}", m.channelView(viewProof))
	mux.HandleFunc("GET "+p+"channels/{name}/events", m.apiEvents)
	mux.HandleFunc("POST "+p+"verify-proof", apiVerifyProof)
	mux.HandleFunc(p, func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Errorf("no ledger API at %s %s (see docs/ledger.md)", r.Method, r.URL.Path))
	})
	return mux
}

// apiError is the body of every error answer.
type apiError struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, err error) {
	writeJSON(w, status, apiError{Error: err.Error()})
}

// statusOf maps an error to an HTTP status; fallback is for errors of no
// known kind (400 where the input is the likely cause, such as SQL).
func statusOf(err error, fallback int) int {
	switch {
	case errors.Is(err, ErrNoChannel), errors.Is(err, ledger.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, ledger.ErrNotAllowed), errors.Is(err, ErrDenied):
		return http.StatusForbidden
	case errors.Is(err, ledger.ErrExists):
		return http.StatusConflict
	case errors.Is(err, ErrOffline), errors.Is(err, ErrUnreachable):
		return http.StatusServiceUnavailable
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout
	case errors.Is(err, config.ErrInvalid), errors.Is(err, selector.ErrSyntax), errors.Is(err, statedb.ErrRejected),
		errors.Is(err, statedb.ErrBadIndex), errors.Is(err, statedb.ErrUnknownChaincode), errors.Is(err, statedb.ErrTooManyResults),
		errors.Is(err, tx.ErrMalformed), errors.Is(err, chaincode.ErrChaincode), errors.Is(err, block.ErrBadProof),
		errors.Is(err, errBadInput):
		return http.StatusBadRequest
	}
	return fallback
}

var errBadInput = errors.New("bad request")

func fail(w http.ResponseWriter, err error, fallback int) {
	writeError(w, statusOf(err, fallback), err)
}

// readJSON decodes a request body into v, refusing unknown fields.
func readJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: the request body is not the JSON expected: %w", errBadInput, err)
	}
	return nil
}

func readBody(r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxBody {
		return nil, fmt.Errorf("%w: the request body is over %d bytes", errBadInput, maxBody)
	}
	return b, nil
}

func chaincodeOf(r *http.Request) string {
	if cc := r.URL.Query().Get("chaincode"); cc != "" {
		return cc
	}
	return config.DocsChaincode
}

func (m *Manager) channelOf(w http.ResponseWriter, r *http.Request) *ledger.Channel {
	ch, err := m.Channel(r.Context(), r.PathValue("name"))
	if err != nil {
		fail(w, err, http.StatusInternalServerError)
		return nil
	}
	return ch
}

// channelView answers a read of the channel named in the path as JSON.
func (m *Manager) channelView(view func(r *http.Request, ch *ledger.Channel) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ch := m.channelOf(w, r)
		if ch == nil {
			return
		}
		v, err := view(r, ch)
		if err != nil {
			fail(w, err, http.StatusInternalServerError)
			return
		}
		writeJSON(w, http.StatusOK, v)
	}
}

func (m *Manager) apiList(w http.ResponseWriter, r *http.Request) {
	l, err := m.List(r.Context())
	if err != nil {
		fail(w, err, http.StatusInternalServerError)
		return
	}
	writeJSON(w, http.StatusOK, l)
}

// CreateRequest is the body of POST channels.
type CreateRequest struct {
	Name   string          `json:"name"`
	Config json.RawMessage `json:"config,omitempty"` // a channel.json; none: a one-organisation channel
}

func (m *Manager) apiCreate(w http.ResponseWriter, r *http.Request) {
	var req CreateRequest
	if err := readJSON(r, &req); err != nil {
		fail(w, err, http.StatusBadRequest)
		return
	}
	var cfg *config.Config
	if len(req.Config) > 0 {
		var err error
		if cfg, err = config.ParseJSON(req.Config, req.Name); err != nil {
			fail(w, err, http.StatusBadRequest)
			return
		}
	}
	info, err := m.Create(r.Context(), req.Name, cfg)
	if err != nil {
		fail(w, err, http.StatusInternalServerError)
		return
	}
	writeJSON(w, http.StatusCreated, info)
}

func (m *Manager) apiInfo(w http.ResponseWriter, r *http.Request) {
	info, err := m.Info(r.Context(), r.PathValue("name"))
	if err != nil {
		fail(w, err, http.StatusInternalServerError)
		return
	}
	writeJSON(w, http.StatusOK, info)
}

// JoinRequest is the body of POST channels/{name}/join.
type JoinRequest struct {
	Orderer string `json:"orderer"` // a multiaddr ending in /p2p/<peer ID>
}

func (m *Manager) apiJoin(w http.ResponseWriter, r *http.Request) {
	var req JoinRequest
	if err := readJSON(r, &req); err != nil {
		fail(w, err, http.StatusBadRequest)
		return
	}
	ai, err := ParsePeerAddr(req.Orderer)
	if err != nil {
		fail(w, err, http.StatusBadRequest)
		return
	}
	info, err := m.Join(r.Context(), r.PathValue("name"), ai)
	if err != nil {
		fail(w, err, http.StatusBadGateway)
		return
	}
	writeJSON(w, http.StatusOK, info)
}

// ParsePeerAddr parses a multiaddr ending in /p2p/<peer ID>.
func ParsePeerAddr(s string) (peer.AddrInfo, error) {
	ai, err := peer.AddrInfoFromString(s)
	if err != nil {
		return peer.AddrInfo{}, fmt.Errorf("%w: %q is not a peer address such as /ip4/1.2.3.4/tcp/4001/p2p/12D3KooW...: %w", errBadInput, s, err)
	}
	return *ai, nil
}

func (m *Manager) apiInvoke(w http.ResponseWriter, r *http.Request) {
	var req InvokeRequest
	if err := readJSON(r, &req); err != nil {
		fail(w, err, http.StatusBadRequest)
		return
	}
	res, err := m.Invoke(r.Context(), r.PathValue("name"), req)
	if err != nil {
		fail(w, err, http.StatusBadGateway)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// GetResponse is the answer to GET channels/{name}/state/{key}.
type GetResponse struct {
	Key     string          `json:"key"`
	Value   json.RawMessage `json:"value"`
	Version tx.Version      `json:"version"`
}

func viewGet(r *http.Request, ch *ledger.Channel) (any, error) {
	key := r.PathValue("key")
	v, ver, err := ch.Get(r.Context(), chaincodeOf(r), key)
	return GetResponse{Key: key, Value: statedb.ValueJSON(v), Version: ver}, err
}

func viewHistory(r *http.Request, ch *ledger.Channel) (any, error) {
	h, err := ch.History(r.Context(), chaincodeOf(r), r.PathValue("key"))
	if h == nil {
		h = []statedb.HistoryEntry{}
	}
	return h, err
}

// SQLRequest is the body of POST channels/{name}/sql.
type SQLRequest struct {
	Query     string `json:"query"`
	Chaincode string `json:"chaincode,omitempty"`
}

func (m *Manager) apiSQL(w http.ResponseWriter, r *http.Request) {
	var req SQLRequest
	if err := readJSON(r, &req); err != nil {
		fail(w, err, http.StatusBadRequest)
		return
	}
	ch := m.channelOf(w, r)
	if ch == nil {
		return
	}
	if req.Chaincode == "" {
		req.Chaincode = config.DocsChaincode
	}
	res, err := ch.SQL(r.Context(), req.Chaincode, req.Query)
	if err != nil {
		fail(w, err, http.StatusBadRequest)
		return
	}
	writeJSON(w, http.StatusOK, ViewSQL(res))
}

// FindResponse is the answer to POST channels/{name}/find.
type FindResponse struct {
	Docs     []DocView `json:"docs"`
	Bookmark string    `json:"bookmark,omitempty"`
}

func (m *Manager) apiFind(w http.ResponseWriter, r *http.Request) {
	q, err := readBody(r)
	if err != nil {
		fail(w, err, http.StatusBadRequest)
		return
	}
	ch := m.channelOf(w, r)
	if ch == nil {
		return
	}
	res, err := ch.Find(r.Context(), chaincodeOf(r), string(q))
	if err != nil {
		fail(w, err, http.StatusBadRequest)
		return
	}
	writeJSON(w, http.StatusOK, FindResponse{Docs: ViewDocs(res.Docs), Bookmark: res.Bookmark})
}

func viewIndexes(r *http.Request, ch *ledger.Channel) (any, error) {
	ixs, err := ch.Indexes(r.Context())
	if ixs == nil {
		ixs = []statedb.Index{}
	}
	return ixs, err
}

func (m *Manager) apiAddIndex(w http.ResponseWriter, r *http.Request) {
	b, err := readBody(r)
	if err != nil {
		fail(w, err, http.StatusBadRequest)
		return
	}
	ch := m.channelOf(w, r)
	if ch == nil {
		return
	}
	ix, err := ch.AddIndex(r.Context(), chaincodeOf(r), b)
	if err != nil {
		fail(w, err, http.StatusBadRequest)
		return
	}
	writeJSON(w, http.StatusCreated, ix)
}

// BlockAt reads block n ("head" for the last) of a channel.
func BlockAt(ctx context.Context, ch *ledger.Channel, n string) (*ledger.StoredBlock, error) {
	if n == "head" {
		return ch.Head(ctx)
	}
	num, err := strconv.ParseUint(n, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("%w: block %q: give a number or \"head\"", errBadInput, n)
	}
	return ch.Block(ctx, num)
}

func viewBlock(r *http.Request, ch *ledger.Channel) (any, error) {
	sb, err := BlockAt(r.Context(), ch, r.PathValue("n"))
	if err != nil {
		return nil, err
	}
	return ViewBlock(r.Context(), ch, sb), nil
}

// Digest is a channel's height and head CID.
type Digest struct {
	Channel string `json:"channel"`
	Height  uint64 `json:"height"`
	Head    string `json:"head"`
}

func viewDigest(r *http.Request, ch *ledger.Channel) (any, error) {
	h, head, err := ch.Digest(r.Context())
	return Digest{Channel: ch.Name(), Height: h, Head: head.String()}, err
}

func viewVerify(r *http.Request, ch *ledger.Channel) (any, error) {
	return ch.Verify(r.Context())
}

func viewTx(r *http.Request, ch *ledger.Channel) (any, error) {
	return ch.Tx(r.Context(), r.PathValue("txid"))
}

func viewProof(r *http.Request, ch *ledger.Channel) (any, error) {
	return ch.Proof(r.Context(), r.PathValue("txid"))
}

// VerifyProofRequest is the body of POST verify-proof.
type VerifyProofRequest struct {
	Proof  *block.Proof `json:"proof"`
	Digest string       `json:"digest"`
}

// ProofResult is what a proof that holds establishes.
type ProofResult struct {
	OK      bool   `json:"ok"`
	Channel string `json:"channel"`
	TxID    string `json:"txid"`
	Block   uint64 `json:"block"`
	Index   int    `json:"index"`
	Head    string `json:"head"`
	Height  uint64 `json:"height"`
}

// VerifyProof checks a proof against a digest (a head CID the verifier
// trusts), offline.
func VerifyProof(p *block.Proof, digest string) (*ProofResult, error) {
	d, err := cid.Decode(digest)
	if err != nil {
		return nil, fmt.Errorf("%w: digest %q is not a CID: %w", block.ErrBadProof, digest, err)
	}
	if p == nil {
		return nil, fmt.Errorf("%w: no proof", block.ErrBadProof)
	}
	v, err := block.VerifyProof(p, d)
	if err != nil {
		return nil, err
	}
	return &ProofResult{OK: true, Channel: v.Channel, TxID: v.TxID, Block: v.Block, Index: v.Index, Head: v.Head.String(), Height: v.Height}, nil
}

func apiVerifyProof(w http.ResponseWriter, r *http.Request) {
	var req VerifyProofRequest
	if err := readJSON(r, &req); err != nil {
		fail(w, err, http.StatusBadRequest)
		return
	}
	res, err := VerifyProof(req.Proof, req.Digest)
	if err != nil {
		fail(w, err, http.StatusBadRequest)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// apiEvents streams commit events as JSON lines until the client leaves.
func (m *Manager) apiEvents(w http.ResponseWriter, r *http.Request) {
	ch := m.channelOf(w, r)
	if ch == nil {
		return
	}
	events, cancel := ch.Subscribe(1024)
	defer cancel()
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	_ = rc.Flush()
	enc := json.NewEncoder(w)
	keepalive := time.NewTicker(30 * time.Second)
	defer keepalive.Stop()
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				enc.Encode(apiError{Error: "the event stream fell behind or the channel closed: reconnect"})
				return
			}
			if err := enc.Encode(ViewEvent(ev)); err != nil {
				return
			}
		case <-keepalive.C:
			if _, err := w.Write([]byte("\n")); err != nil {
				return
			}
		case <-r.Context().Done():
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
}
