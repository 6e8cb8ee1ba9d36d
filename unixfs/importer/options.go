package importer

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"
	"github.com/zeebo/blake3"

	"node/blockstore"
)

// Defaults of the reference IPFS implementation.
const (
	DefaultChunkSize = 256 << 10
	// DefaultMaxLinks is how many children a file node holds at most:
	// 8 KiB of links at about 47 bytes each.
	DefaultMaxLinks = 174
	// DefaultHAMTThreshold is the estimated directory size (names plus CID
	// bytes of its links) above which a directory becomes a HAMT shard.
	DefaultHAMTThreshold = 256 << 10
	// HAMTFanout is the number of slots in each HAMT shard.
	HAMTFanout = 256
	// MaxChunkSize leaves room for the UnixFS framing of a non-raw leaf.
	MaxChunkSize = blockstore.MaxBlockSize - 256
)

// Options say how content becomes blocks. The zero value is not valid; use
// DefaultOptions and adjust.
type Options struct {
	// CIDVersion is 0 or 1. CIDv0 requires sha2-256.
	CIDVersion int
	// RawLeaves stores file data in raw blocks instead of UnixFS leaves.
	RawLeaves bool
	// ChunkSize is the fixed size of file chunks.
	ChunkSize int
	// HashFunction is a multihash code: multihash.SHA2_256 or multihash.BLAKE3.
	HashFunction uint64
	// MaxLinks bounds the children of a file node.
	MaxLinks int
	// HAMTThreshold is the directory size above which directories shard.
	HAMTThreshold int
}

// DefaultOptions returns the reference defaults: CIDv0, 256 KiB chunks,
// UnixFS leaves, sha2-256.
func DefaultOptions() Options {
	return Options{
		CIDVersion:    0,
		ChunkSize:     DefaultChunkSize,
		HashFunction:  multihash.SHA2_256,
		MaxLinks:      DefaultMaxLinks,
		HAMTThreshold: DefaultHAMTThreshold,
	}
}

// Validate reports options that cannot work together.
func (o Options) Validate() error {
	switch {
	case o.CIDVersion != 0 && o.CIDVersion != 1:
		return fmt.Errorf("CID version %d is not supported: use 0 or 1", o.CIDVersion)
	case o.CIDVersion == 0 && o.HashFunction != multihash.SHA2_256:
		return errors.New("CIDv0 only supports sha2-256: use --cid-version 1 with another hash")
	case o.HashFunction != multihash.SHA2_256 && o.HashFunction != multihash.BLAKE3:
		return fmt.Errorf("hash function 0x%x is not supported: use sha2-256 or blake3", o.HashFunction)
	case o.ChunkSize <= 0 || o.ChunkSize > MaxChunkSize:
		return fmt.Errorf("chunk size %d is out of range: it must be between 1 and %d bytes", o.ChunkSize, MaxChunkSize)
	case o.MaxLinks < 2:
		return fmt.Errorf("max links %d is too small: it must be at least 2", o.MaxLinks)
	}
	return nil
}

// ParseChunker parses a chunker spec of the form "size-N".
func ParseChunker(s string) (int, error) {
	rest, ok := strings.CutPrefix(s, "size-")
	if !ok {
		return 0, fmt.Errorf("chunker %q is not supported: use size-N (for example size-262144)", s)
	}
	n, err := strconv.Atoi(rest)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("chunker %q: the size must be a positive number of bytes", s)
	}
	if n > MaxChunkSize {
		return 0, fmt.Errorf("chunker %q: the size may not exceed %d bytes", s, MaxChunkSize)
	}
	return n, nil
}

// ParseHash maps a hash function name to its multihash code.
func ParseHash(s string) (uint64, error) {
	switch s {
	case "sha2-256":
		return multihash.SHA2_256, nil
	case "blake3":
		return multihash.BLAKE3, nil
	}
	return 0, fmt.Errorf("hash function %q is not supported: use sha2-256 or blake3", s)
}

// sum returns the multihash of data under the options' hash function.
func (o *Options) sum(data []byte) multihash.Multihash {
	var digest [32]byte
	switch o.HashFunction {
	case multihash.BLAKE3:
		digest = blake3.Sum256(data)
	default:
		digest = sha256.Sum256(data)
	}
	mh := make([]byte, 0, 34)
	// Both codes are below 0x80, so their varint is one byte.
	mh = append(mh, byte(o.HashFunction), 32)
	return append(mh, digest[:]...)
}

// nodeCID is the CID of an encoded dag-pb node.
func (o *Options) nodeCID(block []byte) cid.Cid {
	mh := o.sum(block)
	if o.CIDVersion == 0 {
		return cid.NewCidV0(mh)
	}
	return cid.NewCidV1(cid.DagProtobuf, mh)
}

// rawCID is the CID of a raw leaf: always CIDv1, since CIDv0 cannot name raw blocks.
func (o *Options) rawCID(block []byte) cid.Cid {
	return cid.NewCidV1(cid.Raw, o.sum(block))
}
