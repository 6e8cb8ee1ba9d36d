package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"node/ledger/identity"
)

func TestDefault(t *testing.T) {
	id, _ := identity.Generate()
	c := Default("mine", id.PeerID())
	ix, err := NewIndex(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range AllRoles {
		if !ix.Has(id.PeerID(), r) {
			t.Fatalf("the default config does not give role %s", r)
		}
	}
	if !ix.Policy.Satisfied(func(o string) bool { return o == "Org1" }) || !ix.HasChaincode("docs") {
		t.Fatalf("policy %s, chaincodes %v", ix.Policy, c.Chaincodes)
	}
	if c.BlockCutting.MaxTransactions != DefaultMaxTransactions || c.BlockCutting.TimeoutDuration() <= 0 {
		t.Fatalf("cutting %+v", c.BlockCutting)
	}
}

func TestLoad(t *testing.T) {
	a, _ := identity.Generate()
	b, _ := identity.Generate()
	js := `{
	  "organizations": [
	    {"name": "Org1", "members": [{"peer": "` + a.PeerID().String() + `", "roles": ["orderer", "endorser", "committer", "client", "admin"]}]},
	    {"name": "Org2", "members": [{"peer": "` + b.PeerID().String() + `", "roles": ["endorser", "committer", "client"]}]}
	  ],
	  "endorsementPolicy": "AND('Org1', 'Org2')",
	  "blockCutting": {"maxTransactions": 100, "maxBytes": 524288, "timeout": "2s"}
	}`
	path := filepath.Join(t.TempDir(), "channel.json")
	os.WriteFile(path, []byte(js), 0o644)
	c, err := Load(path, "cars")
	if err != nil {
		t.Fatal(err)
	}
	ix, _ := NewIndex(c)
	if c.Channel != "cars" || ix.OrgOf(b.PeerID()) != "Org2" || ix.Has(b.PeerID(), RoleOrderer) || !ix.IsMember(a.PeerID()) {
		t.Fatalf("loaded %+v", c)
	}
	if got := ix.Members(RoleEndorser); len(got) != 2 {
		t.Fatalf("endorsers %v", got)
	}
	named := strings.Replace(js, "{", `{"channel": "cars",`, 1)
	if _, err := ParseJSON([]byte(named), "other"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("channel mismatch: %v", err)
	}
	bad := map[string]string{
		"unknown role":   strings.Replace(js, `"admin"]`, `"admin", "king"]`, 1),
		"unknown org":    strings.Replace(js, `AND('Org1', 'Org2')`, `AND('Org1', 'Org9')`, 1),
		"bad policy":     strings.Replace(js, `AND('Org1', 'Org2')`, `AND('Org1'`, 1),
		"bad peer":       strings.Replace(js, b.PeerID().String(), "nobody", 1),
		"unknown field":  strings.Replace(js, `"blockCutting"`, `"blockCuting"`, 1),
		"bad timeout":    strings.Replace(js, `"2s"`, `"soon"`, 1),
		"too many bytes": strings.Replace(js, `524288`, `99999999`, 1),
		"no orderer":     strings.Replace(js, `"orderer", `, ``, 1),
		"duplicate peer": strings.Replace(js, b.PeerID().String(), a.PeerID().String(), 1),
	}
	for name, s := range bad {
		if _, err := ParseJSON([]byte(s), "cars"); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
}
