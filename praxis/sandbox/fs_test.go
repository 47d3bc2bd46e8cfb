package sandbox

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func newFs(t testing.TB, opts FsOptions) (*FsPolicy, string, string) {
	t.Helper()
	base := t.TempDir()
	root := filepath.Join(base, "ws")
	outside := filepath.Join(base, "outside")
	for _, d := range []string{root, outside, filepath.Join(root, "sub")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	must(t, os.WriteFile(filepath.Join(outside, "secret.txt"), []byte("TOP SECRET"), 0o600))
	must(t, os.WriteFile(filepath.Join(root, "a.txt"), []byte("hello\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(root, "sub", "b.txt"), []byte("b\n"), 0o644))
	must(t, os.Symlink(filepath.Join(outside, "secret.txt"), filepath.Join(root, "abs-escape")))
	must(t, os.Symlink("../outside", filepath.Join(root, "rel-escape-dir")))
	must(t, os.Symlink(filepath.Join(outside, "new.txt"), filepath.Join(root, "dangling-escape")))
	must(t, os.Symlink("a.txt", filepath.Join(root, "inside-link")))
	must(t, os.Symlink(filepath.Join(root, "sub"), filepath.Join(root, "abs-inside-dir")))
	p, err := NewFsPolicy(root, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p, root, outside
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestResolve(t *testing.T) {
	p, root, outside := newFs(t, FsOptions{Deny: []string{".git", "**/.env"}})
	must(t, os.MkdirAll(filepath.Join(root, ".git"), 0o755))
	tests := []struct {
		name, path, rel, rule string
	}{
		{"plain", "a.txt", "a.txt", ""},
		{"root", ".", ".", ""},
		{"nested", "sub/b.txt", "sub/b.txt", ""},
		{"dotdot inside", "sub/../a.txt", "a.txt", ""},
		{"absolute inside", filepath.Join(root, "a.txt"), "a.txt", ""},
		{"new file", "sub/new/deeper.txt", "sub/new/deeper.txt", ""},
		{"inside link", "inside-link", "a.txt", ""},
		{"absolute link inside", "abs-inside-dir/b.txt", "sub/b.txt", ""},
		{"dotdot chain", "../outside/secret.txt", "", RuleOutsideWorkspace},
		{"deep dotdot chain", "sub/../../../../etc/passwd", "", RuleOutsideWorkspace},
		{"absolute outside", "/etc/passwd", "", RuleOutsideWorkspace},
		{"absolute sibling", filepath.Join(outside, "secret.txt"), "", RuleOutsideWorkspace},
		{"symlink escape abs", "abs-escape", "", RuleSymlinkEscape},
		{"symlink dir escape", "rel-escape-dir/secret.txt", "", RuleSymlinkEscape},
		{"dangling escape", "dangling-escape", "", RuleSymlinkEscape},
		{"empty", "", "", RuleBadPath},
		{"nul", "a\x00b", "", RuleBadPath},
		{"denied dir", ".git/config", "", RuleDeniedPath},
		{"denied glob", "sub/.env", "", RuleDeniedPath},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rel, err := p.Resolve(tt.path)
			if tt.rule == "" {
				if err != nil || rel != tt.rel {
					t.Fatalf("Resolve(%q) = %q, %v; want %q", tt.path, rel, err, tt.rel)
				}
				return
			}
			v, ok := AsViolation(err)
			if !ok || v.Rule != tt.rule || !errors.Is(err, ErrViolation) {
				t.Fatalf("Resolve(%q) = %q, %v; want rule %s", tt.path, rel, err, tt.rule)
			}
			if ev := v.Event("sb"); ev.ViolationType != tt.rule {
				t.Fatalf("event %+v", ev)
			}
		})
	}
}

func TestReadWriteConfined(t *testing.T) {
	p, root, outside := newFs(t, FsOptions{})
	b, err := p.ReadFile("inside-link")
	if err != nil || string(b) != "hello\n" {
		t.Fatalf("read inside link: %q %v", b, err)
	}
	for _, name := range []string{"abs-escape", "../outside/secret.txt", "rel-escape-dir/secret.txt"} {
		if b, err := p.ReadFile(name); !errors.Is(err, ErrViolation) || len(b) != 0 {
			t.Fatalf("read %q: %q %v", name, b, err)
		}
	}
	if err := p.WriteFile("dangling-escape", []byte("x"), 0o644); !errors.Is(err, ErrViolation) {
		t.Fatalf("write through dangling link: %v", err)
	}
	if _, err := os.Stat(filepath.Join(outside, "new.txt")); !os.IsNotExist(err) {
		t.Fatal("file created outside the workspace")
	}
	must(t, p.WriteFile("sub/deep/new.txt", []byte("new"), 0o600))
	got, err := os.ReadFile(filepath.Join(root, "sub/deep/new.txt"))
	if err != nil || string(got) != "new" {
		t.Fatalf("written %q %v", got, err)
	}
	// Mode of an existing file is kept.
	must(t, os.Chmod(filepath.Join(root, "a.txt"), 0o640))
	must(t, p.WriteFile("a.txt", []byte("bye"), 0o600))
	fi, _ := os.Stat(filepath.Join(root, "a.txt"))
	if fi.Mode().Perm() != 0o640 {
		t.Fatalf("mode %v", fi.Mode())
	}
	entries, _ := os.ReadDir(filepath.Join(root, "sub"))
	for _, e := range entries {
		if filepath.Ext(e.Name()) == "" && len(e.Name()) > 10 {
			t.Fatalf("temp file left: %s", e.Name())
		}
	}
	if err := p.WriteFile(".", nil, 0o644); !errors.Is(err, ErrViolation) {
		t.Fatalf("write root: %v", err)
	}
	if err := p.WriteFile("sub", nil, 0o644); !errors.Is(err, ErrIsDir) {
		t.Fatalf("write dir: %v", err)
	}
}

func TestReadOnly(t *testing.T) {
	p, _, _ := newFs(t, FsOptions{ReadOnly: true})
	err := p.WriteFile("a.txt", []byte("x"), 0o644)
	if v, ok := AsViolation(err); !ok || v.Rule != RuleReadOnly {
		t.Fatalf("got %v", err)
	}
}

// TestSwapAfterCheck replaces a checked directory with an escaping symlink
// between Resolve and use: the operation must still refuse.
func TestSwapAfterCheck(t *testing.T) {
	p, root, outside := newFs(t, FsOptions{})
	rel, err := p.Resolve("sub/b.txt")
	must(t, err)
	must(t, os.RemoveAll(filepath.Join(root, "sub")))
	must(t, os.Symlink(outside, filepath.Join(root, "sub")))
	must(t, os.WriteFile(filepath.Join(outside, "b.txt"), []byte("outside"), 0o644))
	_, err = p.root.ReadFile(rel)
	if err = mapErr("read", rel, err); !errors.Is(err, ErrViolation) {
		t.Fatalf("read after swap: %v", err)
	}
}

func TestNewFsPolicyErrors(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "file")
	must(t, os.WriteFile(f, nil, 0o644))
	for _, tc := range []struct {
		dir  string
		deny []string
	}{{filepath.Join(dir, "missing"), nil}, {f, nil}, {dir, []string{"[bad"}}} {
		if _, err := NewFsPolicy(tc.dir, FsOptions{Deny: tc.deny}); err == nil {
			t.Fatalf("NewFsPolicy(%q, %v) succeeded", tc.dir, tc.deny)
		}
	}
}

// TestRaceSymlinkSwap flips a directory between a real one and a symlink to
// the outside while reads and writes run: the outside is never read or
// written, whatever the interleaving.
func TestRaceSymlinkSwap(t *testing.T) {
	p, root, outside := newFs(t, FsOptions{})
	must(t, os.WriteFile(filepath.Join(outside, "b.txt"), []byte("TOP SECRET"), 0o644))
	sub := filepath.Join(root, "sub")
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			_ = os.RemoveAll(sub)
			_ = os.Symlink(outside, sub)
			_ = os.Remove(sub)
			_ = os.Mkdir(sub, 0o755)
			_ = os.WriteFile(filepath.Join(sub, "b.txt"), []byte("inside"), 0o644)
		}
	}()
	var refused, race int
	for range 2000 {
		b, err := p.ReadFile("sub/b.txt")
		if err == nil && string(b) == "TOP SECRET" {
			t.Errorf("read %q through a swapped symlink", b)
			break
		}
		if v, ok := AsViolation(err); ok {
			refused++
			if v.Rule == RuleRaceEscape {
				race++
			}
		}
		_ = p.WriteFile("sub/w.txt", []byte("x"), 0o644)
	}
	close(stop)
	<-done
	t.Logf("%d reads refused, %d of them caught at use (os.Root) after passing the check", refused, race)
	if _, err := os.Stat(filepath.Join(outside, "w.txt")); err == nil {
		t.Fatal("wrote outside through a swapped symlink")
	}
	entries, _ := os.ReadDir(outside)
	for _, e := range entries {
		if e.Name() != "secret.txt" && e.Name() != "b.txt" {
			t.Fatalf("stray file outside: %s", e.Name())
		}
	}
}

// TestRootThroughSymlink: a workspace configured through a symlink accepts
// absolute paths written either way.
func TestRootThroughSymlink(t *testing.T) {
	base := t.TempDir()
	real := filepath.Join(base, "real")
	must(t, os.MkdirAll(real, 0o755))
	must(t, os.WriteFile(filepath.Join(real, "a.txt"), []byte("a"), 0o644))
	link := filepath.Join(base, "link")
	must(t, os.Symlink(real, link))
	p, err := NewFsPolicy(link, FsOptions{})
	must(t, err)
	defer p.Close()
	for _, name := range []string{filepath.Join(link, "a.txt"), filepath.Join(real, "a.txt"), "a.txt"} {
		if rel, err := p.Resolve(name); err != nil || rel != "a.txt" {
			t.Fatalf("Resolve(%q) = %q, %v", name, rel, err)
		}
	}
	if _, err := p.Resolve(filepath.Join(link, "..", "real2")); !errors.Is(err, ErrViolation) {
		t.Fatalf("sibling through link: %v", err)
	}
}

// FuzzResolve: whatever name comes in, Resolve either refuses it with a
// typed error or returns a slash path below the root that, followed on
// disk, neither leaves the root nor reaches the file outside it.
func FuzzResolve(f *testing.F) {
	p, root, outside := newFs(f, FsOptions{Deny: []string{".git/**"}})
	secret, err := os.Stat(filepath.Join(outside, "secret.txt"))
	must(f, err)
	for _, s := range []string{"a.txt", ".", "sub/../a.txt", "../outside/secret.txt", "abs-escape", "rel-escape-dir/secret.txt",
		"dangling-escape", "inside-link", "/etc/passwd", root + "/a.txt", root + "/../outside/secret.txt", "sub//./b.txt", ".git/config", "a\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		rel, err := p.Resolve(name)
		if err != nil {
			if _, ok := AsViolation(err); !ok && !strings.HasPrefix(err.Error(), "sandbox: resolve ") {
				t.Fatalf("Resolve(%q): untyped error %v", name, err)
			}
			return
		}
		if rel != "." && (filepath.IsAbs(rel) || rel == ".." || strings.HasPrefix(rel, "../") || strings.Contains(rel, "/../")) {
			t.Fatalf("Resolve(%q) = %q: not below the root", name, rel)
		}
		if rel == ".git" || strings.HasPrefix(rel, ".git/") {
			t.Fatalf("Resolve(%q) = %q: denied", name, rel)
		}
		full := filepath.Join(p.Root(), filepath.FromSlash(rel))
		if real, err := filepath.EvalSymlinks(full); err == nil {
			if _, ok := within(p.Root(), real); !ok {
				t.Fatalf("Resolve(%q) = %q, which is %s on disk", name, rel, real)
			}
		}
		if fi, err := os.Stat(full); err == nil && os.SameFile(fi, secret) {
			t.Fatalf("Resolve(%q) = %q reaches the outside file", name, rel)
		}
	})
}

// TestReadFileNotRegular: a FIFO planted in the workspace is refused, not
// read (which would block until someone writes to it), and so is a dir.
func TestReadFileNotRegular(t *testing.T) {
	p, root, _ := newFs(t, FsOptions{})
	must(t, syscall.Mkfifo(filepath.Join(root, "fifo"), 0o644))
	done := make(chan error, 2)
	go func() {
		_, err := p.ReadFile("fifo")
		done <- err
		_, err = p.ReadFile("sub")
		done <- err
	}()
	for _, want := range []error{ErrNotRegular, ErrIsDir} {
		select {
		case err := <-done:
			if !errors.Is(err, want) {
				t.Fatalf("err = %v, want %v", err, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("ReadFile blocks on a FIFO")
		}
	}
}

// TestWriteFileSyncsDirectories checks WriteFile fsyncs the file's
// directory and the parent of every directory it made before it returns,
// and that a failed fsync is its error, with the temporary gone.
func TestWriteFileSyncsDirectories(t *testing.T) {
	errSync := errors.New("fake sync failure")
	tests := []struct {
		name     string
		file     string
		failOn   string
		wantSync []string
	}{
		{name: "top level", file: "top.txt", wantSync: []string{"."}},
		{name: "existing dir", file: "sub/c.txt", wantSync: []string{"sub"}},
		{name: "new dirs", file: "sub/x/y/c.txt", wantSync: []string{"sub/x/y", "sub/x", "sub"}},
		{name: "new dir at root", file: "n/c.txt", wantSync: []string{"n", "."}},
		{name: "file dir sync fails", file: "sub/c.txt", failOn: "sub", wantSync: []string{"sub"}},
		{name: "parent sync fails", file: "sub/x/c.txt", failOn: "sub", wantSync: []string{"sub/x", "sub"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, root, _ := newFs(t, FsOptions{})
			var got []string
			p.syncDir = func(rel string) error {
				got = append(got, rel)
				if rel == tt.failOn {
					return errSync
				}
				return p.fsyncDir(rel)
			}
			err := p.WriteFile(tt.file, []byte("data"), 0o644)
			if (tt.failOn != "") != errors.Is(err, errSync) {
				t.Fatalf("err %v, fail on %q", err, tt.failOn)
			}
			if strings.Join(got, ",") != strings.Join(tt.wantSync, ",") {
				t.Fatalf("synced %v, want %v", got, tt.wantSync)
			}
			// The rename happened; only the acknowledgement failed, and no
			// temporary is left.
			if b, err := os.ReadFile(filepath.Join(root, tt.file)); err != nil || string(b) != "data" {
				t.Fatalf("file %q %v", b, err)
			}
			left, _ := filepath.Glob(filepath.Join(root, filepath.Dir(tt.file), ".praxis-tmp-*"))
			if len(left) != 0 {
				t.Fatalf("temporaries left: %v", left)
			}
		})
	}
}
