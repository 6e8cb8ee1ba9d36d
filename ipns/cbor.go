package ipns

import (
	"fmt"
	"math"

	"github.com/fxamacker/cbor/v2"
)

// Keys of the dag-cbor data map.
const (
	keyValue        = "Value"
	keyValidity     = "Validity"
	keyValidityType = "ValidityType"
	keySequence     = "Sequence"
	keyTTL          = "TTL"
)

// dataFields is the data map as written. With length-first key sorting
// the encoder emits TTL, Value, Sequence, Validity, ValidityType: the
// canonical dag-cbor order (shorter keys first, then bytewise).
type dataFields struct {
	Value        []byte `cbor:"Value"`
	Validity     []byte `cbor:"Validity"`
	ValidityType uint64 `cbor:"ValidityType"`
	Sequence     uint64 `cbor:"Sequence"`
	TTL          uint64 `cbor:"TTL"`
}

// encMode writes canonical dag-cbor for dataFields: keys sorted
// length-first then bytewise, definite lengths, shortest integer heads,
// and byte strings (never null) for the two byte fields.
var encMode = func() cbor.EncMode {
	m, err := cbor.EncOptions{
		Sort:          cbor.SortLengthFirst,
		IndefLength:   cbor.IndefLengthForbidden,
		NilContainers: cbor.NilContainerAsEmpty,
	}.EncMode()
	if err != nil {
		panic(err) // constant options
	}
	return m
}()

// decMode reads the data map: well-formed CBOR only, no indefinite
// lengths, no duplicate keys, no trailing bytes, bounded nesting.
var decMode = func() cbor.DecMode {
	m, err := cbor.DecOptions{
		DupMapKey:       cbor.DupMapKeyEnforcedAPF,
		IndefLength:     cbor.IndefLengthForbidden,
		MaxNestedLevels: 16,
		UTF8:            cbor.UTF8RejectInvalid,
	}.DecMode()
	if err != nil {
		panic(err) // constant options
	}
	return m
}()

func encodeData(value, validity []byte, seq, ttl uint64) ([]byte, error) {
	b, err := encMode.Marshal(dataFields{
		Value:        value,
		Validity:     validity,
		ValidityType: ValidityEOL,
		Sequence:     seq,
		TTL:          ttl,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: encoding data: %w", ErrMalformed, err)
	}
	return b, nil
}

// decodedData holds the five standard fields of a data map.
type decodedData struct {
	value, validity        []byte
	validityType, sequence uint64
	ttl                    uint64
}

// CBOR major types checked on the standard fields.
const (
	majorUint  = 0
	majorBytes = 2
)

// decodeData reads the dag-cbor data map. The five standard keys must be
// there with their types (integers non-negative and at most 2^63-1);
// other keys (extensions) are allowed and ignored.
func decodeData(b []byte) (decodedData, error) {
	var m map[string]cbor.RawMessage
	if err := decMode.Unmarshal(b, &m); err != nil {
		return decodedData{}, fmt.Errorf("%w: data is not a dag-cbor map with string keys: %w", ErrMalformed, err)
	}
	var d decodedData
	getBytes := func(key string) ([]byte, error) {
		raw, ok := m[key]
		if !ok {
			return nil, fmt.Errorf("%w: data has no %s", ErrMalformed, key)
		}
		if len(raw) == 0 || raw[0]>>5 != majorBytes {
			return nil, fmt.Errorf("%w: data %s is not a byte string", ErrMalformed, key)
		}
		var v []byte
		if err := decMode.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("%w: data %s: %w", ErrMalformed, key, err)
		}
		if v == nil {
			v = []byte{}
		}
		return v, nil
	}
	getInt := func(key string) (uint64, error) {
		raw, ok := m[key]
		if !ok {
			return 0, fmt.Errorf("%w: data has no %s", ErrMalformed, key)
		}
		if len(raw) == 0 || raw[0]>>5 != majorUint {
			return 0, fmt.Errorf("%w: data %s is not a non-negative integer", ErrMalformed, key)
		}
		var v uint64
		if err := decMode.Unmarshal(raw, &v); err != nil {
			return 0, fmt.Errorf("%w: data %s: %w", ErrMalformed, key, err)
		}
		if v > math.MaxInt64 {
			return 0, fmt.Errorf("%w: data %s %d is over 2^63-1", ErrMalformed, key, v)
		}
		return v, nil
	}
	var err error
	if d.value, err = getBytes(keyValue); err != nil {
		return d, err
	}
	if d.validity, err = getBytes(keyValidity); err != nil {
		return d, err
	}
	if d.validityType, err = getInt(keyValidityType); err != nil {
		return d, err
	}
	if d.validityType != ValidityEOL {
		return d, fmt.Errorf("%w: unknown validity type %d", ErrMalformed, d.validityType)
	}
	if d.sequence, err = getInt(keySequence); err != nil {
		return d, err
	}
	if d.ttl, err = getInt(keyTTL); err != nil {
		return d, err
	}
	return d, nil
}
