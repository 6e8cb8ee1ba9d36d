package pin

import (
	"context"
	"fmt"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"
)

// MissingBlockError says which block a DAG walk could not get. It unwraps
// to ErrMissingBlock and to the getter's error (such as blockstore.ErrNotFound).
type MissingBlockError struct {
	Root   cid.Cid // the DAG being walked
	CID    cid.Cid // the block that could not be got
	Parent cid.Cid // the block linking to it (cid.Undef for the root)
	Err    error   // the getter's error
}

func (e *MissingBlockError) Error() string {
	if !e.Parent.Defined() {
		return fmt.Sprintf("block %s (the root) cannot be got: %v", e.CID, e.Err)
	}
	return fmt.Sprintf("block %s (linked from %s, in the DAG under %s) cannot be got: %v", e.CID, e.Parent, e.Root, e.Err)
}

func (e *MissingBlockError) Unwrap() []error { return []error{ErrMissingBlock, e.Err} }

// isIdentity reports whether c's multihash is the identity hash: its bytes
// are inside the CID and never stored.
func isIdentity(c cid.Cid) bool { return c.Prefix().MhType == multihash.IDENTITY }

// walk visits root and every block reachable from it depth-first, calling
// visit (if not nil) once per block in pre-order. Blocks whose seenKey is in
// seen are skipped, with their subtrees; seen is updated, so one map shared
// across walks visits each block once overall. A raw-codec block has no
// links: when present is not nil, it checks such a block instead of get,
// so its bytes are not read.
func walk(ctx context.Context, get Getter, present func(context.Context, cid.Cid) error, links LinksFunc,
	root cid.Cid, seen map[string]struct{}, visit func(cid.Cid) error) error {
	type item struct{ c, parent cid.Cid }
	stack := []item{{c: root}}
	for len(stack) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		it := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		k := normKey(it.c)
		if _, ok := seen[k]; ok {
			continue
		}
		var data []byte
		var err error
		switch {
		case isIdentity(it.c):
			var dec *multihash.DecodedMultihash
			dec, err = multihash.Decode(it.c.Hash())
			if err == nil {
				data = dec.Digest
			}
		case it.c.Type() == cid.Raw && present != nil:
			err = present(ctx, it.c)
		default:
			data, err = get.Get(ctx, it.c)
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return &MissingBlockError{Root: root, CID: it.c, Parent: it.parent, Err: err}
		}
		seen[k] = struct{}{}
		if visit != nil {
			if err := visit(it.c); err != nil {
				return err
			}
		}
		if it.c.Type() == cid.Raw {
			continue
		}
		ls, err := links(it.c, data)
		if err != nil {
			return fmt.Errorf("read the links of block %s (in the DAG under %s): %w", it.c, root, err)
		}
		// Push in reverse so links are visited in order.
		for i := len(ls) - 1; i >= 0; i-- {
			if !ls[i].Defined() {
				return fmt.Errorf("block %s (in the DAG under %s) has an undefined link", it.c, root)
			}
			stack = append(stack, item{c: ls[i], parent: it.c})
		}
	}
	return nil
}
