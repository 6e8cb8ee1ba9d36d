package repo

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/libp2p/go-libp2p/core/crypto"
)

// SelfKey is the keystore name of the node's own identity key, which lives
// in the config (Identity.PrivKey), not in keystore/.
const SelfKey = "self"

// MaxKeyNameLen is the longest key name, in bytes.
const MaxKeyNameLen = 128

// maxKeyFileSize bounds a key file we are willing to parse.
const maxKeyFileSize = 64 << 10

// Keystore holds named private keys (for IPNS names and the like): one file
// per name under keystore/, containing the libp2p-marshalled private key,
// mode 0600. The name "self" always means the node's identity key.
type Keystore struct {
	dir  string
	self crypto.PrivKey
}

// ValidateKeyName checks that name can be a key file name: 1 to 128 bytes
// of UTF-8, no '/', '\', NUL or control characters, and no leading '.'
// (which also rules out "." and ".."). It does not reject "self".
func ValidateKeyName(name string) error {
	bad := func(why string) error {
		return fmt.Errorf("key name %q %s: %w", name, why, ErrBadKeyName)
	}
	switch {
	case name == "":
		return bad("is empty")
	case len(name) > MaxKeyNameLen:
		return bad(fmt.Sprintf("is %d bytes, over the %d-byte limit", len(name), MaxKeyNameLen))
	case !utf8.ValidString(name):
		return bad("is not valid UTF-8")
	case strings.HasPrefix(name, "."):
		return bad("starts with '.'")
	case strings.ContainsAny(name, "/\\"):
		return bad("contains a slash")
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return bad("contains a control character")
		}
	}
	return nil
}

func (k *Keystore) path(name string) (string, error) {
	if err := ValidateKeyName(name); err != nil {
		return "", err
	}
	return filepath.Join(k.dir, name), nil
}

// Put stores key under name. It fails with ErrKeyExists if the name is
// taken (including "self"): delete the old key first to replace it.
func (k *Keystore) Put(name string, key crypto.PrivKey) error {
	p, err := k.path(name)
	if err != nil {
		return err
	}
	if name == SelfKey {
		return fmt.Errorf("key name %q is reserved for the node's identity: %w", name, ErrKeyExists)
	}
	data, err := crypto.MarshalPrivateKey(key)
	if err != nil {
		return fmt.Errorf("encode key %q: %w", name, err)
	}
	if err := createFileAtomic(p, data, 0o600); err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("a key named %q already exists; remove it first with `node key rm %s`: %w", name, name, ErrKeyExists)
		}
		return err
	}
	return nil
}

// Get returns the key stored under name, or an error wrapping ErrNoSuchKey.
func (k *Keystore) Get(name string) (crypto.PrivKey, error) {
	if name == SelfKey {
		return k.self, nil
	}
	p, err := k.path(name)
	if err != nil {
		return nil, err
	}
	data, err := readFileLimit(p, maxKeyFileSize)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no key named %q (see `node key list`): %w", name, ErrNoSuchKey)
	}
	if err != nil {
		return nil, ioError("read key", p, err)
	}
	sk, err := decodeKeyFile(data)
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w; delete it with `node key rm %s` or restore it from a backup", p, err, name)
	}
	return sk, nil
}

// decodeKeyFile parses a key file's bytes.
func decodeKeyFile(data []byte) (crypto.PrivKey, error) {
	if len(data) > maxKeyFileSize {
		return nil, fmt.Errorf("file is over %d bytes: %w", maxKeyFileSize, ErrCorrupt)
	}
	sk, err := crypto.UnmarshalPrivateKey(data)
	if err != nil {
		return nil, fmt.Errorf("not a libp2p private key (%v): %w", err, ErrCorrupt)
	}
	return sk, nil
}

// List returns the key names, sorted, always including "self".
func (k *Keystore) List() ([]string, error) {
	ents, err := os.ReadDir(k.dir)
	if err != nil {
		return nil, ioError("list keystore", k.dir, err)
	}
	names := []string{SelfKey}
	for _, e := range ents {
		n := e.Name()
		if e.Type().IsRegular() && n != SelfKey && ValidateKeyName(n) == nil {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names, nil
}

// Delete removes the key stored under name; "self" cannot be removed.
func (k *Keystore) Delete(name string) error {
	if name == SelfKey {
		return fmt.Errorf("the %q key is the node's identity and cannot be removed: %w", name, ErrBadKeyName)
	}
	p, err := k.path(name)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil {
		if os.IsNotExist(err) {
			return fmt.Errorf("no key named %q (see `node key list`): %w", name, ErrNoSuchKey)
		}
		return ioError("remove key", p, err)
	}
	return syncDir(k.dir)
}
