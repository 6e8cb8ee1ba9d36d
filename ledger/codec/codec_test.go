package codec

import (
	"errors"
	"testing"
)

type sample struct {
	Name string `cbor:"name"`
	N    int    `cbor:"n"`
	L    Link   `cbor:"link"`
}

func TestRoundTripAndStrictness(t *testing.T) {
	c := CIDOf([]byte("x"))
	b, err := Marshal(sample{Name: "a", N: 1, L: L(c)})
	if err != nil {
		t.Fatal(err)
	}
	var s sample
	if err := Unmarshal(b, &s); err != nil || !s.L.Equals(c) || s.Name != "a" {
		t.Fatalf("round trip: %+v %v", s, err)
	}
	if err := CheckCID(CIDOf(b), b); err != nil {
		t.Fatal(err)
	}
	if err := CheckCID(c, b); !errors.Is(err, ErrMalformed) {
		t.Fatalf("wrong CID: %v", err)
	}
	// Keys in the wrong order (n before name is right: shorter first;
	// here "name" comes first), an indefinite-length map, trailing bytes,
	// an unknown field, a CID with another tag.
	for name, in := range map[string][]byte{
		"key order":  {0xa2, 0x64, 'n', 'a', 'm', 'e', 0x61, 'a', 0x61, 'n', 0x01},
		"indefinite": {0xbf, 0x61, 'n', 0x01, 0xff},
		"trailing":   append(append([]byte{}, b...), 0x00),
		"unknown":    {0xa1, 0x61, 'z', 0x01},
		"bad tag":    {0xa1, 0x64, 'l', 'i', 'n', 'k', 0xd8, 0x2b, 0x41, 0x00},
	} {
		var s sample
		if err := Unmarshal(in, &s); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
	// The zero link is null and decodes back to zero.
	b, _ = Marshal(sample{})
	if err := Unmarshal(b, &s); err != nil || s.L.Defined() {
		t.Fatalf("null link: %+v %v", s, err)
	}
}
