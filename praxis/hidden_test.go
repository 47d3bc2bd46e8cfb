package praxis_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lifeos/life/praxis"
)

// TestStaleTempsRemovedAndHidden: a temporary a crashed write left over an
// hour ago is removed when a listing meets it (opening the workspace walks
// nothing); a younger one (another process's write in flight) is kept;
// neither shows in the file listings.
func TestStaleTempsRemovedAndHidden(t *testing.T) {
	tests := []struct {
		name     string
		file     string
		age      time.Duration
		readOnly bool
		kept     bool
	}{
		{name: "stale at root", file: ".praxis-tmp-aaaaaaaaaaaa", age: 2 * time.Hour, kept: false},
		{name: "stale in subdir", file: "sub/.praxis-tmp-bbbbbbbbbbbb", age: 2 * time.Hour, kept: false},
		{name: "fresh", file: "sub/.praxis-tmp-cccccccccccc", age: time.Minute, kept: true},
		{name: "stale, read-only workspace", file: ".praxis-tmp-dddddddddddd", age: 2 * time.Hour, readOnly: true, kept: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			tmp := filepath.Join(root, filepath.FromSlash(tt.file))
			if err := os.MkdirAll(filepath.Join(root, "sub"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(root, "sub", "keep.txt"), []byte("needle\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(tmp, []byte("needle half written\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			mt := time.Now().Add(-tt.age)
			if err := os.Chtimes(tmp, mt, mt); err != nil {
				t.Fatal(err)
			}
			c, err := praxis.NewCanonicalRegistry(root, praxis.Options{NoShell: true, ReadOnly: tt.readOnly})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := os.Stat(tmp); err != nil {
				t.Fatalf("opening the workspace touched its files: %v", err)
			}
			// Listings hide it either way; sub/keep.txt shows they ran.
			for _, q := range []struct{ tool, args, want string }{
				{"list_dir", `{}`, `"sub"`},
				{"list_dir", `{"path":"sub"}`, `"keep.txt"`},
				{"glob", `{"pattern":"**"}`, `"sub/keep.txt"`},
				{"glob", `{"pattern":"**/.praxis-tmp-*"}`, `"matches":[]`},
				{"grep", `{"pattern":"needle"}`, `"sub/keep.txt"`},
				{"grep", `{"pattern":"needle","path":"sub"}`, `"sub/keep.txt"`},
			} {
				res, _ := call(t, c, q.tool, q.args)
				out := string(res.Output)
				if res.IsError || !strings.Contains(out, q.want) || strings.Contains(out, ".praxis-tmp-") {
					t.Errorf("%s %s: %s", q.tool, q.args, out)
				}
			}
			// A listing that met it removed it, if stale and writable.
			if _, err := os.Stat(tmp); (err == nil) != tt.kept {
				t.Fatalf("temporary kept = %v, want %v", err == nil, tt.kept)
			}
		})
	}
}

// TestStateDirHidden: the .praxis dir that serving a workspace creates is
// left out of list_dir, glob and grep over the workspace, and shown when
// the listing starts inside it.
func TestStateDirHidden(t *testing.T) {
	c, root := workspace(t, praxis.Options{})
	other := filepath.Join(root, ".praxis", "state.go")
	if err := os.WriteFile(other, []byte("package state // TODO state\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "docs", ".praxis"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ tool, args, want, not string }{
		{"list_dir", `{}`, `"main.go"`, `".praxis"`},
		{"list_dir", `{"path":".praxis"}`, `"state.go"`, `"main.go"`},
		// Only the root's state dir is praxis's.
		{"list_dir", `{"path":"docs"}`, `".praxis"`, `"main.go"`},
		{"glob", `{"pattern":"**/*.go"}`, `"main.go"`, "state.go"},
		{"glob", `{"pattern":"*.go","path":".praxis"}`, `".praxis/state.go"`, "main.go"},
		{"grep", `{"pattern":"TODO"}`, `"docs/deep/x.go"`, "state.go"},
		{"grep", `{"pattern":"TODO","path":".praxis"}`, `".praxis/state.go"`, "docs/deep"},
	} {
		res, _ := call(t, c, tc.tool, tc.args)
		if res.IsError || !strings.Contains(string(res.Output), tc.want) || strings.Contains(string(res.Output), tc.not) {
			t.Errorf("%s %s: %s", tc.tool, tc.args, res.Output)
		}
	}
}

// TestMemoryDirMode: a new memory dir is made 0700 whatever the umask; an
// existing one group or others may write is refused, as anima refuses such
// a home.
func TestMemoryDirMode(t *testing.T) {
	tests := []struct {
		name     string
		existing os.FileMode // 0: not there yet
		want     os.FileMode
		wantErr  error
	}{
		{name: "new", want: 0o700},
		{name: "existing private", existing: 0o700, want: 0o700},
		{name: "existing readable", existing: 0o755, want: 0o755},
		{name: "group writable", existing: 0o770, wantErr: praxis.ErrMemoryDirShared},
		{name: "others writable", existing: 0o702, wantErr: praxis.ErrMemoryDirShared},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			mem := filepath.Join(root, "state", "notes")
			if tt.existing != 0 {
				if err := os.MkdirAll(mem, 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(mem, tt.existing); err != nil {
					t.Fatal(err)
				}
			}
			c, err := praxis.NewCanonicalRegistry(root, praxis.Options{NoShell: true, MemoryDir: mem})
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			defer c.Close()
			for _, d := range []string{mem, filepath.Dir(mem)} {
				fi, err := os.Stat(d)
				if err != nil {
					t.Fatal(err)
				}
				want := tt.want
				if d != mem {
					want = 0o700
				}
				if fi.Mode().Perm() != want {
					t.Errorf("%s mode %v, want %v", d, fi.Mode().Perm(), want)
				}
			}
		})
	}
}
