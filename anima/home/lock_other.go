//go:build !unix

package home

import "time"

// lock is a no-op where flock is not available: concurrent rotations of one
// home are then the caller's to avoid.
func lock(string, time.Duration) (func(), error) { return func() {}, nil }
