package core

import (
	"context"
	"fmt"
	"io"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"
	_ "github.com/multiformats/go-multihash/register/blake3" // blake3 for multihash.Sum

	"node/blockstore"
	"node/dag"
)

// ParseCodec maps a codec name to its multicodec.
func ParseCodec(s string) (uint64, error) {
	switch s {
	case "raw":
		return cid.Raw, nil
	case "dag-pb":
		return cid.DagProtobuf, nil
	case "dag-cbor":
		return cid.DagCBOR, nil
	}
	return 0, fmt.Errorf("codec %q is not supported: use raw, dag-pb or dag-cbor", s)
}

// BlockPut stores bytes read from r as one block and returns its CID
// (CIDv1, or CIDv0 for dag-pb with sha2-256 when v0 is asked).
func BlockPut(ctx context.Context, store blockstore.Store, r io.Reader, codec, mhType uint64, version int) (cid.Cid, error) {
	data, err := io.ReadAll(io.LimitReader(r, blockstore.MaxBlockSize+1))
	if err != nil {
		return cid.Undef, fmt.Errorf("reading block: %w", err)
	}
	if len(data) > blockstore.MaxBlockSize {
		return cid.Undef, fmt.Errorf("block is over %d bytes: %w", blockstore.MaxBlockSize, blockstore.ErrTooLarge)
	}
	mh, err := multihash.Sum(data, mhType, -1)
	if err != nil {
		return cid.Undef, fmt.Errorf("hashing block: %w", err)
	}
	var c cid.Cid
	switch {
	case version == 0 && codec == cid.DagProtobuf && mhType == multihash.SHA2_256:
		c = cid.NewCidV0(mh)
	case version == 0:
		return cid.Undef, fmt.Errorf("CIDv0 can only name dag-pb blocks hashed with sha2-256")
	default:
		c = cid.NewCidV1(codec, mh)
	}
	// A block the node cannot decode would break pinning and GC later.
	if _, err := dag.Links(c, data); err != nil {
		return cid.Undef, fmt.Errorf("the bytes are not a valid %s block: %w", multicodecName(codec), err)
	}
	if err := store.Put(ctx, blockstore.Block{CID: c, Data: data}); err != nil {
		return cid.Undef, err
	}
	return c, Sync(ctx, store)
}

// ParseCID parses a CID argument, also accepting /ipfs/CID.
func ParseCID(s string) (cid.Cid, error) {
	if len(s) > 6 && s[:6] == "/ipfs/" {
		s = s[6:]
	}
	c, err := cid.Decode(s)
	if err != nil {
		return cid.Undef, fmt.Errorf("%q is not a valid CID: %w", s, err)
	}
	return c, blockstore.CheckCID(c)
}

func multicodecName(codec uint64) string {
	switch codec {
	case cid.Raw:
		return "raw"
	case cid.DagProtobuf:
		return "dag-pb"
	case cid.DagCBOR:
		return "dag-cbor"
	}
	return fmt.Sprintf("0x%x", codec)
}
