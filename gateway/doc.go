// Package gateway is the node's HTTP path gateway: it answers GET and
// HEAD on /ipfs/<cid>[/path] and /ipns/<name>[/path] with files,
// directory listings and verifiable (trustless) responses, as the IPFS
// path and trustless gateway specs describe. docs/gateway.md is the
// manual: every header, status and format, with the choices made.
//
// Wiring it takes a block getter and, for /ipns, a name resolver:
//
//	h := gateway.New(gateway.Config{
//		Blocks:           getter, // unixfs.Getter: the local store, falling back to Bitswap
//		Names:            names,  // gateway.NameResolver, or nil: /ipns answers 501
//		RetrievalTimeout: 30 * time.Second,
//		Log:              log,
//		Local:            store,  // optional gateway.LocalBlocks, for only-if-cached
//	})
//	srv := &http.Server{Handler: h}
//
// Give it the whole server: it answers 404 outside /ipfs/ and /ipns/. (An
// http.ServeMux in front would clean paths, redirecting "a/../b" before
// the gateway can refuse it, and treats some escapes its own way.)
//
// What it serves (the default response, without ?format or Accept):
//   - a UnixFS file: its bytes, with a content type from the name's
//     extension (or ?filename=), else sniffed from the first 512 bytes;
//     one Range gives 206 (several ranges give the whole file, 200);
//   - a directory: a 301 to the path with a trailing slash, then its
//     index.html if it has one, else an HTML listing streamed from the
//     links (names, CIDs, DAG sizes; HAMT shards walked, sorted by name);
//   - a dag-cbor, dag-json, json or cbor block: an HTML view (browsers) or
//     the block as it is.
//
// Trustless and codec responses, chosen by ?format= (which wins) or the
// Accept header: raw (the block), car (a CARv1, dfs order, no duplicates,
// with dag-scope=block|entity|all and entity-bytes), tar, dag-json, json,
// dag-cbor, cbor, and ipns-record on /ipns/<name>.
//
// Every response under /ipfs/ is immutable (Cache-Control: public,
// max-age=29030400, immutable) and carries an ETag (If-None-Match gives
// 304); under /ipns/ the max-age is the resolver's TTL. Errors are small
// pages (HTML for browsers, plain text otherwise) with the status that
// fits: 400 malformed CID or path, 404 missing content or path, 405 other
// methods, 412 for only-if-cached requests of content not stored here,
// 501 what the gateway cannot do, 504 when a block (or a name) is not
// retrieved within RetrievalTimeout. A failure after the response
// began cuts the connection, so a client never takes a truncated body
// for a whole one.
//
// Paths never escape the DAG: each segment is unescaped on its own (an
// encoded '/' stays in the name, which no entry can have: 404), "." and
// ".." (also encoded) and NUL are refused (400), names are compared as
// bytes (no Unicode normalisation), and symlinks are shown, never followed.
package gateway
