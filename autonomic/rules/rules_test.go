package rules

import (
	"errors"
	"math"
	"slices"
	"testing"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/autonomic/hysteresis"
	"github.com/lifeos/life/autonomic/projection"
)

func TestMerge(t *testing.T) {
	tests := []struct {
		name   string
		active []Active
		check  func(t *testing.T, g aios.Gating)
	}{
		{"nothing active is open", nil, func(t *testing.T, g aios.Gating) {
			if !g.AllowTools || !g.AllowNetwork || !g.AllowShell || g.EconomicMode != aios.EconomicSovereign ||
				g.OperatingMode != aios.ModeExecute || g.MaxTokens != 0 || len(g.Reasons) != 0 {
				t.Errorf("gating = %+v", g)
			}
		}},
		{"worst mode, smallest caps, any restriction", []Active{
			{Rule: "a", Level: "x", Decision: Decision{EconomicMode: aios.EconomicHustle, MaxTokens: 2048, MaxToolCallsPerTurn: 4, DeniedTools: []string{"z", "b"}, Advice: []string{"one"}}},
			{Rule: "b", Level: "y", Decision: Decision{EconomicMode: aios.EconomicConserving, OperatingMode: aios.ModeRecover, MaxTokens: 1024, DenyShell: true, DeniedTools: []string{"b", "a"}, Advice: []string{"two", "one"}}},
			{Rule: "c", Level: "z", Decision: Decision{MaxToolCallsPerTurn: 8}},
		}, func(t *testing.T, g aios.Gating) {
			if g.EconomicMode != aios.EconomicHustle || g.OperatingMode != aios.ModeRecover || g.MaxTokens != 1024 || g.MaxToolCallsPerTurn != 4 {
				t.Errorf("gating = %+v", g)
			}
			if g.AllowShell || !g.AllowNetwork || !g.AllowTools {
				t.Errorf("allows = %+v", g)
			}
			if !slices.Equal(g.DeniedTools, []string{"a", "b", "z"}) || !slices.Equal(g.Advice, []string{"one", "two"}) ||
				!slices.Equal(g.Reasons, []string{"a: x", "b: y", "c: z"}) {
				t.Errorf("lists = %v %v %v", g.DeniedTools, g.Advice, g.Reasons)
			}
		}},
		{"hibernate allows nothing", []Active{
			{Rule: "survival", Level: "hibernate", Decision: Default(DefaultLimits())[0].Levels[2]},
		}, func(t *testing.T, g aios.Gating) {
			if g.AllowTools || g.AllowNetwork || g.AllowShell || g.EconomicMode != aios.EconomicHibernate || g.OperatingMode != aios.ModeSleep {
				t.Errorf("gating = %+v", g)
			}
		}},
		// A custom rule set that asks for hibernate alone still gets it whole.
		{"hibernate denies tools, network and shell whoever asks", []Active{
			{Rule: "custom", Level: "broke", Decision: Decision{EconomicMode: aios.EconomicHibernate}},
		}, func(t *testing.T, g aios.Gating) {
			if g.AllowTools || g.AllowNetwork || g.AllowShell || g.EconomicMode != aios.EconomicHibernate {
				t.Errorf("gating = %+v", g)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.check(t, Merge(tt.active)) })
	}
}

// TestMergeOrderIndependent: the merged limits do not depend on which rule
// came first (only the order of reasons and advice does).
func TestMergeOrderIndependent(t *testing.T) {
	rs := Default(DefaultLimits())
	var all []Active
	for _, r := range rs {
		for i, d := range r.Levels {
			all = append(all, Active{Rule: r.Name, Level: r.Ladder.Levels[i].Name, Decision: d})
		}
	}
	a := Merge(all)
	slices.Reverse(all)
	b := Merge(all)
	a.Reasons, b.Reasons, a.Advice, b.Advice = nil, nil, nil, nil
	if !slices.Equal(a.DeniedTools, b.DeniedTools) {
		t.Fatalf("denied %v vs %v", a.DeniedTools, b.DeniedTools)
	}
	a.DeniedTools, b.DeniedTools = nil, nil
	if a.MaxTokens != b.MaxTokens || a.EconomicMode != b.EconomicMode || a.OperatingMode != b.OperatingMode ||
		a.MaxToolCallsPerTurn != b.MaxToolCallsPerTurn || a.AllowShell != b.AllowShell {
		t.Fatalf("%+v vs %+v", a, b)
	}
}

func TestDefaultValid(t *testing.T) {
	if err := Default(DefaultLimits()).Validate(); err != nil {
		t.Fatal(err)
	}
	rs := Default(DefaultLimits())
	rs = append(rs, rs[0])
	if err := rs.Validate(); !errors.Is(err, ErrInvalidRule) {
		t.Fatalf("duplicate: %v", err)
	}
	bad := Rule{Name: "x", Signal: "mood", Ladder: hysteresis.Spec{Direction: hysteresis.Rising, Levels: []hysteresis.Level{{Name: "a", Enter: 1, Exit: 1}}},
		Levels: []Decision{{EconomicMode: "rich"}, {}}}
	if err := bad.Validate(); !errors.Is(err, ErrInvalidRule) {
		t.Fatalf("bad: %v", err)
	}
}

func TestValue(t *testing.T) {
	s := projection.NewState(aios.StreamID{Session: "s", Branch: "main"})
	r := Rule{Signal: SignalRunwayHours}
	if v := r.Value(s); !math.IsInf(v, 1) {
		t.Errorf("unknown balance runway = %v", v)
	}
	s.Economic.BalanceKnown, s.Economic.Balance = true, 0
	if v := r.Value(s); v != 0 {
		t.Errorf("zero balance runway = %v", v)
	}
	s.Economic.Balance = 5
	h := 3.5
	s.Economic.RunwayHours = &h
	if v := r.Value(s); v != 3.5 {
		t.Errorf("runway = %v", v)
	}
	e := Rule{Signal: SignalErrorRate, MinOutcomes: 5}
	s.Operational.ErrorRate, s.Operational.WindowLen = 1, 4
	if v := e.Value(s); v != 0 {
		t.Errorf("error rate before min outcomes = %v", v)
	}
	s.Operational.WindowLen = 5
	if v := e.Value(s); v != 1 {
		t.Errorf("error rate = %v", v)
	}
	s.Economic.CostLastWindow = 2_500_000
	if v := (&Rule{Signal: SignalSpendWindow}).Value(s); v != 2.5 {
		t.Errorf("spend = %v", v)
	}
}
