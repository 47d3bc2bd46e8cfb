package aios

import "time"

// Clock tells the time. Everything that stamps events takes one, so tests and
// replays can control time.
type Clock interface {
	Now() time.Time
}

// SystemClock is the wall clock.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }
