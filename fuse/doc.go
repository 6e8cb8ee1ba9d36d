// Package fuse shows the network as a directory through FUSE (go-fuse/v2):
// DIR/ipfs, where every CID is a name, and DIR/ipns, where names resolve
// and local, the node's own name, is writable. docs/fuse.md is the manual;
// this is how to use the package.
//
// # Mounting
//
//	cfg := fuse.Config{
//		Blocks:    getter,       // reads: the local store, else Bitswap
//		Store:     store,        // where writes under /ipns/local go
//		Names:     resolver,     // /ipns/NAME -> /ipfs/CID
//		Local:     publisher,    // publishes the root of /ipns/local
//		LocalName: "k51...",     // shown as a symlink to local
//		LocalRoot: currentRoot,  // the root published last time
//	}
//	ipfs, err := fuse.MountIPFS("/ipfs", cfg)
//	ipns, err := fuse.MountIPNS("/ipns", cfg)
//	...
//	err = ipns.Unmount() // commits and publishes what was written
//	err = ipfs.Unmount()
//
// Mounting needs root and /dev/fuse (go-fuse's DirectMountStrict: no
// fusermount); Check says in one line why it cannot be done. Each mount
// first clears a stale mount left at its directory by a killed process
// (ClearStale) and refuses a live one (ErrMounted). Unmount(dir) unmounts
// any mount, detaching it when busy: `node mount --unmount DIR`. Wait
// returns when a mount ends however it was unmounted, after its last
// publication.
//
// # Reading
//
// Files, directories (HAMT-sharded ones too) and symlinks show with their
// sizes, UnixFS modes (0444 files and 0555 directories when a node has
// none), mtimes (the epoch when none) and inode numbers derived from the
// path and the CID, so they are the same on every mount. Directories
// report one link: counting subdirectories would fetch every child. Every
// file and directory has the extended attribute user.ipfs.cid. Names a
// DAG may hold but a file system cannot ("", ".", "..", with '/' or NUL,
// over 255 bytes, repeated) are hidden and logged once per directory.
//
// Every block fetch is bounded by Config.ReadTimeout: an operation needing
// content nobody serves fails with EIO. Reads that continue the previous
// one stream, fetching up to 64 blocks ahead per level; other reads fetch
// only the blocks they touch. An interrupted read returns EINTR and keeps
// its stream for the retry; releasing the file (a reader killed with
// Ctrl-C) cancels its fetches. Files of 1 MiB and more are opened with
// direct I/O where the kernel can still map them, which is what makes a
// cold cat through the mount reach half the speed of `node cat`.
//
// # Writing under /ipns/local
//
// local is a tree in memory (localTree) whose unchanged parts stay CIDs,
// loaded a directory at a time. A file written in order from empty is
// imported as it is written (nothing staged); other changes go to a
// temporary file in Config.StageDir, unlinked at creation. The close of a
// file's only writer commits it (imports it into Config.Store); fsync
// commits it even while open. A goroutine (flusher) builds the new root
// from the committed files and publishes it PublishDelay after the last
// change (at the latest 10 delays after the first), at once on fsync, and
// at unmount; blocks are synced before the name points at them. A
// published root therefore never holds a half-written file: a file open
// for writing shows as it was last closed or fsynced, or not at all. A
// crash loses what was written since the last fsync (and since the last
// publication of what was closed). Modes and times set under local live
// in memory only: the importer writes neither into UnixFS.
package fuse
