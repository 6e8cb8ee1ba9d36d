package pin

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/ipfs/go-cid"
)

var (
	// ErrNotPinned is returned (wrapped) by Unpin for a CID that is neither
	// a recursive nor a direct pin.
	ErrNotPinned = errors.New("not pinned or pinned indirectly")
	// ErrPinnedRecursively is returned (wrapped) by Unpin(recursive=false)
	// on a recursive pin.
	ErrPinnedRecursively = errors.New("pinned recursively")
	// ErrAlreadyPinned is returned (wrapped) by PinDirect on a recursive pin.
	ErrAlreadyPinned = errors.New("already pinned recursively")
	// ErrMissingBlock is returned (wrapped, as a *MissingBlockError) when a
	// DAG walk cannot get a block.
	ErrMissingBlock = errors.New("block missing from DAG")
	// ErrCorruptRecord is returned (wrapped) by New for an undecodable pin record.
	ErrCorruptRecord = errors.New("corrupt pin record")
)

// Datastore is the key/value store pins are recorded in (repo.Datastore).
type Datastore interface {
	Get(key string) ([]byte, error)
	Put(key string, value []byte) error
	Delete(key string) error
	List(prefix string) ([]string, error)
}

// Getter gets a block's bytes by CID.
type Getter interface {
	Get(ctx context.Context, c cid.Cid) ([]byte, error)
}

// LinksFunc lists the CIDs a block links to, decoding data according to
// c's codec (dag.Links has this signature).
type LinksFunc func(c cid.Cid, data []byte) ([]cid.Cid, error)

// Mode is a kind of pin; All selects every kind in List.
type Mode int

const (
	All       Mode = iota // every pin (List only)
	Recursive             // a root and all its descendants
	Direct                // one block
	Indirect              // a descendant of a recursive pin
)

func (m Mode) String() string {
	switch m {
	case All:
		return "all"
	case Recursive:
		return "recursive"
	case Direct:
		return "direct"
	case Indirect:
		return "indirect"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// ParseMode reads "all", "recursive", "direct" or "indirect" (as in
// `node pin ls --type`).
func ParseMode(s string) (Mode, error) {
	for _, m := range []Mode{All, Recursive, Direct, Indirect} {
		if strings.EqualFold(s, m.String()) {
			return m, nil
		}
	}
	return 0, fmt.Errorf("unknown pin type %q: want all, recursive, direct or indirect", s)
}

// Pin is one pinned CID. Via is the recursive pin an indirect pin was found
// under (cid.Undef otherwise).
type Pin struct {
	CID  cid.Cid
	Mode Mode
	Via  cid.Cid
}

const (
	prefixRecursive = "/pins/recursive/"
	prefixDirect    = "/pins/direct/"
)

// Pinner records pins and answers which CIDs are pinned. It is safe for
// concurrent use.
type Pinner struct {
	ds     Datastore
	blocks Getter
	links  LinksFunc
	gc     gcLock

	mu        sync.Mutex         // guards recursive and direct, and keeps datastore writes in step with them
	recursive map[string]cid.Cid // normKey -> CID as pinned
	direct    map[string]cid.Cid // normKey -> CID as pinned
}

// New loads the pins recorded in ds. blocks is where PinRecursive,
// PinDirect, List and IsPinned get blocks from; links decodes them.
func New(ds Datastore, blocks Getter, links LinksFunc) (*Pinner, error) {
	p := &Pinner{
		ds: ds, blocks: blocks, links: links,
		recursive: map[string]cid.Cid{},
		direct:    map[string]cid.Cid{},
	}
	p.gc.init()
	for prefix, set := range map[string]map[string]cid.Cid{prefixRecursive: p.recursive, prefixDirect: p.direct} {
		keys, err := ds.List(prefix)
		if err != nil {
			return nil, fmt.Errorf("load pins: %w", err)
		}
		for _, k := range keys {
			v, err := ds.Get(k)
			if err != nil {
				return nil, fmt.Errorf("load pin %s: %w", k, err)
			}
			c, err := decodeRecord(strings.TrimPrefix(k, prefix), v)
			if err != nil {
				return nil, fmt.Errorf("pin record %q in the datastore: %w; delete that key and pin the CID again", k, err)
			}
			set[normKey(c)] = c
		}
	}
	return p, nil
}

// normKey is the CIDv1 string of c: the same for a CIDv0 and its CIDv1.
func normKey(c cid.Cid) string {
	return cid.NewCidV1(c.Type(), c.Hash()).String()
}

// decodeRecord reads a pin record: its value is the pinned CID's bytes,
// and its key's last segment must be that CID's normKey.
func decodeRecord(keyTail string, value []byte) (cid.Cid, error) {
	c, err := cid.Cast(value)
	if err != nil {
		return cid.Undef, fmt.Errorf("value is not a CID (%v): %w", err, ErrCorruptRecord)
	}
	if normKey(c) != keyTail {
		return cid.Undef, fmt.Errorf("key names %q but the value holds %s: %w", keyTail, c, ErrCorruptRecord)
	}
	return c, nil
}

// PinLock holds off GC until unlock is called. Hold it from the first block
// put of an import until the import's pin is recorded. It waits while a GC
// runs and returns ctx's error if ctx ends first. Holders may nest and may
// call the Pin methods.
func (p *Pinner) PinLock(ctx context.Context) (unlock func(), err error) {
	if err := p.gc.rlock(ctx); err != nil {
		return nil, fmt.Errorf("wait for garbage collection to finish: %w", err)
	}
	var once sync.Once
	return func() { once.Do(p.gc.runlock) }, nil
}

// PinRecursive pins c and everything reachable from it. It first walks the
// whole DAG through the Pinner's getter and fails with a *MissingBlockError
// (wrapping ErrMissingBlock) naming the first block it cannot get. Pinning
// an existing recursive pin again is a no-op; a direct pin of c becomes
// recursive.
func (p *Pinner) PinRecursive(ctx context.Context, c cid.Cid) error {
	unlock, err := p.PinLock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	k := normKey(c)
	p.mu.Lock()
	_, done := p.recursive[k]
	p.mu.Unlock()
	if done {
		return nil
	}
	if err := walk(ctx, p.blocks, nil, p.links, c, map[string]struct{}{}, nil); err != nil {
		return fmt.Errorf("pin %s recursively: %w", c, err)
	}
	return p.recordRecursive(c, k)
}

// PinImported records a recursive pin of a DAG the caller has just written
// whole to the store, without walking it again: an import that holds
// PinLock from its first block to this call. Use PinRecursive for anything
// else.
func (p *Pinner) PinImported(ctx context.Context, c cid.Cid) error {
	unlock, err := p.PinLock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	return p.recordRecursive(c, normKey(c))
}

// recordRecursive writes a recursive pin, replacing a direct pin of c.
func (p *Pinner) recordRecursive(c cid.Cid, k string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.recursive[k]; ok {
		return nil
	}
	if err := p.ds.Put(prefixRecursive+k, c.Bytes()); err != nil {
		return fmt.Errorf("record recursive pin %s: %w", c, err)
	}
	p.recursive[k] = c
	if _, ok := p.direct[k]; ok {
		if err := p.ds.Delete(prefixDirect + k); err != nil {
			return fmt.Errorf("pinned %s recursively, but could not drop its direct pin record: %w", c, err)
		}
		delete(p.direct, k)
	}
	return nil
}

// PinDirect pins the single block c, which the getter must be able to get.
// It fails with ErrAlreadyPinned if c is pinned recursively.
func (p *Pinner) PinDirect(ctx context.Context, c cid.Cid) error {
	unlock, err := p.PinLock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	k := normKey(c)
	p.mu.Lock()
	_, rec := p.recursive[k]
	_, dir := p.direct[k]
	p.mu.Unlock()
	if rec {
		return fmt.Errorf("pin %s directly: %w; unpin it first to keep only its root block", c, ErrAlreadyPinned)
	}
	if dir {
		return nil
	}
	if !isIdentity(c) {
		if _, err := p.blocks.Get(ctx, c); err != nil {
			return fmt.Errorf("pin %s directly: %w", c, &MissingBlockError{Root: c, CID: c, Err: err})
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, rec := p.recursive[k]; rec {
		return fmt.Errorf("pin %s directly: %w; unpin it first to keep only its root block", c, ErrAlreadyPinned)
	}
	if err := p.ds.Put(prefixDirect+k, c.Bytes()); err != nil {
		return fmt.Errorf("record direct pin %s: %w", c, err)
	}
	p.direct[k] = c
	return nil
}

// Unpin removes c's pin. A recursive pin is removed only when recursive is
// true (else ErrPinnedRecursively); a direct pin is removed either way. A
// CID that is not pinned, or only indirectly, fails with ErrNotPinned.
func (p *Pinner) Unpin(ctx context.Context, c cid.Cid, recursive bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	k := normKey(c)
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.recursive[k]; ok {
		if !recursive {
			return fmt.Errorf("unpin %s: %w: unpin it recursively", c, ErrPinnedRecursively)
		}
		if err := p.ds.Delete(prefixRecursive + k); err != nil {
			return fmt.Errorf("unpin %s: %w", c, err)
		}
		delete(p.recursive, k)
		return nil
	}
	if _, ok := p.direct[k]; ok {
		if err := p.ds.Delete(prefixDirect + k); err != nil {
			return fmt.Errorf("unpin %s: %w", c, err)
		}
		delete(p.direct, k)
		return nil
	}
	return fmt.Errorf("%s: %w", c, ErrNotPinned)
}

// snapshot returns the recursive and direct pins, each sorted by string.
func (p *Pinner) snapshot() (rec, dir []cid.Cid) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.recursive {
		rec = append(rec, c)
	}
	for _, c := range p.direct {
		dir = append(dir, c)
	}
	byString := func(a, b cid.Cid) int { return strings.Compare(a.String(), b.String()) }
	slices.SortFunc(rec, byString)
	slices.SortFunc(dir, byString)
	return rec, dir
}

// List returns the pins of one mode, or of every mode with All, where each
// CID appears once under its strongest mode (recursive, then direct, then
// indirect). Recursive and direct pins come sorted; indirect pins in walk
// order, each with the recursive pin it was reached from. Listing indirect
// pins walks every recursive DAG and fails like PinRecursive if a block
// cannot be got.
func (p *Pinner) List(ctx context.Context, mode Mode) ([]Pin, error) {
	rec, dir := p.snapshot()
	var out []Pin
	if mode == All || mode == Recursive {
		for _, c := range rec {
			out = append(out, Pin{CID: c, Mode: Recursive})
		}
	}
	if mode == All || mode == Direct {
		for _, c := range dir {
			if mode == All && p.isRecursive(c) {
				continue
			}
			out = append(out, Pin{CID: c, Mode: Direct})
		}
	}
	if mode == All || mode == Indirect {
		skip := map[string]bool{}
		for _, c := range rec {
			skip[normKey(c)] = true
		}
		if mode == All {
			for _, c := range dir {
				skip[normKey(c)] = true
			}
		}
		seen := map[string]struct{}{}
		for _, root := range rec {
			err := walk(ctx, p.blocks, nil, p.links, root, seen, func(c cid.Cid) error {
				if !skip[normKey(c)] {
					out = append(out, Pin{CID: c, Mode: Indirect, Via: root})
				}
				return nil
			})
			if err != nil {
				return nil, fmt.Errorf("list indirect pins under %s: %w", root, err)
			}
		}
	}
	if mode < All || mode > Indirect {
		return nil, fmt.Errorf("list pins: unknown mode %d", int(mode))
	}
	return out, nil
}

func (p *Pinner) isRecursive(c cid.Cid) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, ok := p.recursive[normKey(c)]
	return ok
}

// errFound stops a walk early.
var errFound = errors.New("found")

// IsPinned reports how c is pinned: recursively, directly, or indirectly
// (then Via names a recursive pin it is under, found by walking).
func (p *Pinner) IsPinned(ctx context.Context, c cid.Cid) (Pin, bool, error) {
	k := normKey(c)
	p.mu.Lock()
	rc, rec := p.recursive[k]
	dc, dir := p.direct[k]
	p.mu.Unlock()
	if rec {
		return Pin{CID: rc, Mode: Recursive}, true, nil
	}
	if dir {
		return Pin{CID: dc, Mode: Direct}, true, nil
	}
	roots, _ := p.snapshot()
	seen := map[string]struct{}{}
	for _, root := range roots {
		err := walk(ctx, p.blocks, nil, p.links, root, seen, func(d cid.Cid) error {
			if normKey(d) == k {
				return errFound
			}
			return nil
		})
		if errors.Is(err, errFound) {
			return Pin{CID: c, Mode: Indirect, Via: root}, true, nil
		}
		if err != nil {
			return Pin{}, false, fmt.Errorf("check whether %s is pinned under %s: %w", c, root, err)
		}
	}
	return Pin{}, false, nil
}
