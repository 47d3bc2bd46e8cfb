package rules_test

import (
	"fmt"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/autonomic/rules"
)

// Merge combines what the active rules ask for: the worst mode, the
// smallest caps, and any restriction.
func ExampleMerge() {
	g := rules.Merge([]rules.Active{
		{Rule: "survival", Level: "hustle", Decision: rules.Decision{EconomicMode: aios.EconomicHustle, MaxTokens: 2048, MaxToolCallsPerTurn: 4}},
		{Rule: "spend_velocity", Level: "over_cap", Decision: rules.Decision{MaxTokens: 1024}},
		{Rule: "budget_exhaustion", Level: "low_budget", Decision: rules.Decision{DeniedTools: []string{"web_search", "browser"}}},
	})
	fmt.Println(g.EconomicMode, g.MaxTokens, g.MaxToolCallsPerTurn, g.DeniedTools, g.AllowTools)
	fmt.Println(g.Reasons)
	// Output:
	// hustle 1024 4 [browser web_search] true
	// [survival: hustle spend_velocity: over_cap budget_exhaustion: low_budget]
}
