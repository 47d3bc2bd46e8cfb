//go:build unix

package home

import (
	"fmt"
	"os"
	"syscall"
)

// lock takes an exclusive flock on the home directory itself (no lock file
// to leave behind, and it works in a directory the caller cannot write).
// The kernel drops it if the process dies.
func lock(dir string) (func(), error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("home: %w", err)
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("home: lock %s: %w", dir, err)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
