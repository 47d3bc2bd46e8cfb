//go:build unix

package e2e

import (
	"syscall"
	"time"
)

// processCPU is the CPU time (user + system) the process used so far,
// background goroutines (span export, journal commits) included.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
