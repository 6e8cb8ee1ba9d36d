// Package pin keeps the set of pinned CIDs and collects garbage.
//
// A Pinner records pins in the repository's datastore (any store with Get,
// Put, Delete and List, such as repo.Datastore):
//
//	/pins/recursive/<CIDv1>  the root and every block reachable from it are kept
//	/pins/direct/<CIDv1>     only that block is kept
//
// Each value holds the CID as it was pinned (CIDv0 stays CIDv0 in listings);
// the key uses the CIDv1 form, so a CIDv0 and its CIDv1 are the same pin.
// Indirect pins (blocks below a recursive pin) are not stored: List and
// IsPinned compute them by walking the DAGs.
//
// Pinning recursively walks the whole DAG first through the Pinner's block
// getter and fails, naming the block, if one cannot be got: give it a local
// store to require the DAG to be present, or a network-backed getter to
// fetch what is missing.
//
// GC marks every block reachable from a recursive pin plus every direct pin
// (by multihash, since the store is keyed by multihash) and deletes every
// other block in the store. If any pinned DAG cannot be walked completely
// (a block missing or undecodable), GC deletes nothing and returns the
// error: an incomplete mark set would make it delete blocks that are still
// wanted, and a missing block may be fetched again later.
//
// Adding blocks and pinning them must not interleave with a GC, or the
// sweep could remove blocks that are about to be pinned: hold PinLock from
// the first block put until the pin is recorded. GC waits for holders to
// finish and new holders wait for a running GC.
package pin
