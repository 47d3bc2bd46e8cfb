package journal

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestReadOnlyOpen: a ReadOnly journal reads and verifies without changing
// a byte of the file, and refuses appends.
func TestReadOnlyOpen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "j.db")
	j, err := Open(path, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	evs := loadFixture(t, "branch-fork.json")
	if _, err := j.Append(ctx, evs...); err != nil {
		t.Fatal(err)
	}
	j.Close()
	before, _ := os.ReadFile(path)
	r, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if rep, err := r.Verify(ctx); err != nil || rep.Events != len(evs) {
		t.Fatalf("verify read-only: %+v %v", rep, err)
	}
	if _, err := r.Append(ctx, mkEvent("new", "s", "main", "x")); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("append to a read-only journal: %v", err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Fatal("a read-only open changed the file")
	}
}

// TestDamagedFile: a cut-off or scrambled journal file is an error from
// Open or Verify, never a panic (bbolt panics on a damaged page).
func TestDamagedFile(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	good := filepath.Join(dir, "good.db")
	j, err := Open(good, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := j.Append(ctx, loadFixture(t, "all-kinds.json")...); err != nil {
		t.Fatal(err)
	}
	j.Close()
	orig, _ := os.ReadFile(good)
	ps := os.Getpagesize()
	tests := []struct {
		name     string
		damage   func(b []byte) []byte
		readOnly bool
		corrupt  bool // the error must match ErrCorrupt
	}{
		{"truncated", func(b []byte) []byte { return b[:len(b)/2] }, false, true},
		{"truncated, read-only", func(b []byte) []byte { return b[:len(b)/2] }, true, true},
		{"not a bbolt file", func(b []byte) []byte { return bytes.Repeat([]byte{0xa5}, len(b)) }, false, false},
		{"page headers scrambled, read-only", func(b []byte) []byte {
			for p := 2 * ps; p+10 < len(b); p += ps {
				b[p+8], b[p+9] = 0xff, 0xff // page flags
			}
			return b
		}, true, true},
		{"page ids scrambled, read-only", func(b []byte) []byte {
			for p := 2 * ps; p+8 < len(b); p += ps {
				b[p] ^= 0x5a // page id
			}
			return b
		}, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "j.db")
			if err := os.WriteFile(path, tt.damage(bytes.Clone(orig)), 0o600); err != nil {
				t.Fatal(err)
			}
			j, err := Open(path, Options{ReadOnly: tt.readOnly, NoSync: true})
			if err == nil {
				_, err = j.Verify(ctx)
				j.Close()
			}
			if err == nil || (tt.corrupt && !errors.Is(err, ErrCorrupt)) {
				t.Fatalf("damaged file: %v", err)
			}
		})
	}
}
