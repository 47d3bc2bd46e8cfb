// Package server is arcand's HTTP API over a runtime: sessions, runs (JSON
// or SSE), signals, state, events (with an SSE feed that resumes from
// Last-Event-ID), branches, approvals, an OpenAI-compatible
// /v1/chat/completions, health, version, Prometheus metrics and the OpenAPI
// document, which is generated from the same route table the mux serves.
package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/arcan/runtime"
)

// Journal is what the server needs of the journal beyond aios.Journal:
// listing sessions and branches, forking and merging (lago's journal has them).
type Journal interface {
	aios.Journal
	Sessions(ctx context.Context) ([]string, error)
	Fork(ctx context.Context, ids aios.IDGenerator, clock aios.Clock, parent aios.StreamID, branch string, atSeq uint64) (uint64, error)
	Merge(ctx context.Context, ids aios.IDGenerator, clock aios.Clock, session, source, target string) (uint64, error)
}

// Config configures a Server.
type Config struct {
	Runtime *runtime.Runtime
	Journal Journal
	Version string
	Logger  *slog.Logger
	// Verifier, when set, makes every request except /healthz carry an agent
	// JWT (Authorization: Bearer) for Audience, signed by one of AllowDIDs.
	Verifier  aios.TokenVerifier
	Audience  string
	AllowDIDs []string
	// Branches lists the branches of a session (lago's Streams); optional.
	Branches func(ctx context.Context, session string) ([]BranchInfo, error)
}

// Server is the arcand HTTP handler.
type Server struct {
	cfg     Config
	log     *slog.Logger
	mux     *http.ServeMux
	metrics *metrics
	ids     aios.IDGenerator

	closing   chan struct{} // closed by Shutdown: live streams end
	closeOnce sync.Once
	bg        sync.WaitGroup
	// bgMu orders bg.Add against Drain and Close: once draining is set no
	// new background run starts (WaitGroup.Add racing Wait is a misuse).
	bgMu     sync.Mutex
	draining bool
	bgCtx    context.Context
	bgStop   context.CancelCauseFunc
	chats    chatIndex // conversations of /v1/chat/completions, to continue their sessions
}

// New returns a server; call Close to cancel background runs.
func New(cfg Config) (*Server, error) {
	if cfg.Runtime == nil || cfg.Journal == nil {
		return nil, errors.New("server: Runtime and Journal are required")
	}
	if cfg.Verifier != nil && (cfg.Audience == "" || len(cfg.AllowDIDs) == 0) {
		return nil, errors.New("server: auth needs an audience and at least one allowed DID")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, log: cfg.Logger, mux: http.NewServeMux(), metrics: newMetrics(), ids: aios.NewULIDGenerator(nil, nil), closing: make(chan struct{})}
	s.bgCtx, s.bgStop = context.WithCancelCause(context.Background())
	for _, r := range s.routes() {
		s.mux.Handle(r.Method+" "+r.Path, s.instrument(r.Path, r.handler))
	}
	return s, nil
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Verifier != nil && r.URL.Path != "/healthz" {
		did, err := s.authorize(r)
		if err != nil {
			writeError(w, http.StatusUnauthorized, "unauthorized", err.Error())
			return
		}
		r = r.WithContext(context.WithValue(r.Context(), callerKey{}, did))
	}
	s.mux.ServeHTTP(w, r)
}

// callerKey holds the DID of an authenticated request in its context.
type callerKey struct{}

// caller is the DID that authenticated r, "" with auth off.
func caller(r *http.Request) string {
	did, _ := r.Context().Value(callerKey{}).(string)
	return did
}

func (s *Server) authorize(r *http.Request) (string, error) {
	h := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || tok == "" {
		return "", fmt.Errorf("%w: missing bearer token", aios.ErrUnauthorized)
	}
	c, err := s.cfg.Verifier.Verify(r.Context(), tok, s.cfg.Audience)
	if err != nil {
		return "", err
	}
	if !slices.Contains(s.cfg.AllowDIDs, c.DID) {
		return "", fmt.Errorf("%w: %s is not allowed here", aios.ErrUnauthorized, c.DID)
	}
	return c.DID, nil
}

// Shutdown ends the live event streams (which would otherwise keep an
// http.Server.Shutdown waiting forever); runs in progress go on.
func (s *Server) Shutdown() { s.closeOnce.Do(func() { close(s.closing) }) }

// Drain waits for background runs to end (graceful shutdown); when ctx
// ends first it interrupts what is left, which stays unfinished in the
// journal for the next process to resume.
func (s *Server) Drain(ctx context.Context) error {
	s.stopStarting()
	done := make(chan struct{})
	go func() { s.bg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.bgStop(runtime.ErrInterrupted)
		<-done
		return ctx.Err()
	}
}

// Close interrupts background runs (left for the next process to resume)
// and waits for them.
func (s *Server) Close() {
	s.Shutdown()
	s.stopStarting()
	s.bgStop(runtime.ErrInterrupted)
	s.bg.Wait()
}

// ErrShuttingDown answers a request that would start a run once the
// server drains (503).
var ErrShuttingDown = errors.New("arcand: shutting down, no new runs")

func (s *Server) stopStarting() {
	s.bgMu.Lock()
	s.draining = true
	s.bgMu.Unlock()
}

// track counts one more background run, unless the server drains.
func (s *Server) track() error {
	s.bgMu.Lock()
	defer s.bgMu.Unlock()
	if s.draining {
		return ErrShuttingDown
	}
	s.bg.Add(1)
	return nil
}

func (s *Server) goBackground(f func(ctx context.Context)) error {
	if err := s.track(); err != nil {
		return err
	}
	go func() {
		defer s.bg.Done()
		f(s.bgCtx)
	}()
	return nil
}

// ResumeInterrupted resumes, in the background, every run that a previous
// process left unfinished (not those waiting for approval; one whose
// approvals were all decided folds as running again). It returns how many
// it started.
func (s *Server) ResumeInterrupted(ctx context.Context) (int, error) {
	ids, err := s.cfg.Journal.Sessions(ctx)
	if err != nil {
		return 0, err
	}
	var streams []aios.StreamID
	for _, id := range ids {
		branches := []string{runtime.DefaultBranch}
		if s.cfg.Branches != nil {
			if bs, err := s.cfg.Branches(ctx, id); err == nil && len(bs) > 0 {
				branches = branches[:0]
				for _, b := range bs {
					branches = append(branches, b.Branch)
				}
			}
		}
		for _, b := range branches {
			streams = append(streams, aios.StreamID{Session: id, Branch: b})
		}
	}
	n := 0
	for _, st := range streams {
		id := st.Session
		state, err := s.cfg.Runtime.State(ctx, st)
		if err != nil || state.Run == nil || state.Run.Status != runtime.RunRunning {
			continue
		}
		n++
		s.log.Info("resuming interrupted run", "session", id, "run", state.Run.ID)
		err = s.goBackground(func(ctx context.Context) {
			res, err := s.cfg.Runtime.Resume(ctx, st, runtime.RunOptions{})
			s.metrics.run(res.Status)
			if err != nil {
				s.log.Warn("resume failed", "session", id, "err", err)
			}
		})
		if err != nil {
			return n - 1, err
		}
	}
	return n, nil
}

// ---- helpers

// APIError is the body of every error answer.
type APIError struct {
	Error struct {
		Type    string `json:"type"`
		Message string `json:"message"`
		RunID   string `json:"run_id,omitempty"` // the run a repeated Idempotency-Key names, still in progress
	} `json:"error"`
}

func writeError(w http.ResponseWriter, status int, typ, msg string) {
	var e APIError
	e.Error.Type, e.Error.Message = typ, msg
	writeJSON(w, status, e)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}

// errorStatus maps runtime and port errors to HTTP.
func errorStatus(err error) (int, string) {
	switch {
	case errors.As(err, new(*http.MaxBytesError)):
		return http.StatusRequestEntityTooLarge, "invalid_request"
	case errors.Is(err, runtime.ErrKeyReused):
		return http.StatusUnprocessableEntity, "idempotency_key_reused"
	case errors.Is(err, runtime.ErrBadInput), errors.Is(err, aios.ErrMalformed), errors.Is(err, errBadRequest):
		return http.StatusBadRequest, "invalid_request"
	case errors.Is(err, aios.ErrNotFound), errors.Is(err, runtime.ErrNothingToResume):
		return http.StatusNotFound, "not_found"
	case errors.Is(err, runtime.ErrRunActive), errors.Is(err, runtime.ErrAwaitingApproval), errors.Is(err, aios.ErrVersionConflict):
		return http.StatusConflict, "conflict"
	case errors.Is(err, aios.ErrUnauthorized):
		return http.StatusUnauthorized, "unauthorized"
	case errors.Is(err, ErrShuttingDown):
		return http.StatusServiceUnavailable, "unavailable"
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return 499, "cancelled"
	}
	return http.StatusInternalServerError, "internal"
}

func writeErr(w http.ResponseWriter, err error) {
	st, typ := errorStatus(err)
	writeError(w, st, typ, err.Error())
}

var errBadRequest = errors.New("bad request")

func badRequest(format string, a ...any) error {
	return fmt.Errorf("%w: %s", errBadRequest, fmt.Sprintf(format, a...))
}

// decodeBody reads a JSON body strictly (unknown fields are an error) and
// caps its size.
func decodeBody(r *http.Request, v any) error {
	if r.Body == nil {
		return badRequest("empty body")
	}
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 4<<20))
	dec.DisallowUnknownFields()
	return decodeJSON(dec, v)
}

// decodeJSON decodes the one JSON value of a body; a body over the size
// cap is an error that errorStatus maps to 413.
func decodeJSON(dec *json.Decoder, v any) error {
	if err := dec.Decode(v); err != nil {
		if mb := new(http.MaxBytesError); errors.As(err, &mb) {
			return fmt.Errorf("body larger than %d bytes: %w", mb.Limit, err)
		}
		return badRequest("body: %v", err)
	}
	if dec.More() {
		return badRequest("body: trailing data after the JSON value")
	}
	return nil
}

func validID(kind, id string) error {
	if id == "" || len(id) > 256 || strings.ContainsAny(id, "\x00/") {
		return badRequest("%s id %q", kind, id)
	}
	return nil
}

func (s *Server) stream(r *http.Request) (aios.StreamID, error) {
	id := r.PathValue("id")
	if err := validID("session", id); err != nil {
		return aios.StreamID{}, err
	}
	b := r.URL.Query().Get("branch")
	if b == "" {
		b = runtime.DefaultBranch
	}
	if err := validID("branch", b); err != nil {
		return aios.StreamID{}, err
	}
	return aios.StreamID{Session: id, Branch: b}, nil
}

// exists reports whether the stream has any event.
func (s *Server) exists(ctx context.Context, st aios.StreamID) error {
	h, err := s.cfg.Journal.Head(ctx, st)
	if err != nil {
		return err
	}
	if h == 0 {
		return fmt.Errorf("session %s branch %s: %w", st.Session, st.Branch, aios.ErrNotFound)
	}
	return nil
}

func queryUint(r *http.Request, key string) (uint64, error) {
	v := r.URL.Query().Get(key)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, badRequest("%s=%q is not a non-negative integer", key, v)
	}
	return n, nil
}

// ---- metrics (Prometheus text format, hand-written: a handful of
// counters do not justify the client library's dependency tree)

type metrics struct {
	mu       sync.Mutex
	requests map[[2]string]uint64 // route, code
	runs     map[string]uint64    // status
	started  time.Time
}

func newMetrics() *metrics {
	return &metrics{requests: map[[2]string]uint64{}, runs: map[string]uint64{}, started: time.Now()}
}

func (m *metrics) request(route string, code int) {
	m.mu.Lock()
	m.requests[[2]string{route, strconv.Itoa(code)}]++
	m.mu.Unlock()
}

func (m *metrics) run(status string) {
	if status == "" {
		status = runtime.StatusErrored
	}
	m.mu.Lock()
	m.runs[status]++
	m.mu.Unlock()
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(c int) {
	if w.code == 0 {
		w.code = c
	}
	w.ResponseWriter.WriteHeader(c)
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		if w.code == 0 {
			w.code = http.StatusOK
		}
		f.Flush()
	}
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (s *Server) instrument(route string, h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		h(sw, r)
		if sw.code == 0 {
			sw.code = http.StatusOK
		}
		s.metrics.request(route, sw.code)
	})
}
