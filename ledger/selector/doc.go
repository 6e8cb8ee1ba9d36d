// Package selector parses CouchDB (Mango) queries and translates them to
// SQLite SQL over a state table whose JSON documents are in the column
// valueJson and whose keys are in the column key.
//
//	q, err := selector.Parse([]byte(`{"selector": {"owner": "Detroit Auto", "docType": {"$in": ["vehiclePart"]}},
//	                                  "fields": ["serialNumber"], "sort": [{"serialNumber": "desc"}], "limit": 10}`))
//	where, order, args, err := q.SQL()
//	// SELECT ... FROM table WHERE <where> ORDER BY <order> LIMIT ... OFFSET q.Offset()
//
// The language: implicit equality and implicit $and (several fields in an
// object), nested objects or dotted names for sub-fields ("a.b"; "\." is
// a literal dot), the combination operators $and $or $nor $not, and the
// condition operators $eq $ne $gt $gte $lt $lte $in $nin $exists $type
// $regex $size $mod $elemMatch $allMatch; fields, sort, limit, skip and
// bookmark. Values are bound as parameters; field paths become JSON path
// string literals (quoted, from a restricted alphabet), so an expression
// index such as json_extract(valueJson, '$.owner') is used by the query.
//
// Differences from CouchDB, on purpose: comparisons ($gt, $lt...) match
// values of the argument's own JSON type only (numbers with numbers,
// strings with strings) instead of CouchDB's collation across types;
// $regex is Go's RE2 syntax; the bookmark is an opaque offset into the
// result of the same query (stable while the state does not change).
// Operators other than $exists (and $not around them) need the field to
// exist, as in CouchDB.
package selector
