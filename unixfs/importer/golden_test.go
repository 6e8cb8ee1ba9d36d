package importer

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"testing"

	mdtest "github.com/ipfs/boxo/ipld/merkledag/test"

	"node/blockstore"
)

var update = flag.Bool("update", false, "rewrite testdata/golden.json from the reference importer")

// goldenCase is one input and the CID the reference gives for it.
type goldenCase struct {
	Name       string `json:"name"`
	Seed       uint64 `json:"seed"`
	Size       int    `json:"size"`
	Text       string `json:"text,omitempty"` // used instead of random bytes when set
	CIDVersion int    `json:"cidVersion"`
	RawLeaves  bool   `json:"rawLeaves"`
	ChunkSize  int    `json:"chunkSize"`
	Hash       string `json:"hash"`
	CID        string `json:"cid"`
}

func (g goldenCase) data() []byte {
	if g.Text != "" || g.Size == 0 {
		return []byte(g.Text)
	}
	return randomBytes(g.Seed, g.Size)
}

func (g goldenCase) options(t *testing.T) Options {
	o := DefaultOptions()
	o.CIDVersion, o.RawLeaves, o.ChunkSize = g.CIDVersion, g.RawLeaves, g.ChunkSize
	h, err := ParseHash(g.Hash)
	if err != nil {
		t.Fatal(err)
	}
	o.HashFunction = h
	return o
}

func goldenInputs() []goldenCase {
	var cs []goldenCase
	add := func(name string, seed uint64, size int, text string, v int, raw bool, chunk int, hash string) {
		cs = append(cs, goldenCase{Name: name, Seed: seed, Size: size, Text: text, CIDVersion: v, RawLeaves: raw, ChunkSize: chunk, Hash: hash})
	}
	add("empty file", 0, 0, "", 0, false, DefaultChunkSize, "sha2-256")
	add("empty file v1", 0, 0, "", 1, true, DefaultChunkSize, "sha2-256")
	add("hello", 0, 6, "hello\n", 0, false, DefaultChunkSize, "sha2-256")
	add("hello v1", 0, 6, "hello\n", 1, true, DefaultChunkSize, "sha2-256")
	add("hello blake3", 0, 6, "hello\n", 1, true, DefaultChunkSize, "blake3")
	for _, size := range []int{DefaultChunkSize, DefaultChunkSize + 1, 5*DefaultChunkSize + 3} {
		add("random", uint64(size), size, "", 0, false, DefaultChunkSize, "sha2-256")
		add("random v1", uint64(size), size, "", 1, true, DefaultChunkSize, "sha2-256")
		add("random v0 raw", uint64(size), size, "", 0, true, DefaultChunkSize, "sha2-256")
	}
	for _, size := range []int{174 * 1024, 174*1024 + 1, 174*174*1024 + 1} {
		add("two levels, 1 KiB chunks", uint64(size), size, "", 0, false, 1024, "sha2-256")
		add("two levels, 1 KiB chunks, v1", uint64(size), size, "", 1, true, 1024, "sha2-256")
	}
	return cs
}

// TestGolden pins the importer's output to CIDs recorded in testdata from
// the reference importer, so a change of behaviour fails even if both
// implementations changed. The well-known CIDs of "hello\n" and the empty
// file are checked against their published values as well.
func TestGolden(t *testing.T) {
	const path = "testdata/golden.json"
	if *update {
		cs := goldenInputs()
		for i := range cs {
			cs[i].CID = boxoFile(t, mdtest.Mock(), cs[i].data(), cs[i].options(t)).Cid().String()
		}
		b, _ := json.MarshalIndent(cs, "", "  ")
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cs []goldenCase
	if err := json.Unmarshal(b, &cs); err != nil {
		t.Fatal(err)
	}
	if len(cs) != len(goldenInputs()) {
		t.Fatalf("%s has %d cases, want %d: run go test -update", path, len(cs), len(goldenInputs()))
	}
	known := map[string]string{
		"hello":         "QmZULkCELmmk5XNfCgTnCyFgAVxBRBXyDHGGMVoLFLiXEN",
		"empty file":    "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH",
		"empty file v1": "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku",
	}
	for _, g := range cs {
		if want, ok := known[g.Name]; ok && g.CID != want {
			t.Errorf("%s: golden file says %s, the published CID is %s", g.Name, g.CID, want)
		}
		im, err := New(context.Background(), g.options(t), blockstore.NewMemory())
		if err != nil {
			t.Fatal(err)
		}
		n, err := im.AddFile(context.Background(), bytes.NewReader(g.data()))
		if err != nil {
			t.Fatal(err)
		}
		if n.CID.String() != g.CID {
			t.Errorf("%s (%d bytes): got %s, golden %s", g.Name, g.Size, n.CID, g.CID)
		}
	}
}

// goldenDir is a directory of `count` small files named by a pattern.
type goldenDir struct {
	Name       string `json:"name"`
	Count      int    `json:"count"`
	Pattern    string `json:"pattern"`
	CIDVersion int    `json:"cidVersion"`
	CID        string `json:"cid"`
}

func (g goldenDir) names() []string {
	out := make([]string, g.Count)
	for i := range out {
		out[i] = fmt.Sprintf(g.Pattern, i)
	}
	return out
}

// TestGoldenDirectories pins directory and HAMT CIDs to testdata, like
// TestGolden does for files.
func TestGoldenDirectories(t *testing.T) {
	const path = "testdata/golden-dirs.json"
	inputs := []goldenDir{
		{Name: "empty", Count: 0, Pattern: "%d"},
		{Name: "names with spaces and unicode", Count: 40, Pattern: "fïle nümber %d ☃.txt"},
		{Name: "just under the HAMT threshold", Count: 4096, Pattern: "entry-%024d"},
		{Name: "HAMT, nested shards", Count: 9000, Pattern: "entry-%024d"},
		{Name: "HAMT v1", Count: 9000, Pattern: "v1 entry %d", CIDVersion: 1},
	}
	opts := func(g goldenDir) Options {
		o := DefaultOptions()
		if g.CIDVersion == 1 {
			o.CIDVersion, o.RawLeaves = 1, true
		}
		return o
	}
	if *update {
		for i := range inputs {
			_, ref := buildBoth(t, opts(inputs[i]), inputs[i].names())
			inputs[i].CID = ref.String()
		}
		b, _ := json.MarshalIndent(inputs, "", "  ")
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cs []goldenDir
	if err := json.Unmarshal(b, &cs); err != nil {
		t.Fatal(err)
	}
	if len(cs) != len(inputs) {
		t.Fatalf("%s has %d cases, want %d: run go test -update", path, len(cs), len(inputs))
	}
	for _, g := range cs {
		if g.Name == "empty" && g.CID != "QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn" {
			t.Errorf("golden empty directory %s is not the published CID", g.CID)
		}
		ours, _ := buildBoth(t, opts(g), g.names())
		if ours.String() != g.CID {
			t.Errorf("%s: got %s, golden %s", g.Name, ours, g.CID)
		}
	}
}
