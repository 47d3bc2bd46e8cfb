// Package soul defines an agent's soul: where it came from, its lineage, its
// values (safety constraints, capability ceiling, economic limits) and its
// root public key, hashed with Blake3 over a fixed labelled sequence of its
// parts. The soul is written once, as the first journal event
// anima.soul_genesis.
package soul

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"

	"github.com/zeebo/blake3"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/anima/did"
)

// ProtocolVersion is the soul format this package writes.
const ProtocolVersion = "anima/soul/v1"

// CreatorKind says who created an agent.
type CreatorKind string

const (
	CreatorHuman  CreatorKind = "human"
	CreatorAgent  CreatorKind = "agent"
	CreatorSystem CreatorKind = "system"
)

// Creator is who made the agent.
type Creator struct {
	Kind CreatorKind `json:"kind"`
	ID   string      `json:"id"`
}

// Origin is where the agent came from.
type Origin struct {
	CreatedAt       uint64  `json:"created_at"` // µs since the epoch
	Creator         Creator `json:"creator"`
	Name            string  `json:"name"`
	Mission         string  `json:"mission"`
	ProtocolVersion string  `json:"protocol_version"`
}

// Lineage lists the agent's ancestors, parent first.
type Lineage struct {
	Parents    []string `json:"parents"` // DIDs
	Generation uint32   `json:"generation"`
}

// Severity of a safety constraint.
type Severity string

const (
	SeverityLow      Severity = "low"
	SeverityMedium   Severity = "medium"
	SeverityHigh     Severity = "high"
	SeverityCritical Severity = "critical"
)

// Constraint is one safety constraint of the policy manifest.
type Constraint struct {
	ID          string   `json:"id"`
	Description string   `json:"description"`
	Severity    Severity `json:"severity"`
}

// EconomicLimits bound what the agent may spend, in micro-credits; 0 means
// nothing may be spent.
type EconomicLimits struct {
	MaxPerTransaction uint64 `json:"max_per_transaction"`
	MaxPerDay         uint64 `json:"max_per_day"`
}

// Values is the agent's policy manifest.
type Values struct {
	SafetyConstraints []Constraint   `json:"safety_constraints"`
	CapabilityCeiling []string       `json:"capability_ceiling"` // patterns like chat:* or fs:read
	EconomicLimits    EconomicLimits `json:"economic_limits"`
}

// Soul is an agent's founding document.
type Soul struct {
	Origin        Origin  `json:"origin"`
	Lineage       Lineage `json:"lineage"`
	Values        Values  `json:"values"`
	RootPublicKey string  `json:"root_public_key"` // the did:key of the auth key at genesis
}

// ErrInvalid is matched by every soul validation error.
var ErrInvalid = errors.New("soul: invalid")

var capPattern = regexp.MustCompile(`^[a-z][a-z0-9_.-]*:(\*|[a-z0-9_.-]+(:\*)?)$`)

// Validate checks the soul is complete and well formed.
func (s *Soul) Validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, a...)...)
	}
	o := s.Origin
	switch {
	case o.Name == "":
		return bad("origin.name is empty")
	case o.CreatedAt == 0:
		return bad("origin.created_at is 0")
	case o.ProtocolVersion != ProtocolVersion:
		return bad("origin.protocol_version %q, want %q", o.ProtocolVersion, ProtocolVersion)
	}
	switch o.Creator.Kind {
	case CreatorHuman, CreatorAgent, CreatorSystem:
	default:
		return bad("origin.creator.kind %q is not human, agent or system", o.Creator.Kind)
	}
	if _, err := did.Resolve(s.RootPublicKey); err != nil {
		return bad("root_public_key: %v", err)
	}
	for i, p := range s.Lineage.Parents {
		if _, err := did.Resolve(p); err != nil {
			return bad("lineage.parents[%d]: %v", i, err)
		}
	}
	seen := map[string]bool{}
	for i, c := range s.Values.SafetyConstraints {
		if c.ID == "" || seen[c.ID] {
			return bad("values.safety_constraints[%d]: empty or duplicate id %q", i, c.ID)
		}
		seen[c.ID] = true
		switch c.Severity {
		case SeverityLow, SeverityMedium, SeverityHigh, SeverityCritical:
		default:
			return bad("values.safety_constraints[%d]: severity %q", i, c.Severity)
		}
	}
	for i, p := range s.Values.CapabilityCeiling {
		if !capPattern.MatchString(p) {
			return bad("values.capability_ceiling[%d]: %q is not namespace:action or namespace:*", i, p)
		}
	}
	return nil
}

// Hash is the soul hash: Blake3 over the domain label and then each part as
// label, 8-byte big-endian length, bytes, in a fixed order. Lists keep their
// order, except the capability ceiling, which is a set and is sorted.
func (s *Soul) Hash() string {
	h := blake3.New()
	put := func(label, value string) {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(label)))
		h.Write(n[:])
		h.Write([]byte(label))
		binary.BigEndian.PutUint64(n[:], uint64(len(value)))
		h.Write(n[:])
		h.Write([]byte(value))
	}
	u := func(v uint64) string { return strconv.FormatUint(v, 10) }
	put("domain", "anima/soul-hash/v1")
	o := s.Origin
	put("origin.created_at", u(o.CreatedAt))
	put("origin.creator.kind", string(o.Creator.Kind))
	put("origin.creator.id", o.Creator.ID)
	put("origin.name", o.Name)
	put("origin.mission", o.Mission)
	put("origin.protocol_version", o.ProtocolVersion)
	put("lineage.generation", u(uint64(s.Lineage.Generation)))
	put("lineage.parents", u(uint64(len(s.Lineage.Parents))))
	for _, p := range s.Lineage.Parents {
		put("lineage.parent", p)
	}
	put("values.safety_constraints", u(uint64(len(s.Values.SafetyConstraints))))
	for _, c := range s.Values.SafetyConstraints {
		put("constraint.id", c.ID)
		put("constraint.description", c.Description)
		put("constraint.severity", string(c.Severity))
	}
	caps := append([]string(nil), s.Values.CapabilityCeiling...)
	sort.Strings(caps)
	put("values.capability_ceiling", u(uint64(len(caps))))
	for _, c := range caps {
		put("capability", c)
	}
	put("values.economic_limits.max_per_transaction", u(s.Values.EconomicLimits.MaxPerTransaction))
	put("values.economic_limits.max_per_day", u(s.Values.EconomicLimits.MaxPerDay))
	put("root_public_key", s.RootPublicKey)
	return hex.EncodeToString(h.Sum(nil))
}

// Genesis validates the soul and returns the anima.soul_genesis event for an
// identity with the given auth DID and wallet address.
func (s *Soul) Genesis(authDID, walletAddress string) (*aios.SoulGenesis, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	if s.RootPublicKey != authDID {
		return nil, fmt.Errorf("%w: root_public_key %s is not the identity's DID %s", ErrInvalid, s.RootPublicKey, authDID)
	}
	raw, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("soul: encode: %w", err)
	}
	return &aios.SoulGenesis{DID: authDID, Soul: raw, SoulHash: s.Hash(), WalletAddress: walletAddress}, nil
}

// FromGenesis decodes and checks the soul of a genesis event: it must be
// valid, hash to the recorded soul_hash, and name the event's DID.
func FromGenesis(g *aios.SoulGenesis) (*Soul, error) {
	var s Soul
	dec := json.NewDecoder(bytesReader(g.Soul))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("%w: decode: %v", ErrInvalid, err)
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	if h := s.Hash(); h != g.SoulHash {
		return nil, fmt.Errorf("%w: soul hashes to %s, event says %s", ErrInvalid, h, g.SoulHash)
	}
	if s.RootPublicKey != g.DID {
		return nil, fmt.Errorf("%w: root_public_key %s, event DID %s", ErrInvalid, s.RootPublicKey, g.DID)
	}
	return &s, nil
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }
