// Package rules is autonomic's rule engine: small deterministic rules, each
// reading one signal of the projection through a hysteresis ladder and
// asking, at each level, for a [Decision]. Decisions merge most restrictive
// wins: the worst economic and operating mode, the smallest caps, any
// restriction.
package rules

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/autonomic/hysteresis"
	"github.com/lifeos/life/autonomic/projection"
)

// Decision is what one rule asks for at one level. Zero fields ask nothing.
type Decision struct {
	EconomicMode        aios.EconomicMode  `json:"economic_mode,omitempty"`
	OperatingMode       aios.OperatingMode `json:"operating_mode,omitempty"`
	MaxTokens           uint32             `json:"max_tokens,omitempty"`
	MaxToolCallsPerTurn uint32             `json:"max_tool_calls_per_turn,omitempty"`
	DenyTools           bool               `json:"deny_tools,omitempty"`
	DenyNetwork         bool               `json:"deny_network,omitempty"`
	DenyShell           bool               `json:"deny_shell,omitempty"`
	DeniedTools         []string           `json:"denied_tools,omitempty"`
	Advice              []string           `json:"advice,omitempty"`
}

// Signal names a figure of the projection a rule reads.
type Signal string

// The signals rules can read.
const (
	// SignalRunwayHours is the runway; 0 when the balance is at or below
	// zero, +Inf when unknown or nothing burns.
	SignalRunwayHours Signal = "runway_hours"
	// SignalSpendWindow is the cost of the last spend window, in credits.
	SignalSpendWindow Signal = "cost_last_window_credits"
	// SignalBudgetRemaining is the share of the token budget left (1 when unlimited).
	SignalBudgetRemaining Signal = "budget_remaining_ratio"
	// SignalContextPressure is context used / (used + remaining).
	SignalContextPressure Signal = "context_pressure"
	// SignalErrorRate is the recent error rate, 0 until MinOutcomes outcomes.
	SignalErrorRate Signal = "error_rate"
	// SignalErrorStreak is the count of consecutive errors.
	SignalErrorStreak Signal = "error_streak"
)

var signals = []Signal{SignalRunwayHours, SignalSpendWindow, SignalBudgetRemaining, SignalContextPressure, SignalErrorRate, SignalErrorStreak}

// Rule reads one signal through a ladder; Levels[i] is its decision at
// ladder level i+1.
type Rule struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Signal      Signal          `json:"signal"`
	Ladder      hysteresis.Spec `json:"ladder"`
	Levels      []Decision      `json:"levels"`
	// MinOutcomes, for SignalErrorRate, is how many outcomes the window
	// must hold before the rate counts.
	MinOutcomes uint8 `json:"min_outcomes,omitempty"`
}

// ErrInvalidRule is matched by every rule validation error.
var ErrInvalidRule = errors.New("rules: invalid rule")

// Validate checks the rule's shape.
func (r *Rule) Validate() error {
	var p []string
	if r.Name == "" {
		p = append(p, "empty name")
	}
	if !slices.Contains(signals, r.Signal) {
		p = append(p, fmt.Sprintf("signal %q: want one of %v", r.Signal, signals))
	}
	if err := r.Ladder.Validate(); err != nil {
		p = append(p, err.Error())
	}
	if len(r.Levels) != len(r.Ladder.Levels) {
		p = append(p, fmt.Sprintf("%d decisions for %d ladder levels", len(r.Levels), len(r.Ladder.Levels)))
	}
	for i, d := range r.Levels {
		if d.EconomicMode != "" && !d.EconomicMode.Valid() {
			p = append(p, fmt.Sprintf("level %d: economic_mode %q", i, d.EconomicMode))
		}
		if d.OperatingMode != "" && !d.OperatingMode.Valid() {
			p = append(p, fmt.Sprintf("level %d: operating_mode %q", i, d.OperatingMode))
		}
	}
	if len(p) > 0 {
		return fmt.Errorf("%w %q: %s", ErrInvalidRule, r.Name, strings.Join(p, "; "))
	}
	return nil
}

// Value reads the rule's signal from a projection.
func (r *Rule) Value(s *projection.State) float64 {
	switch r.Signal {
	case SignalRunwayHours:
		ec := &s.Economic
		if !ec.BalanceKnown {
			return math.Inf(1)
		}
		if ec.Balance <= 0 {
			return 0
		}
		if ec.RunwayHours == nil {
			return math.Inf(1)
		}
		return *ec.RunwayHours
	case SignalSpendWindow:
		return float64(s.Economic.CostLastWindow) / 1e6
	case SignalBudgetRemaining:
		return s.Cognitive.BudgetRemainingRatio
	case SignalContextPressure:
		return s.Cognitive.ContextPressure
	case SignalErrorRate:
		if s.Operational.WindowLen < r.MinOutcomes {
			return 0
		}
		return s.Operational.ErrorRate
	case SignalErrorStreak:
		return float64(s.Operational.ErrorStreak)
	}
	return math.NaN()
}

// Set is an ordered list of rules; rule order fixes the order of reasons
// and advice in the merged decision.
type Set []Rule

// Validate checks every rule and that names are unique.
func (rs Set) Validate() error {
	var errs []error
	seen := map[string]bool{}
	for i := range rs {
		if err := rs[i].Validate(); err != nil {
			errs = append(errs, err)
		}
		if seen[rs[i].Name] {
			errs = append(errs, fmt.Errorf("%w: duplicate name %q", ErrInvalidRule, rs[i].Name))
		}
		seen[rs[i].Name] = true
	}
	return errors.Join(errs...)
}

// WithoutHysteresis returns a copy of rs whose ladders have exit = enter and
// no dwell.
func (rs Set) WithoutHysteresis() Set {
	out := slices.Clone(rs)
	for i := range out {
		out[i].Ladder = out[i].Ladder.WithoutHysteresis()
	}
	return out
}

// Limits are the knobs of the default rules.
type Limits struct {
	// Survival: runway (hours) under which the mode becomes conserving and
	// hustle; hibernate is a balance at or below zero.
	ConservingRunwayHours float64 `json:"conserving_runway_hours"`
	HustleRunwayHours     float64 `json:"hustle_runway_hours"`
	// SpendCapCredits is the most the agent may spend per spend window
	// (5 minutes) before its token cap is lowered.
	SpendCapCredits float64 `json:"spend_cap_credits"`
	// ExpensiveTools are denied when the token budget runs low.
	ExpensiveTools []string `json:"expensive_tools"`
	// Dwell is every ladder's minimum dwell time before relaxing.
	Dwell projection.Duration `json:"dwell"`
}

// ErrInvalidLimits is matched by the errors of [Limits.Validate].
var ErrInvalidLimits = errors.New("rules: invalid limits")

// Validate checks the knobs by their own names, before they become ladders
// whose errors would name levels instead.
func (l Limits) Validate() error {
	var p []string
	finite := func(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }
	if !finite(l.HustleRunwayHours) || l.HustleRunwayHours <= 0 {
		p = append(p, fmt.Sprintf("hustle_runway_hours %v: want a number > 0", l.HustleRunwayHours))
	}
	if !finite(l.ConservingRunwayHours) || l.ConservingRunwayHours <= l.HustleRunwayHours {
		p = append(p, fmt.Sprintf("conserving_runway_hours %v: want a number above hustle_runway_hours %v", l.ConservingRunwayHours, l.HustleRunwayHours))
	}
	if !finite(l.SpendCapCredits) || l.SpendCapCredits < 0 {
		p = append(p, fmt.Sprintf("spend_cap_credits %v: want a number >= 0", l.SpendCapCredits))
	}
	if slices.Contains(l.ExpensiveTools, "") {
		p = append(p, "expensive_tools: empty tool name")
	}
	if l.Dwell < 0 {
		p = append(p, fmt.Sprintf("dwell %v: must not be negative", time.Duration(l.Dwell)))
	}
	if len(p) > 0 {
		return fmt.Errorf("%w: %s", ErrInvalidLimits, strings.Join(p, "; "))
	}
	return nil
}

// DefaultLimits returns the default knobs.
func DefaultLimits() Limits {
	return Limits{
		ConservingRunwayHours: 24,
		HustleRunwayHours:     4,
		SpendCapCredits:       1,
		ExpensiveTools:        []string{"web_fetch", "web_search", "browser", "spawn_agent"},
		Dwell:                 projection.Duration(30 * time.Second),
	}
}

// Default returns the rule set of the issue: survival, spend velocity,
// budget exhaustion, context pressure zones and error rate, with the
// given limits.
func Default(l Limits) Set {
	dwell := time.Duration(l.Dwell)
	return Set{
		{
			Name:        "survival",
			Description: "balance <= 0 -> hibernate; runway below thresholds -> hustle / conserving; else sovereign",
			Signal:      SignalRunwayHours,
			Ladder: hysteresis.Spec{Direction: hysteresis.Falling, MinDwell: dwell, Levels: []hysteresis.Level{
				{Name: "conserving", Enter: l.ConservingRunwayHours, Exit: l.ConservingRunwayHours * 1.5},
				{Name: "hustle", Enter: l.HustleRunwayHours, Exit: l.HustleRunwayHours * 1.5},
				{Name: "hibernate", Enter: 0, Exit: min(l.HustleRunwayHours/8, 0.5)},
			}},
			Levels: []Decision{
				{EconomicMode: aios.EconomicConserving, MaxTokens: 4096, Advice: []string{"prefer_cheaper_model"}},
				{EconomicMode: aios.EconomicHustle, MaxTokens: 2048, MaxToolCallsPerTurn: 4, Advice: []string{"seek_revenue"}},
				{EconomicMode: aios.EconomicHibernate, OperatingMode: aios.ModeSleep, MaxTokens: 256,
					DenyTools: true, DenyNetwork: true, DenyShell: true, Advice: []string{"hibernate"}},
			},
		},
		{
			Name:        "spend_velocity",
			Description: "cost per spend window over the cap -> token cap",
			Signal:      SignalSpendWindow,
			Ladder: hysteresis.Spec{Direction: hysteresis.Rising, Strict: true, MinDwell: dwell, Levels: []hysteresis.Level{
				{Name: "over_cap", Enter: l.SpendCapCredits, Exit: l.SpendCapCredits * 0.7},
			}},
			Levels: []Decision{{MaxTokens: 1024, Advice: []string{"slow_down_spending"}}},
		},
		{
			Name:        "budget_exhaustion",
			Description: "< 20% of the token budget left -> smaller token cap, no expensive tools",
			Signal:      SignalBudgetRemaining,
			Ladder: hysteresis.Spec{Direction: hysteresis.Falling, Strict: true, MinDwell: dwell, Levels: []hysteresis.Level{
				{Name: "low_budget", Enter: 0.20, Exit: 0.25},
			}},
			Levels: []Decision{{MaxTokens: 1024, DeniedTools: slices.Clone(l.ExpensiveTools), Advice: []string{"conserve_tokens"}}},
		},
		{
			Name:        "context_pressure",
			Description: "context pressure zones: compress advice at 0.60 / 0.85 / 0.95",
			Signal:      SignalContextPressure,
			Ladder: hysteresis.Spec{Direction: hysteresis.Rising, MinDwell: dwell, Levels: []hysteresis.Level{
				{Name: "elevated", Enter: 0.60, Exit: 0.55},
				{Name: "high", Enter: 0.85, Exit: 0.80},
				{Name: "critical", Enter: 0.95, Exit: 0.90},
			}},
			Levels: []Decision{
				{Advice: []string{"consider_compaction"}},
				{Advice: []string{"compress_context"}},
				{MaxTokens: 2048, Advice: []string{"compress_context_now"}},
			},
		},
		{
			Name:        "error_rate",
			Description: "> 30% errors after >= 5 outcomes -> limit tool calls, recover",
			Signal:      SignalErrorRate,
			MinOutcomes: 5,
			Ladder: hysteresis.Spec{Direction: hysteresis.Rising, Strict: true, MinDwell: dwell, Levels: []hysteresis.Level{
				{Name: "erring", Enter: 0.30, Exit: 0.15},
			}},
			Levels: []Decision{{OperatingMode: aios.ModeRecover, MaxToolCallsPerTurn: 2, Advice: []string{"stabilize"}}},
		},
	}
}

// operatingSeverity orders operating modes from least to most restrictive.
var operatingSeverity = []aios.OperatingMode{
	aios.ModeExplore, aios.ModeExecute, aios.ModeVerify, aios.ModeRecover, aios.ModeAskHuman, aios.ModeSleep,
}

func severity(m aios.OperatingMode) int { return slices.Index(operatingSeverity, m) }

// Active is one rule's decision at its current level.
type Active struct {
	Rule     string
	Level    string
	Decision Decision
}

// Merge starts from the open gating (sovereign, execute, everything allowed,
// no caps) and applies each active decision, most restrictive wins; a
// hibernate mode also denies tools, network and shell.
// Reasons and advice keep the order of active; denied tools are sorted.
func Merge(active []Active) aios.Gating {
	g := aios.OpenGating()
	g.OperatingMode = aios.ModeExecute
	for _, a := range active {
		d := a.Decision
		if d.EconomicMode != "" && d.EconomicMode.Rank() > g.EconomicMode.Rank() {
			g.EconomicMode = d.EconomicMode
		}
		if d.OperatingMode != "" && severity(d.OperatingMode) > severity(g.OperatingMode) {
			g.OperatingMode = d.OperatingMode
		}
		g.MaxTokens = minCap(g.MaxTokens, d.MaxTokens)
		g.MaxToolCallsPerTurn = minCap(g.MaxToolCallsPerTurn, d.MaxToolCallsPerTurn)
		g.AllowTools = g.AllowTools && !d.DenyTools
		g.AllowNetwork = g.AllowNetwork && !d.DenyNetwork
		g.AllowShell = g.AllowShell && !d.DenyShell
		for _, t := range d.DeniedTools {
			if !slices.Contains(g.DeniedTools, t) {
				g.DeniedTools = append(g.DeniedTools, t)
			}
		}
		for _, adv := range d.Advice {
			if !slices.Contains(g.Advice, adv) {
				g.Advice = append(g.Advice, adv)
			}
		}
		g.Reasons = append(g.Reasons, a.Rule+": "+a.Level)
	}
	// Hibernate allows no tools, no network and no shell, even when the
	// rule that asked for it (a custom one) did not say so.
	if g.EconomicMode == aios.EconomicHibernate {
		g.AllowTools, g.AllowNetwork, g.AllowShell = false, false, false
	}
	slices.Sort(g.DeniedTools)
	return g
}

// minCap is the smaller of two caps where 0 means no cap.
func minCap(a, b uint32) uint32 {
	switch {
	case a == 0:
		return b
	case b == 0:
		return a
	}
	return min(a, b)
}
