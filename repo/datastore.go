package repo

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// MaxValueSize is the largest datastore value: the datastore holds small
// metadata (pins, names), not blocks.
const MaxValueSize = 1 << 20

// maxNameLen is the longest file name most Linux file systems allow.
const maxNameLen = 255

// Datastore is a small key/value store: one file per key in a directory.
// Keys are arbitrary non-empty byte strings (conventionally path-like, such
// as /pins/recursive/<cid>); each is escaped into a single file name, so no
// key can name a file outside the directory. Put is atomic (temporary file,
// fsync, rename): after a crash or a full disk a key holds either its old or
// its new value. Safe for concurrent use by goroutines of the process that
// holds the repository lock; concurrent Puts of one key leave one of the
// values.
type Datastore struct {
	dir string
}

// NewDatastore returns the datastore kept in dir, creating dir if needed.
// Repo.Datastore is the usual way to get one; this is for tools and tests
// that manage their own directory (one process at a time).
func NewDatastore(dir string) (*Datastore, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, ioError("create datastore directory", dir, err)
	}
	return &Datastore{dir: dir}, nil
}

// Dir returns the directory holding the datastore's files.
func (d *Datastore) Dir() string { return d.dir }

func (d *Datastore) path(key string) (string, error) {
	name, err := escapeKey(key)
	if err != nil {
		return "", err
	}
	return filepath.Join(d.dir, name), nil
}

// Get returns key's value, or an error wrapping ErrNotFound.
func (d *Datastore) Get(key string) ([]byte, error) {
	p, err := d.path(key)
	if err != nil {
		return nil, err
	}
	v, err := readFileLimit(p, MaxValueSize)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("datastore key %q: %w", key, ErrNotFound)
	}
	if err != nil {
		return nil, ioError("read datastore value", p, err)
	}
	if len(v) > MaxValueSize {
		return nil, fmt.Errorf("datastore value %s is over the %d-byte limit; delete it: %w", p, MaxValueSize, ErrCorrupt)
	}
	return v, nil
}

// Put stores value under key atomically, replacing any old value.
func (d *Datastore) Put(key string, value []byte) error {
	if len(value) > MaxValueSize {
		return fmt.Errorf("datastore value for %q is %d bytes, over the %d-byte limit: %w", key, len(value), MaxValueSize, ErrValueTooLarge)
	}
	p, err := d.path(key)
	if err != nil {
		return err
	}
	return writeFileAtomic(p, value, 0o600)
}

// Delete removes key. Deleting an absent key is not an error.
func (d *Datastore) Delete(key string) error {
	p, err := d.path(key)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil {
		if os.IsNotExist(err) {
			return nil
		}
		return ioError("delete datastore value", p, err)
	}
	return syncDir(d.dir)
}

// List returns the keys that start with prefix, sorted. Files in the
// directory that are not escaped keys (temporary files, strays) are ignored.
func (d *Datastore) List(prefix string) ([]string, error) {
	ents, err := os.ReadDir(d.dir)
	if err != nil {
		return nil, ioError("list datastore", d.dir, err)
	}
	var keys []string
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		k, err := unescapeKey(e.Name())
		if err != nil {
			continue
		}
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys, nil
}

// keyByteOK reports whether b stands for itself in an escaped key. '.' is
// not among them, so no escaped name is ".", ".." or starts with a dot.
func keyByteOK(b byte) bool {
	return 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' || b == '-' || b == '_'
}

const hexDigits = "0123456789ABCDEF"

// escapeKey maps a key to a file name: bytes in [A-Za-z0-9_-] stay, every
// other byte becomes %XX (uppercase hex). The mapping is one-to-one, the
// result never contains '/', NUL or a leading '.', and it fails with
// ErrInvalidKey for an empty key or one whose name would pass 255 bytes.
func escapeKey(key string) (string, error) {
	if key == "" {
		return "", fmt.Errorf("empty datastore key: %w", ErrInvalidKey)
	}
	var b strings.Builder
	for i := 0; i < len(key); i++ {
		c := key[i]
		if keyByteOK(c) {
			b.WriteByte(c)
		} else {
			b.WriteByte('%')
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&15])
		}
		if b.Len() > maxNameLen {
			return "", fmt.Errorf("datastore key %.40q... is too long: its escaped file name passes %d bytes: %w", key, maxNameLen, ErrInvalidKey)
		}
	}
	return b.String(), nil
}

// unescapeKey inverts escapeKey and accepts only names escapeKey produces,
// so every file name maps to at most one key.
func unescapeKey(name string) (string, error) {
	if name == "" || len(name) > maxNameLen {
		return "", fmt.Errorf("file name %q is not an escaped datastore key: %w", name, ErrInvalidKey)
	}
	out := make([]byte, 0, len(name))
	for i := 0; i < len(name); i++ {
		c := name[i]
		if keyByteOK(c) {
			out = append(out, c)
			continue
		}
		if c != '%' || i+2 >= len(name) {
			return "", fmt.Errorf("file name %q is not an escaped datastore key: %w", name, ErrInvalidKey)
		}
		hi, lo := strings.IndexByte(hexDigits, name[i+1]), strings.IndexByte(hexDigits, name[i+2])
		if hi < 0 || lo < 0 || keyByteOK(byte(hi<<4|lo)) {
			return "", fmt.Errorf("file name %q is not an escaped datastore key: %w", name, ErrInvalidKey)
		}
		out = append(out, byte(hi<<4|lo))
		i += 2
	}
	return string(out), nil
}
