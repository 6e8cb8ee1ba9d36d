package ipns

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/encoding/protowire"
)

const (
	// MaxRecordSize is the largest serialized record accepted, in bytes.
	// Larger records are refused before they are parsed.
	MaxRecordSize = 10 << 10

	// DefaultLifetime is how long a published record stays valid unless
	// the publisher asks otherwise.
	DefaultLifetime = 48 * time.Hour

	// DefaultTTL is how long resolvers may cache a record by default.
	DefaultTTL = 5 * time.Minute

	// ValidityEOL is the only validity type: the record is valid until the
	// time in its Validity field.
	ValidityEOL = 0

	// signatureV2Prefix is prepended to the data before signing.
	signatureV2Prefix = "ipns-signature:"

	// validityTypeEOLName is the EOL validity type as the V1 signature
	// spells it (the protobuf enum's name).
	validityTypeEOLName = "EOL"
)

// IpnsEntry protobuf field numbers.
const (
	fieldValue        protowire.Number = 1
	fieldSignatureV1  protowire.Number = 2
	fieldValidityType protowire.Number = 3
	fieldValidity     protowire.Number = 4
	fieldSequence     protowire.Number = 5
	fieldTTL          protowire.Number = 6
	fieldPubKey       protowire.Number = 7
	fieldSignatureV2  protowire.Number = 8
	fieldData         protowire.Number = 9
)

// v1Fields records which legacy V1 protobuf fields (1, 3-6) a record
// carries. When present, they hold the same values as the signed data.
type v1Fields uint8

const (
	v1Value v1Fields = 1 << iota
	v1ValidityType
	v1Validity
	v1Sequence
	v1TTL

	v1All = v1Value | v1ValidityType | v1Validity | v1Sequence | v1TTL
)

// Record is a signed IPNS record (V2, optionally with the legacy V1
// fields). A Record is immutable; it comes from NewRecord or Unmarshal,
// both of which check its structure. Whether it is valid for a name at a
// given time is Validate's job.
type Record struct {
	// data is the dag-cbor map signatureV2 signs, exactly as signed.
	data  []byte
	sigV2 []byte
	// sigV1 is the legacy signature; carried, never checked.
	sigV1 []byte
	// pubKeyBytes is the embedded, protobuf-encoded public key, or nil.
	pubKeyBytes []byte
	pubKey      crypto.PubKey
	v1          v1Fields

	// The fields of data, decoded.
	value       []byte
	validityRaw []byte
	validity    time.Time
	sequence    uint64
	ttl         uint64

	// size is the length of the serialized record.
	size int
}

// NewRecord makes a record pointing the key's name at value (a content
// path such as "/ipfs/CID"), valid until eol, with sequence number seq and
// cache lifetime ttl. It signs the V2 data and also fills the legacy V1
// fields and signature so older implementations accept it. The public key
// is embedded when the name cannot hold it (RSA, ECDSA).
//
// seq must be at most math.MaxInt64 and ttl must not be negative (dag-cbor
// integers in the data field are signed 64-bit in practice); the encoded
// record must fit in MaxRecordSize.
func NewRecord(sk crypto.PrivKey, value string, seq uint64, eol time.Time, ttl time.Duration) (*Record, error) {
	if sk == nil {
		return nil, fmt.Errorf("%w: no private key", ErrMalformed)
	}
	if seq > math.MaxInt64 {
		return nil, fmt.Errorf("%w: sequence %d is over 2^63-1", ErrMalformed, seq)
	}
	if ttl < 0 {
		return nil, fmt.Errorf("%w: negative TTL %v", ErrMalformed, ttl)
	}
	validityRaw := []byte(formatValidity(eol))
	validity, err := parseValidity(validityRaw)
	if err != nil {
		return nil, fmt.Errorf("%w: validity %v cannot be written as RFC 3339", ErrMalformed, eol)
	}
	r := &Record{
		v1:          v1All,
		value:       []byte(value),
		validityRaw: validityRaw,
		validity:    validity,
		sequence:    seq,
		ttl:         uint64(ttl),
	}
	if r.data, err = encodeData(r.value, r.validityRaw, r.sequence, r.ttl); err != nil {
		return nil, err
	}
	if r.sigV2, err = sk.Sign(signatureV2Input(r.data)); err != nil {
		return nil, fmt.Errorf("ipns: signing the record: %w", err)
	}
	if r.sigV1, err = sk.Sign(signatureV1Input(r.value, r.validityRaw)); err != nil {
		return nil, fmt.Errorf("ipns: signing the record (V1): %w", err)
	}

	pk := sk.GetPublic()
	id, err := peer.IDFromPublicKey(pk)
	if err != nil {
		return nil, fmt.Errorf("ipns: peer ID of the key: %w", err)
	}
	if _, err := id.ExtractPublicKey(); errors.Is(err, peer.ErrNoPublicKey) {
		// The name is a hash of the key: readers need the key itself.
		if r.pubKeyBytes, err = crypto.MarshalPublicKey(pk); err != nil {
			return nil, fmt.Errorf("ipns: encoding the public key: %w", err)
		}
		r.pubKey = pk
	} else if err != nil {
		return nil, fmt.Errorf("ipns: public key from the peer ID: %w", err)
	}

	r.size = len(r.appendProto(nil))
	if r.size > MaxRecordSize {
		return nil, fmt.Errorf("%w: %d bytes", ErrTooLarge, r.size)
	}
	return r, nil
}

// formatValidity writes an end of life as RFC 3339 in UTC with as many
// fractional-second digits as needed (Go's time.RFC3339Nano).
func formatValidity(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// parseValidity reads an RFC 3339 time (fractional seconds optional).
func parseValidity(b []byte) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, string(b))
	if err != nil {
		return time.Time{}, err
	}
	return t.UTC(), nil
}

// signatureV2Input is what signatureV2 signs.
func signatureV2Input(data []byte) []byte {
	return append([]byte(signatureV2Prefix), data...)
}

// signatureV1Input is what the legacy signatureV1 signs: value, then
// validity, then the validity type's name ("EOL").
func signatureV1Input(value, validity []byte) []byte {
	b := make([]byte, 0, len(value)+len(validity)+len(validityTypeEOLName))
	b = append(b, value...)
	b = append(b, validity...)
	return append(b, validityTypeEOLName...)
}

// Marshal returns the record as an IpnsEntry protobuf, fields in number
// order. It never fails for a Record from NewRecord or Unmarshal; the
// error is there for the zero Record.
func (r *Record) Marshal() ([]byte, error) {
	if r == nil || len(r.data) == 0 {
		return nil, fmt.Errorf("%w: empty record", ErrMalformed)
	}
	return r.appendProto(make([]byte, 0, r.size)), nil
}

func (r *Record) appendProto(b []byte) []byte {
	appendBytes := func(b []byte, num protowire.Number, v []byte) []byte {
		b = protowire.AppendTag(b, num, protowire.BytesType)
		return protowire.AppendBytes(b, v)
	}
	appendVarint := func(b []byte, num protowire.Number, v uint64) []byte {
		b = protowire.AppendTag(b, num, protowire.VarintType)
		return protowire.AppendVarint(b, v)
	}
	if r.v1&v1Value != 0 {
		b = appendBytes(b, fieldValue, r.value)
	}
	if r.sigV1 != nil {
		b = appendBytes(b, fieldSignatureV1, r.sigV1)
	}
	if r.v1&v1ValidityType != 0 {
		b = appendVarint(b, fieldValidityType, ValidityEOL)
	}
	if r.v1&v1Validity != 0 {
		b = appendBytes(b, fieldValidity, r.validityRaw)
	}
	if r.v1&v1Sequence != 0 {
		b = appendVarint(b, fieldSequence, r.sequence)
	}
	if r.v1&v1TTL != 0 {
		b = appendVarint(b, fieldTTL, r.ttl)
	}
	if r.pubKeyBytes != nil {
		b = appendBytes(b, fieldPubKey, r.pubKeyBytes)
	}
	b = appendBytes(b, fieldSignatureV2, r.sigV2)
	return appendBytes(b, fieldData, r.data)
}

// pbEntry is an IpnsEntry as found on the wire.
type pbEntry struct {
	present                    v1Fields
	value, validity            []byte
	validityType, seq, ttl     uint64
	sigV1, sigV2, pubKey, data []byte
}

// Unmarshal parses a serialized record. It is strict: records over
// MaxRecordSize are refused unread (ErrTooLarge); the V2 data and
// signature must be present (ErrNoSignatureV2); the data must be a
// dag-cbor map holding Value and Validity (bytes), and ValidityType,
// Sequence and TTL (non-negative integers), with ValidityType EOL and a
// Validity in RFC 3339 (ErrMalformed); and every V1 field present must
// equal its counterpart in the data (ErrFieldMismatch). When the record
// carries a V1 value or signature, absent V1 fields count as zero, so they
// must match too. Unknown protobuf fields and extra data keys are allowed
// (they are not kept when the record is marshaled again). Signatures and
// expiry are not checked here: see Validate.
func Unmarshal(b []byte) (*Record, error) {
	if len(b) > MaxRecordSize {
		return nil, fmt.Errorf("%w: %d bytes", ErrTooLarge, len(b))
	}
	e, err := parseProto(b)
	if err != nil {
		return nil, err
	}
	if len(e.data) == 0 || len(e.sigV2) == 0 {
		return nil, ErrNoSignatureV2
	}
	d, err := decodeData(e.data)
	if err != nil {
		return nil, err
	}
	r := &Record{
		data:        e.data,
		sigV2:       e.sigV2,
		sigV1:       e.sigV1,
		v1:          e.present,
		value:       d.value,
		validityRaw: d.validity,
		sequence:    d.sequence,
		ttl:         d.ttl,
		size:        len(b),
	}
	if r.validity, err = parseValidity(d.validity); err != nil {
		return nil, fmt.Errorf("%w: validity %q: %w", ErrMalformed, d.validity, err)
	}

	// A record with a V1 value or signature is a V1+V2 record: every V1
	// field is then compared, an absent one as zero. Otherwise only the
	// V1 fields present are compared.
	checkAll := len(e.value) > 0 || len(e.sigV1) > 0
	check := func(f v1Fields, name string, equal bool) error {
		if (checkAll || e.present&f != 0) && !equal {
			return fmt.Errorf("%w: %w: %s", ErrMalformed, ErrFieldMismatch, name)
		}
		return nil
	}
	if err := errors.Join(
		check(v1Value, "value", bytes.Equal(e.value, d.value)),
		check(v1Validity, "validity", bytes.Equal(e.validity, d.validity)),
		check(v1ValidityType, "validityType", e.validityType == d.validityType),
		check(v1Sequence, "sequence", e.seq == d.sequence),
		check(v1TTL, "ttl", e.ttl == d.ttl),
	); err != nil {
		return nil, err
	}

	if len(e.pubKey) > 0 {
		if r.pubKey, err = crypto.UnmarshalPublicKey(e.pubKey); err != nil {
			return nil, fmt.Errorf("%w: embedded public key: %w", ErrMalformed, err)
		}
		r.pubKeyBytes = e.pubKey
	}
	return r, nil
}

// parseProto reads the IpnsEntry fields. A known field with the wrong
// wire type is an error; unknown fields are skipped; a repeated field
// keeps its last value, as protobuf does.
func parseProto(b []byte) (*pbEntry, error) {
	var e pbEntry
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, fmt.Errorf("%w: protobuf tag: %w", ErrMalformed, protowire.ParseError(n))
		}
		b = b[n:]
		var dst *[]byte
		var ival *uint64
		var flag v1Fields
		switch num {
		case fieldValue:
			dst, flag = &e.value, v1Value
		case fieldSignatureV1:
			dst = &e.sigV1
		case fieldValidity:
			dst, flag = &e.validity, v1Validity
		case fieldPubKey:
			dst = &e.pubKey
		case fieldSignatureV2:
			dst = &e.sigV2
		case fieldData:
			dst = &e.data
		case fieldValidityType:
			ival, flag = &e.validityType, v1ValidityType
		case fieldSequence:
			ival, flag = &e.seq, v1Sequence
		case fieldTTL:
			ival, flag = &e.ttl, v1TTL
		}
		switch {
		case dst != nil:
			if typ != protowire.BytesType {
				return nil, fmt.Errorf("%w: protobuf field %d has wire type %d, want bytes", ErrMalformed, num, typ)
			}
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return nil, fmt.Errorf("%w: protobuf field %d: %w", ErrMalformed, num, protowire.ParseError(n))
			}
			// Copy: the record must not alias the caller's buffer.
			*dst = append(make([]byte, 0, len(v)), v...)
			b = b[n:]
		case ival != nil:
			if typ != protowire.VarintType {
				return nil, fmt.Errorf("%w: protobuf field %d has wire type %d, want varint", ErrMalformed, num, typ)
			}
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return nil, fmt.Errorf("%w: protobuf field %d: %w", ErrMalformed, num, protowire.ParseError(n))
			}
			*ival = v
			b = b[n:]
		default:
			n := protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return nil, fmt.Errorf("%w: protobuf field %d: %w", ErrMalformed, num, protowire.ParseError(n))
			}
			b = b[n:]
		}
		e.present |= flag
	}
	return &e, nil
}

// Value returns the path the record points to, e.g. "/ipfs/CID".
func (r *Record) Value() string { return string(r.value) }

// Sequence returns the record's sequence number; a newer record of a name
// has a higher one.
func (r *Record) Sequence() uint64 { return r.sequence }

// Validity returns the record's end of life, in UTC.
func (r *Record) Validity() time.Time { return r.validity }

// TTL returns how long a resolver may cache the record.
func (r *Record) TTL() time.Duration { return time.Duration(r.ttl) }

// PubKey returns the public key embedded in the record, or nil when the
// key is in the name (Ed25519, secp256k1).
func (r *Record) PubKey() crypto.PubKey { return r.pubKey }

// Size returns the length of the serialized record in bytes.
func (r *Record) Size() int { return r.size }

// Compare orders two records of the same name: +1 if a is newer than b
// (higher sequence, or the same sequence and a later validity), -1 if b is
// newer, 0 if neither is. It does not validate them.
func Compare(a, b *Record) int {
	switch {
	case a.sequence > b.sequence:
		return 1
	case a.sequence < b.sequence:
		return -1
	}
	return a.validity.Compare(b.validity)
}
