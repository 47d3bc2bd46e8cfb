// Package e2e holds end-to-end tests that build the arcan and arcand
// binaries and drive them as a user would: shell then replay on a fresh
// data dir, and kill -9 of arcand in the middle of a run followed by a
// restart that resumes it.
package e2e
