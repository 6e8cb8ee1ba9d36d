package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"node/ledger"
	"node/ledger/chaincode"
	"node/ledger/config"
	"node/ledger/statedb"
	"node/ledger/tx"
	"node/ledger/validate"
)

// InvokeRequest is a chaincode call.
type InvokeRequest struct {
	Chaincode string   `json:"chaincode,omitempty"` // default "docs"
	Function  string   `json:"function"`
	Args      []string `json:"args"`
}

// InvokeResult is a committed transaction's fate.
type InvokeResult struct {
	TxID   string          `json:"txid"`
	Block  uint64          `json:"block"`
	Index  int             `json:"index"`
	Code   validate.Code   `json:"code"`
	Reason string          `json:"reason,omitempty"`
	Result json.RawMessage `json:"result,omitempty"` // what the chaincode returned
}

// Invoke runs a transaction through execute-order-validate as a client
// of the channel: it signs a proposal, has it endorsed by endorsers
// chosen to satisfy the policy, submits the endorsed transaction to the
// orderer and waits until this node commits it. The result carries the
// validation code; a transaction that is committed but not VALID is not
// an error here.
func (m *Manager) Invoke(ctx context.Context, name string, req InvokeRequest) (*InvokeResult, error) {
	c, err := m.get(ctx, name)
	if err != nil {
		return nil, err
	}
	if req.Chaincode == "" {
		req.Chaincode = config.DocsChaincode
	}
	if req.Function == "" {
		return nil, errors.New("no chaincode function given")
	}
	if !c.ix.Has(m.Self(), config.RoleClient) {
		return nil, fmt.Errorf("%w: this node (%s) is not a client of channel %s", ledger.ErrNotAllowed, m.Self(), name)
	}
	sp, err := tx.NewProposal(m.opts.Identity, name, req.Chaincode, req.Function, req.Args)
	if err != nil {
		return nil, err
	}
	p, err := sp.Decode()
	if err != nil {
		return nil, err
	}
	responses, err := c.endorse(ctx, sp)
	if err != nil {
		return nil, err
	}
	t, err := tx.Assemble(sp, responses)
	if err != nil {
		return nil, fmt.Errorf("assembling the endorsements: %w (the endorsers' states may differ: retry)", err)
	}
	tb, err := t.Marshal()
	if err != nil {
		return nil, err
	}
	pl, err := tx.DecodePayload(responses[0].Payload)
	if err != nil {
		return nil, err
	}
	// Listen before submitting, so the commit cannot be missed.
	events, cancel := c.ch.Subscribe(1024)
	defer cancel()
	if err := c.submit(ctx, tb); err != nil {
		return nil, err
	}
	r, err := waitTx(ctx, c.ch, events, p.TxID())
	if err != nil {
		return nil, fmt.Errorf("transaction %s was submitted, but waiting for its commit: %w", p.TxID(), err)
	}
	out := &InvokeResult{TxID: r.TxID, Block: r.Block, Index: r.Index, Code: r.Code, Reason: r.Reason}
	if len(pl.Result) > 0 {
		out.Result = statedb.ValueJSON(pl.Result)
	}
	return out, nil
}

// waitTx waits for txid in the commit events (which carry the reason
// for a rejection), falling back to the ledger if the subscription was
// dropped.
func waitTx(ctx context.Context, ch *ledger.Channel, events <-chan ledger.BlockEvent, txid string) (ledger.TxResult, error) {
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				return ch.WaitTx(ctx, txid)
			}
			for _, t := range ev.Txs {
				if t.TxID == txid {
					return t, nil
				}
			}
		case <-ctx.Done():
			return ledger.TxResult{TxID: txid}, ctx.Err()
		}
	}
}

// submit gives the transaction to the orderer: this node's, or the
// orderer peer's.
func (c *channel) submit(ctx context.Context, t []byte) error {
	if c.solo != nil {
		return c.solo.Submit(ctx, t)
	}
	if _, err := c.m.call(ctx, c.ordererID, &Request{Op: OpSubmit, Channel: c.name, Data: t}); err != nil {
		return fmt.Errorf("submitting to the orderer: %w", err)
	}
	return nil
}

// orgPlan is an organisation whose endorsement is sought and its
// endorsers, in the order to try them.
type orgPlan struct {
	Org   string
	Peers []peer.ID
}

// chooseEndorsers picks a minimal set of organisations that satisfies the
// policy, keeping this node's own organisation when it can, and for each
// its endorsers: this node first, then connected peers, then the others.
func chooseEndorsers(ix *config.Index, self peer.ID, connected func(peer.ID) bool) ([]orgPlan, error) {
	endorsers := map[string][]peer.ID{}
	var orgs []string
	for _, p := range ix.Members(config.RoleEndorser) {
		o := ix.OrgOf(p)
		if _, ok := endorsers[o]; !ok {
			orgs = append(orgs, o)
		}
		endorsers[o] = append(endorsers[o], p)
	}
	chosen := map[string]bool{}
	for _, o := range orgs {
		chosen[o] = true
	}
	satisfied := func() bool { return ix.Policy.Satisfied(func(o string) bool { return chosen[o] }) }
	if !satisfied() {
		return nil, fmt.Errorf("the endorsement policy %s cannot be satisfied by the endorsers of the channel's organisations (%s)", ix.Policy, strings.Join(orgs, ", "))
	}
	own := ix.OrgOf(self)
	order := slices.Clone(orgs)
	// Drop other organisations first, our own last.
	slices.SortStableFunc(order, func(a, b string) int {
		switch {
		case a == own && b != own:
			return 1
		case b == own && a != own:
			return -1
		}
		return 0
	})
	for _, o := range order {
		chosen[o] = false
		if !satisfied() {
			chosen[o] = true
		}
	}
	var plan []orgPlan
	for _, o := range orgs {
		if !chosen[o] {
			continue
		}
		peers := slices.Clone(endorsers[o])
		rank := func(p peer.ID) int {
			switch {
			case p == self:
				return 0
			case connected != nil && connected(p):
				return 1
			}
			return 2
		}
		slices.SortStableFunc(peers, func(a, b peer.ID) int { return rank(a) - rank(b) })
		plan = append(plan, orgPlan{Org: o, Peers: peers})
	}
	return plan, nil
}

// endorse collects one endorsement per chosen organisation, asking the
// organisations at once and, within one, its endorsers in turn until one
// answers. A chaincode error ends the call (any endorser would refuse).
func (c *channel) endorse(ctx context.Context, sp *tx.SignedProposal) ([]*tx.ProposalResponse, error) {
	var connected func(peer.ID) bool
	if h := c.m.opts.Host; h != nil {
		connected = func(p peer.ID) bool { return h.Network().Connectedness(p) == network.Connected }
	}
	plan, err := chooseEndorsers(c.ix, c.m.Self(), connected)
	if err != nil {
		return nil, err
	}
	c.learnEndorsers(ctx, plan)
	spBytes, err := sp.Marshal()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	responses := make([]*tx.ProposalResponse, len(plan))
	errs := make([]error, len(plan))
	var wg sync.WaitGroup
	for i, op := range plan {
		wg.Go(func() {
			var tried []error
			for _, p := range op.Peers {
				r, err := c.endorseAt(ctx, p, sp, spBytes)
				if err == nil {
					responses[i] = r
					return
				}
				tried = append(tried, err)
				if errors.Is(err, chaincode.ErrChaincode) || ctx.Err() != nil {
					cancel() // the others need not go on
					break
				}
			}
			errs[i] = fmt.Errorf("no endorser of organisation %s endorsed the proposal: %w", op.Org, errors.Join(tried...))
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			// A chaincode error is the one to report.
			for _, e := range errs {
				if errors.Is(e, chaincode.ErrChaincode) {
					return nil, e
				}
			}
			if errors.Is(err, ErrOffline) {
				return nil, fmt.Errorf("endorsement by organisation %s needs the network: start `node daemon` (online) first", plan[i].Org)
			}
			return nil, err
		}
	}
	return responses, nil
}

// learnEndorsers asks the orderer for the members' addresses when this
// node knows no way to reach any endorser of an organisation in the plan
// (members that joined through the orderer learn of each other so).
func (c *channel) learnEndorsers(ctx context.Context, plan []orgPlan) {
	h := c.m.opts.Host
	if h == nil || c.ordererID == c.m.Self() {
		return
	}
	reachable := func(p peer.ID) bool {
		return p == c.m.Self() || h.Network().Connectedness(p) == network.Connected || len(h.Peerstore().Addrs(p)) > 0
	}
	for _, op := range plan {
		if !slices.ContainsFunc(op.Peers, reachable) {
			data, err := c.m.call(ctx, c.ordererID, &Request{Op: OpInfo, Channel: c.name})
			if err != nil {
				return
			}
			if info, err := DecodeInfo(data); err == nil {
				c.m.learnAddrs(c, info)
			}
			return
		}
	}
}

// endorseAt asks one endorser: this node directly, another over the
// protocol.
func (c *channel) endorseAt(ctx context.Context, p peer.ID, sp *tx.SignedProposal, spBytes []byte) (*tx.ProposalResponse, error) {
	if p == c.m.Self() {
		return c.ch.Endorse(ctx, sp)
	}
	data, err := c.m.call(ctx, p, &Request{Op: OpEndorse, Channel: c.name, Data: spBytes})
	if err != nil {
		return nil, err
	}
	return tx.DecodeProposalResponse(data)
}
