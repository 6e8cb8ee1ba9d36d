// Package blockstore stores content-addressed blocks: the bytes a CID names.
//
// # The interface
//
// Store (blockstore.go) is the full set of operations a backend provides:
// Get, Has, Size, Put, PutMany, Delete, Keys, Close. Blocks are keyed by
// multihash, so the same bytes under CIDv0 and CIDv1, or under the dag-pb
// and raw codecs, are stored once and found by any of those CIDs. Blocks
// over MaxBlockSize (2 MiB) are refused with ErrTooLarge; missing blocks
// give errors wrapping ErrNotFound. Consumers do not take a Store: they
// declare the small interface they use (a getter, a putter) where they use
// it. Optional abilities are found by type assertion:
//
//	interface{ Sync(context.Context) error }              // durability point
//	interface{ Compact(context.Context) (CompactStats, error) } // reclaim space
//	interface{ Unwrap() Store }                          // see through wrappers
//
// # Backends
//
// Memory (memory.go) keeps blocks in a map: for tests and --only-hash.
//
// PackStore (pack.go) is the on-disk store the node uses, chosen by
// measurement over a file per block (flatfs), pebble and badger; the
// figures and the reasons are in docs/blockstore.md. Blocks are appended as
// records to pack files of about 256 MiB; an in-memory map from multihash
// to (pack, offset, length) finds them, rebuilt at open from the small
// index file written when each pack is sealed, plus a scan of the one
// active pack. Open it with OpenPackStore (or OpenVerified, below); one
// process at a time holds it (ErrLocked otherwise).
//
// Guarantees of PackStore:
//   - Atomic writes: every record carries a CRC-32C over its header, key and
//     data. A crash (kill -9 or power cut) in the middle of a put leaves a
//     torn tail that Open recognises (a record running past the end of the
//     file, or zeros) and cuts off; only whole blocks are ever visible.
//     One damaged record (bad CRC) with a good record right after it stays
//     indexed: Get of that block fails with ErrCorrupt, Keys lists it, the
//     blocks around it read back, and putting it again repairs it. Other
//     damage is never cut: the pack is sealed as it is, a warning is
//     logged, and the bytes stay for recovery.
//   - Durability: Put, PutMany and Delete write to the page cache. Sync is
//     the durability point: it fdatasyncs the active pack, writes and fsyncs
//     the index of every pack filled since the last Sync, and fsyncs the
//     directory. Blocks put before a Sync returns survive a power cut; an
//     add calls Sync once at the end. Close syncs. PackOptions.SyncEachWrite
//     makes every write durable before it returns instead.
//   - A full disk (ENOSPC, EDQUOT) fails the put with an error that wraps
//     the system error and says to free space; the partial write is cut off
//     at once, so no partial block is visible and the store stays usable.
//   - Integrity: Get checks the record's CRC-32C and key, so bytes damaged on
//     disk fail with ErrCorrupt instead of being returned. The CRC does not
//     prove the bytes hash to the CID (a caller could Put wrong bytes): for
//     that wrap the store with Verifying, which OpenVerified does.
//   - Space: Delete appends a tombstone; Compact (repo gc calls it) first
//     cuts dead tails off packs and removes dead packs, which needs no free
//     space (so it recovers a full disk after a failed add), then copies
//     the live blocks out of packs with 30% or more dead bytes, which does;
//     without room it says how much it needs (ENOSPC). Memory: the index
//     costs about 110 bytes of heap per block (measured), so 440 MB for 4
//     million blocks (1 TB of 256 KiB chunks).
//
// # Verification
//
// VerifyBlock(c, data) checks that data hashes to c's multihash: sha2-256
// with crypto/sha256, blake3 with zeebo/blake3, identity, and everything
// go-multihash's Sum computes (sha1, sha2-512, sha3, blake2b/s). A mismatch
// wraps ErrCorrupt and names the CID; an unknown function wraps
// ErrUnsupportedHash. Verifying(s) wraps any Store so that Get re-hashes.
// Repo verify, CAR import and Bitswap reuse VerifyBlock.
//
// # Conformance
//
// Every backend runs the suite in package storetest (storetest.Run), as the
// tests of Memory, PackStore and Verifying do.
package blockstore
