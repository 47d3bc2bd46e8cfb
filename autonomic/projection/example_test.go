package projection_test

import (
	"fmt"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/autonomic/projection"
)

// The projector prices token usage with the price table and derives the
// burn rate and runway from timestamped costs.
func ExampleProjector() {
	p, err := projection.NewProjector(projection.DefaultConfig())
	if err != nil {
		panic(err)
	}
	s := p.NewState(aios.StreamID{Session: "s", Branch: "main"})
	const t0, minute = 1_767_225_600_000_000, 60_000_000
	events := []aios.Payload{
		&aios.BalanceSynced{BalanceMicroCredits: 100_000_000},
		&aios.AssistantMessageCommitted{Role: "assistant", Model: "claude-sonnet-4",
			TokenUsage: &aios.TokenUsage{PromptTokens: 100_000, CompletionTokens: 10_000, TotalTokens: 110_000}},
	}
	for i, pl := range events {
		e := aios.EventEnvelope{Seq: uint64(i + 1), Timestamp: t0 + uint64(i)*10*minute, Payload: pl}
		p.Apply(s, &e)
	}
	fmt.Printf("cost %d µcredits, context %.2f, burn %.0f µcredits/h, runway %.0f h\n",
		s.Economic.LifetimeCost, s.Cognitive.ContextPressure, s.Economic.BurnPerHour, *s.Economic.RunwayHours)
	// Output: cost 450000 µcredits, context 0.55, burn 2700000 µcredits/h, runway 37 h
}
