package service

import (
	"slices"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"

	"node/ledger/config"
	"node/ledger/identity"
)

// orgsIndex builds a channel whose organisations each have the given
// number of endorsers; it returns the index and the peers by org.
func orgsIndex(t *testing.T, policy string, sizes map[string]int) (*config.Index, map[string][]peer.ID) {
	t.Helper()
	cfg := &config.Config{Channel: "c", EndorsementPolicy: policy}
	peers := map[string][]peer.ID{}
	names := make([]string, 0, len(sizes))
	for o := range sizes {
		names = append(names, o)
	}
	slices.Sort(names)
	for i, o := range names {
		org := config.Org{Name: o}
		for range sizes[o] {
			id, err := identity.Generate()
			if err != nil {
				t.Fatal(err)
			}
			roles := []config.Role{config.RoleEndorser, config.RoleClient}
			if i == 0 && len(org.Members) == 0 {
				roles = append(roles, config.RoleOrderer)
			}
			org.Members = append(org.Members, config.Member{Peer: id.PeerID().String(), Roles: roles})
			peers[o] = append(peers[o], id.PeerID())
		}
		cfg.Organizations = append(cfg.Organizations, org)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	ix, err := config.NewIndex(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return ix, peers
}

func planOrgs(p []orgPlan) string {
	var out []string
	for _, o := range p {
		out = append(out, o.Org)
	}
	return strings.Join(out, ",")
}

// The plan is a smallest set of organisations that satisfies the policy,
// with the client's own organisation kept when it can be, and each
// organisation's endorsers tried self first, then connected peers.
func TestChooseEndorsers(t *testing.T) {
	sizes := map[string]int{"Org1": 2, "Org2": 2, "Org3": 1}
	for _, c := range []struct {
		policy, self, want string
	}{
		{"AND('Org1','Org2')", "Org2", "Org1,Org2"},
		{"OR('Org1','Org2','Org3')", "Org2", "Org2"},
		{"OR('Org1','Org2','Org3')", "Org3", "Org3"},
		{"OutOf(2,'Org1','Org2','Org3')", "Org3", "Org2,Org3"},
		{"OR(AND('Org1','Org2'), 'Org3')", "Org1", "Org3"},
		{"AND('Org1', OR('Org2','Org3'))", "Org3", "Org1,Org3"},
	} {
		ix, peers := orgsIndex(t, c.policy, sizes)
		self := peers[c.self][0]
		plan, err := chooseEndorsers(ix, self, nil)
		if err != nil {
			t.Fatalf("%s: %v", c.policy, err)
		}
		if got := planOrgs(plan); got != c.want {
			t.Errorf("%s from %s: chose %s, want %s", c.policy, c.self, got, c.want)
		}
		for _, op := range plan {
			if op.Org == c.self && op.Peers[0] != self {
				t.Errorf("%s: own organisation's endorsers start with %s, not this node", c.policy, op.Peers[0])
			}
		}
	}
	// Connected peers come before the others.
	ix, peers := orgsIndex(t, "AND('Org1','Org2')", sizes)
	second := peers["Org2"][1]
	plan, _ := chooseEndorsers(ix, peers["Org1"][0], func(p peer.ID) bool { return p == second })
	if plan[1].Peers[0] != second {
		t.Fatalf("the connected endorser is not tried first: %v", plan[1].Peers)
	}
	// A policy that names an organisation without endorsers cannot be met.
	cfg := &config.Config{Channel: "c", EndorsementPolicy: "AND('Org1','Org2')"}
	for i, o := range []string{"Org1", "Org2"} {
		id, _ := identity.Generate()
		roles := []config.Role{config.RoleCommitter}
		if i == 0 {
			roles = []config.Role{config.RoleOrderer, config.RoleEndorser}
		}
		cfg.Organizations = append(cfg.Organizations, config.Org{Name: o, Members: []config.Member{{Peer: id.PeerID().String(), Roles: roles}}})
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	ix2, _ := config.NewIndex(cfg)
	if _, err := chooseEndorsers(ix2, "", nil); err == nil || !strings.Contains(err.Error(), "cannot be satisfied") {
		t.Fatalf("unsatisfiable policy: %v", err)
	}
}
