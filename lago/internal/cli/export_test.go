package cli

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// TestWriteFileAtomic checks an export either replaces its file whole or
// leaves it untouched, and leaves no temporary file either way.
func TestWriteFileAtomic(t *testing.T) {
	errFill := errors.New("fake journal read failure")
	tests := []struct {
		name     string
		existing bool
		fill     func(io.Writer) error
		want     string
		wantMode os.FileMode
		wantErr  error
	}{
		{name: "new file", fill: writeStr("[]\n"), want: "[]\n", wantMode: 0o600},
		{name: "replace", existing: true, fill: writeStr("[1]\n"), want: "[1]\n", wantMode: 0o640},
		{name: "fails half way", existing: true, wantErr: errFill, want: "old export", wantMode: 0o640,
			fill: func(w io.Writer) error {
				io.WriteString(w, "[{\"half")
				return errFill
			}},
		{name: "fails on a new file", wantErr: errFill, fill: func(io.Writer) error { return errFill }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "out.json")
			if tt.existing {
				if err := os.WriteFile(path, []byte("old export"), 0o600); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(path, 0o640); err != nil {
					t.Fatal(err)
				}
			}
			err := writeFileAtomic(path, tt.fill)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("err %v, want %v", err, tt.wantErr)
			}
			ents, _ := os.ReadDir(dir)
			if tt.want == "" {
				if len(ents) != 0 {
					t.Fatalf("left %v", ents)
				}
				return
			}
			if len(ents) != 1 {
				t.Fatalf("directory holds %v, want only out.json", ents)
			}
			b, err := os.ReadFile(path)
			if err != nil || string(b) != tt.want {
				t.Fatalf("out.json %q %v, want %q", b, err, tt.want)
			}
			if fi, _ := os.Stat(path); fi.Mode().Perm() != tt.wantMode {
				t.Fatalf("mode %v, want %v", fi.Mode().Perm(), tt.wantMode)
			}
		})
	}
}

func writeStr(s string) func(io.Writer) error {
	return func(w io.Writer) error {
		_, err := io.WriteString(w, s)
		return err
	}
}
