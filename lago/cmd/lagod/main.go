// Command lagod serves a lago data directory over HTTP:
//
//	lagod --data DIR --port N [--auth [--auth-audience lagod] [--auth-did DID]...]
//
// See package server for the API. It is its own module because it wires
// anima's token verifier into lago, which does not import anima itself.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/lifeos/life/anima/token"
	"github.com/lifeos/life/lago/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.MainLagod(ctx, os.Args[1:], os.Stdout, os.Stderr, cli.LagodOptions{
		NewVerifier: func() cli.Verifier { return token.NewVerifier() },
	})
	stop()
	os.Exit(code)
}
