package core

import (
	"context"
	"fmt"
	"io"
	"path/filepath"

	"github.com/ipfs/go-cid"

	"node/blockstore"
	"node/unixfs"
	"node/unixfs/importer"
)

// AddRequest says what to add and how.
type AddRequest struct {
	// Paths are files or directories; "-" reads Stdin.
	Paths []string
	Stdin io.Reader
	// StdinName names stdin's content inside a wrapping directory; empty
	// means the content's CID.
	StdinName string
	Options   importer.Options
	Recursive bool
	Hidden    bool
	// Wrap puts everything added in one directory, named by base name.
	Wrap bool
	// OnlyHash computes CIDs without storing anything.
	OnlyHash bool
	// Pin pins each root recursively (the wrapping directory with Wrap).
	Pin bool
	// Progress, if set, receives the number of file bytes consumed.
	Progress func(int64)
	// OnAdded, if set, is told of every file and directory added, with
	// the name to show for it (the path as given, or the CID for stdin).
	OnAdded func(name string, c cid.Cid, size uint64)
}

// Pinner is what add and import need of the pin set.
type Pinner interface {
	// PinLock holds off garbage collection until unlock is called.
	PinLock(ctx context.Context) (unlock func(), err error)
	PinRecursive(ctx context.Context, c cid.Cid) error
	// PinImported pins a DAG just written whole, without walking it.
	PinImported(ctx context.Context, c cid.Cid) error
}

// discard is the Putter of --only-hash.
type discard struct{}

func (discard) PutMany(context.Context, []blockstore.Block) error { return nil }

// Add imports files, directories or stdin and returns the roots, one per
// path (or the single wrapping directory). Blocks are flushed to the store
// before anything is pinned, so a crash mid-way leaves unpinned but whole
// blocks that the next add reuses and the next GC removes.
func Add(ctx context.Context, store blockstore.Store, pins Pinner, req AddRequest) ([]cid.Cid, error) {
	var sink importer.Putter = store
	if req.OnlyHash {
		sink = discard{}
	} else {
		// Keep GC from sweeping the new blocks before they are pinned.
		unlock, err := pins.PinLock(ctx)
		if err != nil {
			return nil, err
		}
		defer unlock()
	}
	im, err := importer.New(ctx, req.Options, sink)
	if err != nil {
		return nil, err
	}
	im.Progress = req.Progress
	added := func(name string, n importer.Node) {
		if req.OnAdded != nil {
			req.OnAdded(name, n.CID, n.FileSize)
		}
	}
	// Each path is shown, and wrapped, under its base name, as the
	// reference CLI does; check the names before importing anything.
	names := make([]string, len(req.Paths))
	for i, p := range req.Paths {
		if p == "-" {
			continue
		}
		abs, err := filepath.Abs(p)
		if err != nil {
			return nil, fmt.Errorf("cannot add %s: %w", p, err)
		}
		names[i] = filepath.Base(abs)
		if err := unixfs.CheckName(names[i]); req.Wrap && err != nil {
			return nil, fmt.Errorf("cannot wrap %s in a directory: %w", p, err)
		}
	}
	var roots []cid.Cid
	var entries []importer.Entry
	addErr := func() error {
		for i, p := range req.Paths {
			var n importer.Node
			var name string
			if p == "-" {
				if req.Stdin == nil {
					return fmt.Errorf("no standard input to read")
				}
				if n, err = im.AddFile(ctx, req.Stdin); err != nil {
					return err
				}
				name = req.StdinName
				if name == "" {
					name = n.CID.String()
				}
				added(name, n)
			} else {
				name = names[i]
				n, err = im.AddPath(ctx, p, importer.WalkOptions{
					Recursive: req.Recursive,
					Hidden:    req.Hidden,
					OnAdded: func(path string, n importer.Node) {
						rel, err := filepath.Rel(p, path)
						if err != nil {
							rel = path
						}
						added(filepath.Join(name, rel), n)
					},
				})
				if err != nil {
					return err
				}
			}
			roots = append(roots, n.CID)
			entries = append(entries, importer.Entry{Name: name, Node: n})
		}
		if req.Wrap {
			n, err := im.AddDirectory(entries)
			if err != nil {
				return err
			}
			added("", n)
			roots = []cid.Cid{n.CID}
		}
		return nil
	}()
	if err := im.Close(); err != nil && addErr == nil {
		addErr = fmt.Errorf("storing blocks: %w", err)
	}
	if addErr != nil {
		return nil, addErr
	}
	if req.OnlyHash {
		return roots, nil
	}
	if err := Sync(ctx, store); err != nil {
		return nil, err
	}
	if req.Pin {
		for _, r := range roots {
			if err := pins.PinImported(ctx, r); err != nil {
				return nil, fmt.Errorf("pinning %s: %w", r, err)
			}
		}
	}
	return roots, nil
}

// Sync makes the store's writes durable when it can (an optional ability).
func Sync(ctx context.Context, store any) error {
	if s, ok := store.(interface{ Sync(context.Context) error }); ok {
		if err := s.Sync(ctx); err != nil {
			return fmt.Errorf("syncing blocks to disk: %w", err)
		}
	}
	return nil
}
