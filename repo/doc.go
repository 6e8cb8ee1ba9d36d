// Package repo is the node's repository on disk: the directory named by
// $NODE_PATH (default ~/.node) that holds the configuration, the node's
// identity, named keys, the block store directory and a small key/value
// datastore for pins and other metadata.
//
// Layout (see docs/repo.md for the full description):
//
//	config       JSON configuration (Config), mode 0600; holds the identity key
//	version      the repository format version ("1")
//	repo.lock    flock(2)-held by the process that owns the repository
//	keystore/    one file per named key (libp2p-marshalled private key), 0600
//	blocks/      the block store directory (its engine lives in package blockstore)
//	datastore/   one file per key; keys are escaped so none can leave the directory
//	api, gateway the addresses the running daemon listens on (removed on Close)
//
// Use Init once to create a repository, then Open to use it. Open takes an
// exclusive lock: a second process gets an error wrapping ErrLocked that
// names the holder. ReadConfig and ReadAddr read without locking, for a CLI
// that must find the running daemon's API.
//
// Every file write goes through a temporary file, fsync and rename, so a
// crash or a full disk never leaves a half-written config, key or datastore
// value.
package repo
