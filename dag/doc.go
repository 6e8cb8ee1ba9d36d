// Package dag knows the codecs the node stores and how to find the links
// in a block of each: dag-pb (UnixFS), raw (no links) and dag-cbor (CIDs
// under CBOR tag 42, as ledger blocks use). Walking DAGs for pinning,
// garbage collection and CAR export goes through Links.
package dag
