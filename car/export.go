package car

import (
	"context"
	"fmt"
	"io"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"

	"node/blockstore"
	"node/dag"
)

// Export writes a CARv1 to w holding roots and every block reachable from
// them, in depth-first pre-order: a block, then the blocks under its first
// link, then under its second, and so on (links in the order dag.Links
// returns them), roots in the order given.
//
// Each CID is written once, the first time it is reached. Deduplication is
// by the whole CID, not the multihash: the same bytes reached as CIDv0 and
// as CIDv1, or under two codecs, are written once per CID, so a reader
// finds every CID the DAG names, and a block is always walked with the
// codec its link names.
//
// Blocks with an identity multihash are written too (their bytes come from
// the CID; get is not called for them), so the CAR is self-contained.
//
// Export streams: it holds one block at a time, the set of CIDs written and
// a stack of CIDs still to visit. It does not re-hash what get returns;
// pass a verifying getter (blockstore.Verifying) if the source is not
// trusted. A block get cannot supply fails the export with an error naming
// the CID and wrapping get's error (e.g. blockstore.ErrNotFound); a block
// whose codec dag.Links cannot read fails with dag.ErrUnsupportedCodec,
// since the export could not be complete. Output is buffered and flushed
// before Export returns nil.
func Export(ctx context.Context, get func(context.Context, cid.Cid) ([]byte, error), roots []cid.Cid, w io.Writer) error {
	cw, err := NewWriter(w, roots)
	if err != nil {
		return err
	}
	seen := make(map[string]struct{})
	stack := make([]cid.Cid, 0, 256)
	for i := len(roots) - 1; i >= 0; i-- {
		stack = append(stack, roots[i])
	}
	for len(stack) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		c := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if _, ok := seen[c.KeyString()]; ok {
			continue
		}
		seen[c.KeyString()] = struct{}{}
		data, err := blockData(ctx, get, c)
		if err != nil {
			return fmt.Errorf("car: export: block %s: %w", c, err)
		}
		if err := cw.Put(c, data); err != nil {
			return fmt.Errorf("car: export: writing block %s: %w", c, err)
		}
		links, err := dag.Links(c, data)
		if err != nil {
			return fmt.Errorf("car: export: %w", err)
		}
		for i := len(links) - 1; i >= 0; i-- {
			if _, ok := seen[links[i].KeyString()]; !ok {
				stack = append(stack, links[i])
			}
		}
	}
	if err := cw.Flush(); err != nil {
		return fmt.Errorf("car: export: %w", err)
	}
	return nil
}

// blockData returns c's bytes: the digest for an identity CID, else get's.
func blockData(ctx context.Context, get func(context.Context, cid.Cid) ([]byte, error), c cid.Cid) ([]byte, error) {
	if c.Prefix().MhType == multihash.IDENTITY {
		dm, err := multihash.Decode(c.Hash())
		if err != nil {
			return nil, err
		}
		return dm.Digest, nil
	}
	return get(ctx, c)
}

// Import batch limits: a batch goes to put when it holds this many blocks
// or this many bytes, whichever comes first.
const (
	importBatchBlocks = 64
	importBatchBytes  = 8 << 20
)

// Import reads a CAR (v1, or v2 through its payload) from r and hands its
// blocks to put in batches (up to 64 blocks or 8 MiB). Every block is
// checked against its CID before it is batched, so put only ever sees
// verified blocks. Import returns the header's roots and n, the number of
// blocks put successfully.
//
// Import stores; it does not pin and it does not check that the DAG under
// the roots is complete. On error, some verified blocks may already be
// stored (n says how many) and that is harmless: they are unpinned and
// garbage collection reclaims them. On success the caller should still
// walk the DAG from the roots before pinning them, because a CAR cut at a
// section boundary reads as a shorter, valid CAR (see docs/car.md).
// A put error is returned wrapped; a CAR with no blocks is not an error.
func Import(ctx context.Context, r io.Reader, put func(context.Context, []blockstore.Block) error) (roots []cid.Cid, n int, err error) {
	cr, err := NewReader(r)
	if err != nil {
		return nil, 0, err
	}
	roots = cr.Roots()
	batch := make([]blockstore.Block, 0, importBatchBlocks)
	size := 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := put(ctx, batch); err != nil {
			return fmt.Errorf("car: import: storing blocks %d to %d: %w", n+1, n+len(batch), err)
		}
		n += len(batch)
		// put may keep the slice; start a new one rather than reuse it.
		batch = make([]blockstore.Block, 0, importBatchBlocks)
		size = 0
		return nil
	}
	for {
		if err := ctx.Err(); err != nil {
			return roots, n, err
		}
		b, err := cr.Next()
		if err == io.EOF { // Next returns io.EOF itself at a clean end
			break
		}
		if err != nil {
			return roots, n, err
		}
		batch = append(batch, b)
		size += len(b.Data)
		if len(batch) >= importBatchBlocks || size >= importBatchBytes {
			if err := flush(); err != nil {
				return roots, n, err
			}
		}
	}
	if err := flush(); err != nil {
		return roots, n, err
	}
	return roots, n, nil
}
