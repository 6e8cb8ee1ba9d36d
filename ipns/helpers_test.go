package ipns

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/libp2p/go-libp2p/core/crypto"
	"google.golang.org/protobuf/encoding/protowire"
)

// testPath is an identity CID path ("hello world"-sized inline data).
const testPath = "/ipfs/bafkqac3jobxhgidsn5rww4yk"

// t0 is the fixed "now" of the tests; records made with eolAfter are valid
// at t0.
var t0 = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

// fixedKey is an Ed25519 key from a fixed seed, for golden bytes.
func fixedKey(t testing.TB) crypto.PrivKey {
	t.Helper()
	seed := bytes.Repeat([]byte{0x42}, ed25519.SeedSize)
	sk, err := crypto.UnmarshalEd25519PrivateKey(ed25519.NewKeyFromSeed(seed))
	if err != nil {
		t.Fatal(err)
	}
	return sk
}

func newKey(t testing.TB, typ int) crypto.PrivKey {
	t.Helper()
	sk, _, err := crypto.GenerateKeyPairWithReader(typ, 2048, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return sk
}

func nameOf(t testing.TB, sk crypto.PrivKey) Name {
	t.Helper()
	n, err := NameFromPublicKey(sk.GetPublic())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func mustRecord(t testing.TB, sk crypto.PrivKey, value string, seq uint64, eol time.Time, ttl time.Duration) *Record {
	t.Helper()
	r, err := NewRecord(sk, value, seq, eol, ttl)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func mustMarshal(t testing.TB, r *Record) []byte {
	t.Helper()
	b, err := r.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sameRecord reports how a and b differ, or "" when they hold the same
// fields (the parsed key is compared through its bytes).
func sameRecord(a, b *Record) string {
	switch {
	case !bytes.Equal(a.data, b.data):
		return "data"
	case !bytes.Equal(a.sigV2, b.sigV2):
		return "signatureV2"
	case !bytes.Equal(a.sigV1, b.sigV1) || (a.sigV1 == nil) != (b.sigV1 == nil):
		return "signatureV1"
	case !bytes.Equal(a.pubKeyBytes, b.pubKeyBytes) || (a.pubKey == nil) != (b.pubKey == nil):
		return "pubKey"
	case a.v1 != b.v1:
		return fmt.Sprintf("V1 fields %05b vs %05b", a.v1, b.v1)
	case !bytes.Equal(a.value, b.value):
		return "value"
	case !bytes.Equal(a.validityRaw, b.validityRaw) || !a.validity.Equal(b.validity):
		return "validity"
	case a.sequence != b.sequence:
		return "sequence"
	case a.ttl != b.ttl:
		return "ttl"
	}
	return ""
}

// entry is a hand-built IpnsEntry for crafting bad records. nil fields
// are left out.
type entry struct {
	value, sigV1, validity, pubKey, sigV2, data []byte
	validityType, seq, ttl                      *uint64
	extra                                       []byte // appended raw
}

func u64(v uint64) *uint64 { return &v }

func (e entry) marshal() []byte {
	var b []byte
	bs := func(n protowire.Number, v []byte) {
		if v != nil {
			b = protowire.AppendTag(b, n, protowire.BytesType)
			b = protowire.AppendBytes(b, v)
		}
	}
	vi := func(n protowire.Number, v *uint64) {
		if v != nil {
			b = protowire.AppendTag(b, n, protowire.VarintType)
			b = protowire.AppendVarint(b, *v)
		}
	}
	bs(1, e.value)
	bs(2, e.sigV1)
	vi(3, e.validityType)
	bs(4, e.validity)
	vi(5, e.seq)
	vi(6, e.ttl)
	bs(7, e.pubKey)
	bs(8, e.sigV2)
	bs(9, e.data)
	return append(b, e.extra...)
}

// entryOf returns the fields of a record as an entry, to be altered.
func entryOf(r *Record) entry {
	return entry{
		value: r.value, sigV1: r.sigV1, validity: r.validityRaw, pubKey: r.pubKeyBytes,
		sigV2: r.sigV2, data: r.data,
		validityType: u64(0), seq: u64(r.sequence), ttl: u64(r.ttl),
	}
}

// canonical is the dag-cbor encoder the tests use to craft data maps.
var canonical = func() cbor.EncMode {
	m, err := cbor.CanonicalEncOptions().EncMode()
	if err != nil {
		panic(err)
	}
	return m
}()

// dataMap returns the standard data map of a record's fields, for tests
// to alter and re-encode with signData.
func dataMap(value string, validity time.Time, seq, ttl uint64) map[string]any {
	return map[string]any{
		"Value":        []byte(value),
		"Validity":     []byte(formatValidity(validity)),
		"ValidityType": uint64(0),
		"Sequence":     seq,
		"TTL":          ttl,
	}
}

// signData encodes m and returns it with a valid signatureV2 by sk.
func signData(t testing.TB, sk crypto.PrivKey, m any) (data, sig []byte) {
	t.Helper()
	data, err := canonical.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	sig, err = sk.Sign(signatureV2Input(data))
	if err != nil {
		t.Fatal(err)
	}
	return data, sig
}
