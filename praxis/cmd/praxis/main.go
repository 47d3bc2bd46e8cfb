// Command praxis serves the sandboxed canonical tools over MCP:
//
//	praxis mcp serve --workspace DIR [--http ADDR] [--tier restricted]
//
// Over stdio by default; with --http, streamable HTTP at ADDR/mcp.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/lifeos/life/praxis"
	"github.com/lifeos/life/praxis/mcpbridge"
	"github.com/lifeos/life/praxis/policy"
	"github.com/lifeos/life/praxis/sandbox"
	"github.com/lifeos/life/praxis/skills"
	"github.com/spf13/cobra"
)

func main() {
	sandbox.MaybeRunHelper() // this binary is its own Landlock helper
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := newRoot().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "praxis:", err)
		os.Exit(1)
	}
}

func newRoot() *cobra.Command {
	root := &cobra.Command{Use: "praxis", Short: "Sandboxed tools for agents", SilenceUsage: true, SilenceErrors: true}
	mcp := &cobra.Command{Use: "mcp", Short: "Model Context Protocol bridge"}
	mcp.AddCommand(newServe())
	root.AddCommand(mcp)
	return root
}

type serveFlags struct {
	workspace, httpAddr, path, tier, memoryDir, policyFile, logLevel string
	serversFile                                                      string
	skillDirs                                                        []string
	noSkills                                                         bool
	deny                                                             []string
	noShell, readOnly, network, fallback, allowRemote                bool
	timeout                                                          time.Duration
}

func newServe() *cobra.Command {
	var f serveFlags
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the canonical tools (read_file, write_file, edit_file, list_dir, glob, grep, bash, read_memory, write_memory)",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return serve(cmd.Context(), f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.workspace, "workspace", "", "workspace root every path is confined to (required)")
	fl.StringVar(&f.httpAddr, "http", "", "serve streamable HTTP on this address (host:port) instead of stdio")
	fl.StringVar(&f.path, "path", "/mcp", "HTTP endpoint path")
	fl.StringVar(&f.tier, "tier", "restricted", "command isolation tier: none, restricted or isolated")
	fl.StringVar(&f.memoryDir, "memory-dir", "", `memory notes dir (default WORKSPACE/.praxis/memory; "-" disables the memory tools)`)
	fl.StringVar(&f.policyFile, "policy", "", "JSON policy file (rules, default decision, denied capabilities)")
	fl.StringVar(&f.serversFile, "servers", "", `JSON file of external MCP servers whose tools are served too, as "{namespace}__{tool}"`)
	fl.StringSliceVar(&f.skillDirs, "skills-dir", nil, "more SKILL.md directories, after WORKSPACE/.skills and ~/.life/skills")
	fl.BoolVar(&f.noSkills, "no-skills", false, "do not offer skills as MCP prompts")
	fl.StringSliceVar(&f.deny, "deny", []string{".git/**", "**/.env"}, "workspace paths (doublestar patterns) kept off limits")
	fl.BoolVar(&f.noShell, "no-shell", false, "leave the bash tool out")
	fl.BoolVar(&f.readOnly, "read-only", false, "refuse every workspace write")
	fl.BoolVar(&f.network, "network", false, "keep network access for commands in the isolated tier")
	fl.BoolVar(&f.fallback, "fallback", false, "let the isolated tier run as restricted when isolation does not work here (reported per call)")
	fl.BoolVar(&f.allowRemote, "allow-remote", false, "allow --http on a non-loopback address (the server has no authentication)")
	fl.DurationVar(&f.timeout, "timeout", 2*time.Minute, "per-command timeout")
	fl.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error (logs go to stderr)")
	_ = cmd.MarkFlagRequired("workspace")
	return cmd
}

func serve(ctx context.Context, f serveFlags) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(f.logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	tier, err := sandbox.ParseTier(f.tier)
	if err != nil {
		return fmt.Errorf("--tier: %w", err)
	}
	if f.timeout <= 0 {
		return errors.New("--timeout must be positive")
	}
	if fi, err := os.Stat(f.workspace); err != nil || !fi.IsDir() {
		return fmt.Errorf("--workspace %q is not a directory", f.workspace)
	}
	if f.httpAddr != "" {
		if err := checkLoopback(f.httpAddr, f.allowRemote); err != nil {
			return err
		}
	}
	var cfg policy.Config
	if f.policyFile != "" {
		b, err := os.ReadFile(f.policyFile)
		if err != nil {
			return fmt.Errorf("--policy: %w", err)
		}
		if cfg, err = policy.ParseConfig(b); err != nil {
			return fmt.Errorf("--policy %s: %w", f.policyFile, err)
		}
	}
	var servers []mcpbridge.ServerConfig
	if f.serversFile != "" {
		b, err := os.ReadFile(f.serversFile)
		if err != nil {
			return fmt.Errorf("--servers: %w", err)
		}
		if servers, err = mcpbridge.ParseServers(b); err != nil {
			return fmt.Errorf("--servers %s: %w", f.serversFile, err)
		}
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	reg, err := praxis.NewCanonicalRegistry(f.workspace, praxis.Options{
		Tier: tier, NoShell: f.noShell, ReadOnly: f.readOnly, Deny: f.deny, MemoryDir: f.memoryDir,
		Timeout: f.timeout, Network: f.network, Fallback: f.fallback, Helper: []string{exe}, Logger: log,
	})
	if err != nil {
		return err
	}
	defer reg.Close()
	if reg.Runner != nil && tier == sandbox.TierIsolated {
		bw, ll, why := reg.Runner.Isolation(ctx)
		log.Info("isolated tier", "bwrap", bw, "landlock", ll, "unavailable", strings.Join(why, "; "))
	}
	for _, sc := range servers {
		c, err := mcpbridge.NewClient(sc, log)
		if err != nil {
			return err
		}
		defer c.Close()
		ts, err := c.Attach(ctx, reg)
		if err != nil {
			// One unreachable server must not take the others down.
			log.Warn("external MCP server skipped", "namespace", sc.Namespace, "err", err)
			continue
		}
		log.Info("external MCP server attached", "namespace", sc.Namespace, "tools", len(ts))
	}
	gate, err := policy.NewGate(cfg, reg)
	if err != nil {
		return err
	}
	srv := mcpbridge.NewServer(reg, mcpbridge.ServerOptions{Gate: gate, Logger: log})
	if !f.noSkills {
		sources := skills.DefaultSources(f.workspace)
		for _, d := range f.skillDirs {
			sources = append(sources, skills.Source{Dir: d, Label: "flag"})
		}
		sreg, errs := skills.Load(sources...)
		for _, err := range errs {
			log.Warn("skill not loaded", "err", err) // the others still load
		}
		mcpbridge.AddSkills(srv, sreg)
	}
	if f.httpAddr == "" {
		log.Info("serving MCP on stdio", "workspace", reg.FS.Root(), "tier", tier)
		return mcpbridge.ServeStdio(ctx, srv, os.Stdin, os.Stdout, log)
	}
	ln, err := net.Listen("tcp", f.httpAddr)
	if err != nil {
		return fmt.Errorf("--http: %w", err)
	}
	// The bound address on stderr lets callers use port 0.
	log.Info("serving MCP over streamable HTTP", "addr", ln.Addr().String(), "path", f.path, "workspace", reg.FS.Root(), "tier", tier)
	fmt.Fprintf(os.Stderr, "listening on http://%s%s\n", ln.Addr(), f.path)
	return mcpbridge.ServeHTTP(ctx, srv, ln, f.path)
}

// checkLoopback refuses a non-loopback listen address unless allowed: the
// tools include bash, and the endpoint has no authentication.
func checkLoopback(addr string, allow bool) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--http %q: %w", addr, err)
	}
	if allow || host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("--http %q is not a loopback address; the MCP endpoint has no authentication (pass --allow-remote to serve it anyway)", addr)
}
