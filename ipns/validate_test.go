package ipns

import (
	"errors"
	"testing"
	"time"

	record "github.com/libp2p/go-libp2p-record"
	"github.com/libp2p/go-libp2p/core/crypto"
)

var _ record.Validator = Validator{}

func fixedClock(t time.Time) func() time.Time { return func() time.Time { return t } }

func TestValidate(t *testing.T) {
	sk := fixedKey(t)
	name := nameOf(t, sk)
	eol := t0.Add(time.Hour)
	good := mustRecord(t, sk, testPath, 3, eol, time.Minute)

	if err := Validate(name, good, t0); err != nil {
		t.Fatalf("good record: %v", err)
	}
	// Valid up to and including its end of life, expired one nanosecond later.
	if err := Validate(name, good, eol); err != nil {
		t.Errorf("at end of life: %v", err)
	}
	if err := Validate(name, good, eol.Add(time.Nanosecond)); !errors.Is(err, ErrExpired) {
		t.Errorf("after end of life: err = %v, want ErrExpired", err)
	}

	e := entryOf(good)
	parse := func(t *testing.T, c entry) *Record {
		t.Helper()
		r, err := Unmarshal(c.marshal())
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	t.Run("signatureV2 with a flipped bit", func(t *testing.T) {
		c := e
		c.sigV2 = append([]byte(nil), e.sigV2...)
		c.sigV2[10] ^= 1
		if err := Validate(name, parse(t, c), t0); !errors.Is(err, ErrSignature) {
			t.Fatalf("err = %v, want ErrSignature", err)
		}
	})
	t.Run("data changed after signing", func(t *testing.T) {
		// New data (sequence 4) under the old signature, V1 fields consistent.
		other := mustRecord(t, sk, testPath, 4, eol, time.Minute)
		c := entryOf(other)
		c.sigV2 = e.sigV2
		if err := Validate(name, parse(t, c), t0); !errors.Is(err, ErrSignature) {
			t.Fatalf("err = %v, want ErrSignature", err)
		}
	})
	t.Run("signed by another key", func(t *testing.T) {
		other := mustRecord(t, newKey(t, crypto.Ed25519), testPath, 3, eol, time.Minute)
		if err := Validate(name, other, t0); !errors.Is(err, ErrSignature) {
			t.Fatalf("err = %v, want ErrSignature", err)
		}
	})
	t.Run("bad signatureV1 is ignored", func(t *testing.T) {
		c := e
		c.sigV1 = []byte("not a signature")
		if err := Validate(name, parse(t, c), t0); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("zero name", func(t *testing.T) {
		if err := Validate(Name{}, good, t0); !errors.Is(err, ErrInvalidName) {
			t.Fatalf("err = %v, want ErrInvalidName", err)
		}
	})
	t.Run("too large", func(t *testing.T) {
		big := *good
		big.size = MaxRecordSize + 1
		if err := Validate(name, &big, t0); !errors.Is(err, ErrTooLarge) {
			t.Fatalf("err = %v, want ErrTooLarge", err)
		}
	})
	t.Run("no signatureV2", func(t *testing.T) {
		noSig := *good
		noSig.sigV2 = nil
		if err := Validate(name, &noSig, t0); !errors.Is(err, ErrNoSignatureV2) {
			t.Fatalf("err = %v, want ErrNoSignatureV2", err)
		}
	})
}

func TestValidateEmbeddedKey(t *testing.T) {
	sk := newKey(t, crypto.ECDSA)
	name := nameOf(t, sk)
	eol := t0.Add(time.Hour)
	r := mustRecord(t, sk, testPath, 1, eol, 0)
	if r.PubKey() == nil {
		t.Fatal("ECDSA key not embedded")
	}
	if err := Validate(name, r, t0); err != nil {
		t.Fatal(err)
	}

	// The record of another ECDSA key, checked against this name: its
	// embedded key is not the name's.
	other := mustRecord(t, newKey(t, crypto.ECDSA), testPath, 1, eol, 0)
	if err := Validate(name, other, t0); !errors.Is(err, ErrKeyMismatch) {
		t.Errorf("other key's record: err = %v, want ErrKeyMismatch", err)
	}

	// The key left out: a hashed name cannot give it.
	c := entryOf(r)
	c.pubKey = nil
	stripped, err := Unmarshal(c.marshal())
	if err != nil {
		t.Fatal(err)
	}
	if err := Validate(name, stripped, t0); !errors.Is(err, ErrNoPublicKey) {
		t.Errorf("no embedded key: err = %v, want ErrNoPublicKey", err)
	}

	// An Ed25519 record carrying someone else's embedded key: the
	// embedded key is checked against the name even when the name holds
	// the key.
	edSK := fixedKey(t)
	ed := entryOf(mustRecord(t, edSK, testPath, 1, eol, 0))
	ed.pubKey = r.pubKeyBytes
	withKey, err := Unmarshal(ed.marshal())
	if err != nil {
		t.Fatal(err)
	}
	if err := Validate(nameOf(t, edSK), withKey, t0); !errors.Is(err, ErrKeyMismatch) {
		t.Errorf("foreign embedded key: err = %v, want ErrKeyMismatch", err)
	}
	// ...and its own key embedded is fine.
	own, _ := crypto.MarshalPublicKey(edSK.GetPublic())
	ed.pubKey = own
	withOwn, err := Unmarshal(ed.marshal())
	if err != nil {
		t.Fatal(err)
	}
	if err := Validate(nameOf(t, edSK), withOwn, t0); err != nil {
		t.Errorf("own embedded key: %v", err)
	}
}

func TestValidateRSA(t *testing.T) {
	sk := newKey(t, crypto.RSA)
	name := nameOf(t, sk)
	r := mustRecord(t, sk, testPath, 9, t0.Add(time.Hour), time.Minute)
	if r.PubKey() == nil || !r.PubKey().Equals(sk.GetPublic()) {
		t.Fatal("RSA key not embedded")
	}
	got, err := Unmarshal(mustMarshal(t, r))
	if err != nil {
		t.Fatal(err)
	}
	if err := Validate(name, got, t0); err != nil {
		t.Fatal(err)
	}
}

func TestValidatorValidate(t *testing.T) {
	sk := fixedKey(t)
	name := nameOf(t, sk)
	b := mustMarshal(t, mustRecord(t, sk, testPath, 1, t0.Add(time.Hour), 0))
	v := Validator{Now: fixedClock(t0)}

	if err := v.Validate(name.RoutingKey(), b); err != nil {
		t.Fatal(err)
	}
	other := nameOf(t, newKey(t, crypto.Ed25519))
	if err := v.Validate(other.RoutingKey(), b); !errors.Is(err, ErrSignature) {
		t.Errorf("under another name: err = %v, want ErrSignature", err)
	}
	late := Validator{Now: fixedClock(t0.Add(2 * time.Hour))}
	if err := late.Validate(name.RoutingKey(), b); !errors.Is(err, ErrExpired) {
		t.Errorf("later: err = %v, want ErrExpired", err)
	}
	for _, key := range []string{"", "/ipns/", "/pk/" + string(name.Peer()), "/ipns/" + string(name.Peer()) + "x", name.String()} {
		if err := v.Validate(key, b); !errors.Is(err, ErrInvalidName) {
			t.Errorf("key %q: err = %v, want ErrInvalidName", key, err)
		}
	}
	if err := v.Validate(name.RoutingKey(), []byte("garbage")); !errors.Is(err, ErrMalformed) {
		t.Errorf("garbage: err = %v, want ErrMalformed", err)
	}
	if err := v.Validate(name.RoutingKey(), make([]byte, MaxRecordSize+1)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("11 KiB: err = %v, want ErrTooLarge", err)
	}
	// The zero Validator reads the wall clock: a record that ended in
	// 2000 is expired.
	old := mustMarshal(t, mustRecord(t, sk, testPath, 1, time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), 0))
	if err := (Validator{}).Validate(name.RoutingKey(), old); !errors.Is(err, ErrExpired) {
		t.Errorf("zero Validator: err = %v, want ErrExpired", err)
	}
}

func TestValidatorSelect(t *testing.T) {
	sk := fixedKey(t)
	key := nameOf(t, sk).RoutingKey()
	v := Validator{Now: fixedClock(t0)}
	rec := func(seq uint64, eol time.Time) []byte {
		return mustMarshal(t, mustRecord(t, sk, testPath, seq, eol, 0))
	}
	h1, h2 := t0.Add(time.Hour), t0.Add(2*time.Hour)
	seq1, seq2, seq2later, seq3 := rec(1, h2), rec(2, h1), rec(2, h2), rec(3, h1)
	expired9 := rec(9, t0.Add(-time.Second))
	forged := entryOf(mustRecord(t, newKey(t, crypto.Ed25519), testPath, 10, h2, 0)).marshal()
	badSig := entryOf(mustRecord(t, sk, testPath, 11, h2, 0))
	badSig.sigV2 = append([]byte(nil), badSig.sigV2...)
	badSig.sigV2[0] ^= 0x80

	for _, tc := range []struct {
		name string
		vals [][]byte
		want int
	}{
		{"one", [][]byte{seq1}, 0},
		{"higher sequence wins", [][]byte{seq1, seq2}, 1},
		{"lower sequence never wins despite later validity", [][]byte{seq2, seq1}, 0},
		{"same sequence: later validity", [][]byte{seq2, seq2later}, 1},
		{"same sequence: later validity first", [][]byte{seq2later, seq2}, 0},
		{"highest of many", [][]byte{seq2, seq1, seq3, seq2later}, 2},
		{"tie: first", [][]byte{seq2, seq2}, 0},
		{"expired higher sequence loses", [][]byte{seq1, expired9}, 0},
		{"other key's higher sequence loses", [][]byte{forged, seq2}, 1},
		{"bad signature loses", [][]byte{badSig.marshal(), seq1}, 1},
		{"garbage loses", [][]byte{[]byte("x"), nil, seq1}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := v.Select(key, tc.vals)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("Select = %d, want %d", got, tc.want)
			}
		})
	}

	for _, vals := range [][][]byte{nil, {expired9}, {forged, []byte("x")}} {
		if i, err := v.Select(key, vals); !errors.Is(err, ErrNoValidRecord) || i != -1 {
			t.Errorf("Select of %d invalid records = %d, %v; want -1, ErrNoValidRecord", len(vals), i, err)
		}
	}
	if _, err := v.Select("/ipns/", [][]byte{seq1}); !errors.Is(err, ErrInvalidName) {
		t.Errorf("bad key: err = %v, want ErrInvalidName", err)
	}
}

// TestNamespacedValidator: the validator behind go-libp2p-record's
// namespace dispatch, as the DHT uses it.
func TestNamespacedValidator(t *testing.T) {
	sk := fixedKey(t)
	name := nameOf(t, sk)
	nv := record.NamespacedValidator{
		"pk":      record.PublicKeyValidator{},
		Namespace: Validator{Now: fixedClock(t0)},
	}
	low := mustMarshal(t, mustRecord(t, sk, testPath, 1, t0.Add(time.Hour), 0))
	high := mustMarshal(t, mustRecord(t, sk, testPath, 2, t0.Add(time.Hour), 0))
	if err := nv.Validate(name.RoutingKey(), low); err != nil {
		t.Fatal(err)
	}
	if i, err := nv.Select(name.RoutingKey(), [][]byte{high, low}); err != nil || i != 0 {
		t.Fatalf("Select = %d, %v; want 0", i, err)
	}
}
