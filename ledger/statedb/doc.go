// Package statedb is a channel's state database: SQLite, one file per
// channel, one table per chaincode, holding the current value and version
// of every key, with a history table, the committed transactions and the
// block index.
//
// # Tables
//
//	"state_<chaincode>"   key TEXT PRIMARY KEY, value BLOB, valueJson TEXT, blockNum, txNum
//	"history_<chaincode>" key, blockNum, txNum, txid, value, valueJson, isDelete
//	blocks                number, cid, time, txCount      (the committed height)
//	txs                   txid, blockNum, txNum, code      (duplicate-TxID check, lookups)
//	indexes               chaincode, name, expressions     (custom indexes)
//
// A JSON object or array goes in valueJson with value NULL; anything else
// in value with valueJson NULL. Get returns the bytes as they were put.
//
// # Writing
//
// Begin opens the one write transaction (a Batch); commit applies a whole
// block in it, writes, history, TxIDs and the block row together, so a
// crash leaves either all of a block or none of it, and the height read
// back at open is always the last whole block.
//
// # Reading
//
// Snapshot opens a read transaction on a pool of read-only connections:
// a consistent view for simulating proposals and answering queries while
// blocks commit. Rich queries:
//
//   - SQL: exactly one SELECT, <STATE> (any case) standing for the
//     chaincode's table, JSON1 functions such as json_extract and
//     json_each. Three defences: the text is tokenised and refused if it
//     is not one SELECT or names ATTACH, PRAGMA, load_extension, writes...
//     (rewriteSQL); an SQLite authorizer lets the statement read only the
//     chaincode's table and call only allowed functions; and the
//     connection is read-only (query_only, mode=ro), or for the re-run at
//     validation, inside the block's write transaction with the same
//     authorizer.
//   - Selectors: CouchDB queries (package selector) turned into SQL over
//     json_extract with bound values.
//   - Ranges: keys in [start, end).
//
// Each query's results hash (Merkle root over the sorted encodings of the
// result rows: key and version for selectors and ranges, the selected
// values for SQL) goes into the read set; validation re-runs the query
// and compares, so phantoms are caught.
//
// Default indexes: key (the primary key) and value. AddIndex creates an
// expression index from a file {"indexExpressions": ["json_extract(valueJson, '$.owner')"]};
// each expression is checked against a small grammar first.
package statedb
