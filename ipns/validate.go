package ipns

import (
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Validate checks that r is a valid record of name at time now:
//   - it is at most MaxRecordSize bytes (ErrTooLarge);
//   - it has a V2 signature and data (ErrNoSignatureV2);
//   - the key: taken from the name when the name inlines it (Ed25519,
//     secp256k1), else the key embedded in the record, whose peer ID must
//     be the name (ErrKeyMismatch, or ErrNoPublicKey when there is none);
//     an embedded key is always checked against the name;
//   - signatureV2 verifies over "ipns-signature:" || data (ErrSignature);
//   - its validity has not passed: now must not be after it (ErrExpired).
//
// The legacy signatureV1 is not checked; the V1 fields were already
// checked against the signed data by Unmarshal.
func Validate(name Name, r *Record, now time.Time) error {
	if r == nil {
		return fmt.Errorf("%w: nil record", ErrMalformed)
	}
	if r.size > MaxRecordSize {
		return fmt.Errorf("%w: %d bytes", ErrTooLarge, r.size)
	}
	if len(r.sigV2) == 0 || len(r.data) == 0 {
		return ErrNoSignatureV2
	}
	pk, err := publicKey(name, r)
	if err != nil {
		return err
	}
	ok, err := pk.Verify(signatureV2Input(r.data), r.sigV2)
	if err != nil || !ok {
		return fmt.Errorf("%w: name %s", ErrSignature, name)
	}
	if now.After(r.validity) {
		return fmt.Errorf("%w: valid until %s, now %s", ErrExpired,
			r.validity.Format(time.RFC3339Nano), now.UTC().Format(time.RFC3339Nano))
	}
	return nil
}

// publicKey finds the key that must have signed a record of name.
func publicKey(name Name, r *Record) (crypto.PubKey, error) {
	if name.IsZero() {
		return nil, fmt.Errorf("%w: empty name", ErrInvalidName)
	}
	if r.pubKey != nil {
		id, err := peer.IDFromPublicKey(r.pubKey)
		if err != nil {
			return nil, fmt.Errorf("%w: embedded public key: %w", ErrMalformed, err)
		}
		if NameFromPeer(id) != name {
			return nil, fmt.Errorf("%w: embedded key is %s, name is %s", ErrKeyMismatch, NameFromPeer(id), name)
		}
		return r.pubKey, nil
	}
	pk, err := name.Peer().ExtractPublicKey()
	switch {
	case errors.Is(err, peer.ErrNoPublicKey):
		return nil, fmt.Errorf("%w: name %s", ErrNoPublicKey, name)
	case err != nil:
		return nil, fmt.Errorf("%w: key in name %s: %w", ErrInvalidName, name, err)
	}
	return pk, nil
}

// Validator checks IPNS records for the DHT: it implements the Validator
// interface of github.com/libp2p/go-libp2p-record for keys
// "/ipns/<binary multihash>". The zero Validator uses the wall clock.
type Validator struct {
	// Now returns the time records are checked against; nil means
	// time.Now. Tests set it to a fixed clock.
	Now func() time.Time
}

func (v Validator) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

// Validate checks value, a serialized record, against the name in key.
func (v Validator) Validate(key string, value []byte) error {
	name, err := NameFromRoutingKey(key)
	if err != nil {
		return err
	}
	r, err := Unmarshal(value)
	if err != nil {
		return err
	}
	return Validate(name, r, v.now())
}

// Select returns the index of the best record in values: among those
// valid for key's name, the highest sequence, then the latest validity,
// then the first. It fails with ErrNoValidRecord when none is valid, so a
// lower-sequence record never wins over a valid higher one, and an invalid
// record never wins at all.
func (v Validator) Select(key string, values [][]byte) (int, error) {
	name, err := NameFromRoutingKey(key)
	if err != nil {
		return -1, err
	}
	now := v.now()
	best := -1
	var bestRec *Record
	var firstErr error
	for i, val := range values {
		r, err := Unmarshal(val)
		if err == nil {
			err = Validate(name, r, now)
		}
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		if best < 0 || Compare(r, bestRec) > 0 {
			best, bestRec = i, r
		}
	}
	if best < 0 {
		if firstErr == nil {
			return -1, fmt.Errorf("%w: no records", ErrNoValidRecord)
		}
		return -1, fmt.Errorf("%w among %d: %w", ErrNoValidRecord, len(values), firstErr)
	}
	return best, nil
}
