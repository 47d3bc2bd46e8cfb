package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/lifeos/life/aios"
)

// Tier is an isolation level for commands.
type Tier string

const (
	// TierNone runs commands as they are: full environment, no limits (dev).
	TierNone Tier = "none"
	// TierRestricted confines the working directory to the workspace, scrubs
	// the environment and applies resource limits.
	TierRestricted Tier = "restricted"
	// TierIsolated adds bubblewrap (read-only system, workspace bind, no
	// network namespace) and Landlock where they actually work here.
	TierIsolated Tier = "isolated"
)

// ParseTier validates a tier name.
func ParseTier(s string) (Tier, error) {
	switch t := Tier(s); t {
	case TierNone, TierRestricted, TierIsolated:
		return t, nil
	}
	return "", fmt.Errorf("sandbox: unknown tier %q (want none, restricted or isolated)", s)
}

// Limits are setrlimit values for a command; zero leaves one unlimited.
type Limits struct {
	CPUSeconds        uint64
	AddressSpaceBytes uint64
	OpenFiles         uint64
	Processes         uint64 // RLIMIT_NPROC counts per user; root ignores it
}

// DefaultLimits are generous limits for build-and-test style commands (node
// and Go toolchains run under them).
func DefaultLimits() Limits {
	return Limits{CPUSeconds: 300, AddressSpaceBytes: 16 << 30, OpenFiles: 1024, Processes: 4096}
}

// RunnerOptions configure a [Runner].
type RunnerOptions struct {
	Tier Tier
	// AllowShell permits Request.Shell (run as bash -c).
	AllowShell bool
	// AllowedCommands, when set, is the allow list for argv[0]: a bare name
	// ("go") is found on this process's PATH; a name with a slash must be
	// listed exactly as given, so "./go" or "/tmp/x/go" is not "go".
	AllowedCommands []string
	// EnvAllow names the variables passed through from this process
	// (restricted and isolated tiers); nil means PATH, LANG, LC_ALL, TERM, TZ.
	EnvAllow []string
	// Env sets fixed variables for every command.
	Env map[string]string
	// Timeout caps every command (default 2 minutes).
	Timeout time.Duration
	// MaxOutputBytes caps stdout and stderr each (default 64 KiB).
	MaxOutputBytes int
	// Limits apply in the restricted and isolated tiers.
	Limits Limits
	// Network keeps network access in the isolated tier.
	Network bool
	// Fallback lets the isolated tier run as restricted when no isolation
	// mechanism works here; the result then reports the restricted tier.
	Fallback bool
	// Helper is the argv prefix of a binary whose main calls
	// [MaybeRunHelper]; with it the isolated tier also applies Landlock.
	Helper []string
	// SandboxID names the sandbox in events.
	SandboxID string
	Logger    *slog.Logger
}

// Request is one command.
type Request struct {
	// Argv runs a program directly; Shell runs a script with bash -c.
	// Exactly one must be set.
	Argv  []string
	Shell string
	// Dir is the working directory relative to the workspace ("" = root).
	Dir     string
	Stdin   []byte
	Timeout time.Duration
}

// Result is what a command did. Tier and Mechanisms say what isolation
// actually ran, never what was merely asked for.
type Result struct {
	ExitCode        int           `json:"exit_code"`
	Signal          string        `json:"signal,omitempty"`
	Stdout          string        `json:"stdout"`
	Stderr          string        `json:"stderr"`
	StdoutTruncated bool          `json:"stdout_truncated,omitempty"`
	StderrTruncated bool          `json:"stderr_truncated,omitempty"`
	TimedOut        bool          `json:"timed_out,omitempty"`
	Duration        time.Duration `json:"-"`
	DurationMs      int64         `json:"duration_ms"`
	Tier            Tier          `json:"tier"`
	Mechanisms      []string      `json:"mechanisms,omitempty"`
}

// Event is the journal fact for this run.
func (r Result) Event(sandboxID, command string) *aios.SandboxExecuted {
	return &aios.SandboxExecuted{SandboxID: sandboxID, Command: command, ExitCode: int32(r.ExitCode), DurationMs: uint64(r.Duration.Milliseconds())}
}

// Runner runs commands inside a workspace under a tier.
type Runner struct {
	fs   *FsPolicy
	opts RunnerOptions
	log  *slog.Logger

	probeOnce sync.Once
	bwrap     string // path of a working bwrap, "" when it does not work
	bwrapErr  error
	landlock  bool
	llErr     error
}

// NewRunner makes a runner for the workspace of fs.
func NewRunner(fs *FsPolicy, opts RunnerOptions) (*Runner, error) {
	if opts.Tier == "" {
		opts.Tier = TierRestricted
	}
	if _, err := ParseTier(string(opts.Tier)); err != nil {
		return nil, err
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 2 * time.Minute
	}
	if opts.MaxOutputBytes <= 0 {
		opts.MaxOutputBytes = 64 << 10
	}
	if opts.EnvAllow == nil {
		opts.EnvAllow = []string{"PATH", "LANG", "LC_ALL", "TERM", "TZ"}
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Runner{fs: fs, opts: opts, log: log}, nil
}

// Options returns the runner's configuration.
func (r *Runner) Options() RunnerOptions { return r.opts }

// Isolation reports which isolated-tier mechanisms really work here, trying
// each once: bubblewrap by running /bin/true under it, Landlock by running
// the helper.
func (r *Runner) Isolation(ctx context.Context) (bwrap, landlock bool, why []string) {
	r.probeOnce.Do(func() { r.probe(ctx) })
	if r.bwrapErr != nil {
		why = append(why, "bwrap: "+r.bwrapErr.Error())
	}
	if r.llErr != nil {
		why = append(why, "landlock: "+r.llErr.Error())
	}
	return r.bwrap != "", r.landlock, why
}

func (r *Runner) probe(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 20*time.Second)
	defer cancel()
	if path, err := exec.LookPath("bwrap"); err != nil {
		r.bwrapErr = fmt.Errorf("not installed: %w", err)
	} else {
		argv := append([]string{path}, r.bwrapArgs(r.fs.Root(), r.fs.Root())...)
		argv = append(argv, "--", "/bin/true")
		if out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput(); err != nil {
			r.bwrapErr = fmt.Errorf("does not run here: %v: %s", err, bytes.TrimSpace(out))
		} else {
			r.bwrap = path
		}
	}
	if len(r.opts.Helper) == 0 {
		r.llErr = errors.New("no helper configured")
		return
	}
	argv := append(slices.Clone(r.opts.Helper), r.helperArgs(r.fs.Root())...)
	argv = append(argv, "/bin/true")
	if out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput(); err != nil {
		r.llErr = fmt.Errorf("helper failed: %v: %s", err, bytes.TrimSpace(out))
	} else {
		r.landlock = true
	}
}

// systemDirs are mounted read-only in the isolated tier.
var systemDirs = []string{"/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/opt"}

func (r *Runner) bwrapArgs(root, dir string) []string {
	args := []string{"--die-with-parent", "--new-session", "--unshare-all"}
	if r.opts.Network {
		args = append(args, "--share-net")
	}
	for _, d := range systemDirs {
		fi, err := os.Lstat(d)
		switch {
		case err != nil:
		case fi.Mode()&os.ModeSymlink != 0:
			if t, err := os.Readlink(d); err == nil {
				args = append(args, "--symlink", t, d)
			}
		case fi.IsDir():
			args = append(args, "--ro-bind", d, d)
		}
	}
	args = append(args, "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp")
	for _, h := range r.helperBinary() {
		args = append(args, "--ro-bind", h, h)
	}
	args = append(args, "--bind", root, root, "--chdir", dir)
	return args
}

func (r *Runner) helperBinary() []string {
	if len(r.opts.Helper) == 0 || !filepath.IsAbs(r.opts.Helper[0]) {
		return nil
	}
	return r.opts.Helper[:1]
}

func (r *Runner) helperArgs(root string) []string {
	args := []string{HelperArg, "--rw", root}
	if !r.opts.Network {
		args = append(args, "--no-net")
	}
	return append(args, "--")
}

// limitsPrefix applies rlimits through the shell's ulimit builtin, which
// calls setrlimit before exec: Go's os/exec has no hook between fork and exec.
func limitsPrefix(l Limits) []string {
	var b strings.Builder
	add := func(flag string, v uint64) {
		if v > 0 {
			fmt.Fprintf(&b, "ulimit -%s %d || exit 126; ", flag, v)
		}
	}
	add("t", l.CPUSeconds)
	add("v", l.AddressSpaceBytes/1024)
	add("n", l.OpenFiles)
	add("p", l.Processes) // dash spells RLIMIT_NPROC -p
	if b.Len() == 0 {
		return nil
	}
	b.WriteString(`exec "$@"`)
	return []string{"/bin/sh", "-c", b.String(), "praxis-limits"}
}

// HomeDir is where commands' HOME points (restricted and isolated tiers),
// relative to the workspace: tools write caches and config there, and in the
// isolated tier nothing outside the workspace is writable.
const HomeDir = StateDir + "/home"

// StateDir, at the workspace root, holds praxis's own files (commands'
// HOME, the default memory dir); file listings leave it out.
const StateDir = ".praxis"

func (r *Runner) env(root, dir string) []string {
	if r.opts.Tier == TierNone {
		env := os.Environ()
		for k, v := range r.opts.Env {
			env = append(env, k+"="+v)
		}
		return env
	}
	var env []string
	for _, k := range r.opts.EnvAllow {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	if !slices.Contains(r.opts.EnvAllow, "PATH") || os.Getenv("PATH") == "" {
		env = append(env, "PATH=/usr/local/bin:/usr/bin:/bin")
	}
	env = append(env, "HOME="+filepath.Join(root, filepath.FromSlash(HomeDir)), "PWD="+dir)
	for k, v := range r.opts.Env {
		env = append(env, k+"="+v)
	}
	return env
}

// Command is the display form of a request, for events and logs.
func (req Request) Command() string {
	if req.Shell != "" {
		return "bash -c " + strconv.Quote(req.Shell)
	}
	return strings.Join(req.Argv, " ")
}

// Run runs one command. A policy refusal is a *ViolationError; a command
// that ran and failed is a Result with a non-zero exit code, not an error.
func (r *Runner) Run(ctx context.Context, req Request) (Result, error) {
	var argv []string
	switch {
	case req.Shell != "" && len(req.Argv) > 0:
		return Result{}, errors.New("sandbox: request has both argv and shell")
	case req.Shell != "":
		if !r.opts.AllowShell {
			return Result{}, &ViolationError{Rule: RuleShellDenied, Path: req.Dir, Detail: "bash -c is not allowed by this policy"}
		}
		argv = []string{"bash", "-c", req.Shell}
	case len(req.Argv) > 0 && req.Argv[0] != "":
		argv = slices.Clone(req.Argv)
	default:
		return Result{}, errors.New("sandbox: empty command")
	}
	if len(r.opts.AllowedCommands) > 0 && !slices.Contains(r.opts.AllowedCommands, argv[0]) {
		return Result{}, &ViolationError{Rule: RuleCommandDenied, Path: argv[0]}
	}
	dirRel := req.Dir
	if dirRel == "" {
		dirRel = "."
	}
	rel, err := r.fs.Resolve(dirRel)
	if err != nil {
		if v, ok := AsViolation(err); ok {
			v.Rule, v.Detail = RuleDirOutside, "working directory: "+v.Rule
		}
		return Result{}, err
	}
	root := r.fs.Root()
	dir := filepath.Join(root, filepath.FromSlash(rel))
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return Result{}, fmt.Errorf("sandbox: working directory %q is not a directory", req.Dir)
	}

	res := Result{Tier: r.opts.Tier}
	if r.opts.Tier != TierNone {
		if p := limitsPrefix(r.opts.Limits); p != nil {
			argv = append(p, argv...)
			res.Mechanisms = append(res.Mechanisms, "rlimits")
		}
		res.Mechanisms = append(res.Mechanisms, "scrubbed-env", "workdir-confined")
	}
	if r.opts.Tier == TierIsolated {
		bw, ll, why := r.Isolation(ctx)
		if !bw && !ll {
			if !r.opts.Fallback {
				return Result{}, fmt.Errorf("%w: %s", ErrIsolationUnavailable, strings.Join(why, "; "))
			}
			r.log.Warn("isolated tier unavailable, running restricted", "why", why)
			res.Tier = TierRestricted
		}
		if ll {
			argv = append(append(slices.Clone(r.opts.Helper), r.helperArgs(root)...), argv...)
			res.Mechanisms = append(res.Mechanisms, "landlock")
		}
		if bw {
			argv = append(append([]string{r.bwrap}, r.bwrapArgs(root, dir)...), append([]string{"--"}, argv...)...)
			res.Mechanisms = append(res.Mechanisms, "bwrap")
			if !r.opts.Network {
				res.Mechanisms = append(res.Mechanisms, "no-network")
			}
		}
	}

	timeout := r.opts.Timeout
	if req.Timeout > 0 && req.Timeout < timeout {
		timeout = req.Timeout
	}
	runCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	cmd := exec.CommandContext(runCtx, argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = r.env(root, dir)
	if r.opts.Tier != TierNone && !r.fs.ReadOnly() {
		if err := r.fs.root.MkdirAll(HomeDir, 0o700); err != nil {
			return Result{}, fmt.Errorf("sandbox: home dir: %w", err)
		}
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// Kill the whole process group, not just the leader, on timeout/cancel.
	var cancelled atomic.Bool
	cmd.Cancel = func() error {
		cancelled.Store(true)
		return killGroup(cmd)
	}
	cmd.WaitDelay = 500 * time.Millisecond
	stdout := &capWriter{max: r.opts.MaxOutputBytes}
	stderr := &capWriter{max: r.opts.MaxOutputBytes}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if len(req.Stdin) > 0 {
		cmd.Stdin = bytes.NewReader(req.Stdin)
	}
	start := time.Now()
	err = cmd.Start()
	if err != nil {
		return Result{}, fmt.Errorf("sandbox: start %q: %w", argv[0], err)
	}
	err = cmd.Wait()
	// Background children left behind die with the group.
	_ = killGroup(cmd)
	res.Duration = time.Since(start)
	res.DurationMs = res.Duration.Milliseconds()
	res.Stdout, res.StdoutTruncated = stdout.String()
	res.Stderr, res.StderrTruncated = stderr.String()
	if cmd.ProcessState != nil {
		res.ExitCode = cmd.ProcessState.ExitCode()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			res.Signal = ws.Signal().String()
		}
	}
	// Only a kill by the deadline is a timeout, not an exit just before it.
	if cancelled.Load() && ctx.Err() == nil {
		res.TimedOut = true
	}
	if ctx.Err() != nil {
		return res, fmt.Errorf("sandbox: %s: %w", req.Command(), ctx.Err())
	}
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) && !errors.Is(err, exec.ErrWaitDelay) && !res.TimedOut {
		return res, fmt.Errorf("sandbox: %s: %w", req.Command(), err)
	}
	r.log.Debug("command ran", "cmd", req.Command(), "exit", res.ExitCode, "tier", res.Tier, "ms", res.DurationMs)
	return res, nil
}

func killGroup(cmd *exec.Cmd) error {
	if cmd.Process == nil {
		return nil
	}
	err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	if errors.Is(err, syscall.ESRCH) {
		return os.ErrProcessDone
	}
	return err
}

// capWriter keeps the first max bytes and counts the rest.
type capWriter struct {
	mu      sync.Mutex
	max     int
	buf     bytes.Buffer
	dropped int64
}

func (w *capWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	room := w.max - w.buf.Len()
	if room > len(p) {
		room = len(p)
	}
	if room > 0 {
		w.buf.Write(p[:room])
	}
	w.dropped += int64(len(p) - max(room, 0))
	return len(p), nil
}

// String returns the kept bytes, with a marker when some were dropped.
func (w *capWriter) String() (string, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.dropped == 0 {
		return w.buf.String(), false
	}
	return w.buf.String() + fmt.Sprintf("\n[... truncated %d bytes ...]", w.dropped), true
}

var _ io.Writer = (*capWriter)(nil)

// CreatedEvent is the journal fact for this sandbox: the configured tier and
// what isolation actually works here (probing it if not done yet).
func (r *Runner) CreatedEvent(ctx context.Context) *aios.SandboxCreated {
	cfg := map[string]any{
		"workspace": r.fs.Root(), "allow_shell": r.opts.AllowShell, "limits": r.opts.Limits,
		"timeout_ms": r.opts.Timeout.Milliseconds(), "max_output_bytes": r.opts.MaxOutputBytes,
	}
	tier := r.opts.Tier
	if tier == TierIsolated {
		bw, ll, why := r.Isolation(ctx)
		cfg["bwrap"], cfg["landlock"], cfg["network"] = bw, ll, r.opts.Network
		if len(why) > 0 {
			cfg["unavailable"] = why
		}
		if !bw && !ll {
			if r.opts.Fallback {
				tier = TierRestricted
			} else {
				cfg["refuses_commands"] = true
			}
		}
	}
	b, _ := json.Marshal(cfg)
	return &aios.SandboxCreated{SandboxID: r.opts.SandboxID, Tier: string(tier), Config: b}
}
