// Package importer turns files, directories and symlinks into UnixFS DAGs
// whose CIDs are exactly those the reference IPFS implementation gives for
// the same bytes and options:
//
//   - files are cut into fixed-size chunks (256 KiB by default) and laid
//     out as a balanced tree of at most 174 links per node, each leaf a
//     UnixFS file node or, with RawLeaves, a raw block; a file of one chunk
//     is its single leaf;
//   - directories are dag-pb UnixFS directories with links sorted by name,
//     or HAMT shards (fanout 256, murmur3) once the names plus CID bytes of
//     their links pass 256 KiB;
//   - CIDv1 is used when asked (callers make it imply raw leaves, as the
//     reference CLI does); raw leaves always have CIDv1.
//
// Leaves are hashed in parallel and blocks are written in batches by a
// background goroutine, so an import runs at hashing speed:
//
//	im, _ := importer.New(ctx, importer.DefaultOptions(), store)
//	root, err := im.AddPath(ctx, "dir", importer.WalkOptions{Recursive: true})
//	err = im.Close() // flushes the last batch
package importer
