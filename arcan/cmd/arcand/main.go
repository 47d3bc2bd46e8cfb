// Command arcand is the arcan daemon: the HTTP API over the agent runtime
// (the same as `arcan serve`).
package main

import (
	"fmt"
	"os"

	"github.com/lifeos/life/arcan/internal/cli"
)

func main() {
	c := cli.ServeCmd(cli.IO{In: os.Stdin, Out: os.Stdout, Err: os.Stderr})
	c.Use = "arcand"
	c.SilenceUsage = true
	c.SilenceErrors = true
	if err := c.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "arcand:", err)
		os.Exit(1)
	}
}
