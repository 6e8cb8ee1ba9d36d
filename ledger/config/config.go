// Package config is a channel's configuration, the content of its genesis
// block: the organisations and their members (libp2p peer IDs) with their
// roles, the endorsement policy, the chaincodes, and how the orderer cuts
// blocks.
//
// The same struct is read from the JSON file users write (channel.json,
// see docs/ledger.md) and stored as dag-cbor in the genesis block:
//
//	{
//	  "channel": "cars",
//	  "organizations": [
//	    {"name": "Org1", "members": [{"peer": "12D3KooW...", "roles": ["orderer","endorser","committer","client","admin"]}]},
//	    {"name": "Org2", "members": [{"peer": "12D3KooW...", "roles": ["endorser","committer","client"]}]}
//	  ],
//	  "endorsementPolicy": "AND('Org1','Org2')",
//	  "blockCutting": {"maxTransactions": 500, "maxBytes": 1048576, "timeout": "200ms"}
//	}
//
// Load reads and validates a file; Default makes the one-organisation
// channel in which one identity has every role. Validate checks a config
// and fills in the defaults; Index answers membership questions fast.
package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"node/ledger/policy"
)

// ErrInvalid is wrapped by every validation error.
var ErrInvalid = errors.New("invalid channel configuration")

// Role is what a member may do in a channel.
type Role string

// The roles.
const (
	RoleOrderer   Role = "orderer"   // cuts and signs blocks
	RoleEndorser  Role = "endorser"  // simulates proposals and signs results
	RoleCommitter Role = "committer" // keeps the ledger and state
	RoleClient    Role = "client"    // submits proposals
	RoleAdmin     Role = "admin"     // signs the genesis block, manages the channel
)

// AllRoles lists every role.
var AllRoles = []Role{RoleOrderer, RoleEndorser, RoleCommitter, RoleClient, RoleAdmin}

// Defaults for block cutting.
const (
	DefaultMaxTransactions = 500
	DefaultMaxBytes        = 1 << 20
	DefaultTimeout         = "200ms"
	// MaxBlockBytes is the most a block's transactions may take: the body
	// must fit a 2 MiB block with room for its framing.
	MaxBlockBytes = 2<<20 - 64<<10
	// DocsChaincode is the built-in chaincode every channel has.
	DocsChaincode = "docs"
)

// Member is one peer of an organisation.
type Member struct {
	Peer  string `json:"peer" cbor:"peer"`
	Roles []Role `json:"roles" cbor:"roles"`
}

// Org is an organisation of the consortium.
type Org struct {
	Name    string   `json:"name" cbor:"name"`
	Members []Member `json:"members" cbor:"members"`
}

// Cutting says when the orderer cuts a block.
type Cutting struct {
	MaxTransactions int    `json:"maxTransactions" cbor:"maxTransactions"`
	MaxBytes        int    `json:"maxBytes" cbor:"maxBytes"`
	Timeout         string `json:"timeout" cbor:"timeout"` // Go duration: "200ms", "2s"
}

// TimeoutDuration is Timeout parsed (Validate has checked it).
func (c Cutting) TimeoutDuration() time.Duration {
	d, _ := time.ParseDuration(c.Timeout)
	return d
}

// Config is a channel's configuration.
type Config struct {
	Channel           string   `json:"channel" cbor:"channel"`
	Organizations     []Org    `json:"organizations" cbor:"organizations"`
	EndorsementPolicy string   `json:"endorsementPolicy" cbor:"endorsementPolicy"`
	Chaincodes        []string `json:"chaincodes,omitempty" cbor:"chaincodes"`
	BlockCutting      Cutting  `json:"blockCutting" cbor:"blockCutting"`
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// ValidName reports whether s is a valid channel, organisation or
// chaincode name: 1-64 letters, digits, '_', '.', '-', starting with a
// letter or digit.
func ValidName(s string) bool { return nameRE.MatchString(s) }

// Load reads a JSON config file and validates it. An empty channel name in
// the file is filled with channel; a different one is an error.
func Load(path, channel string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading channel config: %w", err)
	}
	return ParseJSON(b, channel)
}

// ParseJSON parses and validates a JSON config.
func ParseJSON(b []byte, channel string) (*Config, error) {
	var c Config
	dec := json.NewDecoder(bytesReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if c.Channel == "" {
		c.Channel = channel
	} else if channel != "" && c.Channel != channel {
		return nil, fmt.Errorf("%w: the file is for channel %q, not %q", ErrInvalid, c.Channel, channel)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// Default is the one-organisation channel in which one peer has every role.
func Default(channel string, p peer.ID) *Config {
	c := &Config{
		Channel:           channel,
		Organizations:     []Org{{Name: "Org1", Members: []Member{{Peer: p.String(), Roles: slices.Clone(AllRoles)}}}},
		EndorsementPolicy: "OR('Org1')",
	}
	if err := c.Validate(); err != nil {
		panic(err) // constant shape
	}
	return c
}

// Validate checks the config and fills in defaults (block cutting, the
// docs chaincode).
func (c *Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
	}
	if !ValidName(c.Channel) {
		return bad("channel name %q: use 1-64 letters, digits, '_', '.', '-'", c.Channel)
	}
	if len(c.Organizations) == 0 {
		return bad("no organizations")
	}
	orgs := map[string]bool{}
	peers := map[string]bool{}
	var orderers, endorsers int
	for _, o := range c.Organizations {
		if !ValidName(o.Name) {
			return bad("organization name %q: use 1-64 letters, digits, '_', '.', '-'", o.Name)
		}
		if orgs[o.Name] {
			return bad("organization %q is listed twice", o.Name)
		}
		orgs[o.Name] = true
		for _, m := range o.Members {
			if _, err := peer.Decode(m.Peer); err != nil {
				return bad("organization %q: member %q is not a peer ID: %v", o.Name, m.Peer, err)
			}
			if peers[m.Peer] {
				return bad("peer %s is listed twice", m.Peer)
			}
			peers[m.Peer] = true
			if len(m.Roles) == 0 {
				return bad("peer %s has no roles", m.Peer)
			}
			for _, r := range m.Roles {
				if !slices.Contains(AllRoles, r) {
					return bad("peer %s: unknown role %q (use orderer, endorser, committer, client, admin)", m.Peer, r)
				}
				switch r {
				case RoleOrderer:
					orderers++
				case RoleEndorser:
					endorsers++
				}
			}
		}
	}
	if orderers == 0 {
		return bad("no member has the orderer role")
	}
	if endorsers == 0 {
		return bad("no member has the endorser role")
	}
	if c.EndorsementPolicy == "" {
		names := make([]string, 0, len(c.Organizations))
		for _, o := range c.Organizations {
			names = append(names, "'"+o.Name+"'")
		}
		c.EndorsementPolicy = "AND(" + join(names) + ")"
	}
	p, err := policy.Parse(c.EndorsementPolicy)
	if err != nil {
		return fmt.Errorf("%w: endorsement policy: %w", ErrInvalid, err)
	}
	for _, o := range p.Orgs() {
		if !orgs[o] {
			return bad("the endorsement policy names %q, which is not an organization of the channel", o)
		}
	}
	if len(c.Chaincodes) == 0 {
		c.Chaincodes = []string{DocsChaincode}
	}
	for _, cc := range c.Chaincodes {
		if !ValidName(cc) {
			return bad("chaincode name %q", cc)
		}
	}
	bc := &c.BlockCutting
	if bc.MaxTransactions == 0 {
		bc.MaxTransactions = DefaultMaxTransactions
	}
	if bc.MaxBytes == 0 {
		bc.MaxBytes = DefaultMaxBytes
	}
	if bc.Timeout == "" {
		bc.Timeout = DefaultTimeout
	}
	if bc.MaxTransactions < 1 || bc.MaxTransactions > 100000 {
		return bad("blockCutting.maxTransactions %d: use 1..100000", bc.MaxTransactions)
	}
	if bc.MaxBytes < 1024 || bc.MaxBytes > MaxBlockBytes {
		return bad("blockCutting.maxBytes %d: use 1024..%d", bc.MaxBytes, MaxBlockBytes)
	}
	d, err := time.ParseDuration(bc.Timeout)
	if err != nil || d <= 0 || d > time.Hour {
		return bad("blockCutting.timeout %q: use a duration such as \"200ms\" or \"2s\", at most 1h", bc.Timeout)
	}
	return nil
}

func join(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += ", "
		}
		out += x
	}
	return out
}

// Index answers membership questions about a validated config.
type Index struct {
	Config *Config
	Policy *policy.Policy
	orgOf  map[peer.ID]string
	roles  map[peer.ID]map[Role]bool
}

// NewIndex builds the index of a validated config.
func NewIndex(c *Config) (*Index, error) {
	p, err := policy.Parse(c.EndorsementPolicy)
	if err != nil {
		return nil, fmt.Errorf("%w: endorsement policy: %w", ErrInvalid, err)
	}
	ix := &Index{Config: c, Policy: p, orgOf: map[peer.ID]string{}, roles: map[peer.ID]map[Role]bool{}}
	for _, o := range c.Organizations {
		for _, m := range o.Members {
			id, err := peer.Decode(m.Peer)
			if err != nil {
				return nil, fmt.Errorf("%w: member %q: %w", ErrInvalid, m.Peer, err)
			}
			ix.orgOf[id] = o.Name
			rs := map[Role]bool{}
			for _, r := range m.Roles {
				rs[r] = true
			}
			ix.roles[id] = rs
		}
	}
	return ix, nil
}

// OrgOf returns the organisation of a member, or "" for a stranger.
func (ix *Index) OrgOf(p peer.ID) string { return ix.orgOf[p] }

// Has reports whether p is a member with role r.
func (ix *Index) Has(p peer.ID, r Role) bool { return ix.roles[p][r] }

// IsMember reports whether p is a member of the channel in any role.
func (ix *Index) IsMember(p peer.ID) bool { _, ok := ix.orgOf[p]; return ok }

// Members lists the members with role r.
func (ix *Index) Members(r Role) []peer.ID {
	var out []peer.ID
	for _, o := range ix.Config.Organizations {
		for _, m := range o.Members {
			id, _ := peer.Decode(m.Peer)
			if ix.roles[id][r] {
				out = append(out, id)
			}
		}
	}
	return out
}

// HasChaincode reports whether the channel runs chaincode name.
func (ix *Index) HasChaincode(name string) bool { return slices.Contains(ix.Config.Chaincodes, name) }
