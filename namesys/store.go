package namesys

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"node/ipns"
	"node/repo"
)

// What the name system keeps in the local store (docs/ipns.md,
// "Publishing and resolving"):
//
//	/ipns/records/<k51... name>  the newest record this node signed for the
//	                             name, exactly as put into the DHT
//	/ipns/published              the index: which keys this node publishes
//	                             with, so the republisher can re-sign them
const (
	recordKeyPrefix = "/ipns/records/"
	indexKey        = "/ipns/published"

	// indexVersion is the version of the index format.
	indexVersion = 1

	// maxIndexSize bounds the index we are willing to parse; a node
	// publishes with a handful of keys.
	maxIndexSize = 1 << 20
)

func recordKey(n ipns.Name) string { return recordKeyPrefix + n.String() }

// index lists the keys this node has published with.
type index struct {
	// Keys maps a key name (as in the keystore) to what was last
	// published with it.
	Keys map[string]indexEntry
}

// indexEntry is one published key.
type indexEntry struct {
	// Name is the key's IPNS name. If the keystore's key under the same
	// name has another name, the key was replaced and the entry is stale.
	Name ipns.Name
	// Seq is the sequence number of the last record signed with the key:
	// a copy of the record's, so a lost or damaged record file cannot
	// make sequence numbers go back.
	Seq uint64
	// Lifetime is the validity the publisher asked for; the republisher
	// keeps it.
	Lifetime time.Duration
}

// indexJSON is the index as stored: JSON, so it can be read by a person.
//
//	{"version":1,"keys":{"self":{"name":"k51...","seq":7,"lifetime":"48h0m0s"}}}
type indexJSON struct {
	Version int                       `json:"version"`
	Keys    map[string]indexEntryJSON `json:"keys"`
}

type indexEntryJSON struct {
	Name     string `json:"name"`
	Seq      uint64 `json:"seq"`
	Lifetime string `json:"lifetime"`
}

// encodeIndex writes the index, keys sorted (encoding/json sorts map keys).
func encodeIndex(ix index) []byte {
	out := indexJSON{Version: indexVersion, Keys: make(map[string]indexEntryJSON, len(ix.Keys))}
	for k, e := range ix.Keys {
		out.Keys[k] = indexEntryJSON{Name: e.Name.String(), Seq: e.Seq, Lifetime: e.Lifetime.String()}
	}
	b, err := json.Marshal(out)
	if err != nil {
		panic(fmt.Sprintf("namesys: encoding the index: %v", err)) // plain strings and numbers always encode
	}
	return b
}

// decodeIndex parses a stored index. Every error wraps ErrCorruptIndex.
func decodeIndex(b []byte) (index, error) {
	bad := func(format string, args ...any) (index, error) {
		return index{}, fmt.Errorf("%w: %s", ErrCorruptIndex, fmt.Sprintf(format, args...))
	}
	if len(b) > maxIndexSize {
		return bad("%d bytes, over the %d-byte limit", len(b), maxIndexSize)
	}
	var in indexJSON
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&in); err != nil {
		return bad("%v", err)
	}
	if dec.More() {
		return bad("trailing data after the JSON object")
	}
	if in.Version != indexVersion {
		return bad("version %d, want %d", in.Version, indexVersion)
	}
	ix := index{Keys: make(map[string]indexEntry, len(in.Keys))}
	for _, k := range slices.Sorted(maps.Keys(in.Keys)) {
		e := in.Keys[k]
		if err := repo.ValidateKeyName(k); err != nil {
			return bad("key %q: %v", k, err)
		}
		n, err := ipns.ParseName(e.Name)
		if err != nil {
			return bad("key %q: %v", k, err)
		}
		lt, err := time.ParseDuration(e.Lifetime)
		if err != nil || lt <= 0 {
			return bad("key %q: lifetime %q is not a positive duration", k, e.Lifetime)
		}
		ix.Keys[k] = indexEntry{Name: n, Seq: e.Seq, Lifetime: lt}
	}
	return ix, nil
}

// loadIndex reads the index; an absent index is an empty one.
func (ns *NameSystem) loadIndex() (index, error) {
	b, err := ns.store.Get(indexKey)
	if errors.Is(err, repo.ErrNotFound) {
		return index{Keys: map[string]indexEntry{}}, nil
	}
	if err != nil {
		return index{}, fmt.Errorf("reading the index of published keys: %w", err)
	}
	ix, err := decodeIndex(b)
	if err != nil {
		return index{}, fmt.Errorf("%w; remove %q from the repository's datastore: the next publish with each key rebuilds it", err, indexKey)
	}
	return ix, nil
}

// updateIndex applies fn to the index and stores it.
func (ns *NameSystem) updateIndex(fn func(ix *index)) error {
	ns.indexMu.Lock()
	defer ns.indexMu.Unlock()
	ix, err := ns.loadIndex()
	if err != nil {
		return err
	}
	fn(&ix)
	if err := ns.store.Put(indexKey, encodeIndex(ix)); err != nil {
		return fmt.Errorf("writing the index of published keys: %w", err)
	}
	return nil
}

// localRecord returns the record this node last signed for n, or nil when
// there is none. A damaged record is logged and treated as absent; the
// index still holds its sequence number.
func (ns *NameSystem) localRecord(n ipns.Name) (*ipns.Record, []byte, error) {
	b, err := ns.store.Get(recordKey(n))
	if errors.Is(err, repo.ErrNotFound) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("reading the local record of %s: %w", n, err)
	}
	rec, err := ipns.Unmarshal(b)
	if err != nil {
		ns.log.Warn("ignoring a damaged local IPNS record; the next publish replaces it", "name", n.String(), "err", err)
		return nil, nil, nil
	}
	return rec, b, nil
}
