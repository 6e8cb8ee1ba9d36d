package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"

	"github.com/ipfs/go-cid"

	"node/core"
	"node/ledger/identity"
	"node/ledger/service"
)

// ledgerState is the daemon's ledger service (the Daemon's ledger field).
type ledgerState struct {
	mgr *service.Manager // nil until startLedger
}

// LedgerDir is where a repository keeps its ledger channels.
func LedgerDir(repoRoot string) string { return filepath.Join(repoRoot, "ledger") }

// LedgerOptions are the ledger service's options for a node: its key,
// its store, its pins; the network parts are left to the caller (none:
// offline, as for a command run without the daemon).
func LedgerOptions(node *core.Node, log *slog.Logger) (service.Options, error) {
	sk, _ := node.Repo.Identity()
	id, err := identity.FromKey(sk)
	if err != nil {
		return service.Options{}, fmt.Errorf("the node's key as a ledger identity: %w", err)
	}
	return service.Options{
		Root:     LedgerDir(node.Repo.Root()),
		Identity: id,
		Local:    node.Packs,
		Blocks:   node.Blocks,
		Pins:     node.Pins,
		Logger:   log,
	}, nil
}

// startLedger opens the ledger channels this node takes part in and
// starts their network service: the ledger protocol on the host, the
// orderers this node runs, and the Bitswap access policy that keeps each
// channel's blocks to its members.
func (d *Daemon) startLedger(ctx context.Context) error {
	opts, err := LedgerOptions(d.Node, d.log)
	if err != nil {
		return err
	}
	if d.Host != nil {
		opts.Host = d.Host
		if d.DHT != nil {
			opts.Routing = d.DHT
		}
	}
	m, err := service.New(opts)
	if err != nil {
		return err
	}
	// The policy is in place before the channels load: until then it
	// serves no dag-cbor block at all.
	if d.Bitswap != nil {
		d.Bitswap.Server.SetAccess(m)
	}
	if err := m.Start(ctx); err != nil {
		m.Close()
		return fmt.Errorf("starting the ledger: %w", err)
	}
	d.ledger.mgr = m
	return nil
}

// Ledger is the daemon's ledger service.
func (d *Daemon) Ledger() *service.Manager { return d.ledger.mgr }

// ledgerAPI is the ledger's HTTP API under /api/v0/ledger/, or nil.
func (d *Daemon) ledgerAPI() http.Handler {
	if d.ledger.mgr == nil {
		return nil
	}
	return d.ledger.mgr.Handler()
}

// closeLedger stops the ledger service.
func (d *Daemon) closeLedger() error {
	if d.ledger.mgr == nil {
		return nil
	}
	return d.ledger.mgr.Close()
}

// PrivateBlock reports whether c belongs to a ledger channel: such blocks
// are served only to the channel's members and never announced.
func (d *Daemon) PrivateBlock(c cid.Cid) bool {
	return d.ledger.mgr != nil && d.ledger.mgr.Private(c)
}
