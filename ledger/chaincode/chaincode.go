// Package chaincode is the contract interface of the ledger and the
// simulator that runs a contract against a state snapshot, recording what
// it read and wrote.
//
// A chaincode is Go code (built in for now; the interface is what user
// contracts will implement later, whatever runs them):
//
//	type Chaincode interface {
//		Invoke(stub Stub, fn string, args []string) ([]byte, error)
//	}
//
// The Stub gives it the state as of the snapshot: GetState (a read, with
// its version recorded), PutState and DelState (buffered writes), and the
// rich queries GetQueryResult (SQL over <STATE>), Find (a CouchDB
// selector) and GetStateByRange, whose results are hashed into the read
// set so validation can catch phantoms. As in Fabric, a transaction does
// not read its own writes: GetState returns the committed value.
//
// Simulate runs one proposal and returns the read/write set; the endorser
// signs it (package tx). The built-in "docs" chaincode is in chaincode/docs.
package chaincode

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"node/ledger/selector"
	"node/ledger/statedb"
	"node/ledger/tx"
)

// ErrChaincode wraps an error a chaincode returned: the proposal is
// refused and nothing is endorsed.
var ErrChaincode = errors.New("chaincode error")

// KV is a key and its value.
type KV struct {
	Key   string
	Value []byte
}

// Stub is a chaincode's view of the ledger during one simulation.
type Stub interface {
	TxID() string
	Channel() string
	// Creator is the proposal creator's marshalled public key.
	Creator() []byte
	// Timestamp is the proposal's time (the same for every endorser).
	Timestamp() time.Time
	GetState(key string) ([]byte, error)
	PutState(key string, value []byte) error
	DelState(key string) error
	GetStateByRange(start, end string) ([]KV, error)
	GetQueryResult(sql string) (*statedb.SQLResult, error)
	Find(query string) ([]KV, error)
}

// Chaincode is a smart contract.
type Chaincode interface {
	Invoke(stub Stub, fn string, args []string) ([]byte, error)
}

// Reader is the state a simulation reads: a statedb.Snapshot.
type Reader interface {
	Get(cc, key string) ([]byte, *tx.Version, error)
	SQL(cc, query string) (*statedb.SQLResult, error)
	Find(cc string, q *selector.Query) ([]statedb.Doc, error)
	Range(cc, start, end string) ([]statedb.Doc, error)
}

// Simulate runs p's function of cc against r and returns the chaincode's
// result and the read/write set.
func Simulate(r Reader, cc Chaincode, p *tx.Proposal) ([]byte, *tx.RWSet, error) {
	s := &sim{r: r, p: p, txid: p.TxID(), reads: map[string]*tx.Version{}, writes: map[string]tx.Write{}}
	res, err := invoke(cc, s, p.Function, p.Args)
	if err != nil {
		return nil, nil, err
	}
	if s.err != nil {
		return nil, nil, s.err
	}
	return res, s.rwset(), nil
}

func invoke(cc Chaincode, s Stub, fn string, args []string) (res []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %s panicked: %v", ErrChaincode, fn, r)
		}
	}()
	res, err = cc.Invoke(s, fn, args)
	if err != nil && !errors.Is(err, ErrChaincode) {
		err = fmt.Errorf("%w: %w", ErrChaincode, err)
	}
	return res, err
}

// sim is the Stub of one simulation. A sim is used by one goroutine.
type sim struct {
	r       Reader
	p       *tx.Proposal
	txid    string
	reads   map[string]*tx.Version
	queries []tx.QueryRead
	writes  map[string]tx.Write
	err     error // a state error that must fail the simulation
}

func (s *sim) TxID() string         { return s.txid }
func (s *sim) Channel() string      { return s.p.Channel }
func (s *sim) Creator() []byte      { return s.p.Creator }
func (s *sim) Timestamp() time.Time { return time.Unix(0, s.p.Time).UTC() }

func (s *sim) fail(err error) error {
	if s.err == nil {
		s.err = err
	}
	return err
}

func checkKey(key string) error {
	if key == "" || len(key) > tx.MaxKeyBytes || strings.ContainsRune(key, 0) {
		return fmt.Errorf("%w: key must be 1 to %d bytes without NUL", ErrChaincode, tx.MaxKeyBytes)
	}
	return nil
}

func (s *sim) GetState(key string) ([]byte, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	v, ver, err := s.r.Get(s.p.Chaincode, key)
	if err != nil {
		return nil, s.fail(err)
	}
	if _, seen := s.reads[key]; !seen {
		s.reads[key] = ver
	}
	return v, nil
}

func (s *sim) PutState(key string, value []byte) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if value == nil {
		value = []byte{}
	}
	s.writes[key] = tx.Write{Key: key, Value: value}
	return nil
}

func (s *sim) DelState(key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	s.writes[key] = tx.Write{Key: key, Delete: true}
	return nil
}

func docsToKVs(docs []statedb.Doc) []KV {
	out := make([]KV, len(docs))
	for i, d := range docs {
		out[i] = KV{Key: d.Key, Value: d.Value}
	}
	return out
}

func (s *sim) GetStateByRange(start, end string) ([]KV, error) {
	docs, err := s.r.Range(s.p.Chaincode, start, end)
	if err != nil {
		return nil, err
	}
	s.queries = append(s.queries, tx.QueryRead{Kind: tx.QueryRange, Query: rangeQuery(start, end),
		ResultsHash: statedb.HashDocs(docs), Count: len(docs)})
	return docsToKVs(docs), nil
}

// rangeQuery encodes a range as the query text of a QueryRead.
func rangeQuery(start, end string) string { return start + "\x00" + end }

// ParseRange decodes a range query text.
func ParseRange(q string) (start, end string, err error) {
	start, end, ok := strings.Cut(q, "\x00")
	if !ok {
		return "", "", errors.New("malformed range query")
	}
	return start, end, nil
}

func (s *sim) GetQueryResult(query string) (*statedb.SQLResult, error) {
	res, err := s.r.SQL(s.p.Chaincode, query)
	if err != nil {
		return nil, err
	}
	s.queries = append(s.queries, tx.QueryRead{Kind: tx.QuerySQL, Query: query,
		ResultsHash: statedb.HashSQL(res), Count: len(res.Rows)})
	return res, nil
}

func (s *sim) Find(query string) ([]KV, error) {
	q, err := selector.Parse([]byte(query))
	if err != nil {
		return nil, err
	}
	docs, err := s.r.Find(s.p.Chaincode, q)
	if err != nil {
		return nil, err
	}
	s.queries = append(s.queries, tx.QueryRead{Kind: tx.QuerySelector, Query: query,
		ResultsHash: statedb.HashDocs(docs), Count: len(docs)})
	return docsToKVs(docs), nil
}

func (s *sim) rwset() *tx.RWSet {
	rw := &tx.RWSet{Chaincode: s.p.Chaincode, Reads: []tx.Read{}, Queries: s.queries, Writes: []tx.Write{}}
	if rw.Queries == nil {
		rw.Queries = []tx.QueryRead{}
	}
	for k, v := range s.reads {
		rw.Reads = append(rw.Reads, tx.Read{Key: k, Version: v})
	}
	slices.SortFunc(rw.Reads, func(a, b tx.Read) int { return strings.Compare(a.Key, b.Key) })
	for _, w := range s.writes {
		rw.Writes = append(rw.Writes, w)
	}
	slices.SortFunc(rw.Writes, func(a, b tx.Write) int { return strings.Compare(a.Key, b.Key) })
	return rw
}

// Querier re-runs read-set queries: a statedb.Batch at validation.
type Querier interface {
	SQL(cc, query string) (*statedb.SQLResult, error)
	Find(cc string, q *selector.Query) ([]statedb.Doc, error)
	Range(cc, start, end string) ([]statedb.Doc, error)
}

// ErrBadQuery is returned by Rerun for a query text that is not valid.
var ErrBadQuery = errors.New("read set holds an invalid query")

// Rerun runs a read-set query again and returns its results hash. A query
// that now gives more than statedb.MaxResults rows has no hash (nil): it
// cannot match, the same on every member.
func Rerun(q Querier, cc string, qr tx.QueryRead) ([]byte, error) {
	h, err := rerun(q, cc, qr)
	if errors.Is(err, statedb.ErrTooManyResults) {
		return nil, nil
	}
	return h, err
}

func rerun(q Querier, cc string, qr tx.QueryRead) ([]byte, error) {
	switch qr.Kind {
	case tx.QuerySQL:
		res, err := q.SQL(cc, qr.Query)
		if errors.Is(err, statedb.ErrRejected) {
			return nil, fmt.Errorf("%w: %w", ErrBadQuery, err)
		}
		if err != nil {
			return nil, err
		}
		return statedb.HashSQL(res), nil
	case tx.QuerySelector:
		sq, err := selector.Parse([]byte(qr.Query))
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrBadQuery, err)
		}
		docs, err := q.Find(cc, sq)
		if err != nil {
			return nil, err
		}
		return statedb.HashDocs(docs), nil
	case tx.QueryRange:
		start, end, err := ParseRange(qr.Query)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrBadQuery, err)
		}
		docs, err := q.Range(cc, start, end)
		if err != nil {
			return nil, err
		}
		return statedb.HashDocs(docs), nil
	}
	return nil, fmt.Errorf("%w: kind %q", ErrBadQuery, qr.Kind)
}
