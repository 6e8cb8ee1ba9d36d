package repo

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// Version is the repository format this code reads and writes.
const Version = 1

// EnvPath is the environment variable naming the repository.
const EnvPath = "NODE_PATH"

// File and directory names inside the repository root.
const (
	configName    = "config"
	versionName   = "version"
	keystoreName  = "keystore"
	blocksName    = "blocks"
	datastoreName = "datastore"
)

// Names of the address files a running daemon publishes with SetAddr.
const (
	AddrAPI     = "api"
	AddrGateway = "gateway"
)

// DefaultPath returns the repository path: $NODE_PATH if set, else ~/.node,
// made absolute.
func DefaultPath() (string, error) {
	p := os.Getenv(EnvPath)
	if p == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("cannot find the home directory for the default repository ~/.node (%v): set %s", err, EnvPath)
		}
		p = filepath.Join(home, ".node")
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", fmt.Errorf("repository path %q: %w", p, err)
	}
	return abs, nil
}

func noRepo(root string) error {
	return errorf(ErrNoRepo, "no repository at %s; run `node init` (or set %s)", root, EnvPath)
}

// Init creates a repository at root with a new Ed25519 identity and the
// configuration of profile ("" or "test", see Default). root may exist but
// must not hold a repository already (ErrRepoExists).
func Init(root string, profile string) (*Config, error) {
	cfg, err := Default(profile)
	if err != nil {
		return nil, err
	}
	root = filepath.Clean(root)
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, ioError("create repository directory", root, err)
	}
	lock, err := acquireLock(root)
	if err != nil {
		return nil, err
	}
	defer lock.release()
	for _, n := range []string{configName, versionName} {
		if _, err := os.Lstat(filepath.Join(root, n)); err == nil {
			return nil, errorf(ErrRepoExists, "a repository already exists at %s; use it, or remove it (or set %s to another directory) and run `node init` again", root, EnvPath)
		} else if !os.IsNotExist(err) {
			return nil, ioError("check", filepath.Join(root, n), err)
		}
	}
	sk, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate identity key: %w", err)
	}
	raw, err := crypto.MarshalPrivateKey(sk)
	if err != nil {
		return nil, fmt.Errorf("encode identity key: %w", err)
	}
	id, err := peer.IDFromPrivateKey(sk)
	if err != nil {
		return nil, fmt.Errorf("derive peer ID: %w", err)
	}
	cfg.Identity = Identity{PeerID: id.String(), PrivKey: base64.StdEncoding.EncodeToString(raw)}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("built-in profile %q is invalid (a bug): %w", profile, err)
	}
	for _, d := range []string{keystoreName, blocksName, datastoreName} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o700); err != nil {
			return nil, ioError("create", filepath.Join(root, d), err)
		}
	}
	data, err := encodeConfig(cfg)
	if err != nil {
		return nil, err
	}
	if err := writeFileAtomic(filepath.Join(root, configName), data, 0o600); err != nil {
		return nil, err
	}
	// The version file comes last: its presence marks a complete repository.
	if err := writeFileAtomic(filepath.Join(root, versionName), []byte(strconv.Itoa(Version)+"\n"), 0o644); err != nil {
		return nil, err
	}
	return cfg.Clone(), nil
}

// ReadConfig reads and validates root's config without taking the lock, for
// a CLI that only needs to find the daemon. It may see a config the lock
// holder is about to replace, never a half-written one.
func ReadConfig(root string) (*Config, error) {
	root = filepath.Clean(root)
	p := filepath.Join(root, configName)
	data, err := readSmallFile(p, maxConfigSize)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, noRepo(root)
		}
		return nil, err
	}
	cfg, err := decodeConfig(data)
	if err == nil {
		err = cfg.Validate()
	}
	if err != nil {
		return nil, fmt.Errorf("config file %s: %w; fix it by hand (docs/repo.md lists the keys)", p, err)
	}
	return cfg, nil
}

func readSmallFile(p string, limit int64) ([]byte, error) {
	data, err := readFileLimit(p, limit)
	if err != nil && !os.IsNotExist(err) {
		return nil, ioError("read", p, err)
	}
	return data, err
}

// parseVersion reads the version file's bytes.
func parseVersion(data []byte) (int, error) {
	s := strings.TrimSpace(string(data))
	v, err := strconv.Atoi(s)
	if err != nil || v <= 0 || len(data) > 64 {
		return 0, fmt.Errorf("version file holds %.20q, not a positive number: %w", s, ErrCorrupt)
	}
	return v, nil
}

// Repo is an open repository. It holds the lock until Close.
type Repo struct {
	root string
	sk   crypto.PrivKey
	id   peer.ID
	ds   *Datastore
	ks   *Keystore

	mu     sync.Mutex // guards cfg, closed, lock and addrs (SetConfigValue, SetAddr and Close race)
	cfg    *Config
	closed bool
	lock   *fileLock
	addrs  map[string]bool // address files this Repo wrote, removed on Close
}

// Open opens the repository at root and takes its lock. It fails with an
// error wrapping ErrNoRepo if there is none, or a *LockError (wrapping
// ErrLocked) naming the process that holds it.
func Open(root string) (r *Repo, err error) {
	root = filepath.Clean(root)
	if _, err := os.Stat(filepath.Join(root, configName)); err != nil {
		if os.IsNotExist(err) || errors.Is(err, os.ErrNotExist) {
			return nil, noRepo(root)
		}
		return nil, ioError("open repository", root, err)
	}
	lock, err := acquireLock(root)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			lock.release()
		}
	}()
	vp := filepath.Join(root, versionName)
	vdata, err := readSmallFile(vp, 64)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, errorf(ErrCorrupt, "repository %s is incomplete: it has no version file (was `node init` interrupted?); remove %s and run `node init` again", root, root)
		}
		return nil, err
	}
	v, err := parseVersion(vdata)
	if err != nil {
		return nil, fmt.Errorf("%s: %w; it should hold %d", vp, err, Version)
	}
	if v != Version {
		return nil, errorf(ErrCorrupt, "repository %s has format version %d; this node reads version %d: use a matching node binary", root, v, Version)
	}
	cfg, err := ReadConfig(root)
	if err != nil {
		return nil, err
	}
	sk, id, err := cfg.DecodeIdentity()
	if err != nil {
		return nil, fmt.Errorf("config file %s: %w", filepath.Join(root, configName), err)
	}
	for _, d := range []string{"", keystoreName, datastoreName} {
		dir := filepath.Join(root, d)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, ioError("create", dir, err)
		}
		if err := removeTempFiles(dir); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(filepath.Join(root, blocksName), 0o700); err != nil {
		return nil, ioError("create", filepath.Join(root, blocksName), err)
	}
	return &Repo{
		root:  root,
		sk:    sk,
		id:    id,
		ds:    &Datastore{dir: filepath.Join(root, datastoreName)},
		ks:    &Keystore{dir: filepath.Join(root, keystoreName), self: sk},
		cfg:   cfg,
		lock:  lock,
		addrs: map[string]bool{},
	}, nil
}

// Close removes the address files this Repo published and releases the lock.
func (r *Repo) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	var errs []error
	for name := range r.addrs {
		if err := os.Remove(filepath.Join(r.root, name)); err != nil && !os.IsNotExist(err) {
			errs = append(errs, err)
		}
	}
	errs = append(errs, r.lock.release())
	return errors.Join(errs...)
}

// Root returns the repository's directory.
func (r *Repo) Root() string { return r.root }

// BlocksDir returns the directory the block store keeps its files in.
func (r *Repo) BlocksDir() string { return filepath.Join(r.root, blocksName) }

// Datastore returns the repository's key/value store.
func (r *Repo) Datastore() *Datastore { return r.ds }

// Keystore returns the repository's named keys.
func (r *Repo) Keystore() *Keystore { return r.ks }

// Identity returns the node's private key and peer ID.
func (r *Repo) Identity() (crypto.PrivKey, peer.ID) { return r.sk, r.id }

// Config returns a copy of the current configuration.
func (r *Repo) Config() *Config {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cfg.Clone()
}

// ConfigValue returns the JSON value of a dotted key such as Addresses.API.
// Unknown keys fail with ErrConfigKey; Identity.PrivKey is never returned.
func (r *Repo) ConfigValue(key string) (json.RawMessage, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return getConfigValue(r.cfg, key)
}

// SetConfigValue sets a dotted key. With asJSON the value is parsed as JSON
// (numbers, booleans, arrays, objects, quoted strings); otherwise it is taken
// as a string, which only string fields accept. The new config is validated
// and written atomically; on any error the old config stays, on disk and in
// memory. Identity.* cannot be set.
func (r *Repo) SetConfigValue(key, value string, asJSON bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return fmt.Errorf("set config %s: repository %s is closed", key, r.root)
	}
	cfg, err := setConfigValue(r.cfg, key, value, asJSON)
	if err != nil {
		return err
	}
	data, err := encodeConfig(cfg)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(filepath.Join(r.root, configName), data, 0o600); err != nil {
		return fmt.Errorf("set config %s: %w", key, err)
	}
	r.cfg = cfg
	return nil
}

// SetAddr publishes the address a service actually listens on (name is
// AddrAPI or AddrGateway) in <root>/<name>, so that CLIs find a daemon
// configured with port 0. Close removes the file.
func (r *Repo) SetAddr(name, addr string) error {
	if name != AddrAPI && name != AddrGateway {
		return fmt.Errorf("address file name %q: want %q or %q", name, AddrAPI, AddrGateway)
	}
	if _, err := parseAddrFile([]byte(addr)); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return fmt.Errorf("publish %s address: repository %s is closed", name, r.root)
	}
	if err := writeFileAtomic(filepath.Join(r.root, name), []byte(addr+"\n"), 0o644); err != nil {
		return err
	}
	r.addrs[name] = true
	return nil
}

// ReadAddr returns the multiaddr a running daemon published with SetAddr,
// without taking the lock. It fails with ErrNotFound when there is none. A
// daemon killed without Close leaves its file behind: a CLI that cannot
// connect should say so rather than trust the file blindly.
func ReadAddr(root, name string) (string, error) {
	if name != AddrAPI && name != AddrGateway {
		return "", fmt.Errorf("address file name %q: want %q or %q", name, AddrAPI, AddrGateway)
	}
	p := filepath.Join(filepath.Clean(root), name)
	data, err := readSmallFile(p, 1024)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", errorf(ErrNotFound, "no %s address file %s: is `node daemon` running on this repository?", name, p)
		}
		return "", err
	}
	addr, err := parseAddrFile(data)
	if err != nil {
		return "", fmt.Errorf("address file %s: %w; remove it if no daemon is running", p, err)
	}
	return addr, nil
}

// parseAddrFile reads an address file's bytes: one multiaddr.
func parseAddrFile(data []byte) (string, error) {
	if len(data) > 1024 {
		return "", fmt.Errorf("address is over 1024 bytes: %w", ErrCorrupt)
	}
	s := strings.TrimSpace(string(data))
	if _, err := ma.NewMultiaddr(s); err != nil {
		return "", fmt.Errorf("%.60q is not a multiaddr (%v): %w", s, err, ErrCorrupt)
	}
	return s, nil
}
