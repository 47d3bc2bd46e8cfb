// Package testexec helps tests that re-run their own binary as another user.
package testexec

import (
	"os"
	"path/filepath"
	"testing"
)

// WorldExecutableCopy copies the running test binary to a fresh directory
// that every uid can execute from (the build cache is private to root) and
// returns its path; the copy is removed when the test ends.
func WorldExecutableCopy(t testing.TB, name string) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", name+"-bin-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, name+".test")
	if err := os.WriteFile(dst, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return dst
}
