package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync"

	"github.com/spf13/cobra"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/arcan/internal/stack"
	"github.com/lifeos/life/arcan/runtime"
	"github.com/lifeos/life/vigil"
)

const shellHelp = `Type a message and press enter. Commands:
  /help            this help
  /session         print the session id and branch
  /replay          print the transcript rebuilt from the journal alone
  /branch NAME     fork the current branch at its head and switch to it
  /quit            leave (also Ctrl-D); Ctrl-C cancels a running turn
`

func shellCmd(io IO) *cobra.Command {
	var f runFlags
	var session, branch, name string
	c := &cobra.Command{
		Use:   "shell",
		Short: "Talk to an agent in this process (reads prompts from stdin when it is not a terminal)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			opts, err := f.options()
			if err != nil {
				return err
			}
			// Warnings only, on stderr with the tool trace: an MCP server
			// left out or an autonomic gate failing open must not be silent.
			opts.Logger = slog.New(slog.NewTextHandler(io.Err, &slog.HandlerOptions{Level: slog.LevelWarn}))
			// OTEL_*_EXPORTER=console spans and metrics go to stderr too:
			// stdout holds only the assistant's words.
			opts.Telemetry = append(opts.Telemetry, vigil.WithStdout(io.Err))
			st, err := stack.Open(opts)
			if err != nil {
				return err
			}
			defer st.Close()
			interactive := isTerminal(io)
			sh := &shell{io: io, st: st, interactive: interactive}
			ctx := background(c)
			if err := sh.open(ctx, session, branch, name); err != nil {
				return err
			}
			return sh.loop(ctx)
		},
	}
	f.add(c)
	c.Flags().StringVar(&session, "session", "", "continue this session instead of starting one")
	c.Flags().StringVar(&branch, "branch", runtime.DefaultBranch, "branch of --session to use")
	c.Flags().StringVar(&name, "name", "shell", "name of a new session")
	return c
}

func isTerminal(io IO) bool {
	if io.Interactive != nil {
		return *io.Interactive
	}
	f, ok := io.In.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

type shell struct {
	io          IO
	st          *stack.Stack
	stream      aios.StreamID
	interactive bool
	in          *bufio.Reader
	failed      bool

	mu        sync.Mutex
	midLine   bool // the last output did not end with a newline
	cancelRun context.CancelFunc
}

func (s *shell) open(ctx context.Context, session, branch, name string) error {
	if session == "" {
		id, err := s.st.Runtime.CreateSession(ctx, name, nil)
		if err != nil {
			return err
		}
		s.stream = aios.StreamID{Session: id, Branch: runtime.DefaultBranch}
	} else {
		s.stream = aios.StreamID{Session: session, Branch: branch}
		head, err := s.st.Journal.Head(ctx, s.stream)
		if err != nil {
			return err
		}
		if head == 0 {
			return fmt.Errorf("session %q branch %q: %w", session, branch, aios.ErrNotFound)
		}
	}
	fmt.Fprintf(s.io.Err, "session %s (branch %s, provider %s)\n", s.stream.Session, s.stream.Branch, s.st.Provider.Name())
	if s.interactive {
		fmt.Fprint(s.io.Err, "Type /help for commands.\n")
	}
	return nil
}

func (s *shell) loop(ctx context.Context) error {
	s.in = bufio.NewReaderSize(s.io.In, 64<<10)
	if s.interactive {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, os.Interrupt)
		defer signal.Stop(sig)
		go func() {
			for range sig {
				s.mu.Lock()
				if s.cancelRun != nil {
					s.cancelRun()
				}
				s.mu.Unlock()
			}
		}()
	}
	for {
		if s.interactive {
			fmt.Fprint(s.io.Out, "> ")
		}
		line, err := s.in.ReadString('\n')
		line = strings.TrimSpace(line)
		if line != "" {
			if quit := s.handle(ctx, line); quit {
				break
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("read input: %w", err)
		}
	}
	if s.failed {
		return errRunFailed
	}
	return nil
}

func (s *shell) handle(ctx context.Context, line string) (quit bool) {
	if strings.HasPrefix(line, "/") {
		cmd, arg, _ := strings.Cut(line, " ")
		arg = strings.TrimSpace(arg)
		switch cmd {
		case "/quit", "/exit":
			return true
		case "/help":
			fmt.Fprint(s.io.Out, shellHelp)
		case "/session":
			fmt.Fprintf(s.io.Out, "%s %s\n", s.stream.Session, s.stream.Branch)
		case "/replay":
			st, err := runtime.Reconstruct(ctx, s.st.Journal, s.stream)
			if err != nil {
				fmt.Fprintln(s.io.Err, "replay:", err)
				return false
			}
			fmt.Fprint(s.io.Out, st.Transcript())
		case "/branch":
			if arg == "" {
				fmt.Fprintln(s.io.Err, "usage: /branch NAME")
				return false
			}
			if _, err := s.st.Journal.Fork(ctx, aios.NewULIDGenerator(nil, nil), aios.SystemClock{}, s.stream, arg, 0); err != nil {
				fmt.Fprintln(s.io.Err, "branch:", err)
				return false
			}
			s.stream.Branch = arg
			fmt.Fprintf(s.io.Err, "now on branch %s\n", arg)
		default:
			fmt.Fprintf(s.io.Err, "unknown command %s (try /help)\n", cmd)
		}
		return false
	}
	s.turn(ctx, line)
	return false
}

// turn runs one prompt, asking for approvals as needed. A run of the
// session that an earlier process left waiting for approval (it stopped
// at the question) is settled first, the same way.
func (s *shell) turn(ctx context.Context, prompt string) {
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.mu.Lock()
	s.cancelRun = cancel
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.cancelRun = nil
		s.mu.Unlock()
	}()
	opts := runtime.RunOptions{Input: prompt, OnDelta: s.delta, OnEvent: s.event}
	res, err := s.st.Runtime.Run(runCtx, s.stream, opts)
	if errors.Is(err, runtime.ErrAwaitingApproval) {
		if st, serr := s.st.Runtime.State(ctx, s.stream); serr == nil && len(st.Approvals) > 0 {
			s.endLine()
			fmt.Fprintln(s.io.Err, "  an earlier run of this session waits for approval")
			res, err = s.approve(ctx, runCtx, runtime.Result{Status: runtime.StatusAwaitingApproval, Approvals: st.Approvals}, nil)
			if err == nil && res.Status != runtime.StatusCancelled {
				res, err = s.st.Runtime.Run(runCtx, s.stream, opts)
			}
		}
	}
	res, err = s.approve(ctx, runCtx, res, err)
	s.endLine()
	switch {
	case errors.Is(err, runtime.ErrCancelled) || res.Status == runtime.StatusCancelled:
		fmt.Fprintln(s.io.Err, "[cancelled]")
	case err != nil:
		s.failed = true
		fmt.Fprintln(s.io.Err, "error:", err)
	case res.Status != runtime.StatusCompleted:
		fmt.Fprintf(s.io.Err, "[run ended: %s]\n", res.Status)
	}
}

// approve asks about each approval a paused run waits for and resumes
// it, until the run ends.
func (s *shell) approve(ctx, runCtx context.Context, res runtime.Result, err error) (runtime.Result, error) {
	for err == nil && res.Status == runtime.StatusAwaitingApproval {
		for _, a := range res.Approvals {
			ok, reason := s.ask(a)
			if rerr := s.st.Runtime.Resolve(ctx, s.stream, a.ApprovalID, ok, reason); rerr != nil {
				err = rerr
				break
			}
		}
		if err == nil {
			res, err = s.st.Runtime.Resume(runCtx, s.stream, runtime.RunOptions{OnDelta: s.delta, OnEvent: s.event})
		}
	}
	return res, err
}

func (s *shell) ask(a runtime.Approval) (bool, string) {
	s.endLine()
	if !s.interactive {
		fmt.Fprintf(s.io.Err, "  ! %s %s needs approval; denied (no terminal to ask; use --approve auto)\n", a.ToolName, a.Arguments)
		return false, "no one to approve: input is not a terminal"
	}
	fmt.Fprintf(s.io.Out, "Allow %s %s? [y/N] ", a.ToolName, a.Arguments)
	ans, _ := s.in.ReadString('\n')
	ans = strings.ToLower(strings.TrimSpace(ans))
	if ans == "y" || ans == "yes" {
		return true, "approved in the shell"
	}
	return false, "denied in the shell"
}

func (s *shell) delta(text string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	io.WriteString(s.io.Out, text)
	s.midLine = !strings.HasSuffix(text, "\n")
}

func (s *shell) endLine() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.midLine {
		io.WriteString(s.io.Out, "\n")
		s.midLine = false
	}
}

// event shows tool activity as it happens, on stderr so that stdout holds
// only the assistant's words.
func (s *shell) event(e aios.EventEnvelope) {
	switch p := e.Payload.(type) {
	case *aios.ToolCallRequested:
		s.endLine()
		fmt.Fprintf(s.io.Err, "  → %s %s\n", p.ToolName, p.Arguments)
	case *aios.ToolCallCompleted:
		fmt.Fprintf(s.io.Err, "  ← %s %s (%d ms)\n", p.ToolName, p.Status, p.DurationMs)
	case *aios.ToolCallFailed:
		fmt.Fprintf(s.io.Err, "  ← %s failed: %s\n", p.ToolName, p.Error)
	}
}
