package ledger

import (
	"context"
	"fmt"

	"github.com/ipfs/go-cid"

	"node/blockstore"
	"node/ledger/block"
	"node/ledger/codec"
	"node/ledger/config"
	"node/ledger/identity"
	"node/ledger/tx"
	"node/ledger/validate"
)

// incoming is a block to commit, with its stage-1 results once known.
type incoming struct {
	cid     cid.Cid
	header  []byte
	body    []byte
	block   *block.Block
	txs     [][]byte
	checked []validate.Checked
}

// Commit validates and applies one block: it must be the next block of
// this member's chain (number = height, prev = head), signed by an orderer
// of the channel, with a body that matches its header. Each transaction
// gets a validation code; the valid ones' writes are applied, all in one
// state-database transaction with the new height. The header and body are
// put in the store first.
func (c *Channel) Commit(ctx context.Context, header, body []byte) (*BlockEvent, error) {
	in, err := c.prepare(header, body)
	if err != nil {
		return nil, err
	}
	c.commitMu.Lock()
	defer c.commitMu.Unlock()
	in.checked = validate.CheckAll(c.ix, c.Name(), in.txs)
	return c.apply(ctx, in)
}

// CommitBuilt commits a block this member's orderer has just built
// (block.Build), so its bytes, hashes and signature are this node's own
// work: they are not decoded, re-hashed or verified again. The block must
// still be signed by an orderer of the channel and be the next block, and
// every transaction is validated in full, as Commit does.
func (c *Channel) CommitBuilt(ctx context.Context, b *block.Built) (*BlockEvent, error) {
	if b.Block.Channel != c.Name() || b.Block.Number == 0 || len(b.Txs) != b.Block.TxCount {
		return nil, fmt.Errorf("%w: not a block built for channel %s", ErrBadBlock, c.Name())
	}
	signer, err := identity.PeerIDOf(b.Block.Signer)
	if err != nil || !c.ix.Has(signer, config.RoleOrderer) {
		return nil, fmt.Errorf("%w: block %d signed by %s, not an orderer of the channel", ErrBadBlock, b.Block.Number, signer)
	}
	in := &incoming{cid: b.CID, header: b.Bytes, body: b.Body, block: b.Block, txs: b.Txs}
	in.checked = validate.CheckAll(c.ix, c.Name(), in.txs)
	c.commitMu.Lock()
	defer c.commitMu.Unlock()
	return c.apply(ctx, in)
}

// prepare decodes a block and checks it against itself and the config (not
// yet against the chain).
func (c *Channel) prepare(header, body []byte) (*incoming, error) {
	b, err := block.Decode(header)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadBlock, err)
	}
	in := &incoming{cid: codec.CIDOf(header), header: header, body: body, block: b}
	if b.Channel != c.Name() {
		return nil, fmt.Errorf("%w: block of channel %q", ErrBadBlock, b.Channel)
	}
	if b.Number == 0 {
		return nil, fmt.Errorf("%w: a second genesis block", ErrBadBlock)
	}
	signer, err := identity.PeerIDOf(b.Signer)
	if err != nil || !c.ix.Has(signer, config.RoleOrderer) {
		return nil, fmt.Errorf("%w: block %d signed by %s, not an orderer of the channel", ErrBadBlock, b.Number, signer)
	}
	if err := b.VerifySignature(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadBlock, err)
	}
	var bd *block.Body
	if b.TxCount > 0 {
		if bd, err = block.DecodeBody(body); err != nil {
			return nil, fmt.Errorf("%w: block %d: %w", ErrBadBlock, b.Number, err)
		}
	}
	if _, err := b.Check(body, bd); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadBlock, err)
	}
	if bd != nil {
		in.txs = make([][]byte, len(bd.Txs))
		for i, t := range bd.Txs {
			in.txs[i] = t
		}
	}
	return in, nil
}

// apply runs stage 2 and commits. The caller holds commitMu.
func (c *Channel) apply(ctx context.Context, in *incoming) (*BlockEvent, error) {
	b := in.block
	height, head, err := c.db.Height(ctx)
	if err != nil {
		return nil, err
	}
	if b.Number != height {
		return nil, fmt.Errorf("%w: block %d arrived at height %d", ErrBadBlock, b.Number, height)
	}
	if !b.Prev.Equals(head) {
		return nil, fmt.Errorf("%w: block %d does not link block %d (%s)", ErrFork, b.Number, height-1, head)
	}
	if in.body != nil {
		if err := c.opts.Store.Put(ctx, blockstore.Block{CID: b.Body.Cid, Data: in.body}); err != nil {
			return nil, fmt.Errorf("storing block %d's body: %w", b.Number, err)
		}
	}
	if err := c.opts.Store.Put(ctx, blockstore.Block{CID: in.cid, Data: in.header}); err != nil {
		return nil, fmt.Errorf("storing block %d: %w", b.Number, err)
	}
	batch, err := c.db.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer batch.Rollback()
	ev := &BlockEvent{Channel: c.Name(), Number: b.Number, CID: in.cid, Txs: make([]TxResult, len(in.checked))}
	inBlock := make(map[string]bool, len(in.checked))
	for i := range in.checked {
		ch := &in.checked[i]
		code, reason := ch.Code, ch.Reason
		if code == validate.Valid {
			code, reason, err = validate.Decide(batch, ch, inBlock)
			if err != nil {
				return nil, fmt.Errorf("validating block %d transaction %d: %w", b.Number, i, err)
			}
		}
		ver := tx.Version{Block: b.Number, Tx: uint32(i)}
		if code == validate.Valid {
			rw := &ch.Parsed.Payload.RWSet
			if err := batch.Apply(rw.Chaincode, rw.Writes, ver, ch.TxID); err != nil {
				return nil, fmt.Errorf("applying block %d transaction %d: %w", b.Number, i, err)
			}
		}
		if ch.TxID != "" {
			if err := batch.RecordTx(ch.TxID, ver, int(code)); err != nil {
				return nil, err
			}
			inBlock[ch.TxID] = true
		}
		ev.Txs[i] = TxResult{TxID: ch.TxID, Block: b.Number, Index: i, Code: code, Reason: reason}
	}
	if err := batch.RecordBlock(b.Number, in.cid, b.Body.Cid, b.Time, b.TxCount); err != nil {
		return nil, err
	}
	if err := batch.Commit(); err != nil {
		return nil, err
	}
	c.publish(*ev)
	return ev, nil
}

// CatchUp brings this member up to head: it walks back from head through
// the previous-block links to its own height, fetching headers it does not
// have through getter, then fetches the bodies and commits forward. A head
// this member already has (its own or an older block of its chain) is a
// no-op; a head whose chain does not contain this member's is ErrFork.
// Validation of one block overlaps the signature checks of the next.
func (c *Channel) CatchUp(ctx context.Context, head cid.Cid, getter BlockGetter) error {
	c.commitMu.Lock()
	defer c.commitMu.Unlock()
	height, local, err := c.db.Height(ctx)
	if err != nil {
		return err
	}
	var chain []*incoming // head first
	for cur := head; !cur.Equals(local); {
		hb, err := fetch(ctx, c.opts.Store, getter, cur)
		if err != nil {
			return fmt.Errorf("fetching block %s: %w", cur, err)
		}
		b, err := block.Decode(hb)
		if err != nil {
			return fmt.Errorf("%w: %s: %w", ErrBadBlock, cur, err)
		}
		if b.Number < height {
			mine, err := c.db.BlockCID(ctx, b.Number)
			if err != nil {
				return err
			}
			if len(chain) == 0 && mine.Equals(cur) {
				return nil // an older head of this chain: nothing to do
			}
			return fmt.Errorf("%w: block %d (%s) is not block %d of this chain", ErrFork, b.Number, cur, b.Number)
		}
		chain = append(chain, &incoming{cid: cur, header: hb, block: b})
		if b.Number == height {
			if !b.Prev.Equals(local) {
				return fmt.Errorf("%w: block %d links %s, not %s", ErrFork, b.Number, b.Prev, local)
			}
			break
		}
		cur = b.Prev.Cid
	}
	if len(chain) == 0 {
		return nil
	}
	// Stage 1 (fetch body, decode, check signatures) runs ahead of stage 2.
	type ready struct {
		in  *incoming
		err error
	}
	pipe := make(chan ready, 2)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		defer close(pipe)
		for i := len(chain) - 1; i >= 0; i-- {
			in := chain[i]
			var body []byte
			var err error
			if in.block.TxCount > 0 {
				body, err = fetch(ctx, c.opts.Store, getter, in.block.Body.Cid)
			}
			var p *incoming
			if err == nil {
				p, err = c.prepare(in.header, body)
			}
			if err == nil {
				p.checked = validate.CheckAll(c.ix, c.Name(), p.txs)
			}
			select {
			case pipe <- ready{p, err}:
			case <-stop:
				return
			}
			if err != nil {
				return
			}
		}
	}()
	for r := range pipe {
		if r.err != nil {
			return r.err
		}
		if _, err := c.apply(ctx, r.in); err != nil {
			return err
		}
	}
	return ctx.Err()
}
