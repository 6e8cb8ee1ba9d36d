package core

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"

	"github.com/ipfs/go-cid"

	"node/blockstore"
	"node/ipath"
	"node/unixfs"
)

// ErrIPNS is returned for /ipns paths until name resolution lands.
var ErrIPNS = errors.New("resolving /ipns names needs the daemon's name system, which this node does not have yet")

// Resolve parses a content path and walks it to a UnixFS node.
func Resolve(ctx context.Context, g unixfs.Getter, path string) (*unixfs.Node, error) {
	p, err := ipath.Parse(path)
	if err != nil {
		return nil, err
	}
	if p.Namespace != "ipfs" {
		return nil, fmt.Errorf("%s: %w", path, ErrIPNS)
	}
	if err := blockstore.CheckCID(p.CID); err != nil {
		return nil, err
	}
	n, err := unixfs.Resolve(ctx, g, p.CID, p.Segments)
	if errors.Is(err, blockstore.ErrNotFound) {
		return nil, fmt.Errorf("%w (this node is offline: add the content or import a CAR holding it)", err)
	}
	return n, err
}

// ResolveCID returns the CID a path names. A bare CID (or /ipfs/CID) is
// returned without reading any block, so it works for content that is not
// stored; a path with segments is walked.
func ResolveCID(ctx context.Context, g unixfs.Getter, path string) (cid.Cid, error) {
	p, err := ipath.Parse(path)
	if err != nil {
		return cid.Undef, err
	}
	if p.Namespace == "ipfs" && len(p.Segments) == 0 {
		return p.CID, blockstore.CheckCID(p.CID)
	}
	n, err := Resolve(ctx, g, path)
	if err != nil {
		return cid.Undef, err
	}
	return n.CID, nil
}

// Cat writes a file's bytes from offset, at most length of them (a
// negative length means to the end), to w.
func Cat(ctx context.Context, g unixfs.Getter, path string, offset, length int64, w io.Writer) error {
	if offset < 0 {
		return fmt.Errorf("offset %d is negative", offset)
	}
	g = blockstore.InSession(ctx, g)
	n, err := Resolve(ctx, g, path)
	if err != nil {
		return err
	}
	if !n.IsFile() {
		return fmt.Errorf("%s is a %s, not a file: use `node ls` or `node get`", path, n.FS.Type)
	}
	end := uint64(math.MaxUint64)
	if length >= 0 {
		end = uint64(offset) + uint64(length)
	}
	return unixfs.WriteRange(ctx, g, n, uint64(offset), end, w)
}

// LsEntry is a line of `node ls`.
type LsEntry struct {
	Name string
	CID  string
	Type unixfs.Type
	// Size is the file size for files and the DAG size for others.
	Size uint64
}

// Ls lists a directory, or describes a single file.
func Ls(ctx context.Context, g unixfs.Getter, path string) ([]LsEntry, error) {
	n, err := Resolve(ctx, g, path)
	if err != nil {
		return nil, err
	}
	if !n.IsDir() {
		return []LsEntry{{Name: "", CID: n.CID.String(), Type: n.FS.Type, Size: n.FileSize()}}, nil
	}
	var out []LsEntry
	err = unixfs.Each(ctx, g, n, func(e unixfs.DirEntry) error {
		child, err := unixfs.Get(ctx, g, e.CID)
		if err != nil {
			return err
		}
		size := e.Tsize
		if child.IsFile() {
			size = child.FileSize()
		}
		out = append(out, LsEntry{Name: e.Name, CID: e.CID.String(), Type: child.FS.Type, Size: size})
		return nil
	})
	return out, err
}

// Get writes the file or directory tree at path to out, which must not exist.
func Get(ctx context.Context, g unixfs.Getter, path, out string, progress func(int64)) error {
	if _, err := os.Lstat(out); err == nil {
		return fmt.Errorf("%s already exists: choose another output path with -o, or remove it", out)
	}
	g = blockstore.InSession(ctx, g)
	n, err := Resolve(ctx, g, path)
	if err != nil {
		return err
	}
	return unixfs.Extract(ctx, g, n.CID, out, progress)
}

// TotalSize is the byte count a progress bar for reading path should show:
// the file size, or the DAG size of a directory.
func TotalSize(ctx context.Context, g unixfs.Getter, path string) (int64, error) {
	n, err := Resolve(ctx, g, path)
	if err != nil {
		return 0, err
	}
	if n.IsFile() {
		return int64(n.FileSize()), nil
	}
	return -1, nil
}
