package ipns

// Cross-validation against boxo's ipns package, an independent
// implementation of the same spec (boxo is used in tests only).

import (
	"bytes"
	"errors"
	"testing"
	"time"

	bipns "github.com/ipfs/boxo/ipns"
	bpath "github.com/ipfs/boxo/path"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

var keyTypes = []struct {
	name string
	typ  int
}{
	{"ed25519", crypto.Ed25519},
	{"secp256k1", crypto.Secp256k1},
	{"ecdsa", crypto.ECDSA},
	{"rsa", crypto.RSA},
}

func boxoName(t *testing.T, sk crypto.PrivKey) bipns.Name {
	t.Helper()
	id, err := peer.IDFromPrivateKey(sk)
	if err != nil {
		t.Fatal(err)
	}
	return bipns.NameFromPeer(id)
}

// sameFields checks a boxo record and ours hold the same Value, Sequence,
// TTL and Validity.
func sameFields(t *testing.T, b *bipns.Record, r *Record) {
	t.Helper()
	v, err := b.Value()
	if err != nil {
		t.Fatal(err)
	}
	seq, err := b.Sequence()
	if err != nil {
		t.Fatal(err)
	}
	ttl, err := b.TTL()
	if err != nil {
		t.Fatal(err)
	}
	eol, err := b.Validity()
	if err != nil {
		t.Fatal(err)
	}
	if v.String() != r.Value() || seq != r.Sequence() || ttl != r.TTL() || !eol.Equal(r.Validity()) {
		t.Errorf("boxo sees %s %d %v %v; we see %s %d %v %v",
			v, seq, ttl, eol, r.Value(), r.Sequence(), r.TTL(), r.Validity())
	}
}

func TestBoxoValidatesOurRecords(t *testing.T) {
	eol := time.Now().Add(time.Hour) // boxo checks expiry against the wall clock
	for _, kt := range keyTypes {
		t.Run(kt.name, func(t *testing.T) {
			sk := newKey(t, kt.typ)
			r := mustRecord(t, sk, testPath, 12345, eol, 17*time.Second)
			b := mustMarshal(t, r)

			br, err := bipns.UnmarshalRecord(b)
			if err != nil {
				t.Fatal(err)
			}
			bn := boxoName(t, sk)
			if err := bipns.ValidateWithName(br, bn); err != nil {
				t.Fatalf("ValidateWithName: %v", err)
			}
			if err := (bipns.Validator{}).Validate(string(bn.RoutingKey()), b); err != nil {
				t.Fatalf("boxo Validator: %v", err)
			}
			sameFields(t, br, r)
			if bn.String() != nameOf(t, sk).String() || string(bn.RoutingKey()) != nameOf(t, sk).RoutingKey() {
				t.Errorf("names differ: boxo %s, ours %s", bn, nameOf(t, sk))
			}
		})
	}
}

func TestWeValidateBoxoRecords(t *testing.T) {
	eol := time.Now().Add(time.Hour).Truncate(time.Millisecond).Add(7)
	p, err := bpath.NewPath(testPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, kt := range keyTypes {
		sk := newKey(t, kt.typ)
		for _, opt := range []struct {
			name string
			opts []bipns.Option
		}{
			{"default", nil},
			{"V2 only", []bipns.Option{bipns.WithV1Compatibility(false)}},
			{"metadata", []bipns.Option{bipns.WithMetadata(map[string]any{"_app": "node", "_n": int64(-3), "_ok": true})}},
			{"key embedded", []bipns.Option{bipns.WithPublicKey(true)}},
		} {
			t.Run(kt.name+"/"+opt.name, func(t *testing.T) {
				br, err := bipns.NewRecord(sk, p, 77, eol, 3*time.Minute, opt.opts...)
				if err != nil {
					t.Fatal(err)
				}
				b, err := bipns.MarshalRecord(br)
				if err != nil {
					t.Fatal(err)
				}
				r, err := Unmarshal(b)
				if err != nil {
					t.Fatal(err)
				}
				name := nameOf(t, sk)
				if err := Validate(name, r, time.Now()); err != nil {
					t.Fatal(err)
				}
				if err := (Validator{}).Validate(name.RoutingKey(), b); err != nil {
					t.Fatal(err)
				}
				sameFields(t, br, r)
				// Re-marshaled, boxo still accepts it.
				if err := (bipns.Validator{}).Validate(name.RoutingKey(), mustMarshal(t, r)); err != nil {
					t.Fatalf("boxo rejects our re-marshaling: %v", err)
				}
			})
		}
	}
}

// TestSameBytesAsBoxo: with an Ed25519 key (deterministic signatures) our
// records are byte for byte the ones boxo writes for the same fields.
func TestSameBytesAsBoxo(t *testing.T) {
	sk := fixedKey(t)
	for _, tc := range []struct {
		value string
		seq   uint64
		eol   time.Time
		ttl   time.Duration
	}{
		{testPath, 7, time.Date(2030, 1, 2, 3, 4, 5, 123456789, time.UTC), 5 * time.Minute},
		{testPath, 0, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), 0},
		{"/ipfs/bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi/a/b.txt", 1 << 40, time.Date(2099, 12, 31, 23, 59, 59, 100, time.FixedZone("x", 3600)), 48 * time.Hour},
		{"/ipns/k51qzi5uqu5dh0hmqwzu47an7qt7e1h5lyer5kjjntgl9e4qwb07kctxsovmdu", 1<<63 - 1, time.Date(2027, 6, 1, 12, 0, 0, 500000000, time.UTC), time.Nanosecond},
	} {
		p, err := bpath.NewPath(tc.value)
		if err != nil {
			t.Fatal(err)
		}
		br, err := bipns.NewRecord(sk, p, tc.seq, tc.eol, tc.ttl)
		if err != nil {
			t.Fatal(err)
		}
		want, err := bipns.MarshalRecord(br)
		if err != nil {
			t.Fatal(err)
		}
		got := mustMarshal(t, mustRecord(t, sk, tc.value, tc.seq, tc.eol, tc.ttl))
		if !bytes.Equal(got, want) {
			t.Errorf("seq %d: bytes differ from boxo's\n got %x\nwant %x", tc.seq, got, want)
		}
	}
}

func TestNamesMatchBoxo(t *testing.T) {
	// Public test vectors: a peer ID and its IPNS name.
	for _, v := range [][2]string{
		{"QmRp2LvtSQtCkUWCpi92ph5MdQyRtfb9jHbkNgZzGExGuG", "k2k4r8kpauqq30hoj9oktej5btbgz1jeos16d3te36xd78trvak0jcor"},
		{"12D3KooWSzRuSFHgLsKr6jJboAPdP7xMga2YBgBspYuErxswcgvt", "k51qzi5uqu5dmjjgoe7s21dncepi970722cn30qlhm9qridas1c9ktkjb6ejux"},
		{"QmSBUTocZ9LxE53Br9PDDcPWnR1FJQRv94U96Wkt8eypAw", "k2k4r8ku8cnc1sl2h5xn7i07dma9abfnkqkxi4a6nd1xq0knoxe7b0y4"},
		{"16Uiu2HAmUymv6JpFwNZppdKUMxGJuHsTeicXgHGKbBasu4Ruj3K1", "kzwfwjn5ji4puw3jc1qw4b073j74xvq21iziuqw4rem21pr7f0l4dj8i9yb978s"},
	} {
		a, err := ParseName(v[0])
		if err != nil {
			t.Fatal(err)
		}
		b, err := ParseName(v[1])
		if err != nil {
			t.Fatal(err)
		}
		if a != b || a.String() != v[1] {
			t.Errorf("%s -> %s, %s -> %s; want %s", v[0], a, v[1], b, v[1])
		}
		bn, err := bipns.NameFromString(v[0])
		if err != nil {
			t.Fatal(err)
		}
		if string(bn.RoutingKey()) != a.RoutingKey() || bn.String() != a.String() {
			t.Errorf("%s: boxo routing key or string differs", v[0])
		}
	}
}

// TestBoxoAgreesOnRejections: the bad records we refuse, boxo refuses too.
func TestBoxoAgreesOnRejections(t *testing.T) {
	sk := newKey(t, crypto.Ed25519)
	name := nameOf(t, sk)
	good := mustRecord(t, sk, testPath, 3, time.Now().Add(time.Hour), 0)
	flipped := entryOf(good)
	flipped.sigV2 = append([]byte(nil), flipped.sigV2...)
	flipped.sigV2[5] ^= 1
	mismatch := entryOf(good)
	mismatch.seq = u64(4)
	expired := mustMarshal(t, mustRecord(t, sk, testPath, 3, time.Now().Add(-time.Hour), 0))
	other := mustMarshal(t, mustRecord(t, newKey(t, crypto.ECDSA), testPath, 3, time.Now().Add(time.Hour), 0))

	for _, tc := range []struct {
		name string
		b    []byte
		want error
	}{
		{"flipped signatureV2", flipped.marshal(), ErrSignature},
		{"V1 sequence differs", mismatch.marshal(), ErrFieldMismatch},
		{"expired", expired, ErrExpired},
		{"another key's record", other, ErrKeyMismatch},
		{"V1 only", entry{value: good.value, sigV1: good.sigV1, validity: good.validityRaw, validityType: u64(0), seq: u64(3), ttl: u64(0)}.marshal(), ErrNoSignatureV2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := (Validator{}).Validate(name.RoutingKey(), tc.b); !errors.Is(err, tc.want) {
				t.Errorf("ours: err = %v, want %v", err, tc.want)
			}
			if err := (bipns.Validator{}).Validate(name.RoutingKey(), tc.b); err == nil {
				t.Error("boxo accepts it")
			}
		})
	}
}
