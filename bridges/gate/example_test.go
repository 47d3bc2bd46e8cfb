package gate_test

import (
	"context"
	"fmt"
	"net"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/bridges/gate"
	"github.com/lifeos/life/bridges/internal/fakejournal"
)

// When autonomicd cannot be reached the runtime goes on with open gating,
// and the stream records that it did.
func ExampleRemote() {
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close() // nobody home

	j := fakejournal.New() // use lago's journal in a real runtime
	g, _ := gate.Remote("http://"+addr, gate.Options{Journal: j})
	stream := aios.StreamID{Session: "s1", Branch: "main"}
	gating, _ := g.Decide(context.Background(), stream)
	fmt.Println(gating.EconomicMode, gating.AllowTools)
	fmt.Println(j.Events(stream)[0].Payload.(*aios.GateUnavailable).FailOpen)
	// Output:
	// sovereign true
	// true
}
