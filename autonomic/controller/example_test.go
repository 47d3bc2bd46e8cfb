package controller_test

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/autonomic/controller"
)

// A hub folds journal events and answers the runtime's gating question. The
// agent below runs out of money: autonomic hibernates it, and says so in
// events to journal.
func ExampleHub() {
	cfg := controller.DefaultConfig()
	cfg.Limits.SpendCapCredits = 10 // keep the spend-velocity rule out of this example
	c, err := controller.New(cfg)
	if err != nil {
		panic(err)
	}
	hub := controller.NewHub(c)
	stream := aios.StreamID{Session: "agent-1", Branch: "main"}
	const t0 = 1_767_225_600_000_000 // µs
	events := []aios.Payload{
		&aios.BalanceSynced{BalanceMicroCredits: 2_000_000},
		&aios.CostIncurred{AmountMicroCredits: 2_500_000, Category: "payment"},
	}
	for i, p := range events {
		e := aios.EventEnvelope{EventID: fmt.Sprint("e", i), SessionID: stream.Session, BranchID: stream.Branch,
			Seq: uint64(i + 1), Timestamp: t0 + uint64(i)*1_000_000, Payload: p}
		for _, out := range hub.Apply(&e) {
			fmt.Printf("journal %s\n", out.Payload.Type())
		}
	}
	g, _ := hub.Decide(context.Background(), stream)
	fmt.Println(g.EconomicMode, g.OperatingMode, g.AllowTools, g.Reasons)
	// Output:
	// journal Custom
	// journal ModeChanged
	// journal GatesUpdated
	// hibernate sleep false [survival: hibernate]
}

// LoadConfig reads a JSON file over the defaults; New validates it.
func ExampleLoadConfig() {
	cfg, err := controller.LoadConfig(strings.NewReader(`{"limits": {"spend_cap_credits": 5, "dwell": "1m"}}`))
	if err != nil {
		panic(err)
	}
	c, err := controller.New(cfg)
	if err != nil {
		panic(err)
	}
	for _, r := range c.Rules() {
		fmt.Println(r.Name, r.Ladder.Levels[0].Enter, r.Ladder.MinDwell)
	}
	_, err = controller.LoadConfig(strings.NewReader(`{"limits": {"spend_cap": 5}}`))
	fmt.Println(errors.Is(err, controller.ErrInvalidConfig))
	// Output:
	// survival 24 1m0s
	// spend_velocity 5 1m0s
	// budget_exhaustion 0.2 1m0s
	// context_pressure 0.6 1m0s
	// error_rate 0.3 1m0s
	// true
}
