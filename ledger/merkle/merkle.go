// Package merkle is the RFC 6962 (Certificate Transparency) Merkle tree
// hash over a list of leaves, with audit paths (inclusion proofs).
//
//	leaf hash  = SHA-256(0x00 || leaf)
//	node hash  = SHA-256(0x01 || left || right)
//	MTH({})    = SHA-256("")
//	MTH(D[n])  = node(MTH(D[0:k]), MTH(D[k:n])), k the largest power of two < n
//
// Root and Path take leaves; RootOfHashes and PathOfHashes take leaf
// hashes (LeafHash). VerifyPath checks an audit path against a root
// (RFC 9162, section 2.1.3.2).
package merkle

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/bits"
)

// Size is the length of every hash.
const Size = sha256.Size

// ErrBadProof is returned when an audit path does not lead to the root.
var ErrBadProof = errors.New("Merkle audit path does not verify")

// LeafHash is SHA-256(0x00 || leaf).
func LeafHash(leaf []byte) []byte {
	h := sha256.New()
	h.Write([]byte{0})
	h.Write(leaf)
	return h.Sum(nil)
}

func nodeHash(l, r []byte) []byte {
	h := sha256.New()
	h.Write([]byte{1})
	h.Write(l)
	h.Write(r)
	return h.Sum(nil)
}

// Root is the Merkle tree hash of the leaves.
func Root(leaves [][]byte) []byte {
	hs := make([][]byte, len(leaves))
	for i, l := range leaves {
		hs[i] = LeafHash(l)
	}
	return RootOfHashes(hs)
}

// RootOfHashes is the Merkle tree hash over leaf hashes.
func RootOfHashes(hs [][]byte) []byte {
	if len(hs) == 0 {
		s := sha256.Sum256(nil)
		return s[:]
	}
	// Bottom-up pairing that lifts a lone last node unchanged gives the
	// same tree as RFC 6962's largest-power-of-two split.
	level := append([][]byte(nil), hs...)
	for len(level) > 1 {
		next := level[:0:0]
		for i := 0; i+1 < len(level); i += 2 {
			next = append(next, nodeHash(level[i], level[i+1]))
		}
		if len(level)%2 == 1 {
			next = append(next, level[len(level)-1])
		}
		level = next
	}
	return level[0]
}

// split is the largest power of two smaller than n (n >= 2).
func split(n int) int { return 1 << (bits.Len(uint(n-1)) - 1) }

// Path is the audit path of leaf index in the tree over leaves.
func Path(leaves [][]byte, index int) ([][]byte, error) {
	hs := make([][]byte, len(leaves))
	for i, l := range leaves {
		hs[i] = LeafHash(l)
	}
	return PathOfHashes(hs, index)
}

// PathOfHashes is the audit path of leaf index over leaf hashes.
func PathOfHashes(hs [][]byte, index int) ([][]byte, error) {
	if index < 0 || index >= len(hs) {
		return nil, fmt.Errorf("leaf %d out of range of a %d-leaf tree", index, len(hs))
	}
	var path [][]byte
	var walk func(hs [][]byte, m int)
	walk = func(hs [][]byte, m int) {
		if len(hs) <= 1 {
			return
		}
		k := split(len(hs))
		if m < k {
			walk(hs[:k], m)
			path = append(path, RootOfHashes(hs[k:]))
		} else {
			walk(hs[k:], m-k)
			path = append(path, RootOfHashes(hs[:k]))
		}
	}
	walk(hs, index)
	return path, nil
}

// VerifyPath checks that leafHash at index in a tree of size leaves has
// the given root, following the audit path.
func VerifyPath(leafHash []byte, index, size int, path [][]byte, root []byte) error {
	if index < 0 || index >= size {
		return fmt.Errorf("%w: leaf %d out of range of a %d-leaf tree", ErrBadProof, index, size)
	}
	fn, sn := uint64(index), uint64(size-1)
	r := leafHash
	for _, p := range path {
		if len(p) != Size {
			return fmt.Errorf("%w: a path element is %d bytes, not %d", ErrBadProof, len(p), Size)
		}
		if sn == 0 {
			return fmt.Errorf("%w: path longer than the tree is deep", ErrBadProof)
		}
		if fn&1 == 1 || fn == sn {
			r = nodeHash(p, r)
			if fn&1 == 0 {
				for fn&1 == 0 && fn != 0 {
					fn >>= 1
					sn >>= 1
				}
			}
		} else {
			r = nodeHash(r, p)
		}
		fn >>= 1
		sn >>= 1
	}
	if sn != 0 {
		return fmt.Errorf("%w: path shorter than the tree is deep", ErrBadProof)
	}
	if !bytes.Equal(r, root) {
		return ErrBadProof
	}
	return nil
}
