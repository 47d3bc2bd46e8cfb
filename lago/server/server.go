// Package server is lagod's HTTP API over a data directory: sessions,
// events (JSON, NDJSON, SSE in four formats), branches, blobs, the session
// filesystem, knowledge search, health and metrics. Routing uses Go 1.22
// patterns. When a TokenVerifier is set, every /v1 request needs an agent
// JWT (Authorization: Bearer), and sessions are guarded by policy roles.
package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/lago/blob"
	"github.com/lifeos/life/lago/fsys"
	"github.com/lifeos/life/lago/journal"
	"github.com/lifeos/life/lago/knowledge"
	"github.com/lifeos/life/lago/policy"
	"github.com/lifeos/life/lago/sse"
	"github.com/lifeos/life/lago/store"
)

// Config wires a Server.
type Config struct {
	Store *store.Store
	// Verifier turns auth on; nil serves without auth (loopback only, the
	// daemon's flags enforce that).
	Verifier aios.TokenVerifier
	// Audience is the aud a token must carry (default "lagod").
	Audience string
	Quotas   policy.Quotas
	Logger   *slog.Logger
	IDs      aios.IDGenerator
	Clock    aios.Clock
	// KeepAlive is the SSE comment interval (default 15 s).
	KeepAlive time.Duration
	// MaxBody bounds event request bodies (default 16 MiB).
	MaxBody int64
	// IdentityEvents, when set, is called with the identity events
	// (anima.identity_rotated, anima.identity_revoked) of every append once
	// they are durable, in order: lagod feeds them to its verifier, so a
	// revocation takes effect at once.
	IdentityEvents func(ctx context.Context, events []aios.EventEnvelope)
	// Appends, when set, takes the API's event appends in place of the
	// store's journal: that journal wrapped, e.g. by telemetry (spans and
	// metrics per append). Reads stay on the store's journal.
	Appends Appender
}

// Appender is the part of a journal the API's event appends go through.
type Appender interface {
	Append(ctx context.Context, events ...aios.EventEnvelope) ([]uint64, error)
}

// Server is the HTTP handler.
type Server struct {
	cfg   Config
	st    *store.Store
	j     *journal.Journal
	app   Appender // cfg.Appends, else j
	pol   *policy.Engine
	log   *slog.Logger
	ids   aios.IDGenerator
	clock aios.Clock
	mux   *http.ServeMux
	wsMu  sync.Mutex
	// createMu makes a session's exists-check and its SessionCreated one
	// step: two racing creates of one id both saw it absent.
	createMu sync.Mutex
	spaces   map[aios.StreamID]*knowledge.Workspace

	stopStreams chan struct{}
	stopOnce    sync.Once

	requests   sync.Map // status code -> *atomic.Uint64
	sseClients atomic.Int64
	sseSent    atomic.Uint64
}

// New builds the server.
func New(cfg Config) *Server {
	if cfg.Audience == "" {
		cfg.Audience = "lagod"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Clock == nil {
		cfg.Clock = aios.SystemClock{}
	}
	if cfg.IDs == nil {
		cfg.IDs = aios.NewULIDGenerator(cfg.Clock, nil)
	}
	if cfg.KeepAlive <= 0 {
		cfg.KeepAlive = 15 * time.Second
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = 16 << 20
	}
	s := &Server{
		cfg: cfg, st: cfg.Store, j: cfg.Store.Journal, log: cfg.Logger, ids: cfg.IDs, clock: cfg.Clock,
		pol:         policy.New(cfg.Store.Journal, cfg.Quotas, cfg.IDs, cfg.Clock),
		mux:         http.NewServeMux(),
		spaces:      map[aios.StreamID]*knowledge.Workspace{},
		stopStreams: make(chan struct{}),
	}
	s.app = s.j
	if cfg.Appends != nil {
		s.app = cfg.Appends
	}
	s.routes()
	return s
}

func (s *Server) routes() {
	m := s.mux
	m.HandleFunc("GET /healthz", s.health)
	m.HandleFunc("GET /metrics", s.metrics)
	m.HandleFunc("POST /v1/sessions", s.auth(s.createSession))
	m.HandleFunc("GET /v1/sessions", s.auth(s.listSessions))
	m.HandleFunc("POST /v1/sessions/{id}/events", s.auth(s.appendEvents))
	m.HandleFunc("GET /v1/sessions/{id}/events", s.auth(s.readEvents))
	m.HandleFunc("GET /v1/sessions/{id}/events/stream", s.auth(s.streamEvents))
	m.HandleFunc("GET /v1/sessions/{id}/events/{seq}", s.auth(s.readEvent))
	m.HandleFunc("GET /v1/sessions/{id}/head", s.auth(s.head))
	m.HandleFunc("GET /v1/sessions/{id}/branches", s.auth(s.listBranches))
	m.HandleFunc("POST /v1/sessions/{id}/branches", s.auth(s.createBranch))
	m.HandleFunc("POST /v1/sessions/{id}/branches/{branch}/merge", s.auth(s.mergeBranch))
	m.HandleFunc("POST /v1/sessions/{id}/grants", s.auth(s.grant))
	m.HandleFunc("GET /v1/sessions/{id}/files", s.auth(s.listFiles))
	m.HandleFunc("GET /v1/sessions/{id}/files/{path...}", s.auth(s.readFile))
	m.HandleFunc("PUT /v1/sessions/{id}/files/{path...}", s.auth(s.writeFile))
	m.HandleFunc("DELETE /v1/sessions/{id}/files/{path...}", s.auth(s.deleteFile))
	m.HandleFunc("GET /v1/sessions/{id}/diff", s.auth(s.diffFiles))
	m.HandleFunc("POST /v1/sessions/{id}/snapshots", s.auth(s.snapshot))
	m.HandleFunc("GET /v1/sessions/{id}/knowledge/search", s.auth(s.search))
	m.HandleFunc("GET /v1/sessions/{id}/knowledge/traverse", s.auth(s.traverse))
	m.HandleFunc("POST /v1/blobs", s.auth(s.putBlob))
	m.HandleFunc("PUT /v1/blobs/{hash}", s.auth(s.putBlob))
	m.HandleFunc("GET /v1/blobs/{hash}", s.auth(s.getBlob))
	m.HandleFunc("HEAD /v1/blobs/{hash}", s.auth(s.getBlob))
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

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = 200
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// StopStreams ends every open SSE stream (they never end by themselves):
// call it when shutting down, e.g. from http.Server.RegisterOnShutdown.
func (s *Server) StopStreams() { s.stopOnce.Do(func() { close(s.stopStreams) }) }

// ServeHTTP counts responses by status and dispatches.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	sw := &statusWriter{ResponseWriter: w}
	defer func() {
		c, _ := s.requests.LoadOrStore(sw.code, new(atomic.Uint64))
		c.(*atomic.Uint64).Add(1)
	}()
	s.mux.ServeHTTP(sw, r)
}

// ---- errors ----

type apiError struct {
	Error  string `json:"error"`
	Status int    `json:"status"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// fail maps an error to its status: bad input 400, missing 404, auth 401,
// policy 403/429, the rest 500 (logged, without internals in the body).
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	code := http.StatusInternalServerError
	var ref *policy.Refusal
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &ref):
		code = ref.Status
	case errors.Is(err, aios.ErrUnauthorized):
		code = http.StatusUnauthorized
		w.Header().Set("WWW-Authenticate", `Bearer realm="lagod"`)
	case errors.Is(err, aios.ErrNotFound):
		code = http.StatusNotFound
	case errors.Is(err, journal.ErrIDConflict):
		code = http.StatusConflict
	case errors.As(err, &mbe), errors.Is(err, blob.ErrTooLarge):
		code = http.StatusRequestEntityTooLarge
	case errors.Is(err, aios.ErrMalformed), errors.Is(err, aios.ErrInvalidEnvelope), errors.Is(err, journal.ErrInvalid),
		errors.Is(err, journal.ErrBranch), errors.Is(err, blob.ErrInvalidHash), errors.Is(err, blob.ErrMismatch), errors.Is(err, fsys.ErrInvalidPath), errors.Is(err, fsys.ErrInvalidMode),
		errors.Is(err, sse.ErrUnknownFormat), errors.Is(err, errBadRequest):
		code = http.StatusBadRequest
	}
	msg := err.Error()
	if code == http.StatusInternalServerError {
		s.log.Error("lagod request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		msg = "internal error"
	}
	writeJSON(w, code, apiError{Error: msg, Status: code})
}

var errBadRequest = errors.New("bad request")

func badRequest(format string, a ...any) error {
	return fmt.Errorf("%w: %s", errBadRequest, fmt.Sprintf(format, a...))
}

// ---- auth ----

type principalKey struct{}

// Principal is who made a request ("" with auth off).
type Principal struct {
	Subject string
	Tenant  string
	DID     string // the key the token was signed with
	// Expires is the token's exp (zero without auth): an SSE stream ends
	// then, so a stream outlives no token.
	Expires time.Time
}

func principalOf(r *http.Request) Principal {
	p, _ := r.Context().Value(principalKey{}).(Principal)
	if p.Tenant == "" {
		p.Tenant = "anonymous"
	}
	return p
}

func (s *Server) auth(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.cfg.Verifier == nil {
			h(w, r)
			return
		}
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || strings.TrimSpace(tok) == "" {
			s.fail(w, r, fmt.Errorf("%w: missing bearer token", aios.ErrUnauthorized))
			return
		}
		claims, err := s.cfg.Verifier.Verify(r.Context(), strings.TrimSpace(tok), s.cfg.Audience)
		if err != nil {
			if !errors.Is(err, aios.ErrUnauthorized) {
				err = fmt.Errorf("%w: %v", aios.ErrUnauthorized, err)
			}
			s.fail(w, r, err)
			return
		}
		sub := claims.Subject
		if sub == "" {
			sub = claims.DID
		}
		if sub == "" {
			s.fail(w, r, fmt.Errorf("%w: token has no subject", aios.ErrUnauthorized))
			return
		}
		p := Principal{Subject: sub, Tenant: sub, DID: claims.DID}
		if claims.ExpiresAt > 0 {
			p.Expires = time.Unix(claims.ExpiresAt, 0)
		}
		ctx := context.WithValue(r.Context(), principalKey{}, p)
		h(w, r.WithContext(ctx))
	}
}

func (s *Server) authorize(r *http.Request, session string, a policy.Action) error {
	if session == policy.SystemStream.Session && a != policy.Read {
		// the policy engine's own stream: no branches, files or merges in it
		return badRequest("session %s is reserved", session)
	}
	if s.cfg.Verifier == nil {
		return nil
	}
	if session == policy.SystemStream.Session {
		// refusals and charges of every tenant: for operators (lago export), not the API
		return &policy.Refusal{Status: http.StatusForbidden, Reason: "session " + session + " is not served with auth on",
			Principal: principalOf(r).Subject, Session: session}
	}
	return s.pol.Authorize(r.Context(), principalOf(r).Subject, session, a)
}

// ---- helpers ----

func validID(kind, v string) error {
	if v == "" || strings.ContainsRune(v, 0) || len(v) > 512 {
		return badRequest("%s %q is empty, too long or has NUL", kind, v)
	}
	return nil
}

func queryUint(r *http.Request, name string) (uint64, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, badRequest("query %s=%q is not an unsigned integer", name, v)
	}
	return n, nil
}

// authorizedStream reads the request's stream and checks that the caller
// may do a on its session; when not, it has already answered the request.
func (s *Server) authorizedStream(w http.ResponseWriter, r *http.Request, a policy.Action) (aios.StreamID, bool) {
	st, err := stream(r)
	if err == nil {
		err = s.authorize(r, st.Session, a)
	}
	if err != nil {
		s.fail(w, r, err)
		return st, false
	}
	return st, true
}

func stream(r *http.Request) (aios.StreamID, error) {
	st := aios.StreamID{Session: r.PathValue("id"), Branch: r.URL.Query().Get("branch")}
	if st.Branch == "" {
		st.Branch = "main"
	}
	if err := validID("session", st.Session); err != nil {
		return st, err
	}
	return st, validID("branch", st.Branch)
}

// ---- handlers ----

func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	if _, err := s.j.Head(r.Context(), policy.SystemStream); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) metrics(w http.ResponseWriter, r *http.Request) {
	st := s.j.Stats()
	var b bytes.Buffer
	fmt.Fprintf(&b, "# TYPE lago_events_appended_total counter\nlago_events_appended_total %d\n", st.Events)
	fmt.Fprintf(&b, "# TYPE lago_commits_total counter\nlago_commits_total %d\n", st.Commits)
	fmt.Fprintf(&b, "# TYPE lago_append_dedups_total counter\nlago_append_dedups_total %d\n", st.Dedups)
	fmt.Fprintf(&b, "# TYPE lago_sse_clients gauge\nlago_sse_clients %d\n", s.sseClients.Load())
	fmt.Fprintf(&b, "# TYPE lago_sse_messages_total counter\nlago_sse_messages_total %d\n", s.sseSent.Load())
	fmt.Fprintf(&b, "# TYPE lago_http_responses_total counter\n")
	s.requests.Range(func(k, v any) bool {
		fmt.Fprintf(&b, "lago_http_responses_total{code=\"%d\"} %d\n", k.(int), v.(*atomic.Uint64).Load())
		return true
	})
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	w.Write(b.Bytes())
}

type createSessionReq struct {
	SessionID string          `json:"session_id"`
	Name      string          `json:"name"`
	Config    json.RawMessage `json:"config"`
}

func decodeBody(w http.ResponseWriter, r *http.Request, max int64, v any) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badRequest("body: %v", err)
	}
	if dec.More() {
		return badRequest("body: trailing data")
	}
	return nil
}

func (s *Server) createSession(w http.ResponseWriter, r *http.Request) {
	var req createSessionReq
	if err := decodeBody(w, r, 1<<20, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	if req.SessionID == "" {
		req.SessionID = s.ids.NewID()
	}
	if err := validID("session_id", req.SessionID); err != nil {
		s.fail(w, r, err)
		return
	}
	if req.SessionID == policy.SystemStream.Session {
		s.fail(w, r, badRequest("session %s is reserved", req.SessionID))
		return
	}
	if len(req.Config) == 0 || string(req.Config) == "null" {
		req.Config = json.RawMessage("{}")
	}
	ctx := r.Context()
	st := aios.StreamID{Session: req.SessionID, Branch: "main"}
	s.createMu.Lock()
	defer s.createMu.Unlock()
	if h, err := s.j.Head(ctx, st); err != nil {
		s.fail(w, r, err)
		return
	} else if h > 0 {
		writeJSON(w, http.StatusConflict, apiError{Error: fmt.Sprintf("session %s exists", req.SessionID), Status: http.StatusConflict})
		return
	}
	p := principalOf(r)
	if err := s.pol.ChargeEvents(ctx, p.Tenant, 1); err != nil {
		s.fail(w, r, err)
		return
	}
	ev := aios.NewEnvelope(s.ids, s.clock, req.SessionID, "main", &aios.SessionCreated{Name: req.Name, Config: req.Config})
	seqs, err := s.app.Append(ctx, ev)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if s.cfg.Verifier != nil {
		if err := s.pol.Claim(ctx, p.Subject, req.SessionID); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	writeJSON(w, http.StatusCreated, map[string]any{"session_id": req.SessionID, "seq": seqs[0]})
}

func (s *Server) listSessions(w http.ResponseWriter, r *http.Request) {
	infos, err := s.j.Streams(r.Context(), "")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	type sess struct {
		SessionID string   `json:"session_id"`
		Branches  []string `json:"branches"`
	}
	out := []sess{}
	for _, in := range infos {
		if in.Stream.Session == policy.SystemStream.Session {
			continue
		}
		if len(out) == 0 || out[len(out)-1].SessionID != in.Stream.Session {
			if s.cfg.Verifier != nil {
				role, err := s.pol.Role(r.Context(), in.Stream.Session, principalOf(r).Subject)
				if err != nil || !role.Allows(policy.Read) {
					continue
				}
			}
			out = append(out, sess{SessionID: in.Stream.Session})
		}
		if len(out) > 0 && out[len(out)-1].SessionID == in.Stream.Session {
			out[len(out)-1].Branches = append(out[len(out)-1].Branches, in.Stream.Branch)
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"sessions": out})
}

// appendEvents takes one envelope or an array. Missing ids, timestamps and
// schema versions are filled in; session and branch must match the URL
// (or be empty).
func (s *Server) appendEvents(w http.ResponseWriter, r *http.Request) {
	st, err := stream(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if st.Session == policy.SystemStream.Session {
		s.fail(w, r, badRequest("session %s is reserved", st.Session))
		return
	}
	if err := s.authorize(r, st.Session, policy.Write); err != nil {
		s.fail(w, r, err)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBody))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	body = bytes.TrimSpace(body)
	var raws []json.RawMessage
	if len(body) > 0 && body[0] == '[' {
		if err := json.Unmarshal(body, &raws); err != nil {
			s.fail(w, r, &aios.DecodeError{Type: "envelope array", Err: err})
			return
		}
	} else {
		raws = []json.RawMessage{body}
	}
	if len(raws) == 0 {
		s.fail(w, r, badRequest("no events"))
		return
	}
	evs := make([]aios.EventEnvelope, len(raws))
	for i, raw := range raws {
		e, err := decodeLenient(raw)
		if err != nil {
			s.fail(w, r, fmt.Errorf("event %d: %w", i, err))
			return
		}
		if e.SessionID == "" {
			e.SessionID = st.Session
		}
		if e.BranchID == "" {
			e.BranchID = st.Branch
		}
		if e.SessionID != st.Session || e.BranchID != st.Branch {
			s.fail(w, r, badRequest("event %d is for %s/%s, not %s/%s", i, e.SessionID, e.BranchID, st.Session, st.Branch))
			return
		}
		if c, ok := e.Payload.(*aios.Custom); ok && strings.HasPrefix(c.EventType, "lago.") {
			// grants and quota charges are written by the policy engine only
			s.fail(w, r, badRequest("event %d: event type %s is reserved", i, c.EventType))
			return
		}
		if _, ok := e.Payload.(*aios.FileWrite); ok {
			if _, err := fsys.Mode(e); err != nil {
				s.fail(w, r, fmt.Errorf("event %d: %w", i, err))
				return
			}
		}
		if e.EventID == "" {
			e.EventID = s.ids.NewID()
		}
		if e.Timestamp == 0 {
			e.Timestamp = aios.Micros(s.clock.Now())
		}
		evs[i] = e
	}
	identity, err := s.checkIdentityEvents(r, st.Session, evs)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.pol.ChargeEvents(r.Context(), principalOf(r).Tenant, len(evs)); err != nil {
		s.fail(w, r, err)
		return
	}
	seqs, err := s.app.Append(r.Context(), evs...)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if len(identity) > 0 && s.cfg.IdentityEvents != nil {
		s.cfg.IdentityEvents(r.Context(), identity)
	}
	writeJSON(w, http.StatusCreated, map[string]any{"seqs": seqs})
}

// checkIdentityEvents returns the identity events among evs. With auth on,
// a revocation carries no proof, so only the key it revokes may append it
// (others get a journaled 403: otherwise any caller could lock anyone out);
// a rotation is proven by a JWS of the old key, which the verifier checks;
// an identity event that does not fit its schema is refused (400).
func (s *Server) checkIdentityEvents(r *http.Request, session string, evs []aios.EventEnvelope) ([]aios.EventEnvelope, error) {
	var out []aios.EventEnvelope
	for i, e := range evs {
		switch p := e.Payload.(type) {
		case *aios.IdentityRevoked:
			if who := principalOf(r); s.cfg.Verifier != nil && p.DID != who.DID {
				return nil, s.pol.Forbid(r.Context(), who.Subject, session, policy.Write,
					fmt.Sprintf("event %d revokes %s: only a token signed by that key may (this one is signed by %s)", i, p.DID, who.DID))
			}
			out = append(out, e)
		case *aios.IdentityRotated:
			out = append(out, e)
		case *aios.Custom:
			if s.cfg.Verifier != nil && (p.EventType == aios.EventIdentityRotated || p.EventType == aios.EventIdentityRevoked) {
				return nil, badRequest("event %d: %s data does not match its schema", i, p.EventType)
			}
		}
	}
	return out, nil
}

// decodeLenient decodes an envelope whose ids and timestamp may be left
// for the server to fill: it supplies placeholders for the required keys
// the aios decoder insists on, then clears them.
func decodeLenient(raw json.RawMessage) (aios.EventEnvelope, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return aios.EventEnvelope{}, &aios.DecodeError{Type: "envelope", Err: errors.New("not a JSON object")}
	}
	for _, k := range []string{"event_id", "session_id", "branch_id"} {
		if _, ok := m[k]; !ok {
			m[k] = json.RawMessage(`""`)
		}
	}
	if _, ok := m["timestamp"]; !ok {
		m["timestamp"] = json.RawMessage("0")
	}
	b, _ := json.Marshal(m)
	return aios.DecodeEnvelope(b)
}

func (s *Server) readEvents(w http.ResponseWriter, r *http.Request) {
	st, ok := s.authorizedStream(w, r, policy.Read)
	if !ok {
		return
	}
	q := aios.ReadQuery{Stream: st}
	var err error
	if q.After, err = queryUint(r, "after"); err != nil {
		s.fail(w, r, err)
		return
	}
	if q.Until, err = queryUint(r, "until"); err != nil {
		s.fail(w, r, err)
		return
	}
	lim, err := queryUint(r, "limit")
	if err != nil || lim > 1<<20 {
		s.fail(w, r, badRequest("bad limit"))
		return
	}
	q.Limit = int(lim)
	f := r.URL.Query().Get("format")
	if f != "" && f != "ndjson" && f != "json" {
		s.fail(w, r, badRequest("format %q: want json or ndjson", f))
		return
	}
	// an explicit format wins over the Accept header
	ndjson := f == "ndjson" || (f == "" && strings.Contains(r.Header.Get("Accept"), "application/x-ndjson"))
	if h, err := s.j.Head(r.Context(), st); err != nil {
		s.fail(w, r, err)
		return
	} else if h == 0 {
		s.fail(w, r, fmt.Errorf("stream %s/%s: %w", st.Session, st.Branch, aios.ErrNotFound))
		return
	}
	if ndjson {
		w.Header().Set("Content-Type", "application/x-ndjson")
	} else {
		w.Header().Set("Content-Type", "application/json")
	}
	var buf bytes.Buffer
	first := true
	if !ndjson {
		buf.WriteString("[")
	}
	for ev, err := range s.j.ReadRaw(r.Context(), q) {
		if err != nil {
			// headers are out; cut the response so the client sees an error
			s.log.Error("lagod read failed mid-response", "err", err)
			panic(http.ErrAbortHandler)
		}
		if !ndjson && !first {
			buf.WriteByte(',')
		}
		first = false
		buf.Write(ev.Data)
		if ndjson {
			buf.WriteByte('\n')
		}
		if buf.Len() > 64<<10 {
			w.Write(buf.Bytes())
			buf.Reset()
		}
	}
	if !ndjson {
		buf.WriteString("]\n")
	}
	w.Write(buf.Bytes())
}

func (s *Server) readEvent(w http.ResponseWriter, r *http.Request) {
	st, ok := s.authorizedStream(w, r, policy.Read)
	if !ok {
		return
	}
	seq, err := strconv.ParseUint(r.PathValue("seq"), 10, 64)
	if err != nil {
		s.fail(w, r, badRequest("seq %q is not an unsigned integer", r.PathValue("seq")))
		return
	}
	e, err := s.j.Event(r.Context(), st, seq)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	b, err := aios.EncodeEnvelope(e)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(append(b, '\n'))
}

func (s *Server) head(w http.ResponseWriter, r *http.Request) {
	st, ok := s.authorizedStream(w, r, policy.Read)
	if !ok {
		return
	}
	h, err := s.j.Head(r.Context(), st)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"session_id": st.Session, "branch_id": st.Branch, "head": h})
}
