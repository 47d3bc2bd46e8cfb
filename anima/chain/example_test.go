package chain_test

import (
	"context"
	"fmt"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/anima/chain"
	"github.com/lifeos/life/anima/custody"
)

func ExampleBuildPayloads() {
	agent, _ := custody.Generate()
	first := agent.DID()
	rot, err := agent.Rotate(context.Background()) // events signed by the old keys
	if err != nil {
		panic(err)
	}
	reg, err := chain.BuildPayloads([]aios.Payload{rot.Events[0], rot.Events[1]})
	if err != nil {
		panic(err)
	}
	cur, hops, _ := reg.Current(first, 16)
	fmt.Println(cur == agent.DID(), hops)
	// Output: true 1
}
