// Package stack wires arcan's runtime to the real parts on one machine: the
// lago bbolt journal under $ARCAN_HOME, praxis's canonical tools confined
// to a workspace, a policy, and a provider chosen by name. The arcan and
// arcand binaries share it so they behave the same.
package stack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/arcan/provider"
	"github.com/lifeos/life/arcan/runtime"
	"github.com/lifeos/life/autonomic/controller"
	"github.com/lifeos/life/bridges/gate"
	"github.com/lifeos/life/lago/journal"
	"github.com/lifeos/life/praxis"
	"github.com/lifeos/life/praxis/policy"
	"github.com/lifeos/life/praxis/sandbox"
	"github.com/lifeos/life/praxis/tools"
	"github.com/lifeos/life/vigil"
)

// ErrConfig is matched by invalid options.
var ErrConfig = errors.New("stack: bad configuration")

// Approval modes for tools that change things (write_file, edit_file, bash,
// write_memory): allow them, ask a person first, or deny them.
const (
	ApproveAuto = "auto"
	ApproveAsk  = "ask"
	ApproveDeny = "deny"
)

// Options configure a stack. Zero values pick the embedded defaults.
type Options struct {
	Home      string // data directory; default Home()
	Workspace string // tools' root; default the current directory
	Provider  string // mock (default), anthropic, openai
	Model     string
	BaseURL   string
	System    string
	Approve   string // ApproveAsk (default), ApproveAuto, ApproveDeny
	ShellTier string // enables bash in this sandbox tier (none, restricted, isolated); "" disables it
	MCP       string // MCP servers file; "" reads $home/mcp.json when present
	Gate      string // autonomic gate: "embedded" (default), "off", or an autonomicd URL
	NoSync    bool   // journal without fsync (benchmarks only)
	Limits    runtime.Limits
	Pricing   runtime.Pricing
	// Telemetry options for vigil; the OTEL_* environment chooses the
	// exporters (none by default, which costs next to nothing).
	Telemetry []vigil.Option
	Logger    *slog.Logger
}

// Stack is an opened runtime with what it holds open.
type Stack struct {
	Journal   *journal.Journal
	Runtime   *runtime.Runtime
	Registry  *praxis.Registry
	Home      string
	Provider  aios.Provider
	Telemetry *vigil.Telemetry
	closers   []io.Closer
}

// Home returns $ARCAN_HOME, or ~/.arcan.
func Home() string {
	if h := os.Getenv("ARCAN_HOME"); h != "" {
		return h
	}
	if d, err := os.UserHomeDir(); err == nil {
		return filepath.Join(d, ".arcan")
	}
	return ".arcan"
}

// JournalPath is where the journal lives under home.
func JournalPath(home string) string { return filepath.Join(home, "journal.db") }

// ErrJournalLocked is matched when another process holds the journal's
// file lock (an arcand, or a shell, on the same home).
var ErrJournalLocked = errors.New("journal locked by another process")

// Lock waits: LockTimeout for commands that write, ReadLockTimeout for the
// read-only commands' first try (they ask a running arcand instead).
const (
	LockTimeout     = 3 * time.Second
	ReadLockTimeout = 200 * time.Millisecond
)

// OpenJournal opens (creating) the journal under home.
func OpenJournal(home string, noSync bool, log *slog.Logger) (*journal.Journal, error) {
	return OpenJournalWait(home, noSync, log, LockTimeout)
}

// OpenJournalWait is OpenJournal waiting at most wait for the file lock;
// a lock still held then is ErrJournalLocked.
func OpenJournalWait(home string, noSync bool, log *slog.Logger, wait time.Duration) (*journal.Journal, error) {
	if err := os.MkdirAll(home, 0o700); err != nil {
		return nil, fmt.Errorf("stack: data dir %s: %w", home, err)
	}
	j, err := journal.Open(JournalPath(home), journal.Options{NoSync: noSync, Logger: log, LockTimeout: wait})
	if errors.Is(err, journal.ErrLocked) {
		return nil, fmt.Errorf("%w: %s (is arcand running on it?): %w", ErrJournalLocked, JournalPath(home), err)
	}
	if err != nil {
		return nil, fmt.Errorf("stack: open journal in %s: %w", home, err)
	}
	return j, nil
}

// Open builds the stack.
func Open(o Options) (*Stack, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Home == "" {
		o.Home = Home()
	}
	if o.Workspace == "" {
		wd, err := os.Getwd()
		if err != nil {
			return nil, fmt.Errorf("stack: workspace: %w", err)
		}
		o.Workspace = wd
	}
	if o.Approve == "" {
		o.Approve = ApproveAsk
	}
	if !slices.Contains([]string{ApproveAuto, ApproveAsk, ApproveDeny}, o.Approve) {
		return nil, fmt.Errorf("%w: approve mode %q (want auto, ask or deny)", ErrConfig, o.Approve)
	}
	prov, err := provider.Open(o.Provider, provider.Options{Model: o.Model, BaseURL: o.BaseURL})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	reg, err := NewTools(o.Workspace, filepath.Join(o.Home, "memory"), o.ShellTier, o.Logger)
	if err != nil {
		return nil, err
	}
	mcps, err := MCPServers(o.MCP, o.Home, o.Workspace, o.Logger)
	if err != nil {
		return nil, err
	}
	closers := AttachMCP(context.Background(), mcps, reg, o.Logger)
	closeAll := func() {
		for _, c := range closers {
			c.Close()
		}
	}
	j, err := OpenJournal(o.Home, o.NoSync, o.Logger)
	if err != nil {
		closeAll()
		return nil, err
	}
	pol, err := NewPolicy(o.Approve, reg)
	if err != nil {
		j.Close()
		closeAll()
		return nil, err
	}
	g, err := openGate(o.Gate, j, o.Logger)
	if err != nil {
		j.Close()
		closeAll()
		return nil, err
	}
	tel, err := vigil.FromEnv(context.Background(), append([]vigil.Option{vigil.WithLogger(o.Logger), vigil.WithAgentName("arcan")}, o.Telemetry...)...)
	if err != nil {
		j.Close()
		closeAll()
		return nil, fmt.Errorf("%w: telemetry: %w", ErrConfig, err)
	}
	var rj aios.Journal = j
	var rprov = prov
	var rtools aios.ToolRegistry = reg
	var bind func(context.Context, aios.StreamID) context.Context
	if tel.Enabled() {
		rj, rprov, rtools, bind = tel.WrapJournal(j), tel.WrapProvider(prov), tel.WrapRegistry(reg), tel.Bind
	}
	rt, err := runtime.New(runtime.Config{
		Journal: rj, Provider: rprov, Tools: rtools, Policy: pol, Gate: g, BindContext: bind,
		Snapshots: Snapshots{J: j}, Logger: o.Logger, System: o.System, Model: o.Model, Limits: o.Limits, Pricing: o.Pricing,
	})
	if err != nil {
		j.Close()
		closeAll()
		return nil, err
	}
	return &Stack{Journal: j, Runtime: rt, Registry: reg, Home: o.Home, Provider: prov, Telemetry: tel, closers: closers}, nil
}

// openGate returns the autonomic gate: advisory and fail-open either way.
func openGate(spec string, j aios.Journal, log *slog.Logger) (aios.Gate, error) {
	opts := gate.Options{Journal: j, Logger: log}
	switch {
	case spec == "off":
		return nil, nil
	case spec == "" || spec == "embedded":
		g, err := gate.Embedded(j, controller.DefaultConfig(), opts)
		if err != nil {
			return nil, fmt.Errorf("%w: autonomic gate: %w", ErrConfig, err)
		}
		return g, nil
	case strings.HasPrefix(spec, "http://") || strings.HasPrefix(spec, "https://"):
		g, err := gate.Remote(spec, opts)
		if err != nil {
			return nil, fmt.Errorf("%w: autonomic gate: %w", ErrConfig, err)
		}
		return g, nil
	}
	return nil, fmt.Errorf("%w: gate %q (want embedded, off or an http(s) URL)", ErrConfig, spec)
}

// Close flushes telemetry, stops the MCP clients and closes the journal.
func (s *Stack) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	terr := s.Telemetry.Shutdown(ctx)
	for _, c := range s.closers {
		c.Close()
	}
	return errors.Join(s.Journal.Close(), terr)
}

// NewTools returns praxis's canonical tools over workspace (bash only when
// a shell tier is given).
func NewTools(workspace, memoryDir, shellTier string, log *slog.Logger) (*praxis.Registry, error) {
	fsp, err := sandbox.NewFsPolicy(workspace, sandbox.FsOptions{Deny: []string{".git/**", "**/.env"}, SandboxID: "workspace"})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	env := &tools.Env{FS: fsp}
	if memoryDir != "" {
		if err := sandbox.MkdirPrivate(memoryDir); err != nil { // 0700, and fsynced into its parent
			return nil, fmt.Errorf("stack: memory dir: %w", err)
		}
		if env.Memory, err = sandbox.NewFsPolicy(memoryDir, sandbox.FsOptions{SandboxID: "memory"}); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrConfig, err)
		}
	}
	if shellTier != "" {
		tier, err := sandbox.ParseTier(shellTier)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrConfig, err)
		}
		if env.Runner, err = sandbox.NewRunner(fsp, sandbox.RunnerOptions{Tier: tier, AllowShell: true, Fallback: true, SandboxID: "workspace", Logger: log}); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrConfig, err)
		}
	}
	reg := praxis.NewRegistry()
	if err := reg.Register(tools.All(env)...); err != nil {
		return nil, fmt.Errorf("stack: tools: %w", err)
	}
	return reg, nil
}

// NewPolicy returns praxis's policy gate for an approval mode: read-only
// tools always run; tools that change things run (auto), wait for a
// person (ask), or are refused (deny).
func NewPolicy(mode string, reg aios.ToolRegistry) (*policy.Gate, error) {
	cfg := policy.Config{Default: aios.PolicyAllow}
	switch mode {
	case ApproveAsk:
		for _, s := range reg.Specs() {
			if !s.Annotations.ReadOnly {
				cfg.Rules = append(cfg.Rules, policy.Rule{ID: "ask-" + s.Name, Tool: s.Name, Decision: aios.PolicyRequireApproval, Reason: "this tool changes things: a person must approve"})
			}
		}
	case ApproveDeny:
		cfg.Deny = []string{policy.CapWrite}
	}
	g, err := policy.NewGate(cfg, reg)
	if err != nil {
		return nil, fmt.Errorf("stack: policy: %w", err)
	}
	return g, nil
}

// Snapshots keeps the runtime's state snapshots inside the lago journal.
type Snapshots struct{ J *journal.Journal }

const snapshotName = "arcan.session-state"

// Save implements runtime.SnapshotStore.
func (s Snapshots) Save(ctx context.Context, st aios.StreamID, seq uint64, data []byte) error {
	return s.J.SaveSnapshot(ctx, st, snapshotName, seq, data)
}

// Latest implements runtime.SnapshotStore.
func (s Snapshots) Latest(ctx context.Context, st aios.StreamID) (uint64, []byte, error) {
	return s.J.LoadSnapshot(ctx, st, snapshotName)
}
