package autonomiclago_test

import (
	"context"
	"fmt"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/autonomic/controller"
	"github.com/lifeos/life/bridges/autonomiclago"
	"github.com/lifeos/life/bridges/internal/fakejournal"
)

// A projector reads the journal (lago's in a real deployment), decides, and
// journals the mode change it caused back into the stream.
func ExampleProjector() {
	ctx := context.Background()
	j := fakejournal.New()
	stream := aios.StreamID{Session: "s1", Branch: "main"}
	_, _ = j.Append(ctx, aios.EventEnvelope{EventID: "01JEXAMPLE0000000000000001", SessionID: "s1", BranchID: "main",
		Timestamp: 1_767_225_600_000_000, Payload: &aios.BalanceSynced{BalanceMicroCredits: -1}, SchemaVersion: 1})

	c, _ := controller.New(controller.DefaultConfig())
	p := autonomiclago.New(j, controller.NewHub(c), autonomiclago.Options{})
	g, _ := p.Decide(ctx, stream)
	fmt.Println(g.EconomicMode, g.AllowTools)
	for _, e := range j.Events(stream)[1:] {
		fmt.Println(e.Seq, e.Payload.Type())
	}
	// Output:
	// hibernate false
	// 2 Custom
	// 3 ModeChanged
	// 4 GatesUpdated
}
