// Command arcan is the Life-Go agent runtime's command line: an in-process
// shell, the arcand daemon (serve), replay, sessions, identity and version.
package main

import (
	"os"

	"github.com/lifeos/life/arcan/internal/cli"
)

func main() { os.Exit(cli.Main()) }
