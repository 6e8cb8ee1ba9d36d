package service

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"node/ledger"
	"node/ledger/config"
	"node/ledger/identity"
	"node/ledger/statedb"
	"node/ledger/tx"
	"node/ledger/validate"
)

// BlockView is a block as the CLI and the HTTP API show it.
type BlockView struct {
	Channel string         `json:"channel"`
	Number  uint64         `json:"number"`
	CID     string         `json:"cid"`
	Prev    string         `json:"prev,omitempty"`
	TxRoot  string         `json:"txRoot"` // hex
	TxCount int            `json:"txCount"`
	Body    string         `json:"body,omitempty"`
	Time    time.Time      `json:"time"`
	Signer  string         `json:"signer"` // peer ID of the orderer (an admin for genesis)
	Config  *config.Config `json:"config,omitempty"`
	Txs     []TxView       `json:"txs,omitempty"`
}

// TxView is a transaction in a block.
type TxView struct {
	TxID      string   `json:"txid"`
	Code      string   `json:"code"`
	Creator   string   `json:"creator,omitempty"`
	Chaincode string   `json:"chaincode,omitempty"`
	Function  string   `json:"function,omitempty"`
	Args      []string `json:"args,omitempty"`
	Endorsers []string `json:"endorsers,omitempty"`
}

// ViewBlock renders a stored block, with each transaction's code.
func ViewBlock(ctx context.Context, ch *ledger.Channel, sb *ledger.StoredBlock) *BlockView {
	b := sb.Block
	v := &BlockView{Channel: b.Channel, Number: b.Number, CID: sb.CID.String(), TxRoot: hex.EncodeToString(b.TxRoot),
		TxCount: b.TxCount, Time: b.Timestamp().UTC(), Config: b.Config}
	if b.Prev.Defined() {
		v.Prev = b.Prev.String()
	}
	if b.Body.Defined() {
		v.Body = b.Body.String()
	}
	if id, err := identity.PeerIDOf(b.Signer); err == nil {
		v.Signer = id.String()
	}
	for i, raw := range sb.Txs {
		p, err := tx.Parse(raw)
		if err != nil {
			v.Txs = append(v.Txs, TxView{Code: validate.BadPayload.String()})
			continue
		}
		tv := TxView{TxID: p.TxID, Chaincode: p.Proposal.Chaincode, Function: p.Proposal.Function, Args: p.Proposal.Args}
		if id, err := identity.PeerIDOf(p.Proposal.Creator); err == nil {
			tv.Creator = id.String()
		}
		for _, e := range p.Tx.Endorsements {
			if id, err := identity.PeerIDOf(e.Endorser); err == nil {
				tv.Endorsers = append(tv.Endorsers, id.String())
			}
		}
		// The ledger records a TxID's first occurrence; a later one is
		// a duplicate.
		r, err := ch.Tx(ctx, p.TxID)
		switch {
		case err != nil:
			tv.Code = "UNKNOWN"
		case r.Block == b.Number && r.Index == i:
			tv.Code = r.Code.String()
		default:
			tv.Code = validate.DuplicateTxID.String()
		}
		v.Txs = append(v.Txs, tv)
	}
	return v
}

// DocView is a state entry as shown: JSON values as JSON.
type DocView struct {
	Key     string          `json:"key"`
	Value   json.RawMessage `json:"value"`
	Version tx.Version      `json:"version"`
}

// ViewDocs renders state entries.
func ViewDocs(docs []statedb.Doc) []DocView {
	out := make([]DocView, len(docs))
	for i, d := range docs {
		out[i] = DocView{Key: d.Key, Value: statedb.ValueJSON(d.Value), Version: d.Version}
	}
	return out
}

// SQLView is a rich SQL query's answer: the columns and the rows, each
// cell a JSON value (text, number, null; blobs as base64 text).
type SQLView struct {
	Columns []string `json:"columns"`
	Rows    [][]any  `json:"rows"`
}

// ViewSQL renders an SQL result.
func ViewSQL(r *statedb.SQLResult) *SQLView {
	v := &SQLView{Columns: r.Columns, Rows: make([][]any, len(r.Rows))}
	for i, row := range r.Rows {
		cells := make([]any, len(row))
		for j, x := range row {
			if b, ok := x.([]byte); ok {
				cells[j] = string(b)
			} else {
				cells[j] = x
			}
		}
		v.Rows[i] = cells
	}
	return v
}

// Cell renders one SQL cell as text (the CLI's tab-separated output).
func Cell(x any) string {
	switch v := x.(type) {
	case nil:
		return "NULL"
	case string:
		return v
	case []byte:
		return string(v)
	default:
		return fmt.Sprint(v)
	}
}

// EventView is a commit event as shown.
type EventView struct {
	Channel string            `json:"channel"`
	Number  uint64            `json:"number"`
	CID     string            `json:"cid"`
	Txs     []ledger.TxResult `json:"txs"`
}

// ViewEvent renders a commit event.
func ViewEvent(ev ledger.BlockEvent) EventView {
	txs := ev.Txs
	if txs == nil {
		txs = []ledger.TxResult{}
	}
	return EventView{Channel: ev.Channel, Number: ev.Number, CID: ev.CID.String(), Txs: txs}
}
