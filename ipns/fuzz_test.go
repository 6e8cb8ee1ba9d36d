package ipns

import (
	"bytes"
	"testing"
	"time"
)

// FuzzUnmarshal: Unmarshal never panics; whatever it accepts is at most
// MaxRecordSize, marshals again, and unmarshals to an equal record whose
// marshaling is stable; Validate never panics on it.
func FuzzUnmarshal(f *testing.F) {
	sk := fixedKey(f)
	good := mustRecord(f, sk, testPath, 5, t0.Add(time.Hour), time.Minute)
	f.Add(mustMarshal(f, good))
	e := entryOf(good)
	f.Add(entry{sigV2: e.sigV2, data: e.data}.marshal())
	e.seq = u64(6)
	f.Add(e.marshal())
	// The other seeds are in testdata/fuzz/FuzzUnmarshal.
	name := nameOf(f, sk)

	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := Unmarshal(b)
		if err != nil {
			if r != nil {
				t.Fatal("record returned with an error")
			}
			return
		}
		if r.Size() > MaxRecordSize || r.Size() != len(b) {
			t.Fatalf("size %d for %d bytes", r.Size(), len(b))
		}
		b2, err := r.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		r2, err := Unmarshal(b2)
		if err != nil {
			t.Fatalf("re-marshaled record refused: %v", err)
		}
		if d := sameRecord(r, r2); d != "" {
			t.Fatalf("re-marshal changed %s", d)
		}
		if b3, _ := r2.Marshal(); !bytes.Equal(b2, b3) {
			t.Fatal("marshaling is not stable")
		}
		_ = Validate(name, r, t0)
		if pk := r.PubKey(); pk != nil {
			if n, err := NameFromPublicKey(pk); err == nil {
				_ = Validate(n, r, t0)
			}
		}
		_ = Compare(r, r2)
	})
}

// FuzzParseName: ParseName never panics, and a name it accepts prints and
// routes to forms that parse back to the same name.
func FuzzParseName(f *testing.F) {
	f.Add(nameOf(f, fixedKey(f)).String())
	f.Add("12D3KooWC4T1AXU2s2YBgGJ2FeaYVtsKoHZWJeubnWe9SnuSE7Zb")
	f.Add("/ipns/QmRp2LvtSQtCkUWCpi92ph5MdQyRtfb9jHbkNgZzGExGuG")
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseName(s)
		if err != nil {
			return
		}
		if n.IsZero() {
			t.Fatal("zero name accepted")
		}
		n2, err := ParseName(n.String())
		if err != nil || n2 != n {
			t.Fatalf("String %q does not parse back: %v", n.String(), err)
		}
		n3, err := NameFromRoutingKey(n.RoutingKey())
		if err != nil || n3 != n {
			t.Fatalf("routing key does not parse back: %v", err)
		}
		if n4, err := ParseName(n.Peer().String()); err != nil || n4 != n {
			t.Fatalf("peer ID form does not parse back: %v", err)
		}
	})
}
