package cli

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/lago/blob"
	"github.com/lifeos/life/lago/journal"
	"github.com/lifeos/life/lago/policy"
	"github.com/lifeos/life/lago/server"
	"github.com/lifeos/life/lago/store"
	"github.com/spf13/cobra"
)

// Verifier is what lagod --auth needs: an agent JWT verifier that also folds
// identity events (anima.identity_rotated, anima.identity_revoked) read from
// the journal. anima/token.Verifier is one; lago does not import anima, so
// the lagod binary injects it through LagodOptions.
type Verifier interface {
	aios.TokenVerifier
	Apply(events ...aios.EventEnvelope) error
}

// LagodOptions are what a lagod build wires in.
type LagodOptions struct {
	// NewVerifier returns a fresh verifier for --auth; nil means the build
	// has none and --auth is refused.
	NewVerifier func() Verifier
	// Telemetry, when set, starts the build's telemetry once the flags are
	// checked, before the data directory is opened; an error is a usage
	// error (exit 2). lago does not import OpenTelemetry itself: the lagod
	// binary wires vigil in here.
	Telemetry func(ctx context.Context, log *slog.Logger) (LagodTelemetry, error)
}

// LagodTelemetry is what a started telemetry gives lagod.
type LagodTelemetry struct {
	// Handler wraps the HTTP API (request spans); nil leaves it as is.
	Handler func(http.Handler) http.Handler
	// Shutdown flushes what was recorded; lagod calls it once the server
	// has stopped. Nil means nothing to flush.
	Shutdown func(context.Context) error
	// Journal wraps the journal the API's appends go through (append
	// spans and metrics); nil leaves it as is.
	Journal func(aios.Journal) aios.Journal
}

// NewLagod builds the lagod command: serve the API of a data directory.
func NewLagod(stdout, stderr io.Writer, opts LagodOptions) *cobra.Command {
	var (
		data, addr, audience string
		dids                 []string
		port                 int
		compress, remote     bool
		auth                 bool
		eventsPerMin         int
		blobBytes, maxObj    int64
	)
	c := &cobra.Command{
		Use:           "lagod",
		Short:         "Serve the lago journal, blobs, files and knowledge over HTTP",
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			usage := func(format string, a ...any) error {
				return &ExitError{Code: 2, Err: fmt.Errorf(format, a...)}
			}
			if data == "" {
				return usage("--data DIR is required")
			}
			if port < 0 || port > 65535 {
				return usage("--port %d out of range", port)
			}
			if eventsPerMin < 0 || blobBytes < 0 || maxObj < 0 {
				return usage("quotas must not be negative")
			}
			if !auth && (cmd.Flags().Changed("auth-audience") || len(dids) > 0) {
				return usage("--auth-audience and --auth-did need --auth")
			}
			if auth {
				if opts.NewVerifier == nil {
					return usage("--auth: this lagod build has no token verifier (build github.com/lifeos/life/lago/cmd/lagod, which wires anima's)")
				}
				if audience == "" || strings.ContainsFunc(audience, isSpaceOrCtl) {
					return usage("--auth-audience %q must be non-empty without spaces", audience)
				}
				for _, d := range dids {
					if err := checkDID(d); err != nil {
						return usage("--auth-did: %w", err)
					}
				}
			}
			ip := net.ParseIP(addr)
			if addr != "localhost" && (ip == nil || !ip.IsLoopback()) && !remote && !auth {
				return usage("--addr %s is not loopback: pass --auth to require agent JWTs, or --insecure-remote to serve without auth anyway", addr)
			}
			log := slog.New(slog.NewTextHandler(stderr, nil))
			var tel LagodTelemetry
			if opts.Telemetry != nil {
				t, err := opts.Telemetry(cmd.Context(), log)
				if err != nil {
					return usage("telemetry: %w", err)
				}
				tel = t
			}
			if tel.Shutdown != nil {
				defer func() {
					// The command's context is done by now (SIGTERM): flush
					// under a fresh deadline.
					ctx, cancel := context.WithTimeout(context.WithoutCancel(cmd.Context()), 5*time.Second)
					defer cancel()
					if err := tel.Shutdown(ctx); err != nil {
						log.Warn("telemetry flush on shutdown", "err", err)
					}
				}()
			}
			st, err := store.Open(data, store.Options{Blobs: blob.Options{Compress: compress, MaxSize: maxObj}})
			if err != nil {
				return err
			}
			defer st.Close()
			cfg := server.Config{Store: st, Logger: log,
				Quotas: policy.Quotas{EventsPerMinute: eventsPerMin, BlobBytes: blobBytes}}
			if tel.Journal != nil {
				cfg.Appends = tel.Journal(st.Journal)
			}
			if auth {
				v := opts.NewVerifier()
				n, skipped, err := applyIdentityEvents(cmd.Context(), st.Journal, v, log)
				if err != nil {
					return fmt.Errorf("load identity events: %w", err)
				}
				log.Info("auth on", "audience", audience, "identity_events", n, "identity_events_ignored", skipped, "allowed_dids", len(dids))
				cfg.Verifier, cfg.Audience = v, audience
				// identity events appended through the API take effect at once
				cfg.IdentityEvents = func(_ context.Context, evs []aios.EventEnvelope) {
					applied, skipped := applyToVerifier(v, evs, log)
					log.Info("identity events applied", "applied", applied, "ignored", skipped)
				}
				if len(dids) > 0 {
					cfg.Verifier = newAllowList(v, dids)
				}
			}
			srv := server.New(cfg)
			ln, err := net.Listen("tcp", net.JoinHostPort(addr, strconv.Itoa(port)))
			if err != nil {
				return err
			}
			var h http.Handler = srv
			if tel.Handler != nil {
				h = tel.Handler(srv)
			}
			hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
			hs.RegisterOnShutdown(srv.StopStreams)
			fmt.Fprintf(stdout, "lagod listening on http://%s\n", ln.Addr())
			errc := make(chan error, 1)
			go func() { errc <- hs.Serve(ln) }()
			select {
			case err := <-errc:
				return err
			case <-cmd.Context().Done():
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := hs.Shutdown(ctx); err != nil {
				hs.Close()
			}
			log.Info("lagod stopped")
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&data, "data", "", "data directory")
	f.IntVar(&port, "port", 8787, "TCP port (0 picks a free one)")
	f.StringVar(&addr, "addr", "127.0.0.1", "listen address (non-loopback needs --auth or --insecure-remote)")
	f.BoolVar(&remote, "insecure-remote", false, "allow a non-loopback address without auth")
	f.BoolVar(&auth, "auth", false, "require an agent JWT (Authorization: Bearer) on every /v1 request")
	f.StringVar(&audience, "auth-audience", "lagod", "audience the JWTs must name")
	f.StringArrayVar(&dids, "auth-did", nil, "signing key DID allowed to call (repeatable; default any valid agent)")
	f.BoolVar(&compress, "compress-blobs", false, "store new blobs zstd-compressed")
	f.IntVar(&eventsPerMin, "quota-events-per-minute", 0, "per-tenant event rate limit (0: none)")
	f.Int64Var(&blobBytes, "quota-blob-bytes", 0, "per-tenant stored blob bytes (0: none)")
	f.Int64Var(&maxObj, "max-blob-bytes", 1<<30, "largest single blob")
	return c
}

// MainLagod runs lagod with args and returns the exit code.
func MainLagod(ctx context.Context, args []string, stdout, stderr io.Writer, opts LagodOptions) int {
	c := NewLagod(stdout, stderr, opts)
	c.SetArgs(args)
	c.SetOut(stdout)
	c.SetErr(stderr)
	err := c.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	fmt.Fprintln(stderr, "lagod:", err)
	var ee *ExitError
	if errors.As(err, &ee) {
		return ee.Code
	}
	if isUsage(err) {
		return 2
	}
	return 1
}

func isSpaceOrCtl(r rune) bool { return r <= ' ' || r == 0x7f }

// checkDID accepts did:METHOD:ID; the verifier resolves the key itself, so
// this only catches typos early.
func checkDID(d string) error {
	parts := strings.SplitN(d, ":", 3)
	if len(parts) != 3 || parts[0] != "did" || parts[1] == "" || parts[2] == "" || strings.ContainsFunc(d, isSpaceOrCtl) {
		return fmt.Errorf("%q is not a DID (did:method:id)", d)
	}
	return nil
}

// allowList admits only tokens signed by listed keys. It wraps the verifier
// rather than changing server semantics: a refusal is an ErrUnauthorized
// like any other verification failure (401, no data).
type allowList struct {
	aios.TokenVerifier
	dids map[string]bool
}

func newAllowList(v aios.TokenVerifier, dids []string) *allowList {
	a := &allowList{TokenVerifier: v, dids: make(map[string]bool, len(dids))}
	for _, d := range dids {
		a.dids[d] = true
	}
	return a
}

func (a *allowList) Verify(ctx context.Context, token, audience string) (aios.TokenClaims, error) {
	c, err := a.TokenVerifier.Verify(ctx, token, audience)
	if err != nil {
		return aios.TokenClaims{}, err
	}
	if !a.dids[c.DID] {
		return aios.TokenClaims{}, fmt.Errorf("%w: key %s is not in --auth-did", aios.ErrUnauthorized, c.DID)
	}
	return c, nil
}

// identityMarker is in the stored bytes of every anima identity event: the
// journal stores the canonical encoding, which never escapes it, so a
// substring test skips decoding the other events.
var identityMarker = []byte(`"anima.identity_`)

func isIdentityEvent(p aios.Payload) bool {
	switch p := p.(type) {
	case *aios.IdentityRotated, *aios.IdentityRevoked:
		return true
	case *aios.Custom:
		// a malformed one stays Custom; the verifier rejects it
		return p.EventType == aios.EventIdentityRotated || p.EventType == aios.EventIdentityRevoked
	}
	return false
}

// applyIdentityEvents feeds every identity rotation and revocation stored in
// the journal, of any session and branch, to v in append order, so revoked
// and rotated-away keys are refused from the start (see applyToVerifier for
// the events v rejects).
func applyIdentityEvents(ctx context.Context, j *journal.Journal, v Verifier, log *slog.Logger) (applied, skipped int, err error) {
	infos, err := j.Streams(ctx, "")
	if err != nil {
		return 0, 0, err
	}
	type found struct {
		gseq uint64
		ev   aios.EventEnvelope
	}
	var evs []found
	for _, in := range infos {
		// own events only: a branch's parent prefix is read with the parent
		for raw, err := range j.ReadOwnRaw(ctx, in.Stream) {
			if err != nil {
				return 0, 0, err
			}
			if !bytes.Contains(raw.Data, identityMarker) {
				continue
			}
			e, err := aios.DecodeEnvelope(raw.Data)
			if err != nil {
				return 0, 0, fmt.Errorf("%s/%s seq %d: %w", in.Stream.Session, in.Stream.Branch, raw.Seq, err)
			}
			if isIdentityEvent(e.Payload) {
				e.Seq = raw.Seq
				evs = append(evs, found{raw.Gseq, e})
			}
		}
	}
	// append order across sessions, so a chain imported in order folds in order
	slices.SortStableFunc(evs, func(a, b found) int { return cmp.Compare(a.gseq, b.gseq) })
	all := make([]aios.EventEnvelope, len(evs))
	for i := range evs {
		all[i] = evs[i].ev
	}
	applied, skipped = applyToVerifier(v, all, log)
	return applied, skipped, nil
}

// applyToVerifier feeds identity events to v in order. An event v rejects (a
// forged proof, a fork, bad data) is logged and skipped: it must neither
// stop lagod nor drop the valid ones.
func applyToVerifier(v Verifier, evs []aios.EventEnvelope, log *slog.Logger) (applied, skipped int) {
	if len(evs) == 0 || v.Apply(evs...) == nil {
		return len(evs), 0
	}
	// some event is bad (Apply changed nothing): apply one at a time
	for _, e := range evs {
		if err := v.Apply(e); err != nil {
			log.Warn("identity event ignored", "session", e.SessionID, "branch", e.BranchID, "seq", e.Seq, "err", err)
			skipped++
			continue
		}
		applied++
	}
	return applied, skipped
}
