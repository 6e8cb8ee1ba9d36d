// Package codec is the ledger's dag-cbor encoding: canonical (deterministic)
// CBOR as the IPLD dag-cbor spec requires, with CIDs as tag 42.
//
// Every ledger message (blocks, proposals, endorsements, transactions) is
// encoded with Marshal and decoded with Unmarshal. Unmarshal is strict: it
// refuses indefinite lengths, duplicate map keys, invalid UTF-8, unknown
// fields and trailing bytes, and then re-encodes the value and requires the
// same bytes, so one value has exactly one encoding and a hash (a CID, a
// transaction ID, a signature) over the bytes is a hash over the value.
//
//	b, err := codec.Marshal(v)
//	err = codec.Unmarshal(b, &v) // errors wrap ErrMalformed
//
// Link is a CID that encodes as tag 42 (a byte string holding 0x00 and the
// binary CID); the zero Link encodes as CBOR null.
package codec

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/fxamacker/cbor/v2"
	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"
)

// ErrMalformed is wrapped by every decoding error.
var ErrMalformed = errors.New("malformed dag-cbor")

// DagCBOR is the multicodec code of dag-cbor.
const DagCBOR = 0x71

// cidTag is the CBOR tag of a CID in dag-cbor.
const cidTag = 42

// MaxMessageSize bounds what Unmarshal accepts: the 2 MiB block limit.
const MaxMessageSize = 2 << 20

var encMode = func() cbor.EncMode {
	m, err := cbor.EncOptions{
		Sort:          cbor.SortLengthFirst, // dag-cbor: length-first, then bytewise
		IndefLength:   cbor.IndefLengthForbidden,
		NilContainers: cbor.NilContainerAsEmpty,
		ShortestFloat: cbor.ShortestFloatNone,
		Time:          cbor.TimeUnix,
	}.EncMode()
	if err != nil {
		panic(err) // constant options
	}
	return m
}()

var decMode = func() cbor.DecMode {
	m, err := cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		IndefLength:       cbor.IndefLengthForbidden,
		MaxNestedLevels:   32,
		MaxArrayElements:  1 << 20,
		MaxMapPairs:       1 << 16,
		UTF8:              cbor.UTF8RejectInvalid,
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
	}.DecMode()
	if err != nil {
		panic(err) // constant options
	}
	return m
}()

// Marshal encodes v as canonical dag-cbor.
func Marshal(v any) ([]byte, error) {
	b, err := encMode.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encoding dag-cbor: %w", err)
	}
	return b, nil
}

// MustMarshal is Marshal for values that always encode (no channels, no
// funcs); it panics on error, a broken invariant.
func MustMarshal(v any) []byte {
	b, err := Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// Unmarshal decodes canonical dag-cbor into v (a pointer) and checks that
// re-encoding gives back exactly b.
func Unmarshal(b []byte, v any) error {
	if len(b) > MaxMessageSize {
		return fmt.Errorf("%w: %d bytes, over the %d-byte limit", ErrMalformed, len(b), MaxMessageSize)
	}
	if err := decMode.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	again, err := encMode.Marshal(v)
	if err != nil {
		return fmt.Errorf("%w: re-encoding: %w", ErrMalformed, err)
	}
	if !bytes.Equal(again, b) {
		return fmt.Errorf("%w: not in canonical form", ErrMalformed)
	}
	return nil
}

// CIDOf returns the CIDv1 (dag-cbor, sha2-256) of an encoded block.
func CIDOf(data []byte) cid.Cid {
	sum := sha256.Sum256(data)
	mh, err := multihash.Encode(sum[:], multihash.SHA2_256)
	if err != nil {
		panic(err) // constant code and length
	}
	return cid.NewCidV1(DagCBOR, mh)
}

// CheckCID reports whether data hashes to c (sha2-256 dag-cbor CIDs only).
func CheckCID(c cid.Cid, data []byte) error {
	if !c.Defined() {
		return fmt.Errorf("%w: undefined CID", ErrMalformed)
	}
	pre := c.Prefix()
	if pre.Codec != DagCBOR || pre.MhType != multihash.SHA2_256 || c.Version() != 1 {
		return fmt.Errorf("%w: CID %s is not a CIDv1 dag-cbor sha2-256 CID", ErrMalformed, c)
	}
	if got := CIDOf(data); !got.Equals(c) {
		return fmt.Errorf("%w: bytes hash to %s, not %s", ErrMalformed, got, c)
	}
	return nil
}

// Link is a CID that encodes as dag-cbor tag 42; the zero Link is null.
type Link struct{ cid.Cid }

// L wraps a CID as a Link.
func L(c cid.Cid) Link { return Link{c} }

// MarshalCBOR implements cbor.Marshaler.
func (l Link) MarshalCBOR() ([]byte, error) {
	if !l.Defined() {
		return []byte{0xf6}, nil
	}
	return encMode.Marshal(cbor.Tag{Number: cidTag, Content: append([]byte{0}, l.Bytes()...)})
}

// UnmarshalCBOR implements cbor.Unmarshaler.
func (l *Link) UnmarshalCBOR(b []byte) error {
	if len(b) == 1 && b[0] == 0xf6 {
		*l = Link{}
		return nil
	}
	var raw cbor.RawTag
	if err := decMode.Unmarshal(b, &raw); err != nil {
		return err
	}
	if raw.Number != cidTag {
		return fmt.Errorf("tag %d where a CID (tag 42) was expected", raw.Number)
	}
	var content []byte
	if err := decMode.Unmarshal(raw.Content, &content); err != nil {
		return fmt.Errorf("tag 42 content: %w", err)
	}
	if len(content) < 2 || content[0] != 0 {
		return errors.New("tag 42 must hold a byte string starting with 0x00")
	}
	c, err := cid.Cast(content[1:])
	if err != nil {
		return fmt.Errorf("tag 42: %w", err)
	}
	l.Cid = c
	return nil
}
