// Package cli is the `lago` command line: import, export, verify, stats,
// compact-snapshot, fs and bench over a data directory.
package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/lago/bench"
	"github.com/lifeos/life/lago/fsys"
	"github.com/lifeos/life/lago/journal"
	"github.com/lifeos/life/lago/policy"
	"github.com/lifeos/life/lago/store"
	"github.com/spf13/cobra"
)

// ExitError carries a process exit code.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string { return e.Err.Error() }
func (e *ExitError) Unwrap() error { return e.Err }

// Main runs the CLI with args and returns the exit code.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := New(stdin, stdout, stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	fmt.Fprintln(stderr, "lago:", err)
	var ee *ExitError
	if errors.As(err, &ee) {
		return ee.Code
	}
	if isUsage(err) {
		return 2
	}
	return 1
}

// isUsage reports cobra's usage errors (it has no typed errors for them).
func isUsage(err error) bool {
	m := err.Error()
	for _, s := range []string{"unknown flag", "unknown shorthand flag", "required flag", "accepts ", "unknown command", "invalid argument", "flag needs an argument"} {
		if strings.Contains(m, s) {
			return true
		}
	}
	return false
}

type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	data           string
}

func (e *env) open(mustExist bool) (*store.Store, error) {
	if e.data == "" {
		return nil, &ExitError{Code: 2, Err: errors.New("--data DIR is required")}
	}
	return store.Open(e.data, store.Options{MustExist: mustExist})
}

// openRead opens an existing data dir without writing to its journal
// (verify must not change the file it checks).
func (e *env) openRead() (*store.Store, error) {
	if e.data == "" {
		return nil, &ExitError{Code: 2, Err: errors.New("--data DIR is required")}
	}
	return store.Open(e.data, store.Options{MustExist: true, Journal: journal.Options{ReadOnly: true}})
}

// New builds the root command.
func New(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:           "lago",
		Short:         "Lago: the event journal of Life-Go",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.PersistentFlags().StringVar(&e.data, "data", "", "data directory (journal.db and blobs/)")
	root.AddCommand(importCmd(e), exportCmd(e), verifyCmd(e), statsCmd(e), snapshotCmd(e), benchCmd(e), fsCmd(e), grantCmd(e))
	return root
}

func importCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "import FILE.json",
		Short: "Append a JSON array of envelopes (seq is assigned; event_id dedups); - reads stdin",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var raw []byte
			var err error
			if args[0] == "-" {
				raw, err = io.ReadAll(e.stdin)
			} else {
				raw, err = os.ReadFile(args[0])
			}
			if err != nil {
				return err
			}
			evs, err := aios.DecodeEnvelopes(raw)
			if err != nil {
				return fmt.Errorf("import %s: %w", args[0], err)
			}
			// validate everything before touching the data dir
			for i := range evs {
				if err := evs[i].Validate(); err != nil {
					return fmt.Errorf("import %s: event %d: %w", args[0], i, err)
				}
			}
			s, err := e.open(false)
			if err != nil {
				return err
			}
			defer s.Close()
			before := s.Journal.Stats().Events
			// one Append is one transaction: an event refused when it is
			// applied (a fork point past its parent's head) leaves nothing
			if _, err := s.Journal.Append(cmd.Context(), evs...); err != nil {
				return fmt.Errorf("import %s: %w", args[0], err)
			}
			stored := s.Journal.Stats().Events - before
			fmt.Fprintf(e.stdout, "imported %d events (%d new, %d already stored)\n", len(evs), stored, uint64(len(evs))-stored)
			return nil
		},
	}
}

func exportCmd(e *env) *cobra.Command {
	var session, branch, out string
	c := &cobra.Command{
		Use:   "export",
		Short: "Write a session's stored envelopes as a JSON array (all branches in append order, or one branch's own events)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if session == "" {
				return &ExitError{Code: 2, Err: errors.New("--session must not be empty")}
			}
			s, err := e.openRead()
			if err != nil {
				return err
			}
			defer s.Close()
			ctx := cmd.Context()
			infos, err := s.Journal.Streams(ctx, session)
			if err != nil {
				return err
			}
			if len(infos) == 0 {
				return fmt.Errorf("session %q: %w", session, aios.ErrNotFound)
			}
			var events func(yield func(journal.RawEvent, error) bool)
			if branch == "" {
				events = s.Journal.ReadSessionRaw(ctx, session)
			} else {
				found := false
				for _, in := range infos {
					found = found || in.Stream.Branch == branch
				}
				if !found {
					return fmt.Errorf("branch %q of session %q: %w", branch, session, aios.ErrNotFound)
				}
				events = s.Journal.ReadOwnRaw(ctx, aios.StreamID{Session: session, Branch: branch})
			}
			write := func(w io.Writer) error {
				bw := bufio.NewWriter(w)
				bw.WriteString("[")
				n := 0
				for ev, err := range events {
					if err != nil {
						return err
					}
					if n > 0 {
						bw.WriteString(",")
					}
					bw.WriteString("\n")
					bw.Write(ev.Data)
					n++
				}
				bw.WriteString("\n]\n")
				return bw.Flush()
			}
			if out != "" && out != "-" {
				return writeFileAtomic(out, write)
			}
			return write(e.stdout)
		},
	}
	c.Flags().StringVar(&session, "session", "", "session id")
	c.Flags().StringVar(&branch, "branch", "", "only this branch's own events")
	c.Flags().StringVarP(&out, "out", "o", "", "write to this file instead of stdout")
	_ = c.MarkFlagRequired("session")
	return c
}

func verifyCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "verify",
		Short: "Check every stream's seq sequence and digest chain; exit 1 at the first broken link",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := e.openRead()
			if err != nil {
				return err
			}
			defer s.Close()
			rep, err := s.Journal.Verify(cmd.Context())
			if err != nil {
				return &ExitError{Code: 1, Err: fmt.Errorf("verify failed after %d streams, %d events: %w", rep.Streams, rep.Events, err)}
			}
			fmt.Fprintf(e.stdout, "ok: %d streams, %d events, chains intact\n", rep.Streams, rep.Events)
			return nil
		},
	}
}

func statsCmd(e *env) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "stats",
		Short: "List streams with their heads",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := e.openRead()
			if err != nil {
				return err
			}
			defer s.Close()
			infos, err := s.Journal.Streams(cmd.Context(), "")
			if err != nil {
				return err
			}
			fi, _ := os.Stat(store.JournalPath(e.data))
			if asJSON {
				type row struct {
					Session string `json:"session"`
					Branch  string `json:"branch"`
					Parent  string `json:"parent,omitempty"`
					Fork    uint64 `json:"fork,omitempty"`
					Head    uint64 `json:"head"`
				}
				rows := []row{}
				for _, in := range infos {
					rows = append(rows, row{in.Stream.Session, in.Stream.Branch, in.Parent, in.Fork, in.Head})
				}
				return json.NewEncoder(e.stdout).Encode(map[string]any{"streams": rows, "file_bytes": fi.Size()})
			}
			sessions := map[string]bool{}
			for _, in := range infos {
				sessions[in.Stream.Session] = true
				fork := ""
				if in.Parent != "" {
					fork = fmt.Sprintf(" (from %s@%d)", in.Parent, in.Fork)
				}
				fmt.Fprintf(e.stdout, "%s/%s head=%d%s\n", in.Stream.Session, in.Stream.Branch, in.Head, fork)
			}
			fmt.Fprintf(e.stdout, "%d sessions, %d streams, journal %d bytes\n", len(sessions), len(infos), fi.Size())
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "JSON output")
	return c
}

func snapshotCmd(e *env) *cobra.Command {
	var session, branch string
	var at uint64
	c := &cobra.Command{
		Use:   "compact-snapshot",
		Short: "Checkpoint a branch's workspace manifest at a seq (default head), so later reads replay only the tail",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := e.open(true)
			if err != nil {
				return err
			}
			defer s.Close()
			st := aios.StreamID{Session: session, Branch: branch}
			if h, err := s.Journal.Head(cmd.Context(), st); err != nil {
				return err
			} else if h == 0 {
				return fmt.Errorf("%s/%s: %w", session, branch, aios.ErrNotFound)
			}
			seq, err := s.FS.Snapshot(cmd.Context(), st, at)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "snapshot %s of %s/%s at seq %d\n", fsys.Projection.Name, session, branch, seq)
			return nil
		},
	}
	c.Flags().StringVar(&session, "session", "", "session id")
	c.Flags().StringVar(&branch, "branch", "main", "branch")
	c.Flags().Uint64Var(&at, "seq", 0, "snapshot at this seq (0: head)")
	_ = c.MarkFlagRequired("session")
	return c
}

func grantCmd(e *env) *cobra.Command {
	var session, principal, role string
	c := &cobra.Command{
		Use:   "grant",
		Short: "Grant a role on a session as the operator (sessions made without auth are closed to lagod --auth until then)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !policy.Role(role).Valid() {
				return &ExitError{Code: 2, Err: fmt.Errorf("--role %q: want owner, writer or reader", role)}
			}
			if principal == "" || session == "" {
				return &ExitError{Code: 2, Err: errors.New("--session and --principal must not be empty")}
			}
			s, err := e.open(true)
			if err != nil {
				return err
			}
			defer s.Close()
			if h, err := s.Journal.Head(cmd.Context(), aios.StreamID{Session: session, Branch: "main"}); err != nil {
				return err
			} else if h == 0 {
				return fmt.Errorf("session %s: %w", session, aios.ErrNotFound)
			}
			if err := policy.New(s.Journal, policy.Quotas{}, nil, nil).GrantAsOperator(cmd.Context(), session, principal, policy.Role(role)); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "granted %s on session %s to %s\n", role, session, principal)
			return nil
		},
	}
	c.Flags().StringVar(&session, "session", "", "session id")
	c.Flags().StringVar(&principal, "principal", "", "who (the token's subject, e.g. a did:key)")
	c.Flags().StringVar(&role, "role", "", "owner, writer or reader")
	_ = c.MarkFlagRequired("session")
	_ = c.MarkFlagRequired("principal")
	_ = c.MarkFlagRequired("role")
	return c
}

func benchCmd(e *env) *cobra.Command {
	var cfg bench.Config
	var writers string
	c := &cobra.Command{
		Use:   "bench",
		Short: "Measure raw fsync, raw bbolt and lago appends, replay and SSE fan-out in one run; print the table",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, w := range strings.Split(writers, ",") {
				n, err := strconv.Atoi(strings.TrimSpace(w))
				if err != nil || n <= 0 {
					return &ExitError{Code: 2, Err: fmt.Errorf("--writers: bad count %q", w)}
				}
				cfg.Writers = append(cfg.Writers, n)
			}
			for name, v := range map[string]int{"--ops": cfg.SyncOps, "--per-writer": cfg.PerWriter, "--sessions": cfg.Sessions, "--replay": cfg.ReplayEvents, "--subscribers": cfg.Subscribers, "--fanout-events": cfg.FanoutEvents} {
				if v <= 0 {
					return &ExitError{Code: 2, Err: fmt.Errorf("%s must be positive", name)}
				}
			}
			if cfg.Dir == "" {
				cfg.Dir = e.data
			}
			if cfg.Dir != "" {
				d, err := os.MkdirTemp(cfg.Dir, "bench-*")
				if err != nil {
					return err
				}
				defer os.RemoveAll(d)
				cfg.Dir = d
			}
			start := time.Now()
			res, err := bench.Run(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			res.Print(e.stdout)
			fmt.Fprintf(e.stdout, "total %s\n", time.Since(start).Round(time.Millisecond))
			return nil
		},
	}
	c.Flags().StringVar(&cfg.Dir, "dir", "", "directory for the benchmark files (default: --data, else a temp dir)")
	c.Flags().IntVar(&cfg.SyncOps, "ops", 300, "ops of the raw fsync, raw bbolt and single-writer rows")
	c.Flags().StringVar(&writers, "writers", "1,8,64,256", "concurrent writer counts")
	c.Flags().IntVar(&cfg.PerWriter, "per-writer", 100, "events per writer in the concurrent-writer rows")
	c.Flags().IntVar(&cfg.Sessions, "sessions", 16, "sessions the writers spread over")
	c.Flags().IntVar(&cfg.ReplayEvents, "replay", 100000, "events in the replay stream")
	c.Flags().IntVar(&cfg.Subscribers, "subscribers", 100, "SSE fan-out subscribers")
	c.Flags().IntVar(&cfg.FanoutEvents, "fanout-events", 500, "events fanned out")
	return c
}

func fsCmd(e *env) *cobra.Command {
	var session, branch string
	var seq uint64
	root := &cobra.Command{Use: "fs", Short: "The session filesystem: write, read, rm, mv, ls, diff, restore"}
	root.PersistentFlags().StringVar(&session, "session", "", "session id")
	root.PersistentFlags().StringVar(&branch, "branch", "main", "branch")
	root.PersistentFlags().Uint64Var(&seq, "seq", 0, "read at this seq (0: head)")
	_ = root.MarkPersistentFlagRequired("session")
	st := func() aios.StreamID { return aios.StreamID{Session: session, Branch: branch} }
	// exists is ErrNotFound for a stream without events: its workspace would
	// list as empty, and a diff against a mistyped branch as all removed.
	exists := func(ctx context.Context, s *store.Store, st aios.StreamID) error {
		h, err := s.Journal.Head(ctx, st)
		if err == nil && h == 0 {
			err = fmt.Errorf("%s/%s: %w", st.Session, st.Branch, aios.ErrNotFound)
		}
		return err
	}
	withStore := func(mustExist bool, f func(ctx context.Context, s *store.Store, args []string) error) func(*cobra.Command, []string) error {
		return func(cmd *cobra.Command, args []string) error {
			if session == policy.SystemStream.Session && cmd.Name() != "read" && cmd.Name() != "ls" && cmd.Name() != "diff" {
				return &ExitError{Code: 2, Err: fmt.Errorf("session %s is reserved", session)}
			}
			s, err := e.open(mustExist)
			if err != nil {
				return err
			}
			defer s.Close()
			return f(cmd.Context(), s, args)
		}
	}
	var mode uint32
	write := &cobra.Command{
		Use: "write PATH [FILE]", Short: "Store FILE (or stdin) as PATH", Args: cobra.RangeArgs(1, 2),
		RunE: withStore(false, func(ctx context.Context, s *store.Store, args []string) error {
			var r io.Reader = e.stdin
			if len(args) == 2 {
				f, err := os.Open(args[1])
				if err != nil {
					return err
				}
				defer f.Close()
				r = f
			}
			if mode > 0o777 {
				return &ExitError{Code: 2, Err: fmt.Errorf("--mode %d: want a permission, at most 0777 (511)", mode)}
			}
			n, err := s.FS.Write(ctx, st(), args[0], r, fs.FileMode(mode), "")
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "wrote %s at seq %d\n", args[0], n)
			return nil
		}),
	}
	write.Flags().Uint32Var(&mode, "mode", 0o644, "file mode")
	read := &cobra.Command{
		Use: "read PATH", Short: "Print PATH's bytes (at --seq)", Args: cobra.ExactArgs(1),
		RunE: withStore(true, func(ctx context.Context, s *store.Store, args []string) error {
			rc, _, err := s.FS.Open(ctx, st(), args[0], seq)
			if err != nil {
				return err
			}
			defer rc.Close()
			_, err = io.Copy(e.stdout, rc)
			return err
		}),
	}
	rm := &cobra.Command{
		Use: "rm PATH", Short: "Delete PATH", Args: cobra.ExactArgs(1),
		RunE: withStore(true, func(ctx context.Context, s *store.Store, args []string) error {
			_, err := s.FS.Delete(ctx, st(), args[0])
			return err
		}),
	}
	mv := &cobra.Command{
		Use: "mv OLD NEW", Short: "Rename OLD to NEW", Args: cobra.ExactArgs(2),
		RunE: withStore(true, func(ctx context.Context, s *store.Store, args []string) error {
			_, err := s.FS.Rename(ctx, st(), args[0], args[1])
			return err
		}),
	}
	ls := &cobra.Command{
		Use: "ls", Short: "Print the manifest as JSON (at --seq)", Args: cobra.NoArgs,
		RunE: withStore(true, func(ctx context.Context, s *store.Store, args []string) error {
			if err := exists(ctx, s, st()); err != nil {
				return err
			}
			m, at, err := s.FS.List(ctx, st(), seq)
			if err != nil {
				return err
			}
			return json.NewEncoder(e.stdout).Encode(map[string]any{"seq": at, "files": m})
		}),
	}
	var other string
	var otherSeq uint64
	diff := &cobra.Command{
		Use: "diff", Short: "Changes from --branch@--seq to --to-branch@--to-seq", Args: cobra.NoArgs,
		RunE: withStore(true, func(ctx context.Context, s *store.Store, args []string) error {
			a, _, err := s.FS.List(ctx, st(), seq)
			if err != nil {
				return err
			}
			ob := other
			if ob == "" {
				ob = branch
			}
			for _, st := range []aios.StreamID{st(), {Session: session, Branch: ob}} {
				if err := exists(ctx, s, st); err != nil {
					return err
				}
			}
			b, _, err := s.FS.List(ctx, aios.StreamID{Session: session, Branch: ob}, otherSeq)
			if err != nil {
				return err
			}
			changes := fsys.Diff(a, b)
			if changes == nil {
				changes = []fsys.Change{}
			}
			return json.NewEncoder(e.stdout).Encode(changes)
		}),
	}
	diff.Flags().StringVar(&other, "to-branch", "", "branch to compare with (default: --branch)")
	diff.Flags().Uint64Var(&otherSeq, "to-seq", 0, "seq to compare with (0: head)")
	restore := &cobra.Command{
		Use: "restore NEW-BRANCH", Short: "Make NEW-BRANCH with the workspace of --branch at --seq", Args: cobra.ExactArgs(1),
		RunE: withStore(true, func(ctx context.Context, s *store.Store, args []string) error {
			return s.FS.Restore(ctx, st(), seq, args[0])
		}),
	}
	root.AddCommand(write, read, rm, mv, ls, diff, restore)
	return root
}

// writeFileAtomic replaces path with what fill writes, or leaves it as it
// was: an export that fails half way (a damaged journal, ^C) must not have
// truncated the file it was asked to replace. The bytes go to a temporary
// file in path's directory, fsynced, renamed over path, and the directory
// fsynced so the rename survives a power cut.
func writeFileAtomic(path string, fill func(io.Writer) error) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	// CreateTemp makes it 0600, which a new export keeps (a journal may be
	// private); a replaced file keeps its mode.
	if fi, err := os.Stat(path); err == nil {
		if err := f.Chmod(fi.Mode().Perm()); err != nil {
			return err
		}
	}
	if err := fill(f); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", f.Name(), err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", f.Name(), err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
