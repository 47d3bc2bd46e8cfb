package token_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/anima/custody"
	"github.com/lifeos/life/anima/token"
)

func ExampleVerifier_Verify() {
	ctx := context.Background()
	agent, err := custody.Generate()
	if err != nil {
		panic(err)
	}
	tok, err := token.Issue(ctx, agent, aios.KeyAuth,
		token.Request{Audience: []string{"lagod"}, TTL: 5 * time.Minute}, aios.SystemClock{})
	if err != nil {
		panic(err)
	}
	v := token.NewVerifier() // one per daemon; feed it journal events with Apply
	claims, err := v.Verify(ctx, tok, "lagod")
	fmt.Println(err, claims.Subject == agent.DID())
	_, err = v.Verify(ctx, tok, "arcand")
	fmt.Println(errors.Is(err, aios.ErrUnauthorized), errors.Is(err, token.ErrAudience))
	// Output:
	// <nil> true
	// true true
}
