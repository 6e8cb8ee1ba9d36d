package ledger

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/ipfs/go-cid"

	"node/blockstore"
	"node/ledger/block"
	"node/ledger/chaincode"
	"node/ledger/chaincode/docs"
	"node/ledger/codec"
	"node/ledger/config"
	"node/ledger/identity"
	"node/ledger/statedb"
	"node/ledger/tx"
	"node/ledger/validate"
)

var (
	// ErrExists is returned by Create and Join when the channel's state
	// database already exists: use Open.
	ErrExists = errors.New("channel already exists here")
	// ErrNotChannel is returned by Open when the directory holds no channel.
	ErrNotChannel = errors.New("no channel here")
	// ErrNotAllowed is returned when an identity lacks the role an
	// operation needs.
	ErrNotAllowed = errors.New("not allowed")
	// ErrBadBlock is wrapped when a block cannot be committed: wrong
	// channel, number, previous block, signer or body.
	ErrBadBlock = errors.New("block rejected")
	// ErrFork is returned by CatchUp when the announced head does not
	// descend from this member's chain.
	ErrFork = errors.New("the head does not extend this member's chain")
	// ErrNotFound is returned for a missing key, block or transaction.
	ErrNotFound = statedb.ErrNotFound
)

// BlockGetter fetches blocks this member does not have (the daemon's
// Bitswap-backed store satisfies it).
type BlockGetter interface {
	Get(ctx context.Context, c cid.Cid) ([]byte, error)
}

// Store keeps the channel's blocks: a blockstore.Store.
type Store interface {
	Get(ctx context.Context, c cid.Cid) ([]byte, error)
	Has(ctx context.Context, c cid.Cid) (bool, error)
	Put(ctx context.Context, b blockstore.Block) error
}

// Options configure a Channel.
type Options struct {
	// Dir is the channel's directory: the state database is Dir/state.db.
	Dir      string
	Store    Store
	Identity *identity.Identity
	// Chaincodes are the contracts this member runs; nil means the
	// built-in docs chaincode only.
	Chaincodes map[string]chaincode.Chaincode
	State      statedb.Options
	Logger     *slog.Logger
}

// Channel is one member's copy of one channel.
type Channel struct {
	opts    Options
	log     *slog.Logger
	cfg     *config.Config
	ix      *config.Index
	genesis cid.Cid
	db      *statedb.DB

	// commitMu serialises Commit and CatchUp.
	commitMu sync.Mutex

	// subMu guards subs and nextSub.
	subMu   sync.Mutex
	subs    map[int]chan BlockEvent
	nextSub int
}

const stateFile = "state.db"

func (o *Options) fill() error {
	if o.Dir == "" || o.Store == nil || o.Identity == nil {
		return errors.New("ledger: Dir, Store and Identity are required")
	}
	if o.Chaincodes == nil {
		o.Chaincodes = map[string]chaincode.Chaincode{config.DocsChaincode: docs.New()}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return nil
}

// Create makes a new channel from cfg: it signs the genesis block (the
// identity must be an admin or orderer of cfg), stores and commits it.
func Create(ctx context.Context, opts Options, cfg *config.Config) (*Channel, error) {
	if err := opts.fill(); err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ix, err := config.NewIndex(cfg)
	if err != nil {
		return nil, err
	}
	me := opts.Identity.PeerID()
	if !ix.Has(me, config.RoleAdmin) && !ix.Has(me, config.RoleOrderer) {
		return nil, fmt.Errorf("%w: %s is neither an admin nor an orderer of channel %s, so it cannot sign its genesis block", ErrNotAllowed, me, cfg.Channel)
	}
	g, err := block.Genesis(cfg, time.Now(), opts.Identity)
	if err != nil {
		return nil, err
	}
	return start(ctx, opts, g.Bytes, g.CID)
}

// Join makes this member's copy of an existing channel from its genesis
// block, fetched from the store or through getter.
func Join(ctx context.Context, opts Options, genesis cid.Cid, getter BlockGetter) (*Channel, error) {
	if err := opts.fill(); err != nil {
		return nil, err
	}
	b, err := fetch(ctx, opts.Store, getter, genesis)
	if err != nil {
		return nil, fmt.Errorf("fetching the genesis block: %w", err)
	}
	return start(ctx, opts, b, genesis)
}

// checkGenesis decodes and checks a genesis block.
func checkGenesis(data []byte) (*block.Block, *config.Index, error) {
	g, err := block.Decode(data)
	if err != nil {
		return nil, nil, err
	}
	if g.Number != 0 {
		return nil, nil, fmt.Errorf("%w: block %d is not a genesis block", ErrBadBlock, g.Number)
	}
	if err := g.Config.Validate(); err != nil {
		return nil, nil, err
	}
	ix, err := config.NewIndex(g.Config)
	if err != nil {
		return nil, nil, err
	}
	if err := g.VerifySignature(); err != nil {
		return nil, nil, fmt.Errorf("%w: genesis: %w", ErrBadBlock, err)
	}
	signer, _ := identity.PeerIDOf(g.Signer)
	if !ix.Has(signer, config.RoleAdmin) && !ix.Has(signer, config.RoleOrderer) {
		return nil, nil, fmt.Errorf("%w: genesis signed by %s, neither an admin nor an orderer", ErrBadBlock, signer)
	}
	return g, ix, nil
}

func start(ctx context.Context, opts Options, genesisBytes []byte, genesisCID cid.Cid) (*Channel, error) {
	g, ix, err := checkGenesis(genesisBytes)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(opts.Dir, stateFile)
	if _, err := os.Stat(path); err == nil {
		return nil, fmt.Errorf("%w: %s", ErrExists, path)
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating the channel directory: %w", err)
	}
	if err := opts.Store.Put(ctx, blockstore.Block{CID: genesisCID, Data: genesisBytes}); err != nil {
		return nil, fmt.Errorf("storing the genesis block: %w", err)
	}
	db, err := statedb.Open(path, opts.State)
	if err != nil {
		return nil, err
	}
	c, err := newChannel(ctx, opts, db, g.Config, ix, genesisCID)
	if err != nil {
		db.Close()
		return nil, err
	}
	cfgJSON, _ := json.Marshal(g.Config)
	b, err := db.Begin(ctx)
	if err != nil {
		db.Close()
		return nil, err
	}
	defer b.Rollback()
	for _, step := range []func() error{
		func() error { return b.SetMeta("config", string(cfgJSON)) },
		func() error { return b.SetMeta("genesis", genesisCID.String()) },
		func() error { return b.RecordBlock(0, genesisCID, cid.Undef, g.Time, 0) },
		b.Commit,
	} {
		if err := step(); err != nil {
			db.Close()
			return nil, fmt.Errorf("committing the genesis block: %w", err)
		}
	}
	c.log.Info("channel ready", "genesis", genesisCID, "orgs", len(g.Config.Organizations))
	return c, nil
}

func newChannel(ctx context.Context, opts Options, db *statedb.DB, cfg *config.Config, ix *config.Index, genesis cid.Cid) (*Channel, error) {
	for _, cc := range cfg.Chaincodes {
		if err := db.EnsureChaincode(ctx, cc); err != nil {
			return nil, err
		}
	}
	return &Channel{opts: opts, log: opts.Logger.With("subsystem", "ledger", "channel", cfg.Channel),
		cfg: cfg, ix: ix, genesis: genesis, db: db, subs: map[int]chan BlockEvent{}}, nil
}

// Open opens this member's copy of a channel kept in opts.Dir.
func Open(ctx context.Context, opts Options) (*Channel, error) {
	if err := opts.fill(); err != nil {
		return nil, err
	}
	path := filepath.Join(opts.Dir, stateFile)
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("%w: %s", ErrNotChannel, path)
	}
	db, err := statedb.Open(path, opts.State)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*Channel, error) {
		db.Close()
		return nil, err
	}
	cfgJSON, err := db.Meta(ctx, "config")
	if err != nil {
		return fail(fmt.Errorf("%w: %s has no channel config: %w", ErrNotChannel, path, err))
	}
	var cfg config.Config
	if err := json.Unmarshal([]byte(cfgJSON), &cfg); err != nil {
		return fail(fmt.Errorf("stored channel config: %w", err))
	}
	if err := cfg.Validate(); err != nil {
		return fail(err)
	}
	ix, err := config.NewIndex(&cfg)
	if err != nil {
		return fail(err)
	}
	gs, err := db.Meta(ctx, "genesis")
	if err != nil {
		return fail(err)
	}
	g, err := cid.Decode(gs)
	if err != nil {
		return fail(err)
	}
	c, err := newChannel(ctx, opts, db, &cfg, ix, g)
	if err != nil {
		return fail(err)
	}
	return c, nil
}

// Close closes the state database and ends every subscription.
func (c *Channel) Close() error {
	c.commitMu.Lock()
	defer c.commitMu.Unlock()
	c.subMu.Lock()
	for id, ch := range c.subs {
		close(ch)
		delete(c.subs, id)
	}
	c.subMu.Unlock()
	return c.db.Close()
}

// Name is the channel's name.
func (c *Channel) Name() string { return c.cfg.Channel }

// Config is the channel's configuration (do not modify it).
func (c *Channel) Config() *config.Config { return c.cfg }

// Members answers membership questions (who may fetch blocks, submit...).
func (c *Channel) Members() *config.Index { return c.ix }

// Genesis is the CID of the genesis block.
func (c *Channel) Genesis() cid.Cid { return c.genesis }

// DB is the state database, for callers that need more than the methods here.
func (c *Channel) DB() *statedb.DB { return c.db }

// Endorse simulates a proposal against the current state and signs the
// result. The proposal must be for this channel and one of its chaincodes,
// from a client of the channel, properly signed; this member must be an
// endorser. A chaincode error is returned wrapping chaincode.ErrChaincode.
func (c *Channel) Endorse(ctx context.Context, sp *tx.SignedProposal) (*tx.ProposalResponse, error) {
	if !c.ix.Has(c.opts.Identity.PeerID(), config.RoleEndorser) {
		return nil, fmt.Errorf("%w: this peer is not an endorser of channel %s", ErrNotAllowed, c.Name())
	}
	p, err := sp.Decode()
	if err != nil {
		return nil, err
	}
	if p.Channel != c.Name() {
		return nil, fmt.Errorf("%w: proposal for channel %q sent to %q", tx.ErrMalformed, p.Channel, c.Name())
	}
	creator, err := identity.PeerIDOf(p.Creator)
	if err != nil {
		return nil, err
	}
	if !c.ix.Has(creator, config.RoleClient) {
		return nil, fmt.Errorf("%w: %s is not a client of channel %s", ErrNotAllowed, creator, c.Name())
	}
	if err := sp.Verify(p); err != nil {
		return nil, err
	}
	cc, ok := c.opts.Chaincodes[p.Chaincode]
	if !ok || !c.ix.HasChaincode(p.Chaincode) {
		return nil, fmt.Errorf("%w: chaincode %q is not run on channel %s", chaincode.ErrChaincode, p.Chaincode, c.Name())
	}
	snap, err := c.db.Snapshot(ctx)
	if err != nil {
		return nil, err
	}
	defer snap.Close()
	result, rw, err := chaincode.Simulate(snap, cc, p)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(sp.Proposal)
	return tx.NewProposalResponse(c.opts.Identity, &tx.Payload{
		ProposalHash: sum[:], TxID: p.TxID(), Status: tx.StatusOK, Result: result, RWSet: *rw,
	})
}

// Digest is the channel's height (the number of committed blocks) and the
// CID of its last block: a digest of all its history.
func (c *Channel) Digest(ctx context.Context) (uint64, cid.Cid, error) { return c.db.Height(ctx) }

// fetch gets a block from the local store, else through getter, and checks
// that it hashes to c.
func fetch(ctx context.Context, store Store, getter BlockGetter, c cid.Cid) ([]byte, error) {
	b, err := store.Get(ctx, c)
	if err != nil && getter != nil {
		b, err = getter.Get(ctx, c)
	}
	if err != nil {
		return nil, err
	}
	if err := codec.CheckCID(c, b); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadBlock, err)
	}
	return b, nil
}

// TxResult is a transaction's fate.
type TxResult struct {
	TxID   string        `json:"txid"`
	Block  uint64        `json:"block"`
	Index  int           `json:"index"`
	Code   validate.Code `json:"code"`
	Reason string        `json:"reason,omitempty"`
}

// BlockEvent tells subscribers a block was committed.
type BlockEvent struct {
	Channel string     `json:"channel"`
	Number  uint64     `json:"number"`
	CID     cid.Cid    `json:"cid"`
	Txs     []TxResult `json:"txs"`
}

// Subscribe returns a channel of commit events and a cancel function. A
// subscriber that falls more than buffer events behind is dropped (its
// channel closed) so that commits never wait.
func (c *Channel) Subscribe(buffer int) (<-chan BlockEvent, func()) {
	if buffer < 1 {
		buffer = 64
	}
	ch := make(chan BlockEvent, buffer)
	c.subMu.Lock()
	id := c.nextSub
	c.nextSub++
	c.subs[id] = ch
	c.subMu.Unlock()
	return ch, func() {
		c.subMu.Lock()
		if s, ok := c.subs[id]; ok {
			close(s)
			delete(c.subs, id)
		}
		c.subMu.Unlock()
	}
}

func (c *Channel) publish(ev BlockEvent) {
	c.subMu.Lock()
	defer c.subMu.Unlock()
	for id, ch := range c.subs {
		select {
		case ch <- ev:
		default:
			c.log.Warn("dropping a commit-event subscriber that fell behind")
			close(ch)
			delete(c.subs, id)
		}
	}
}

// Tx returns a committed transaction's block, index and code.
func (c *Channel) Tx(ctx context.Context, txid string) (TxResult, error) {
	st, err := c.db.Tx(ctx, txid)
	if err != nil {
		return TxResult{TxID: txid}, err
	}
	return TxResult{TxID: txid, Block: st.Block, Index: int(st.TxNum), Code: validate.Code(st.Code)}, nil
}

// WaitTx waits until transaction txid is committed and returns its fate.
func (c *Channel) WaitTx(ctx context.Context, txid string) (TxResult, error) {
	events, cancel := c.Subscribe(256)
	defer cancel()
	if r, err := c.Tx(ctx, txid); err == nil {
		return r, nil
	}
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				// Dropped or closed: look once more, then resubscribe.
				if r, err := c.Tx(ctx, txid); err == nil {
					return r, nil
				}
				events, cancel = c.Subscribe(256)
				defer cancel()
				continue
			}
			for _, t := range ev.Txs {
				if t.TxID == txid {
					// The first record of a TxID is the one that counts.
					return c.Tx(ctx, txid)
				}
			}
		case <-ctx.Done():
			return TxResult{TxID: txid}, ctx.Err()
		}
	}
}
