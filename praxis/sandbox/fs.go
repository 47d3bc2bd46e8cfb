package sandbox

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/bmatcuk/doublestar/v4"
)

// FsOptions tunes an [FsPolicy].
type FsOptions struct {
	// ReadOnly refuses every write.
	ReadOnly bool
	// Deny lists doublestar patterns, relative to the root in slash form
	// (".git/**", "**/.env"), that stay off limits inside the workspace.
	Deny []string
	// SandboxID names the sandbox in journaled events.
	SandboxID string
}

// FsPolicy confines file access to one workspace root. Every name is checked
// twice: first lexically and with symlinks evaluated (for a clear, typed
// refusal), then the operation itself goes through an [os.Root], whose
// openat-style walk refuses any component that escapes the root at the moment
// of use, so a path swapped between check and use cannot escape either.
type FsPolicy struct {
	given string // the root as configured, cleaned and absolute
	real  string // the root with symlinks evaluated
	root  *os.Root
	opts  FsOptions
	// syncDir fsyncs a directory of the root; tests swap it to fail or
	// record.
	syncDir func(rel string) error
}

// NewFsPolicy opens a policy rooted at dir, which must exist.
func NewFsPolicy(dir string, opts FsOptions) (*FsPolicy, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("sandbox: workspace %q: %w", dir, err)
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return nil, fmt.Errorf("sandbox: workspace %q: %w", dir, err)
	}
	st, err := os.Stat(real)
	if err != nil {
		return nil, fmt.Errorf("sandbox: workspace %q: %w", dir, err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("sandbox: workspace %q is not a directory", dir)
	}
	for _, p := range opts.Deny {
		if !doublestar.ValidatePattern(p) {
			return nil, fmt.Errorf("sandbox: bad deny pattern %q", p)
		}
	}
	r, err := os.OpenRoot(real)
	if err != nil {
		return nil, fmt.Errorf("sandbox: workspace %q: %w", dir, err)
	}
	p := &FsPolicy{given: abs, real: real, root: r, opts: opts}
	p.syncDir = p.fsyncDir
	return p, nil
}

// Close releases the root directory handle.
func (p *FsPolicy) Close() error { return p.root.Close() }

// Root is the workspace root with symlinks evaluated.
func (p *FsPolicy) Root() string { return p.real }

// ReadOnly reports whether writes are refused.
func (p *FsPolicy) ReadOnly() bool { return p.opts.ReadOnly }

// SandboxID names the sandbox in events.
func (p *FsPolicy) SandboxID() string { return p.opts.SandboxID }

// within reports whether abs is root or below it, and the relative path.
func within(root, abs string) (string, bool) {
	rel, err := filepath.Rel(root, abs)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) || filepath.IsAbs(rel) {
		return "", false
	}
	return rel, true
}

// Resolve checks name (relative to the root, or absolute) and returns it
// relative to the real root, in slash form ("." for the root itself).
func (p *FsPolicy) Resolve(name string) (string, error) {
	if name == "" || strings.ContainsRune(name, 0) {
		return "", &ViolationError{Rule: RuleBadPath, Path: name, Detail: "empty or contains NUL"}
	}
	var abs string
	if filepath.IsAbs(name) {
		abs = filepath.Clean(name)
		if rel, ok := within(p.given, abs); ok && p.given != p.real {
			abs = filepath.Join(p.real, rel)
		}
	} else {
		abs = filepath.Join(p.real, name)
	}
	if _, ok := within(p.real, abs); !ok {
		return "", &ViolationError{Rule: RuleOutsideWorkspace, Path: name}
	}
	real, err := p.evalExisting(abs, 0)
	if err != nil {
		if v, ok := AsViolation(err); ok {
			v.Path = name
			return "", v
		}
		return "", fmt.Errorf("sandbox: resolve %q: %w", name, err)
	}
	rel, ok := within(p.real, real)
	if !ok {
		return "", &ViolationError{Rule: RuleSymlinkEscape, Path: name}
	}
	rel = filepath.ToSlash(rel)
	if pat, ok := p.Denied(rel); ok {
		return "", &ViolationError{Rule: RuleDeniedPath, Path: name, Detail: "matches " + pat}
	}
	return rel, nil
}

// Denied reports whether the slash-form relative path rel (or a directory
// above it) matches a deny pattern, and which. Walkers use it to skip
// entries without resolving each one.
func (p *FsPolicy) Denied(rel string) (string, bool) {
	for _, pat := range p.opts.Deny {
		// A denied directory denies everything under it.
		for dir := rel; dir != "." && dir != "/" && dir != ""; dir = path.Dir(dir) {
			if m, _ := doublestar.Match(pat, dir); m {
				return pat, true
			}
		}
	}
	return "", false
}

// evalExisting evaluates symlinks in the longest existing prefix of abs and
// appends the rest. A dangling symlink on the way is followed by hand, so a
// link to a not-yet-existing file outside the root is caught too.
func (p *FsPolicy) evalExisting(abs string, depth int) (string, error) {
	if depth > 40 {
		return "", &ViolationError{Rule: RuleSymlinkEscape, Detail: "too many levels of symbolic links"}
	}
	real, err := filepath.EvalSymlinks(abs)
	if err == nil {
		return real, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	if fi, lerr := os.Lstat(abs); lerr == nil && fi.Mode()&fs.ModeSymlink != 0 {
		target, rerr := os.Readlink(abs)
		if rerr != nil {
			return "", rerr
		}
		if !filepath.IsAbs(target) {
			target = filepath.Join(filepath.Dir(abs), target)
		}
		return p.evalExisting(filepath.Clean(target), depth+1)
	}
	dir, base := filepath.Split(abs)
	dir = filepath.Clean(dir)
	if dir == abs {
		return abs, nil
	}
	parent, err := p.evalExisting(dir, depth)
	if err != nil {
		return "", err
	}
	return filepath.Join(parent, base), nil
}

// mapErr turns an os.Root escape (the path changed after Resolve) into a
// violation. os does not export that error, so it is matched by its text.
func mapErr(op, name string, err error) error {
	if err == nil {
		return nil
	}
	var pe *fs.PathError
	if errors.As(err, &pe) && pe.Err != nil && pe.Err.Error() == "path escapes from parent" {
		return &ViolationError{Rule: RuleRaceEscape, Path: name, Detail: op}
	}
	var le *os.LinkError
	if errors.As(err, &le) && le.Err != nil && le.Err.Error() == "path escapes from parent" {
		return &ViolationError{Rule: RuleRaceEscape, Path: name, Detail: op}
	}
	return fmt.Errorf("sandbox: %s %q: %w", op, name, err)
}

func (p *FsPolicy) writable(name string) error {
	if p.opts.ReadOnly {
		return &ViolationError{Rule: RuleReadOnly, Path: name}
	}
	return nil
}

// Open opens a file for reading. O_NONBLOCK keeps a FIFO planted in the
// workspace from blocking the open; callers check the file's type.
func (p *FsPolicy) Open(name string) (*os.File, error) {
	rel, err := p.Resolve(name)
	if err != nil {
		return nil, err
	}
	f, err := p.root.OpenFile(rel, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	return f, mapErr("open", name, err)
}

// ReadFile reads a whole regular file. A FIFO, device or socket is refused
// with [ErrNotRegular] rather than read (a FIFO would block forever).
func (p *FsPolicy) ReadFile(name string) ([]byte, error) {
	f, err := p.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	switch {
	case err != nil:
		return nil, fmt.Errorf("sandbox: read %q: %w", name, err)
	case fi.IsDir():
		return nil, fmt.Errorf("sandbox: read %q: %w", name, errIsDir)
	case !fi.Mode().IsRegular():
		return nil, fmt.Errorf("sandbox: read %q: %w", name, ErrNotRegular)
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("sandbox: read %q: %w", name, err)
	}
	return b, nil
}

// Stat describes a file (following in-root symlinks).
func (p *FsPolicy) Stat(name string) (fs.FileInfo, error) {
	rel, err := p.Resolve(name)
	if err != nil {
		return nil, err
	}
	fi, err := p.root.Stat(rel)
	return fi, mapErr("stat", name, err)
}

// ReadDir lists a directory.
func (p *FsPolicy) ReadDir(name string) ([]fs.DirEntry, error) {
	rel, err := p.Resolve(name)
	if err != nil {
		return nil, err
	}
	entries, err := fs.ReadDir(p.root.FS(), rel)
	return entries, mapErr("readdir", name, err)
}

// FS is the workspace as an fs.FS confined by the root (for walking).
func (p *FsPolicy) FS() fs.FS { return p.root.FS() }

// WriteFile replaces name's bytes atomically: a temporary file in the same
// directory is written, synced and renamed over it, keeping the old mode.
// Missing parent directories are created.
func (p *FsPolicy) WriteFile(name string, data []byte, perm fs.FileMode) error {
	if err := p.writable(name); err != nil {
		return err
	}
	rel, err := p.Resolve(name)
	if err != nil {
		return err
	}
	if rel == "." {
		return &ViolationError{Rule: RuleBadPath, Path: name, Detail: "is the workspace root"}
	}
	if fi, err := p.root.Stat(rel); err == nil {
		if fi.IsDir() {
			return fmt.Errorf("sandbox: write %q: %w", name, errIsDir)
		}
		perm = fi.Mode().Perm()
	}
	dir := path.Dir(rel)
	// Every directory whose entries change must be fsynced before the
	// write is acknowledged: the parents of those MkdirAll makes, and dir.
	toSync := append([]string{dir}, p.parentsToMake(dir)...)
	if err := p.root.MkdirAll(dir, 0o755); err != nil {
		return mapErr("mkdir", name, err)
	}
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	tmp := path.Join(dir, tempPrefix+hex.EncodeToString(rnd[:]))
	f, err := p.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return mapErr("create", name, err)
	}
	_, werr := f.Write(data)
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = p.root.Chmod(tmp, perm)
	}
	if werr != nil {
		_ = p.root.Remove(tmp)
		return mapErr("write", name, werr)
	}
	if err := p.root.Rename(tmp, rel); err != nil {
		_ = p.root.Remove(tmp)
		return mapErr("rename", name, err)
	}
	for _, d := range toSync {
		if err := p.syncDir(d); err != nil {
			return mapErr("sync", name, err)
		}
	}
	return nil
}

// parentsToMake lists, deepest first, the directory above each missing
// directory of dir: the ones whose entries a MkdirAll of dir changes.
func (p *FsPolicy) parentsToMake(dir string) []string {
	var parents []string
	for d := dir; d != "."; d = path.Dir(d) {
		if _, err := p.root.Stat(d); err == nil {
			break
		}
		parents = append(parents, path.Dir(d))
	}
	return parents
}

// MkdirPrivate makes dir and its missing parents mode 0700 (whatever the
// umask) and fsyncs the directory above each one made, so the new entries
// survive a crash. An existing dir is left as it is.
func MkdirPrivate(dir string) error { return mkdirPrivate(dir, nil) }

// mkdirPrivate is MkdirPrivate; a non-nil setSync (tests) replaces the
// fsync of the policy it opens.
func mkdirPrivate(dir string, setSync func(*FsPolicy)) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("sandbox: mkdir %q: %w", dir, err)
	}
	// The fsyncs go through a policy on the deepest existing ancestor.
	base := abs
	for {
		if _, err := os.Stat(base); err == nil {
			break
		}
		parent := filepath.Dir(base)
		if parent == base {
			break
		}
		base = parent
	}
	p, err := NewFsPolicy(base, FsOptions{})
	if err != nil {
		return err
	}
	defer p.Close()
	if setSync != nil {
		setSync(p)
	}
	rel, err := filepath.Rel(base, abs)
	if err != nil {
		return fmt.Errorf("sandbox: mkdir %q: %w", dir, err)
	}
	rel = filepath.ToSlash(rel)
	toSync := p.parentsToMake(rel)
	if err := p.root.MkdirAll(rel, 0o700); err != nil {
		return mapErr("mkdir", dir, err)
	}
	// MkdirAll applies the umask; one directory was made per parent synced.
	d := rel
	for range toSync {
		if err := p.root.Chmod(d, 0o700); err != nil {
			return mapErr("chmod", dir, err)
		}
		d = path.Dir(d)
	}
	for _, d := range toSync {
		if err := p.syncDir(d); err != nil {
			return mapErr("sync", dir, err)
		}
	}
	return nil
}

func (p *FsPolicy) fsyncDir(rel string) error {
	d, err := p.root.Open(rel)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// tempPrefix starts the name of WriteFile's temporaries.
const tempPrefix = ".praxis-tmp-"

// staleTempAge is how long a temporary goes unmodified before it is taken
// for a crashed write's: younger ones may be another process's write in
// flight.
const staleTempAge = time.Hour

// IsTempName reports whether a base name is one of WriteFile's temporaries,
// which listings hide.
func IsTempName(name string) bool { return strings.HasPrefix(name, tempPrefix) }

// RemoveStaleTemp removes rel if it is one of WriteFile's temporaries and
// went unmodified for staleTempAge: a crashed write's. Listings call it as
// they meet one, so no start-up walk of the whole workspace is needed. It is
// best effort (a failed remove is left to the next listing, which hides the
// file meanwhile) and does nothing in a read-only or denied path.
func (p *FsPolicy) RemoveStaleTemp(rel string) {
	if p.opts.ReadOnly || !IsTempName(path.Base(rel)) {
		return
	}
	if _, denied := p.Denied(rel); denied {
		return
	}
	if fi, err := p.root.Lstat(rel); err == nil && fi.Mode().IsRegular() && time.Since(fi.ModTime()) > staleTempAge {
		_ = p.root.Remove(rel)
	}
}

var errIsDir = errors.New("is a directory")

// ErrIsDir is matched when a file operation names a directory.
var ErrIsDir = errIsDir

// ErrNotRegular is matched when a read names a FIFO, device or socket.
var ErrNotRegular = errors.New("not a regular file")
