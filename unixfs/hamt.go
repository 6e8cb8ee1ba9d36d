package unixfs

import (
	"encoding/binary"
	"fmt"
	"math/bits"

	"github.com/spaolacci/murmur3"
)

// HAMT shards spread a directory's entries over a tree of nodes by the
// murmur3 hash of their names. At each level a shard with fanout F
// (a power of two) uses the next log2(F) bits of the 64-bit hash, read from
// the most significant bit, as the slot index. Links are named with the
// slot index in upper-case hex, padded to the width of F-1, followed by the
// entry's name; a link with only the index names a child shard.

// HAMTHash is the hash of a name used to place it in a HAMT.
func HAMTHash(name string) [8]byte {
	var out [8]byte
	binary.BigEndian.PutUint64(out[:], murmur3.Sum64([]byte(name)))
	return out
}

// HAMTIndex returns the slot of a name at a depth of a HAMT with the given
// fanout, or an error when the hash has no bits left for that depth.
func HAMTIndex(hash [8]byte, depth int, fanout uint64) (int, error) {
	width, err := fanoutBits(fanout)
	if err != nil {
		return 0, err
	}
	start := depth * width
	if start+width > 64 {
		return 0, fmt.Errorf("%w: HAMT deeper than its hash allows", ErrInvalid)
	}
	h := binary.BigEndian.Uint64(hash[:])
	return int((h << start) >> (64 - width)), nil
}

// HAMTPrefixLen is the length of the slot prefix in link names.
func HAMTPrefixLen(fanout uint64) int {
	return len(fmt.Sprintf("%X", fanout-1))
}

// HAMTLinkPrefix is the link-name prefix for a slot.
func HAMTLinkPrefix(index int, fanout uint64) string {
	return fmt.Sprintf("%0*X", HAMTPrefixLen(fanout), index)
}

func fanoutBits(fanout uint64) (int, error) {
	if fanout < 2 || fanout > 1024 || fanout&(fanout-1) != 0 {
		return 0, fmt.Errorf("%w: HAMT fanout %d is not a power of two between 2 and 1024", ErrInvalid, fanout)
	}
	return bits.TrailingZeros64(fanout), nil
}
