//go:build !unix

package home

// lock is a no-op where flock is not available: concurrent rotations of one
// home are then the caller's to avoid.
func lock(string) (func(), error) { return func() {}, nil }
