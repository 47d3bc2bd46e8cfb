// Command lagod serves a lago data directory over HTTP:
//
//	lagod --data DIR --port N
//
// See package server for the API.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/lifeos/life/lago/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.MainLagod(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
