package ledger

import (
	"context"

	"fmt"

	"github.com/ipfs/go-cid"

	"node/ledger/block"
	"node/ledger/codec"
	"node/ledger/config"
	"node/ledger/identity"
	"node/ledger/selector"
	"node/ledger/statedb"
	"node/ledger/tx"
)

// Get returns a key's value and version; a missing key gives ErrNotFound.
func (c *Channel) Get(ctx context.Context, cc, key string) ([]byte, tx.Version, error) {
	s, err := c.db.Snapshot(ctx)
	if err != nil {
		return nil, tx.Version{}, err
	}
	defer s.Close()
	v, ver, err := s.Get(cc, key)
	if err != nil {
		return nil, tx.Version{}, err
	}
	if ver == nil {
		return nil, tx.Version{}, fmt.Errorf("key %q of chaincode %s: %w", key, cc, ErrNotFound)
	}
	return v, *ver, nil
}

// History lists a key's writes, oldest first.
func (c *Channel) History(ctx context.Context, cc, key string) ([]statedb.HistoryEntry, error) {
	return c.db.History(ctx, cc, key)
}

// SQL runs a rich SQL query: one SELECT over <STATE>.
func (c *Channel) SQL(ctx context.Context, cc, query string) (*statedb.SQLResult, error) {
	s, err := c.db.Snapshot(ctx)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	return s.SQL(cc, query)
}

// FindResult is a page of a selector query.
type FindResult struct {
	Docs     []statedb.Doc
	Bookmark string // "" on the last page
}

// Find runs a CouchDB selector query; documents are projected to the
// query's fields.
func (c *Channel) Find(ctx context.Context, cc, query string) (*FindResult, error) {
	q, err := selector.Parse([]byte(query))
	if err != nil {
		return nil, err
	}
	s, err := c.db.Snapshot(ctx)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	docs, err := s.Find(cc, q)
	if err != nil {
		return nil, err
	}
	for i := range docs {
		if docs[i].Value, err = q.Project(docs[i].Value); err != nil {
			return nil, err
		}
	}
	return &FindResult{Docs: docs, Bookmark: q.Bookmark(len(docs))}, nil
}

// Range returns the keys in [start, end) in order (end "" for no bound).
func (c *Channel) Range(ctx context.Context, cc, start, end string) ([]statedb.Doc, error) {
	s, err := c.db.Snapshot(ctx)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	return s.Range(cc, start, end)
}

// AddIndex creates a custom index from an index file's content.
func (c *Channel) AddIndex(ctx context.Context, cc string, file []byte) (*statedb.Index, error) {
	def, err := statedb.ParseIndex(file)
	if err != nil {
		return nil, err
	}
	return c.db.AddIndex(ctx, cc, def)
}

// Indexes lists the custom indexes.
func (c *Channel) Indexes(ctx context.Context) ([]statedb.Index, error) { return c.db.Indexes(ctx) }

// StateHash is a digest of the state at the current height, equal on
// members that committed the same blocks.
func (c *Channel) StateHash(ctx context.Context) ([]byte, uint64, error) { return c.db.StateHash(ctx) }

// StoredBlock is a block as stored: the header's bytes and CID, decoded,
// and the body's transactions.
type StoredBlock struct {
	CID    cid.Cid
	Header []byte
	Block  *block.Block
	Txs    [][]byte
}

// Block returns committed block n.
func (c *Channel) Block(ctx context.Context, n uint64) (*StoredBlock, error) {
	id, err := c.db.BlockCID(ctx, n)
	if err != nil {
		return nil, err
	}
	return c.BlockByCID(ctx, id)
}

// Head returns the last committed block.
func (c *Channel) Head(ctx context.Context) (*StoredBlock, error) {
	_, head, err := c.db.Height(ctx)
	if err != nil {
		return nil, err
	}
	return c.BlockByCID(ctx, head)
}

// BlockByCID reads a block of this channel from the store and checks it
// (hashes, body against header).
func (c *Channel) BlockByCID(ctx context.Context, id cid.Cid) (*StoredBlock, error) {
	hb, err := fetch(ctx, c.opts.Store, nil, id)
	if err != nil {
		return nil, err
	}
	b, err := block.Decode(hb)
	if err != nil {
		return nil, err
	}
	sb := &StoredBlock{CID: id, Header: hb, Block: b}
	if b.TxCount > 0 {
		body, err := fetch(ctx, c.opts.Store, nil, b.Body.Cid)
		if err != nil {
			return nil, fmt.Errorf("block %d's body: %w", b.Number, err)
		}
		bd, err := block.DecodeBody(body)
		if err != nil {
			return nil, err
		}
		if _, err := b.Check(body, bd); err != nil {
			return nil, err
		}
		for _, t := range bd.Txs {
			sb.Txs = append(sb.Txs, t)
		}
	}
	return sb, nil
}

// Owns reports whether CID id is one of this channel's committed blocks
// (a header or a body), for deciding who may fetch it. Blocks an orderer
// has cut but this member has not committed yet are not included: the
// daemon should add the CIDs its orderer's OnBlock reports.
func (c *Channel) Owns(ctx context.Context, id cid.Cid) (bool, error) {
	return c.db.HasBlock(ctx, id)
}

// Proof builds the proof that transaction txid is in the ledger whose
// head is the current head.
func (c *Channel) Proof(ctx context.Context, txid string) (*block.Proof, error) {
	st, err := c.db.Tx(ctx, txid)
	if err != nil {
		return nil, err
	}
	height, _, err := c.db.Height(ctx)
	if err != nil {
		return nil, err
	}
	sb, err := c.Block(ctx, st.Block)
	if err != nil {
		return nil, err
	}
	headers := [][]byte{sb.Header}
	for n := st.Block + 1; n < height; n++ {
		id, err := c.db.BlockCID(ctx, n)
		if err != nil {
			return nil, err
		}
		hb, err := fetch(ctx, c.opts.Store, nil, id)
		if err != nil {
			return nil, fmt.Errorf("block %d: %w", n, err)
		}
		headers = append(headers, hb)
	}
	return block.NewProof(c.Name(), st.Block, sb.Txs, int(st.TxNum), headers)
}

// VerifyReport is the result of Verify.
type VerifyReport struct {
	Height   uint64  `json:"height"`
	Head     cid.Cid `json:"head"`
	OK       bool    `json:"ok"`
	FirstBad *uint64 `json:"firstBad,omitempty"`
	Problem  string  `json:"problem,omitempty"`
}

// Verify re-reads and re-hashes the chain from genesis: every block must
// be in the store, hash to its CID, link the previous block, carry a valid
// signature of an orderer (an admin or orderer for genesis), and have a
// body whose CID and Merkle root match. It names the first bad block.
func (c *Channel) Verify(ctx context.Context) (*VerifyReport, error) {
	height, head, err := c.db.Height(ctx)
	if err != nil {
		return nil, err
	}
	rep := &VerifyReport{Height: height, Head: head, OK: true}
	var prev cid.Cid
	for n := uint64(0); n < height; n++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		id, err := c.db.BlockCID(ctx, n)
		if err == nil && n == 0 && !id.Equals(c.genesis) {
			err = fmt.Errorf("genesis is %s, the channel's genesis is %s", id, c.genesis)
		}
		if err == nil {
			err = c.verifyBlock(ctx, n, id, prev)
		}
		if err != nil {
			bad := n
			rep.OK, rep.FirstBad, rep.Problem = false, &bad, err.Error()
			return rep, nil
		}
		prev = id
	}
	return rep, nil
}

func (c *Channel) verifyBlock(ctx context.Context, n uint64, id, prev cid.Cid) error {
	hb, err := c.opts.Store.Get(ctx, id)
	if err != nil {
		return fmt.Errorf("reading block %d: %w", n, err)
	}
	if err := codec.CheckCID(id, hb); err != nil {
		return fmt.Errorf("block %d: %w", n, err)
	}
	b, err := block.Decode(hb)
	if err != nil {
		return err
	}
	if b.Number != n || b.Channel != c.Name() {
		return fmt.Errorf("block %d is numbered %d of channel %q", n, b.Number, b.Channel)
	}
	if n > 0 && !b.Prev.Equals(prev) {
		return fmt.Errorf("block %d links %s, not block %d (%s)", n, b.Prev, n-1, prev)
	}
	if err := b.VerifySignature(); err != nil {
		return err
	}
	signer, _ := identity.PeerIDOf(b.Signer)
	if !c.ix.Has(signer, config.RoleOrderer) && !(n == 0 && c.ix.Has(signer, config.RoleAdmin)) {
		return fmt.Errorf("block %d signed by %s, who may not sign blocks", n, signer)
	}
	if b.TxCount == 0 {
		return nil
	}
	body, err := c.opts.Store.Get(ctx, b.Body.Cid)
	if err != nil {
		return fmt.Errorf("reading block %d's body: %w", n, err)
	}
	bd, err := block.DecodeBody(body)
	if err != nil {
		return fmt.Errorf("block %d's body: %w", n, err)
	}
	_, err = b.Check(body, bd)
	return err
}
