package importer

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// WalkOptions control how AddPath reads the file system.
type WalkOptions struct {
	// Recursive allows directories; without it a directory is an error.
	Recursive bool
	// Hidden includes names starting with a dot inside directories
	// (the reference implementation skips them unless asked).
	Hidden bool
	// OnAdded, if set, is called for every file, symlink and directory
	// imported, children before their parent, with its path as given.
	OnAdded func(path string, n Node)
}

// AddPath imports the file, symlink or directory at path. A symlink named
// on the command line is followed; symlinks inside directories are stored
// as UnixFS symlinks.
func (im *Importer) AddPath(ctx context.Context, path string, wo WalkOptions) (Node, error) {
	info, err := os.Stat(path)
	if err != nil {
		return Node{}, fmt.Errorf("cannot add %s: %w", path, err)
	}
	return im.addPath(ctx, path, info, wo)
}

func (im *Importer) addPath(ctx context.Context, path string, info fs.FileInfo, wo WalkOptions) (Node, error) {
	if err := ctx.Err(); err != nil {
		return Node{}, err
	}
	var n Node
	var err error
	switch mode := info.Mode(); {
	case mode.IsRegular():
		n, err = im.addRegularFile(ctx, path)
	case mode&fs.ModeSymlink != 0:
		var target string
		if target, err = os.Readlink(path); err == nil {
			n, err = im.AddSymlink(target)
		}
	case mode.IsDir():
		if !wo.Recursive {
			return Node{}, fmt.Errorf("%s is a directory: use -r to add directories", path)
		}
		n, err = im.addDir(ctx, path, wo)
	default:
		return Node{}, fmt.Errorf("cannot add %s: unsupported file type %s", path, mode.Type())
	}
	if err != nil {
		return Node{}, err
	}
	if wo.OnAdded != nil {
		wo.OnAdded(path, n)
	}
	return n, nil
}

func (im *Importer) addRegularFile(ctx context.Context, path string) (Node, error) {
	f, err := os.Open(path)
	if err != nil {
		return Node{}, fmt.Errorf("cannot add %s: %w", path, err)
	}
	defer f.Close()
	n, err := im.AddFile(ctx, f)
	if err != nil {
		return Node{}, fmt.Errorf("adding %s: %w", path, err)
	}
	return n, nil
}

func (im *Importer) addDir(ctx context.Context, path string, wo WalkOptions) (Node, error) {
	dirents, err := os.ReadDir(path)
	if err != nil {
		return Node{}, fmt.Errorf("cannot read directory %s: %w", path, err)
	}
	entries := make([]Entry, 0, len(dirents))
	for _, d := range dirents {
		if !wo.Hidden && strings.HasPrefix(d.Name(), ".") {
			continue
		}
		info, err := d.Info()
		if err != nil {
			return Node{}, fmt.Errorf("cannot add %s: %w", filepath.Join(path, d.Name()), err)
		}
		child, err := im.addPath(ctx, filepath.Join(path, d.Name()), info, wo)
		if err != nil {
			return Node{}, err
		}
		entries = append(entries, Entry{Name: d.Name(), Node: child})
	}
	return im.AddDirectory(entries)
}
