// Package cli is the arcan command line: shell, replay, sessions, version,
// identity and serve. The binary in cmd/arcan only calls Main.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	neturl "net/url"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/arcan/internal/stack"
	"github.com/lifeos/life/arcan/provider/wire"
	"github.com/lifeos/life/arcan/runtime"
	"github.com/lifeos/life/arcan/server"
	"github.com/lifeos/life/lago/journal"
)

// Version is arcan's version, set at build time with -ldflags "-X ...".
var Version = "0.1.0-dev"

// IO is where a command reads and writes.
type IO struct {
	In       io.Reader
	Out, Err io.Writer
	// Interactive says In is a terminal; nil means detect from os.Stdin.
	Interactive *bool
}

// Main runs the arcan command line with os.Args and returns the exit code.
func Main() int {
	root := New(IO{In: os.Stdin, Out: os.Stdout, Err: os.Stderr})
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "arcan:", err)
		return 1
	}
	return 0
}

// New returns the root command.
func New(io IO) *cobra.Command {
	root := &cobra.Command{
		Use:           "arcan",
		Short:         "Arcan: the Life-Go agent runtime (shell, daemon, replay)",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(io.In)
	root.SetOut(io.Out)
	root.SetErr(io.Err)
	root.AddCommand(shellCmd(io), replayCmd(io), sessionsCmd(io), versionCmd(io), serveCmd(io), identityCmd(io), chatCmd(io))
	return root
}

// runFlags are the flags every command that runs the agent shares.
type runFlags struct {
	home, workspace, provider, model, baseURL, system, approve, bashTier, gate, mcp string
	maxIter, maxToolCalls                                                           uint32
	maxTokens                                                                       uint64
	timeout                                                                         time.Duration
	maxCost, priceIn, priceOut                                                      float64
}

func (f *runFlags) add(c *cobra.Command) {
	fl := c.Flags()
	fl.StringVar(&f.home, "home", "", "data directory (default $ARCAN_HOME or ~/.arcan)")
	fl.StringVar(&f.workspace, "workspace", "", "directory the tools may touch (default the current directory)")
	fl.StringVar(&f.provider, "provider", envOr("ARCAN_PROVIDER", "mock"), "model provider: mock, anthropic, openai")
	fl.StringVar(&f.model, "model", os.Getenv("ARCAN_MODEL"), "model name (provider default when empty)")
	fl.StringVar(&f.baseURL, "base-url", "", "provider API base URL (default from OPENAI_BASE_URL / ANTHROPIC_BASE_URL)")
	fl.StringVar(&f.system, "system", "", "system prompt")
	fl.StringVar(&f.approve, "approve", stack.ApproveAsk, "tools that change things: ask, auto or deny")
	fl.StringVar(&f.bashTier, "bash", "", "enable the bash tool in this sandbox tier: none, restricted, isolated")
	fl.StringVar(&f.gate, "gate", "embedded", "autonomic gate: embedded, off, or an autonomicd URL (advisory, fail-open)")
	fl.StringVar(&f.mcp, "mcp", "", "MCP servers file (default $ARCAN_HOME/mcp.json when present); skills may name servers too")
	fl.Uint32Var(&f.maxIter, "max-iterations", 16, "model calls per run")
	fl.Uint64Var(&f.maxTokens, "max-tokens", 0, "token budget per run (0: none)")
	fl.Uint32Var(&f.maxToolCalls, "max-tool-calls", 0, "tool-call budget per run (0: none)")
	fl.Float64Var(&f.maxCost, "max-cost", 0, "cost budget per run in USD, priced by --price-in/--price-out (0: none)")
	fl.Float64Var(&f.priceIn, "price-in", 0, "USD per million prompt tokens, for --max-cost")
	fl.Float64Var(&f.priceOut, "price-out", 0, "USD per million completion tokens, for --max-cost")
	fl.DurationVar(&f.timeout, "timeout", 0, "wall-clock budget per run (0: none)")
}

func (f *runFlags) options() (stack.Options, error) {
	if f.maxIter == 0 {
		return stack.Options{}, fmt.Errorf("--max-iterations must be at least 1")
	}
	if f.timeout < 0 {
		return stack.Options{}, fmt.Errorf("--timeout must not be negative")
	}
	if f.maxCost < 0 || f.priceIn < 0 || f.priceOut < 0 {
		return stack.Options{}, fmt.Errorf("--max-cost, --price-in and --price-out must not be negative")
	}
	if f.maxCost > 0 && f.priceIn == 0 && f.priceOut == 0 {
		return stack.Options{}, fmt.Errorf("--max-cost needs --price-in or --price-out")
	}
	return stack.Options{
		Home: f.home, Workspace: f.workspace, Provider: f.provider, Model: f.model, BaseURL: f.baseURL,
		System: f.system, Approve: f.approve, ShellTier: f.bashTier, Gate: f.gate, MCP: f.mcp,
		Limits:  runtime.Limits{MaxIterations: f.maxIter, MaxTokens: f.maxTokens, MaxToolCalls: f.maxToolCalls, WallClock: f.timeout, MaxCostUSD: f.maxCost},
		Pricing: runtime.Pricing{PromptPerMTok: f.priceIn, CompletionPerMTok: f.priceOut},
	}, nil
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func homeOr(h string) string {
	if h != "" {
		return h
	}
	return stack.Home()
}

func versionCmd(io IO) *cobra.Command {
	return &cobra.Command{
		Use: "version", Short: "Print the version", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			gov := "unknown"
			if bi, ok := debug.ReadBuildInfo(); ok {
				gov = bi.GoVersion
			}
			fmt.Fprintf(io.Out, "arcan %s (%s)\n", Version, gov)
			return nil
		},
	}
}

func sessionsCmd(io IO) *cobra.Command {
	var home, url string
	c := &cobra.Command{
		Use: "sessions", Short: "List sessions: id, name, events on main, one per line", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if url != "" {
				return remoteSessions(c, io, url)
			}
			j, durl, err := openOrAsk(c, homeOr(home))
			if err != nil {
				return err
			}
			if durl != "" {
				return daemonAuth(durl, remoteSessions(c, io, durl))
			}
			defer j.Close()
			ctx := c.Context()
			ids, err := j.Sessions(ctx)
			if err != nil {
				return err
			}
			for _, id := range ids {
				st := aios.StreamID{Session: id, Branch: runtime.DefaultBranch}
				head, _ := j.Head(ctx, st)
				name := "-"
				for e, err := range j.Read(ctx, aios.ReadQuery{Stream: st, Limit: 1}) {
					if sc, ok := e.Payload.(*aios.SessionCreated); err == nil && ok && sc.Name != "" {
						name = sc.Name
					}
				}
				fmt.Fprintf(io.Out, "%s\t%s\t%d\n", id, name, head)
			}
			return nil
		},
	}
	c.Flags().StringVar(&home, "home", "", "data directory (default $ARCAN_HOME or ~/.arcan)")
	c.Flags().StringVar(&url, "url", "", "ask this arcand instead of opening the journal (default: the one recorded in the data directory, when it holds the journal)")
	return c
}

func remoteSessions(c *cobra.Command, io IO, url string) error {
	var list server.SessionList
	if err := getJSON(c, strings.TrimRight(url, "/")+"/v1/sessions", &list); err != nil {
		return err
	}
	for _, s := range list.Sessions {
		fmt.Fprintf(io.Out, "%s\t-\t%d\n", s.SessionID, s.Head)
	}
	return nil
}

func replayCmd(io IO) *cobra.Command {
	var home, branch, url string
	var asJSON bool
	c := &cobra.Command{
		Use: "replay SESSION", Short: "Rebuild a session from the journal alone and print its transcript", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if url != "" {
				return remoteReplay(c, io, url, args[0], branch, asJSON)
			}
			j, durl, err := openOrAsk(c, homeOr(home))
			if err != nil {
				return err
			}
			if durl != "" {
				return daemonAuth(durl, remoteReplay(c, io, durl, args[0], branch, asJSON))
			}
			defer j.Close()
			st, err := runtime.Reconstruct(c.Context(), j, aios.StreamID{Session: args[0], Branch: branch})
			if err != nil {
				return err
			}
			if st.LastSeq == 0 {
				return fmt.Errorf("session %q branch %q: %w", args[0], branch, aios.ErrNotFound)
			}
			return printState(io.Out, st, asJSON)
		},
	}
	c.Flags().StringVar(&home, "home", "", "data directory (default $ARCAN_HOME or ~/.arcan)")
	c.Flags().StringVar(&branch, "branch", runtime.DefaultBranch, "branch to replay")
	c.Flags().BoolVar(&asJSON, "json", false, "print the reconstructed state as JSON instead of the transcript")
	c.Flags().StringVar(&url, "url", "", "ask this arcand (which rebuilds the state from its journal) instead of opening the journal (default: the one recorded in the data directory, when it holds the journal)")
	return c
}

func remoteReplay(c *cobra.Command, io IO, url, session, branch string, asJSON bool) error {
	var st runtime.SessionState
	u := strings.TrimRight(url, "/") + "/v1/sessions/" + neturl.PathEscape(session) + "/state?branch=" + neturl.QueryEscape(branch)
	if err := getJSON(c, u, &st); err != nil {
		return err
	}
	return printState(io.Out, &st, asJSON)
}

// openOrAsk opens the journal under home for a read-only command or, when
// another process holds its lock and that process is the arcand recorded
// under home, returns that arcand's URL to ask instead.
func openOrAsk(c *cobra.Command, home string) (*journal.Journal, string, error) {
	j, err := stack.OpenJournalWait(home, false, nil, stack.ReadLockTimeout)
	if !errors.Is(err, stack.ErrJournalLocked) {
		return j, "", err
	}
	d, derr := stack.FindDaemon(background(c), home)
	if derr == nil {
		return nil, d.URL, nil
	}
	// No arcand to ask: the holder may be a command that ends soon (or an
	// arcand shutting down), so wait as long as writers do before failing.
	j, err = stack.OpenJournalWait(home, false, nil, stack.LockTimeout-stack.ReadLockTimeout)
	if errors.Is(err, stack.ErrJournalLocked) {
		// An arcand that was starting may have recorded itself meanwhile.
		if d, derr = stack.FindDaemon(background(c), home); derr == nil {
			return nil, d.URL, nil
		}
		return nil, "", fmt.Errorf("%w (%s) and %w; pass --url with the address of the arcand that holds it, or stop the process that does",
			stack.ErrJournalLocked, stack.JournalPath(home), derr)
	}
	return j, "", err
}

// daemonAuth explains a 401 from the arcand a read-only command asked on
// its own: that arcand runs with --auth and the caller sent no valid token.
func daemonAuth(url string, err error) error {
	var he *httpError
	if errors.As(err, &he) && he.Status == http.StatusUnauthorized {
		return fmt.Errorf("the journal is held by arcand at %s, which runs with --auth: set ARCAN_TOKEN to an agent JWT it accepts (arcan identity token prints one): %w", url, err)
	}
	return err
}

// getJSON fetches url into v; a non-2xx answer is an error with the
// server's message.
func getJSON(c *cobra.Command, url string, v any) error {
	req, err := http.NewRequestWithContext(background(c), http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	if tok := os.Getenv("ARCAN_TOKEN"); tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		typ, msg := wire.DecodeErrorBody(readAll(resp))
		return &httpError{URL: url, Status: resp.StatusCode, Type: typ, Msg: msg}
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("%s: bad answer: %w", url, err)
	}
	return nil
}

// httpError is a non-2xx answer from arcand.
type httpError struct {
	URL       string
	Status    int
	Type, Msg string
}

func (e *httpError) Error() string {
	return fmt.Sprintf("%s: HTTP %d %s: %s", e.URL, e.Status, e.Type, e.Msg)
}

func printState(w io.Writer, st *runtime.SessionState, asJSON bool) error {
	if asJSON {
		raw, err := st.Encode()
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", raw)
		return err
	}
	_, err := io.WriteString(w, st.Transcript())
	return err
}

// errRunFailed makes the exit code non-zero after the output was printed.
var errRunFailed = errors.New("a run failed")

func background(c *cobra.Command) context.Context {
	if c.Context() != nil {
		return c.Context()
	}
	return context.Background()
}
