package praxis

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/lifeos/life/praxis/sandbox"
	"github.com/lifeos/life/praxis/tools"
)

// Options configure [NewCanonicalRegistry]. The zero value is the
// restricted tier with bash allowed and memory under
// {root}/.praxis/memory.
type Options struct {
	Tier sandbox.Tier // default restricted
	// NoShell leaves the bash tool out.
	NoShell bool
	// ReadOnly refuses every workspace write.
	ReadOnly bool
	// Deny lists workspace paths (doublestar patterns) that stay off limits.
	Deny []string
	// MemoryDir holds the agent's notes; "" means {root}/.praxis/memory,
	// "-" leaves the memory tools out.
	MemoryDir string
	Limits    *sandbox.Limits // nil = sandbox.DefaultLimits()
	Timeout   time.Duration
	// Network keeps network access for commands in the isolated tier.
	Network bool
	// Fallback lets the isolated tier degrade to restricted (and say so).
	Fallback bool
	// Helper is the argv prefix of a binary whose main calls
	// sandbox.MaybeRunHelper, enabling Landlock in the isolated tier.
	Helper    []string
	SandboxID string
	Logger    *slog.Logger
}

// Canonical is the canonical tool set of one workspace.
type Canonical struct {
	*Registry
	FS     *sandbox.FsPolicy
	Memory *sandbox.FsPolicy // nil without memory tools
	Runner *sandbox.Runner   // nil without bash
}

// NewCanonicalRegistry builds read_file, write_file, edit_file, list_dir,
// glob, grep, bash, read_memory and write_memory over the workspace root.
func NewCanonicalRegistry(root string, opts Options) (*Canonical, error) {
	if opts.SandboxID == "" {
		opts.SandboxID = "praxis"
	}
	memDir := opts.MemoryDir
	deny := append([]string(nil), opts.Deny...)
	if memDir == "" {
		memDir = filepath.Join(root, ".praxis", "memory")
	}
	// Notes inside the workspace are reached through the memory tools only.
	if memDir != "-" {
		if rel, ok := inside(root, memDir); ok {
			deny = append(deny, globEscaper.Replace(rel))
		}
	}
	fsp, err := sandbox.NewFsPolicy(root, sandbox.FsOptions{ReadOnly: opts.ReadOnly, Deny: deny, SandboxID: opts.SandboxID})
	if err != nil {
		return nil, err
	}
	c := &Canonical{Registry: NewRegistry(), FS: fsp}
	env := &tools.Env{FS: fsp}
	if memDir != "-" {
		if err := prepareMemoryDir(memDir); err != nil {
			_ = c.Close()
			return nil, err
		}
		if c.Memory, err = sandbox.NewFsPolicy(memDir, sandbox.FsOptions{SandboxID: opts.SandboxID}); err != nil {
			_ = c.Close()
			return nil, err
		}
		env.Memory = c.Memory
	}
	if !opts.NoShell {
		limits := sandbox.DefaultLimits()
		if opts.Limits != nil {
			limits = *opts.Limits
		}
		c.Runner, err = sandbox.NewRunner(fsp, sandbox.RunnerOptions{
			Tier: opts.Tier, AllowShell: true, Limits: limits, Timeout: opts.Timeout,
			Network: opts.Network, Fallback: opts.Fallback, Helper: opts.Helper,
			SandboxID: opts.SandboxID, Logger: opts.Logger,
		})
		if err != nil {
			_ = c.Close()
			return nil, err
		}
		env.Runner = c.Runner
	}
	if err := c.Register(tools.All(env)...); err != nil {
		_ = c.Close()
		return nil, err
	}
	return c, nil
}

// ErrMemoryDirShared is returned when the memory dir exists and group or
// others may write to it.
var ErrMemoryDirShared = errors.New("praxis: memory dir writable by group or others")

// prepareMemoryDir makes the notes dir private and durable, or checks an
// existing one. As anima/home does for its home, an existing dir that group
// or others may write is refused rather than silently tightened: someone
// set it so, and notes written there could be replaced under the agent.
func prepareMemoryDir(dir string) error {
	fi, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		if err := sandbox.MkdirPrivate(dir); err != nil {
			return fmt.Errorf("praxis: memory dir: %w", err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("praxis: memory dir: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("praxis: memory dir %s is not a directory", dir)
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("%w: %s has mode %v; use a private directory", ErrMemoryDirShared, dir, fi.Mode().Perm())
	}
	return nil
}

// Close releases the workspace handles.
func (c *Canonical) Close() error {
	var errs []error
	if c.FS != nil {
		errs = append(errs, c.FS.Close())
	}
	if c.Memory != nil {
		errs = append(errs, c.Memory.Close())
	}
	return errors.Join(errs...)
}

// globEscaper quotes doublestar's special characters, so a deny entry made
// from a path matches that path literally.
var globEscaper = strings.NewReplacer(`\`, `\\`, `*`, `\*`, `?`, `\?`, `[`, `\[`, `]`, `\]`, `{`, `\{`, `}`, `\}`)

// inside reports whether dir is below root (both made absolute, symlinks
// evaluated in their longest existing prefix) and its slash-form relative
// path. Dir need not exist yet: the memory dir is made on first use.
func inside(root, dir string) (string, bool) {
	abs := func(p string) string {
		p, _ = filepath.Abs(p)
		rest := ""
		for {
			if r, err := filepath.EvalSymlinks(p); err == nil {
				return filepath.Join(r, rest)
			}
			parent := filepath.Dir(p)
			if parent == p {
				return filepath.Join(p, rest)
			}
			rest = filepath.Join(filepath.Base(p), rest)
			p = parent
		}
	}
	rel, err := filepath.Rel(abs(root), abs(dir))
	if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", false
	}
	return filepath.ToSlash(rel), true
}
