package unixfs

import (
	"context"
	"fmt"
	"os"

	"github.com/ipfs/go-cid"
)

// Extract writes the file, directory tree or symlink at c to the path out,
// which must not exist yet. Every write below out goes through an os.Root,
// so no entry name and no symlink in a hostile DAG can make it write
// outside out; entry names that are not plain names ("", ".", "..", with a
// slash) are an error naming the entry. progress, if set, is called with
// the number of file bytes written.
func Extract(ctx context.Context, g Getter, c cid.Cid, out string, progress func(int64)) error {
	n, err := Get(ctx, g, c)
	if err != nil {
		return err
	}
	if !n.IsDir() {
		// A single file or symlink: its parent directory is the root.
		parent, name := splitOut(out)
		root, err := os.OpenRoot(parent)
		if err != nil {
			return fmt.Errorf("cannot write into %s: %w", parent, err)
		}
		defer root.Close()
		x := extractor{ctx: ctx, g: g, progress: progress}
		return x.write(root, name, n, out)
	}
	if err := os.Mkdir(out, 0o755); err != nil {
		return fmt.Errorf("cannot create directory %s: %w", out, err)
	}
	root, err := os.OpenRoot(out)
	if err != nil {
		return fmt.Errorf("cannot open %s: %w", out, err)
	}
	defer root.Close()
	x := extractor{ctx: ctx, g: g, progress: progress}
	return x.dir(root, n, out, 0)
}

func splitOut(out string) (dir, name string) {
	for i := len(out) - 1; i >= 0; i-- {
		if out[i] == '/' {
			if i == 0 {
				return "/", out[1:]
			}
			return out[:i], out[i+1:]
		}
	}
	return ".", out
}

type extractor struct {
	ctx      context.Context
	g        Getter
	progress func(int64)
}

// maxDirDepth bounds how deep a directory tree may go.
const maxDirDepth = 1024

func (x *extractor) dir(root *os.Root, n *Node, shown string, depth int) error {
	if depth > maxDirDepth {
		return fmt.Errorf("%s: directory tree deeper than %d levels", shown, maxDirDepth)
	}
	seen := map[string]bool{}
	return Each(x.ctx, x.g, n, func(e DirEntry) error {
		if err := x.ctx.Err(); err != nil {
			return err
		}
		if err := CheckName(e.Name); err != nil {
			return fmt.Errorf("refusing to write an entry of %s: %w", shown, err)
		}
		if seen[e.Name] {
			return fmt.Errorf("refusing to write %s/%s: the directory lists it twice", shown, e.Name)
		}
		seen[e.Name] = true
		child, err := Get(x.ctx, x.g, e.CID)
		if err != nil {
			return err
		}
		path := shown + "/" + e.Name
		if child.IsDir() {
			if err := root.Mkdir(e.Name, 0o755); err != nil {
				return fmt.Errorf("cannot create directory %s: %w", path, err)
			}
			sub, err := root.OpenRoot(e.Name)
			if err != nil {
				return fmt.Errorf("cannot open %s: %w", path, err)
			}
			defer sub.Close()
			return x.dir(sub, child, path, depth+1)
		}
		return x.write(root, e.Name, child, path)
	})
}

// write creates a file or symlink named name in root.
func (x *extractor) write(root *os.Root, name string, n *Node, shown string) error {
	switch {
	case n.FS.Type == TSymlink:
		if err := root.Symlink(string(n.FS.Data), name); err != nil {
			return fmt.Errorf("cannot create symlink %s: %w", shown, err)
		}
		return nil
	case n.IsFile():
		f, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return fmt.Errorf("cannot create %s: %w", shown, err)
		}
		err = ReadRange(x.ctx, x.g, n, 0, n.FileSize(), func(b []byte) error {
			if _, err := f.Write(b); err != nil {
				return fmt.Errorf("writing %s: %w", shown, err)
			}
			if x.progress != nil {
				x.progress(int64(len(b)))
			}
			return nil
		})
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("writing %s: %w", shown, cerr)
		}
		return err
	default:
		return fmt.Errorf("cannot write %s: it is a %s", shown, n.FS.Type)
	}
}
