package controller_test

import (
	"context"
	"fmt"

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
