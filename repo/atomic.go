package repo

import (
	"io"
	"os"
	"path/filepath"
	"strings"
)

// tmpPrefix starts every temporary file name. Datastore file names never
// start with a dot (the escaping turns '.' into %2E) and key names may not
// either, so temporary files never collide with real entries.
const tmpPrefix = ".tmp-"

// writeFunc writes data to f; tests replace it to inject faults.
type writeFunc func(f *os.File, data []byte) (int, error)

func osWrite(f *os.File, data []byte) (int, error) { return f.Write(data) }

// writeFileAtomic replaces path with data: it writes a temporary file in the
// same directory, fsyncs it, renames it over path and fsyncs the directory.
// On any failure the temporary file is removed and path is untouched.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	return writeAtomic(path, data, perm, osWrite, false)
}

// createFileAtomic is writeFileAtomic that fails with os.ErrExist instead of
// replacing an existing file (it hard-links the temporary file into place).
func createFileAtomic(path string, data []byte, perm os.FileMode) error {
	return writeAtomic(path, data, perm, osWrite, true)
}

func writeAtomic(path string, data []byte, perm os.FileMode, write writeFunc, exclusive bool) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	// The temporary name carries at most 32 bytes of the final name, so it
	// stays within the file system's name limit when the final name does.
	f, err := os.CreateTemp(dir, tmpPrefix+base[:min(len(base), 32)]+"-*")
	if err != nil {
		return ioError("create temporary file for", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err = f.Chmod(perm); err != nil {
		return ioError("set mode of", tmp, err)
	}
	if _, err = write(f, data); err != nil {
		return ioError("write", path, err)
	}
	if err = f.Sync(); err != nil {
		return ioError("sync", path, err)
	}
	if err = f.Close(); err != nil {
		return ioError("close", path, err)
	}
	if exclusive {
		if err = os.Link(tmp, path); err != nil {
			if os.IsExist(err) {
				err = os.ErrExist
				return err
			}
			return ioError("link", path, err)
		}
		os.Remove(tmp)
	} else if err = os.Rename(tmp, path); err != nil {
		return ioError("rename into place", path, err)
	}
	return syncDir(dir)
}

// syncDir fsyncs a directory so a rename or removal in it is durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return ioError("open directory", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return ioError("sync directory", dir, err)
	}
	return nil
}

// removeTempFiles deletes temporary files a crashed writer left in dir.
// Only the lock holder calls it, so no live writer owns them.
func removeTempFiles(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return ioError("read directory", dir, err)
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), tmpPrefix) {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !os.IsNotExist(err) {
				return ioError("remove stale temporary file", filepath.Join(dir, e.Name()), err)
			}
		}
	}
	return nil
}

// readFileLimit reads at most limit+1 bytes of a file, so that a caller
// can tell an oversized file without reading all of it.
func readFileLimit(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, limit+1))
}
