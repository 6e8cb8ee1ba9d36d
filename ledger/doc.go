// Package ledger is a permissioned ledger in the Hyperledger Fabric mould,
// kept by the node: channels shared by a consortium of organisations, whose
// blocks are content-addressed IPLD blocks that travel through the same
// block exchange as files.
//
// A Channel is one member's copy of one channel: its blocks (in the node's
// block store), its state database (SQLite, package statedb) and its keys.
// It does the member's part of execute-order-validate:
//
//	ch, _ := ledger.Create(ctx, opts, cfg)            // new channel: genesis block
//	ch, _ := ledger.Join(ctx, opts, genesisCID, getter) // another member's channel
//	ch, _ := ledger.Open(ctx, opts)                   // after a restart
//
//	resp, err := ch.Endorse(ctx, signedProposal)      // simulate and sign (endorsers)
//	t, _ := tx.Assemble(signedProposal, responses)    // the client
//	orderer.Submit(ctx, tBytes)                       // package orderer cuts blocks
//	ev, err := ch.Commit(ctx, header, body)           // validate and apply one block
//	err = ch.CatchUp(ctx, headCID, getter)            // fetch back to our height, commit forward
//
// Queries: Get, History, SQL, Find, Range, AddIndex, Indexes, Block,
// Digest (height and head CID), StateHash, Tx, WaitTx, Proof, Verify,
// Subscribe (commit events).
//
// The network part (proposals, endorsements, submissions and head
// announcements over libp2p, blocks through Bitswap, who may fetch them,
// the HTTP API) is package ledger/service, run by the daemon; this package
// needs only a BlockGetter to fetch blocks it does not have and a Store to
// keep them. Every message is a
// canonical dag-cbor value with Marshal and a strict decoder (packages tx
// and block), so any transport can carry it.
//
// Subpackages: codec (dag-cbor), identity (keys, signatures, batch
// verification), policy (AND/OR/OutOf), config (channel config), merkle
// (RFC 6962), tx (proposals, endorsements, transactions), block (blocks, proofs),
// selector (CouchDB queries to SQL), statedb (SQLite), chaincode (the
// contract interface, simulation; docs: the built-in contract), validate
// (validation codes), orderer (block cutting, the solo orderer), service
// (the network service, the CLI's and HTTP API's backend).
package ledger
