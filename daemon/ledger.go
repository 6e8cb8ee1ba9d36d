package daemon

import (
	"context"
	"github.com/ipfs/go-cid"
	"net/http"
)

// startLedger opens the ledger channels this node takes part in and
// starts their network service. (Filled in by the ledger service work.)
func (d *Daemon) startLedger(ctx context.Context) error { return nil }

// ledgerAPI is the ledger's HTTP API under /api/v0/ledger/, or nil.
func (d *Daemon) ledgerAPI() http.Handler { return nil }

// closeLedger stops the ledger service.
func (d *Daemon) closeLedger() error { return nil }

// PrivateBlock reports whether c belongs to a ledger channel: such blocks
// are served only to the channel's members and never announced.
func (d *Daemon) PrivateBlock(c cid.Cid) bool { return false }
