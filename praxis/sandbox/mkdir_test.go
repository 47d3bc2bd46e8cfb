package sandbox

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestMkdirPrivateSyncs checks MkdirPrivate fsyncs the directory above each
// one it made, makes them 0700, and returns a failed fsync.
func TestMkdirPrivateSyncs(t *testing.T) {
	errSync := errors.New("fake sync failure")
	tests := []struct {
		name     string
		dir      string
		failOn   string
		umask    int
		wantSync []string
	}{
		// Owner bits the umask takes away are given back.
		{name: "one new, umask 0177", dir: "a", umask: 0o177, wantSync: []string{"."}},
		{name: "one new", dir: "a", wantSync: []string{"."}},
		{name: "nested new", dir: "a/b/c", wantSync: []string{"a/b", "a", "."}},
		{name: "under existing", dir: "have/x", wantSync: []string{"."}},
		{name: "existing", dir: "have", wantSync: nil},
		{name: "sync fails", dir: "a/b", failOn: ".", wantSync: []string{"a", "."}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := t.TempDir()
			must(t, os.Mkdir(filepath.Join(base, "have"), 0o755))
			dir := filepath.Join(base, filepath.FromSlash(tt.dir))
			var got []string
			if tt.umask != 0 {
				old := syscall.Umask(tt.umask)
				defer syscall.Umask(old)
			}
			err := mkdirPrivate(dir, func(p *FsPolicy) {
				p.syncDir = func(rel string) error {
					got = append(got, rel)
					if rel == tt.failOn {
						return errSync
					}
					return p.fsyncDir(rel)
				}
			})
			if (tt.failOn != "") != errors.Is(err, errSync) {
				t.Fatalf("err %v, fail on %q", err, tt.failOn)
			}
			if strings.Join(got, ",") != strings.Join(tt.wantSync, ",") {
				t.Fatalf("synced %v, want %v", got, tt.wantSync)
			}
			if tt.dir == "have" {
				return
			}
			for d := dir; d != base && d != filepath.Join(base, "have"); d = filepath.Dir(d) {
				fi, err := os.Stat(d)
				if err != nil || fi.Mode().Perm() != 0o700 {
					t.Fatalf("%s: %v %v", d, fi, err)
				}
			}
		})
	}
}
