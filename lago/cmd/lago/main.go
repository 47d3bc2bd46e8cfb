// Command lago is the journal's command line: import, export, verify,
// stats, compact-snapshot, fs and bench. See `lago help`.
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
	code := cli.Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
