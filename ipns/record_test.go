package ipns

import (
	"bytes"
	"errors"
	"flag"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"google.golang.org/protobuf/encoding/protowire"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func TestRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name     string
		sk       crypto.PrivKey
		embedded bool
	}{
		{"ed25519", newKey(t, crypto.Ed25519), false},
		{"secp256k1", newKey(t, crypto.Secp256k1), false},
		{"ecdsa", newKey(t, crypto.ECDSA), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			eol := t0.Add(time.Hour + 123456789*time.Nanosecond)
			r := mustRecord(t, tc.sk, testPath, 42, eol, 90*time.Second)
			b := mustMarshal(t, r)
			if r.Size() != len(b) {
				t.Errorf("Size() = %d, marshaled %d bytes", r.Size(), len(b))
			}
			got, err := Unmarshal(b)
			if err != nil {
				t.Fatal(err)
			}
			if d := sameRecord(r, got); d != "" {
				t.Fatalf("round trip changed %s", d)
			}
			if got.Value() != testPath || got.Sequence() != 42 || !got.Validity().Equal(eol) ||
				got.Validity().Location() != time.UTC || got.TTL() != 90*time.Second {
				t.Errorf("fields: %q %d %v %v", got.Value(), got.Sequence(), got.Validity(), got.TTL())
			}
			if (got.PubKey() != nil) != tc.embedded {
				t.Errorf("embedded key = %v, want %v", got.PubKey() != nil, tc.embedded)
			}
			if tc.embedded && !got.PubKey().Equals(tc.sk.GetPublic()) {
				t.Error("embedded key is not the signer's")
			}
			if b2 := mustMarshal(t, got); !bytes.Equal(b, b2) {
				t.Error("re-marshaled bytes differ")
			}
			if err := Validate(nameOf(t, tc.sk), got, t0); err != nil {
				t.Errorf("Validate: %v", err)
			}
		})
	}
}

// TestGolden pins the exact bytes of a record made with a fixed Ed25519
// key and fixed fields (Ed25519 signatures are deterministic).
func TestGolden(t *testing.T) {
	sk := fixedKey(t)
	eol := time.Date(2030, 1, 2, 3, 4, 5, 123456789, time.UTC)
	r := mustRecord(t, sk, testPath, 7, eol, 5*time.Minute)
	b := mustMarshal(t, r)

	file := filepath.Join("testdata", "golden-ed25519.ipns")
	if *update {
		if err := os.WriteFile(file, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, want) {
		t.Fatalf("record bytes changed:\n got %x\nwant %x", b, want)
	}
	const wantName = "k51qzi5uqu5dh0hmqwzu47an7qt7e1h5lyer5kjjntgl9e4qwb07kctxsovmdu"
	if got := nameOf(t, sk).String(); got != wantName {
		t.Errorf("name = %s, want %s", got, wantName)
	}
	got, err := Unmarshal(want)
	if err != nil {
		t.Fatal(err)
	}
	if err := Validate(nameOf(t, sk), got, eol); err != nil {
		t.Errorf("golden record does not validate at its end of life: %v", err)
	}
	if got.Value() != testPath || got.Sequence() != 7 || !got.Validity().Equal(eol) || got.TTL() != 5*time.Minute {
		t.Errorf("golden fields: %q %d %v %v", got.Value(), got.Sequence(), got.Validity(), got.TTL())
	}
	if string(got.validityRaw) != "2030-01-02T03:04:05.123456789Z" {
		t.Errorf("validity written as %q", got.validityRaw)
	}
}

// cborHead reads the head of the CBOR item at b[0:], checking it is
// definite and minimal: its major type, argument and length.
func cborHead(t *testing.T, b []byte) (major byte, arg uint64, n int) {
	t.Helper()
	if len(b) == 0 {
		t.Fatal("truncated CBOR")
	}
	major, info := b[0]>>5, b[0]&31
	n = 1
	switch {
	case info < 24:
		arg = uint64(info)
	case info <= 27:
		size := 1 << (info - 24)
		for _, c := range b[1 : 1+size] {
			arg = arg<<8 | uint64(c)
		}
		n += size
		least := map[int]uint64{1: 24, 2: 1 << 8, 4: 1 << 16, 8: 1 << 32}[size]
		if major != 7 && arg < least {
			t.Errorf("non-minimal integer head %x", b[:n])
		}
	default:
		t.Fatalf("indefinite length or reserved info %d", info)
	}
	return major, arg, n
}

// cborItem walks one CBOR item at b[0:], checking the canonical dag-cbor
// rules (definite lengths, minimal heads, text map keys sorted
// length-first then bytewise), and returns its length. The keys of a map
// are appended to keys.
func cborItem(t *testing.T, b []byte, keys *[]string) int {
	t.Helper()
	major, arg, n := cborHead(t, b)
	switch major {
	case 0, 1, 7:
		return n
	case 2, 3:
		return n + int(arg)
	case 4:
		for range arg {
			n += cborItem(t, b[n:], nil)
		}
		return n
	case 5:
		var prev []byte
		for i := range arg {
			kmajor, klen, kn := cborHead(t, b[n:])
			if kmajor != 3 {
				t.Fatalf("map key of major type %d", kmajor)
			}
			key := b[n+kn : n+kn+int(klen)]
			if i > 0 && (len(key) < len(prev) || len(key) == len(prev) && bytes.Compare(key, prev) <= 0) {
				t.Errorf("map key %q after %q: not length-first sorted", key, prev)
			}
			prev = key
			if keys != nil {
				*keys = append(*keys, string(key))
			}
			n += kn + int(klen)
			n += cborItem(t, b[n:], nil)
		}
		return n
	}
	t.Fatalf("unexpected major type %d", major)
	return 0
}

func TestDataIsCanonicalDagCBOR(t *testing.T) {
	for _, tc := range []struct {
		value    string
		seq, ttl uint64
	}{
		{"", 0, 0},
		{testPath, 23, 24},
		{strings.Repeat("x", 300), 1 << 16, 1<<32 + 1},
		{testPath, math.MaxInt64, math.MaxInt64},
	} {
		r := mustRecord(t, fixedKey(t), tc.value, tc.seq, t0, time.Duration(tc.ttl))
		var keys []string
		if n := cborItem(t, r.data, &keys); n != len(r.data) {
			t.Errorf("data has %d trailing bytes", len(r.data)-n)
		}
		if r.data[0] != 0xa5 {
			t.Errorf("data head %x, want a5 (map of 5)", r.data[0])
		}
		if got := strings.Join(keys, ","); got != "TTL,Value,Sequence,Validity,ValidityType" {
			t.Errorf("keys %s", got)
		}
		d, err := decodeData(r.data)
		if err != nil {
			t.Fatal(err)
		}
		if string(d.value) != tc.value || d.sequence != tc.seq || d.ttl != tc.ttl {
			t.Errorf("decoded %q %d %d", d.value, d.sequence, d.ttl)
		}
	}
	// An empty value is a zero-length byte string (0x40), never null.
	r := mustRecord(t, fixedKey(t), "", 0, t0, 0)
	if !bytes.Contains(r.data, []byte("Value\x40")) {
		t.Errorf("empty Value not encoded as an empty byte string: %x", r.data)
	}
}

func TestNewRecordRefuses(t *testing.T) {
	sk := fixedKey(t)
	for _, tc := range []struct {
		name  string
		sk    crypto.PrivKey
		value string
		seq   uint64
		eol   time.Time
		ttl   time.Duration
		want  error
	}{
		{"no key", nil, testPath, 1, t0, 0, ErrMalformed},
		{"sequence over int64", sk, testPath, math.MaxInt64 + 1, t0, 0, ErrMalformed},
		{"negative ttl", sk, testPath, 1, t0, -time.Second, ErrMalformed},
		{"year 10000", sk, testPath, 1, time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), 0, ErrMalformed},
		{"too large", sk, "/ipfs/" + strings.Repeat("a", MaxRecordSize), 1, t0, 0, ErrTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewRecord(tc.sk, tc.value, tc.seq, tc.eol, tc.ttl)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
	// The largest value that fits still makes a record of at most 10 KiB.
	base := mustRecord(t, sk, "", 1, t0, 0).Size()
	// The value appears twice (V1 and data) with 2-byte lengths.
	v := strings.Repeat("a", (MaxRecordSize-base)/2-4)
	r := mustRecord(t, sk, v, 1, t0, 0)
	if r.Size() > MaxRecordSize {
		t.Fatalf("record of %d bytes made", r.Size())
	}
	if _, err := Unmarshal(mustMarshal(t, r)); err != nil {
		t.Fatal(err)
	}
}

func TestUnmarshalRejects(t *testing.T) {
	sk := fixedKey(t)
	good := mustRecord(t, sk, testPath, 5, t0.Add(time.Hour), time.Minute)
	e := entryOf(good)
	with := func(f func(*entry)) []byte {
		c := e
		f(&c)
		return c.marshal()
	}
	// signed data with one field altered, so only the alteration is wrong
	altered := func(f func(m map[string]any)) func(*entry) {
		return func(c *entry) {
			m := dataMap(testPath, t0.Add(time.Hour), 5, uint64(time.Minute))
			f(m)
			c.data, c.sigV2 = signData(t, sk, m)
		}
	}
	big := with(func(c *entry) {
		c.extra = protowire.AppendBytes(protowire.AppendTag(nil, 15, protowire.BytesType), make([]byte, MaxRecordSize))
	})

	for _, tc := range []struct {
		name string
		b    []byte
		want []error
	}{
		{"over 10 KiB", big, []error{ErrTooLarge}},
		{"garbage", []byte("this is not an IPNS record at all"), []error{ErrMalformed}},
		{"empty", nil, []error{ErrNoSignatureV2}},
		{"V1 only", with(func(c *entry) { c.data, c.sigV2 = nil, nil }), []error{ErrNoSignatureV2}},
		{"no signatureV2", with(func(c *entry) { c.sigV2 = nil }), []error{ErrNoSignatureV2}},
		{"no data", with(func(c *entry) { c.data = nil }), []error{ErrNoSignatureV2}},
		{"value differs", with(func(c *entry) { c.value = []byte("/ipfs/bafkqaaa") }), []error{ErrMalformed, ErrFieldMismatch}},
		{"validity differs", with(func(c *entry) { c.validity = []byte(formatValidity(t0.Add(2 * time.Hour))) }), []error{ErrFieldMismatch}},
		{"validityType differs", with(func(c *entry) { c.validityType = u64(1) }), []error{ErrFieldMismatch}},
		{"sequence differs", with(func(c *entry) { c.seq = u64(6) }), []error{ErrFieldMismatch}},
		{"ttl differs", with(func(c *entry) { c.ttl = u64(0) }), []error{ErrFieldMismatch}},
		{"V1 record missing sequence (counts as 0)", with(func(c *entry) { c.seq = nil }), []error{ErrFieldMismatch}},
		{"lone V1 sequence differs", with(func(c *entry) {
			c.value, c.sigV1, c.validity, c.validityType, c.ttl = nil, nil, nil, nil, nil
			c.seq = u64(4)
		}), []error{ErrFieldMismatch}},
		{"data not CBOR", with(func(c *entry) { c.data = []byte{0xff, 0x00} }), []error{ErrMalformed}},
		{"data is a list", with(func(c *entry) { c.data, c.sigV2 = signData(t, sk, []any{1, 2}) }), []error{ErrMalformed}},
		{"data trailing bytes", with(func(c *entry) { c.data = append(append([]byte(nil), c.data...), 0) }), []error{ErrMalformed}},
		{"data indefinite map", with(func(c *entry) { c.data = append([]byte{0xbf}, append(c.data[1:], 0xff)...) }), []error{ErrMalformed}},
		{"data duplicate key", with(func(c *entry) {
			// a5 -> a6 and a second "TTL": 0 at the end
			d := append([]byte{0xa6}, c.data[1:]...)
			c.data = append(d, 0x63, 'T', 'T', 'L', 0x00)
		}), []error{ErrMalformed}},
		{"no Value", with(altered(func(m map[string]any) { delete(m, "Value") })), []error{ErrMalformed}},
		{"no Sequence", with(altered(func(m map[string]any) { delete(m, "Sequence") })), []error{ErrMalformed}},
		{"no TTL", with(altered(func(m map[string]any) { delete(m, "TTL") })), []error{ErrMalformed}},
		{"no Validity", with(altered(func(m map[string]any) { delete(m, "Validity") })), []error{ErrMalformed}},
		{"no ValidityType", with(altered(func(m map[string]any) { delete(m, "ValidityType") })), []error{ErrMalformed}},
		{"Value as text", with(altered(func(m map[string]any) { m["Value"] = testPath })), []error{ErrMalformed}},
		{"Sequence as bytes", with(altered(func(m map[string]any) { m["Sequence"] = []byte{5} })), []error{ErrMalformed}},
		{"negative TTL", with(altered(func(m map[string]any) { m["TTL"] = int64(-1) })), []error{ErrMalformed}},
		{"Sequence over int64", with(altered(func(m map[string]any) { m["Sequence"] = uint64(math.MaxUint64) })), []error{ErrMalformed}},
		{"ValidityType 1", with(altered(func(m map[string]any) { m["ValidityType"] = uint64(1) })), []error{ErrMalformed}},
		{"Validity not RFC 3339", with(func(c *entry) {
			m := dataMap(testPath, t0, 5, uint64(time.Minute))
			m["Validity"] = []byte("tomorrow")
			c.data, c.sigV2 = signData(t, sk, m)
			c.validity = []byte("tomorrow")
		}), []error{ErrMalformed}},
		{"bad embedded key", with(func(c *entry) { c.pubKey = []byte{8, 1, 18, 3, 1, 2, 3} }), []error{ErrMalformed}},
		{"field 9 as varint", with(func(c *entry) {
			c.data = nil
			c.extra = protowire.AppendVarint(protowire.AppendTag(nil, 9, protowire.VarintType), 1)
		}), []error{ErrMalformed}},
		{"field 5 as bytes", with(func(c *entry) {
			c.seq = nil
			c.extra = protowire.AppendBytes(protowire.AppendTag(nil, 5, protowire.BytesType), []byte{5})
		}), []error{ErrMalformed}},
		{"bad unknown field", with(func(c *entry) { c.extra = []byte{0x7a, 0x05, 0x01} }), []error{ErrMalformed}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Unmarshal(tc.b)
			if err == nil {
				t.Fatalf("accepted: %+v", r)
			}
			for _, w := range tc.want {
				if !errors.Is(err, w) {
					t.Errorf("err = %v, want %v", err, w)
				}
			}
		})
	}
}

// TestSizeLimit: 10240 bytes are read, 10241 are refused unread.
func TestSizeLimit(t *testing.T) {
	sk := fixedKey(t)
	good := mustMarshal(t, mustRecord(t, sk, testPath, 5, t0.Add(time.Hour), time.Minute))
	padded := func(total int) []byte {
		for l := 0; ; l++ {
			pad := protowire.AppendBytes(protowire.AppendTag(nil, 15, protowire.BytesType), make([]byte, l))
			if len(good)+len(pad) == total {
				return append(append([]byte(nil), good...), pad...)
			}
		}
	}
	r, err := Unmarshal(padded(MaxRecordSize))
	if err != nil {
		t.Fatalf("%d bytes: %v", MaxRecordSize, err)
	}
	if err := Validate(nameOf(t, sk), r, t0); err != nil {
		t.Fatalf("%d bytes: %v", MaxRecordSize, err)
	}
	if _, err := Unmarshal(padded(MaxRecordSize + 1)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("%d bytes: err = %v, want ErrTooLarge", MaxRecordSize+1, err)
	}
	if err := (Validator{Now: fixedClock(t0)}).Validate(nameOf(t, sk).RoutingKey(), padded(MaxRecordSize+1)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Validator: err = %v, want ErrTooLarge", err)
	}
}

func TestUnmarshalTruncated(t *testing.T) {
	b := mustMarshal(t, mustRecord(t, newKey(t, crypto.ECDSA), testPath, 5, t0, time.Minute))
	for i := range len(b) {
		if r, err := Unmarshal(b[:i]); err == nil {
			t.Fatalf("prefix of %d/%d bytes accepted: %+v", i, len(b), r)
		}
	}
}

func TestUnmarshalAccepts(t *testing.T) {
	sk := fixedKey(t)
	good := mustRecord(t, sk, testPath, 5, t0.Add(time.Hour), time.Minute)
	e := entryOf(good)
	name := nameOf(t, sk)
	check := func(t *testing.T, b []byte) *Record {
		t.Helper()
		r, err := Unmarshal(b)
		if err != nil {
			t.Fatal(err)
		}
		if err := Validate(name, r, t0); err != nil {
			t.Fatal(err)
		}
		// Whatever is accepted re-marshals to a record that is accepted
		// and equal.
		r2, err := Unmarshal(mustMarshal(t, r))
		if err != nil {
			t.Fatal(err)
		}
		if d := sameRecord(r, r2); d != "" {
			t.Fatalf("re-marshal changed %s", d)
		}
		return r
	}
	t.Run("V2 only", func(t *testing.T) {
		r := check(t, entry{sigV2: e.sigV2, data: e.data}.marshal())
		if r.Sequence() != 5 || r.Value() != testPath || r.v1 != 0 || r.sigV1 != nil {
			t.Errorf("fields %d %q %b", r.Sequence(), r.Value(), r.v1)
		}
	})
	t.Run("unknown protobuf field", func(t *testing.T) {
		c := e
		c.extra = protowire.AppendBytes(protowire.AppendTag(nil, 15, protowire.BytesType), []byte("future"))
		r := check(t, c.marshal())
		if b := mustMarshal(t, r); !bytes.Equal(b, mustMarshal(t, good)) {
			t.Error("unknown field kept on re-marshal")
		}
	})
	t.Run("extension keys in data", func(t *testing.T) {
		m := dataMap(testPath, t0.Add(time.Hour), 5, uint64(time.Minute))
		m["_note"] = "hello"
		m["_n"] = []any{1, map[string]any{"x": true}}
		c := e
		c.data, c.sigV2 = signData(t, sk, m)
		c.sigV1, c.value, c.validity, c.validityType, c.seq, c.ttl = nil, nil, nil, nil, nil, nil
		r := check(t, c.marshal())
		if !bytes.Equal(r.data, c.data) {
			t.Error("data not kept as signed")
		}
	})
	t.Run("V1 zero fields left out", func(t *testing.T) {
		// An encoder that omits proto3 zero values: sequence, TTL and
		// validityType absent, all zero in the data.
		sk := fixedKey(t)
		r0 := mustRecord(t, sk, testPath, 0, t0.Add(time.Hour), 0)
		c := entryOf(r0)
		c.seq, c.ttl, c.validityType = nil, nil, nil
		r := check(t, c.marshal())
		if r.v1 != v1Value|v1Validity {
			t.Errorf("V1 fields %05b", r.v1)
		}
	})
	t.Run("does not alias input", func(t *testing.T) {
		b := mustMarshal(t, good)
		r := check(t, b)
		for i := range b {
			b[i] = 0
		}
		if d := sameRecord(r, good); d != "" {
			t.Fatalf("record changed with its input buffer: %s", d)
		}
	})
}

func TestCompare(t *testing.T) {
	sk := fixedKey(t)
	a := mustRecord(t, sk, testPath, 1, t0.Add(time.Hour), 0)
	b := mustRecord(t, sk, testPath, 2, t0, 0)
	c := mustRecord(t, sk, testPath, 2, t0.Add(time.Minute), 0)
	for _, tc := range []struct {
		x, y *Record
		want int
	}{
		{a, b, -1}, {b, a, 1}, {b, c, -1}, {c, b, 1}, {c, c, 0},
	} {
		if got := Compare(tc.x, tc.y); got != tc.want {
			t.Errorf("Compare(seq %d %v, seq %d %v) = %d, want %d",
				tc.x.Sequence(), tc.x.Validity(), tc.y.Sequence(), tc.y.Validity(), got, tc.want)
		}
	}
}
