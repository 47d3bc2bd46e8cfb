package soul

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/lifeos/life/aios"
)

const rootDID = "did:key:zDnaerx9CtbPJ1q36T5Ln5wYt3MQYeGRG5ehnPAmxcf5mDZpv"

func sample() *Soul {
	return &Soul{
		Origin: Origin{CreatedAt: 1_763_900_000_000_000, Creator: Creator{Kind: CreatorHuman, ID: "alice"},
			Name: "scout", Mission: "find things", ProtocolVersion: ProtocolVersion},
		Lineage: Lineage{Parents: []string{}, Generation: 0},
		Values: Values{
			SafetyConstraints: []Constraint{{ID: "no-exfil", Description: "never send secrets out", Severity: SeverityCritical}},
			CapabilityCeiling: []string{"chat:*", "fs:read"},
			EconomicLimits:    EconomicLimits{MaxPerTransaction: 1_000_000, MaxPerDay: 5_000_000},
		},
		RootPublicKey: rootDID,
	}
}

// The hash is a known answer: changing the labelled encoding is a format
// change and must bump the domain label.
func TestHashKnownAnswer(t *testing.T) {
	const want = "493b153540f9ba96a868b98785a2a40782fbc7dfa14ce30af22ddd2ef13e3653"
	if got := sample().Hash(); got != want {
		t.Fatalf("hash %s, want %s", got, want)
	}
}

func TestHashSensitivity(t *testing.T) {
	base := sample().Hash()
	muts := map[string]func(*Soul){
		"name":      func(s *Soul) { s.Origin.Name = "scout2" },
		"mission":   func(s *Soul) { s.Origin.Mission += "." },
		"severity":  func(s *Soul) { s.Values.SafetyConstraints[0].Severity = SeverityHigh },
		"limit":     func(s *Soul) { s.Values.EconomicLimits.MaxPerDay++ },
		"parent":    func(s *Soul) { s.Lineage.Parents = []string{rootDID} },
		"creator":   func(s *Soul) { s.Origin.Creator.Kind = CreatorAgent },
		"cap added": func(s *Soul) { s.Values.CapabilityCeiling = append(s.Values.CapabilityCeiling, "net:*") },
		// Boundary shift: the same bytes split differently between fields.
		"boundary": func(s *Soul) { s.Origin.Name, s.Origin.Mission = "scoutf", "ind things" },
	}
	for name, m := range muts {
		s := sample()
		m(s)
		if s.Hash() == base {
			t.Errorf("%s: hash unchanged", name)
		}
	}
	s := sample()
	s.Values.CapabilityCeiling = []string{"fs:read", "chat:*"} // a set: order does not matter
	if s.Hash() != base {
		t.Error("capability order changed the hash")
	}
}

func TestValidate(t *testing.T) {
	tests := map[string]func(*Soul){
		"no name":      func(s *Soul) { s.Origin.Name = "" },
		"bad creator":  func(s *Soul) { s.Origin.Creator.Kind = "robot" },
		"bad severity": func(s *Soul) { s.Values.SafetyConstraints[0].Severity = "extreme" },
		"duplicate id": func(s *Soul) {
			s.Values.SafetyConstraints = append(s.Values.SafetyConstraints, s.Values.SafetyConstraints[0])
		},
		"bad capability":   func(s *Soul) { s.Values.CapabilityCeiling = []string{"*"} },
		"bad root key":     func(s *Soul) { s.RootPublicKey = "did:key:zBAD" },
		"bad parent":       func(s *Soul) { s.Lineage.Parents = []string{"x"} },
		"protocol":         func(s *Soul) { s.Origin.ProtocolVersion = "v0" },
		"no creation time": func(s *Soul) { s.Origin.CreatedAt = 0 },
	}
	for name, m := range tests {
		s := sample()
		m(s)
		if err := s.Validate(); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if err := sample().Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestGenesisRoundTrip(t *testing.T) {
	s := sample()
	g, err := s.Genesis(rootDID, "0x8D3877fc9d011190Cc9089Dc8B63283414f8049a")
	if err != nil {
		t.Fatal(err)
	}
	back, err := FromGenesis(g)
	if err != nil {
		t.Fatal(err)
	}
	if back.Hash() != g.SoulHash {
		t.Fatal("hash changed through JSON")
	}
	tampered := *g
	tampered.Soul = json.RawMessage(strings.Replace(string(g.Soul), "scout", "sc0ut", 1))
	if _, err := FromGenesis(&tampered); !errors.Is(err, ErrInvalid) {
		t.Fatalf("tampered soul accepted: %v", err)
	}
	if _, err := s.Genesis("did:key:zDnaeYpu2WigB5WSkeZKMR9Fiye5knQQCee467kQhccbruitW", ""); !errors.Is(err, ErrInvalid) {
		t.Fatalf("genesis for another DID: %v", err)
	}
}

func FuzzFromGenesis(f *testing.F) {
	g, err := sample().Genesis(rootDID, "")
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte(g.Soul), g.SoulHash)
	f.Add([]byte(`{}`), "")
	f.Fuzz(func(t *testing.T, raw []byte, hash string) {
		s, err := FromGenesis(&aios.SoulGenesis{DID: rootDID, Soul: raw, SoulHash: hash})
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("%v is not ErrInvalid", err)
			}
			return
		}
		if s.Hash() != hash || s.Validate() != nil {
			t.Fatal("accepted a soul that does not hash or validate")
		}
	})
}
