// Package storetest is the conformance suite every blockstore.Store backend
// runs, in the style of perkeep's storagetest and restic's backend test
// suite: one body of tests, many backends.
//
// A backend's test calls Run with a function that opens a fresh, empty store
// for each subtest:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) blockstore.Store {
//			s, err := blockstore.OpenPack(t.TempDir())
//			if err != nil {
//				t.Fatal(err)
//			}
//			return s
//		})
//	}
//
// Run closes every store it opens. The suite checks put, get, has, size,
// delete, keys and putmany; that not-found errors wrap blockstore.ErrNotFound;
// that the same bytes under CIDv0 and CIDv1 (dag-pb and raw) are stored once
// and found by any of them; that oversized blocks fail with
// blockstore.ErrTooLarge and are not stored; empty blocks; idempotent re-puts;
// that Keys sees exactly what is stored and stops at fn's error; that many
// goroutines may put and get at once (run it with -race); and that returned
// bytes are never aliased to the store's buffers or the caller's.
package storetest
