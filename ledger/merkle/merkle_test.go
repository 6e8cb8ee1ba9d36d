package merkle

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"testing"
)

// reference is the recursive definition of RFC 6962, section 2.1.
func reference(leaves [][]byte) []byte {
	switch len(leaves) {
	case 0:
		s := sha256.Sum256(nil)
		return s[:]
	case 1:
		return LeafHash(leaves[0])
	}
	k := split(len(leaves))
	return nodeHash(reference(leaves[:k]), reference(leaves[k:]))
}

func leaves(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = []byte(fmt.Sprintf("leaf %d", i))
	}
	return out
}

// The RFC 6962 test vectors (the certificate-transparency-go test suite's
// eight leaves) pin the hash layout.
func TestKnownRoots(t *testing.T) {
	in := []string{"", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"}
	want := []string{
		"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
		"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
		"aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
		"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
		"4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
		"76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
		"ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
		"5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
	}
	var ls [][]byte
	for i, h := range in {
		b, _ := hex.DecodeString(h)
		ls = append(ls, b)
		if got := hex.EncodeToString(Root(ls)); got != want[i] {
			t.Fatalf("root of %d leaves = %s, want %s", i+1, got, want[i])
		}
	}
}

func TestRootMatchesDefinition(t *testing.T) {
	for n := 0; n < 70; n++ {
		ls := leaves(n)
		if got, want := Root(ls), reference(ls); string(got) != string(want) {
			t.Fatalf("n=%d: bottom-up root differs from the recursive definition", n)
		}
	}
}

func TestPaths(t *testing.T) {
	for n := 1; n < 40; n++ {
		ls := leaves(n)
		root := Root(ls)
		for i := 0; i < n; i++ {
			p, err := Path(ls, i)
			if err != nil {
				t.Fatal(err)
			}
			if err := VerifyPath(LeafHash(ls[i]), i, n, p, root); err != nil {
				t.Fatalf("n=%d i=%d: %v", n, i, err)
			}
			// Wrong leaf, wrong index, wrong size, damaged path all fail.
			if err := VerifyPath(LeafHash([]byte("x")), i, n, p, root); !errors.Is(err, ErrBadProof) {
				t.Fatalf("n=%d i=%d: a wrong leaf verified", n, i)
			}
			if n > 1 {
				if err := VerifyPath(LeafHash(ls[i]), (i+1)%n, n, p, root); err == nil {
					t.Fatalf("n=%d i=%d: a wrong index verified", n, i)
				}
				p[0][0] ^= 1
				if err := VerifyPath(LeafHash(ls[i]), i, n, p, root); err == nil {
					t.Fatalf("n=%d i=%d: a damaged path verified", n, i)
				}
			}
			if err := VerifyPath(LeafHash(ls[i]), i, n+1, p, root); err == nil && n > 1 {
				t.Fatalf("n=%d i=%d: a wrong size verified", n, i)
			}
		}
	}
}
