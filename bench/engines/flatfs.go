package main

import (
	"encoding/base32"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// flatfs: one file per block, <dir>/<shard>/<KEY>.data, KEY the unpadded
// upper-case base32 of the multihash, shard its next-to-last two characters
// (what go-ds-flatfs does for the reference implementation). A put writes a
// temporary file in the shard directory and renames it into place.
//
// syncEach: fsync each file before the rename and the directory after it
// (go-ds-flatfs with sync=true, the reference default). Otherwise nothing
// is fsynced per file and Sync calls syncfs(2) on the whole file system.
type flatfs struct {
	dir      string
	syncEach bool
}

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

func openFlatfs(dir string, syncEach bool) (engine, error) {
	return &flatfs{dir: dir, syncEach: syncEach}, os.MkdirAll(dir, 0o755)
}

func (f *flatfs) path(key []byte) (string, string) {
	k := b32.EncodeToString(key)
	shard := k[len(k)-3 : len(k)-1]
	return filepath.Join(f.dir, shard), k + ".data"
}

func (f *flatfs) PutMany(keys, vals [][]byte) error {
	for i, k := range keys {
		dir, name := f.path(k)
		final := filepath.Join(dir, name)
		if _, err := os.Stat(final); err == nil {
			continue
		}
		tmp, err := os.CreateTemp(dir, "put-")
		if errors.Is(err, fs.ErrNotExist) {
			if err = os.MkdirAll(dir, 0o755); err == nil {
				tmp, err = os.CreateTemp(dir, "put-")
			}
		}
		if err != nil {
			return err
		}
		if _, err := tmp.Write(vals[i]); err != nil {
			tmp.Close()
			return err
		}
		if f.syncEach {
			if err := unix.Fdatasync(int(tmp.Fd())); err != nil {
				tmp.Close()
				return err
			}
		}
		if err := tmp.Close(); err != nil {
			return err
		}
		if err := os.Rename(tmp.Name(), final); err != nil {
			return err
		}
		if f.syncEach {
			d, err := os.Open(dir)
			if err != nil {
				return err
			}
			err = d.Sync()
			d.Close()
			if err != nil {
				return err
			}
		}
	}
	return nil
}

func (f *flatfs) Sync() error {
	if f.syncEach {
		return nil
	}
	d, err := os.Open(f.dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return unix.Syncfs(int(d.Fd()))
}

func (f *flatfs) Get(key []byte) ([]byte, error) {
	dir, name := f.path(key)
	b, err := os.ReadFile(filepath.Join(dir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, errNotFound
	}
	return b, err
}

func (f *flatfs) Delete(key []byte) error {
	dir, name := f.path(key)
	err := os.Remove(filepath.Join(dir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

func (f *flatfs) Keys(fn func([]byte)) error {
	shards, err := os.ReadDir(f.dir)
	if err != nil {
		return err
	}
	for _, s := range shards {
		if !s.IsDir() {
			continue
		}
		d, err := os.Open(filepath.Join(f.dir, s.Name()))
		if err != nil {
			return err
		}
		names, err := d.Readdirnames(-1)
		d.Close()
		if err != nil {
			return err
		}
		for _, n := range names {
			k, ok := strings.CutSuffix(n, ".data")
			if !ok {
				continue
			}
			key, err := b32.DecodeString(k)
			if err != nil {
				continue
			}
			fn(key)
		}
	}
	return nil
}

func (f *flatfs) Close() error { return f.Sync() }
