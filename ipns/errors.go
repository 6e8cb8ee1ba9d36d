package ipns

import "errors"

// Errors a caller can act on. Every error this package returns wraps at
// least one of them, so errors.Is tells the cases apart.
var (
	// ErrTooLarge: the serialized record is over MaxRecordSize bytes. Such
	// records are refused before any parsing.
	ErrTooLarge = errors.New("ipns: record larger than 10 KiB")

	// ErrMalformed: the bytes are not a well-formed IPNS record (bad
	// protobuf, bad dag-cbor data, a missing or mistyped data field, an
	// unparsable validity or public key), or NewRecord was given fields
	// that cannot be encoded.
	ErrMalformed = errors.New("ipns: malformed record")

	// ErrFieldMismatch: a legacy V1 protobuf field disagrees with the same
	// field in the signed dag-cbor data. It is always wrapped together
	// with ErrMalformed.
	ErrFieldMismatch = errors.New("ipns: V1 field disagrees with the signed V2 data")

	// ErrNoSignatureV2: the record has no signatureV2 or no data. V1-only
	// records are not accepted.
	ErrNoSignatureV2 = errors.New("ipns: record has no V2 signature and data (V1-only records are refused)")

	// ErrSignature: signatureV2 does not verify with the name's key.
	ErrSignature = errors.New("ipns: signature verification failed")

	// ErrExpired: the record's validity (end of life) has passed.
	ErrExpired = errors.New("ipns: record expired")

	// ErrKeyMismatch: the public key embedded in the record is not the key
	// the name was derived from.
	ErrKeyMismatch = errors.New("ipns: public key does not match the name")

	// ErrNoPublicKey: the name is a hash of its key (RSA, ECDSA) and the
	// record does not embed the key, so the signature cannot be checked.
	ErrNoPublicKey = errors.New("ipns: public key not in the name and not embedded in the record")

	// ErrInvalidName: not an IPNS name or routing key.
	ErrInvalidName = errors.New("ipns: invalid name")

	// ErrNotFound: resolving a name found no valid record (nor, for a
	// domain, a DNSLink TXT record). The content may exist elsewhere;
	// callers show it as "not found" (404), not as a server fault.
	ErrNotFound = errors.New("ipns: no record found for the name")

	// ErrNoValidRecord: Validator.Select was given no valid record.
	ErrNoValidRecord = errors.New("ipns: no valid record to select")
)
