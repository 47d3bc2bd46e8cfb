package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"runtime/debug"
	"slices"
	"strings"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/arcan/runtime"
)

// route is one endpoint: the mux pattern, the handler, and the types the
// OpenAPI document is generated from.
type route struct {
	Method, Path, Summary string
	Query                 []string // query parameter names
	Headers               []string // request header parameter names
	Request               any      // body type, nil for none
	Response              any      // 2xx JSON body type, nil for none
	SSE                   bool     // may answer text/event-stream
	handler               http.HandlerFunc
}

func (s *Server) routes() []route {
	return []route{
		{Method: "GET", Path: "/healthz", Summary: "Readiness", Response: Health{}, handler: s.health},
		{Method: "GET", Path: "/version", Summary: "Version", Response: VersionInfo{}, handler: s.version},
		{Method: "GET", Path: "/metrics", Summary: "Prometheus metrics (text format)", handler: s.metricsHandler},
		{Method: "GET", Path: "/openapi.json", Summary: "This document", handler: s.openapi},
		{Method: "POST", Path: "/v1/sessions", Summary: "Create a session", Request: CreateSession{}, Response: SessionInfo{}, handler: s.createSession},
		{Method: "GET", Path: "/v1/sessions", Summary: "List sessions", Response: SessionList{}, handler: s.listSessions},
		{Method: "GET", Path: "/v1/sessions/{id}", Summary: "Get a session", Query: []string{"branch"}, Response: SessionInfo{}, handler: s.getSession},
		{Method: "POST", Path: "/v1/sessions/{id}/runs", Summary: "Start a run: JSON result, or SSE when stream is true or Accept is text/event-stream; the run goes on if the client leaves unless on_disconnect=cancel", Query: []string{"branch", "on_disconnect"}, Headers: []string{IdempotencyKeyHeader}, Request: RunRequest{}, Response: runtime.Result{}, SSE: true, handler: s.startRun},
		{Method: "POST", Path: "/v1/sessions/{id}/signals", Summary: "Send a signal: cancel, approve, deny, message, resume", Query: []string{"branch"}, Request: Signal{}, Response: SignalResult{}, handler: s.signal},
		{Method: "GET", Path: "/v1/sessions/{id}/state", Summary: "State rebuilt from the journal", Query: []string{"branch"}, Response: runtime.SessionState{}, handler: s.state},
		{Method: "GET", Path: "/v1/sessions/{id}/events", Summary: "Events with seq in (after, after+limit]", Query: []string{"branch", "after", "limit"}, Response: EventList{}, handler: s.events},
		{Method: "GET", Path: "/v1/sessions/{id}/events/stream", Summary: "Live events as SSE from after (or Last-Event-ID); format canonical, openai, anthropic or vercel", Query: []string{"branch", "after", "format"}, SSE: true, handler: s.eventStream},
		{Method: "GET", Path: "/v1/sessions/{id}/branches", Summary: "List branches", Response: BranchList{}, handler: s.listBranches},
		{Method: "POST", Path: "/v1/sessions/{id}/branches", Summary: "Fork a branch at a seq", Request: ForkRequest{}, Response: BranchInfo{}, handler: s.fork},
		{Method: "POST", Path: "/v1/sessions/{id}/branches/{branch}/merge", Summary: "Merge a branch into another", Request: MergeRequest{}, Response: MergeResult{}, handler: s.merge},
		{Method: "GET", Path: "/v1/sessions/{id}/approvals", Summary: "Pending approvals", Query: []string{"branch"}, Response: ApprovalList{}, handler: s.approvals},
		{Method: "POST", Path: "/v1/chat/completions", Summary: "OpenAI-compatible chat completions that run the agent", Query: []string{"on_disconnect"}, Headers: []string{IdempotencyKeyHeader}, Request: ChatCompletionRequest{}, Response: ChatCompletion{}, SSE: true, handler: s.chatCompletions},
	}
}

// API types.
type (
	// Health answers /healthz.
	Health struct {
		Status string `json:"status"`
	}
	// VersionInfo answers /version.
	VersionInfo struct {
		Version  string `json:"version"`
		Go       string `json:"go"`
		Provider string `json:"provider"`
	}
	// CreateSession is the body of POST /v1/sessions.
	CreateSession struct {
		Name   string          `json:"name,omitempty"`
		Config json.RawMessage `json:"config,omitempty"`
	}
	// SessionInfo describes a session's branch.
	SessionInfo struct {
		SessionID string             `json:"session_id"`
		Branch    string             `json:"branch"`
		Name      string             `json:"name,omitempty"`
		LastSeq   uint64             `json:"last_seq"`
		Run       *runtime.RunState  `json:"run,omitempty"`
		Approvals []runtime.Approval `json:"approvals"`
		Usage     aios.TokenUsage    `json:"usage"`
	}
	// SessionList answers GET /v1/sessions.
	SessionList struct {
		Sessions []SessionSummary `json:"sessions"`
	}
	// SessionSummary is one listed session.
	SessionSummary struct {
		SessionID string `json:"session_id"`
		Head      uint64 `json:"head"`
	}
	// RunRequest is the body of POST /runs.
	RunRequest struct {
		Input  string `json:"input"`
		Stream bool   `json:"stream,omitempty"`
		Format string `json:"format,omitempty"` // SSE format: canonical (default), openai, anthropic, vercel
		Async  bool   `json:"async,omitempty"`  // answer 202 at once; follow /events/stream
	}
	// Signal is the body of POST /signals.
	Signal struct {
		Type       string `json:"type"` // cancel, approve, deny, message, resume
		ApprovalID string `json:"approval_id,omitempty"`
		Reason     string `json:"reason,omitempty"`
		Input      string `json:"input,omitempty"` // for message
	}
	// SignalResult answers a signal.
	SignalResult struct {
		Accepted bool   `json:"accepted"`
		RunID    string `json:"run_id,omitempty"`
		Detail   string `json:"detail,omitempty"`
	}
	// EventList answers GET /events.
	EventList struct {
		Events []json.RawMessage `json:"events"`
		Head   uint64            `json:"head"`
	}
	// BranchInfo describes a branch.
	BranchInfo struct {
		Branch   string `json:"branch"`
		Parent   string `json:"parent,omitempty"`
		ForkSeq  uint64 `json:"fork_seq,omitempty"`
		Head     uint64 `json:"head"`
		EventSeq uint64 `json:"event_seq,omitempty"` // seq of the BranchCreated event
	}
	// BranchList answers GET /branches.
	BranchList struct {
		Branches []BranchInfo `json:"branches"`
	}
	// ForkRequest is the body of POST /branches.
	ForkRequest struct {
		Name string `json:"name"`
		From string `json:"from,omitempty"` // default main
		At   uint64 `json:"at,omitempty"`   // default the head of From
	}
	// MergeRequest is the body of POST /branches/{branch}/merge.
	MergeRequest struct {
		Into string `json:"into,omitempty"` // default main
	}
	// MergeResult answers a merge.
	MergeResult struct {
		Seq uint64 `json:"seq"`
	}
	// ApprovalList answers GET /approvals.
	ApprovalList struct {
		Approvals []runtime.Approval `json:"approvals"`
	}
)

func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, Health{Status: "ok"})
}

func (s *Server) version(w http.ResponseWriter, r *http.Request) {
	v := VersionInfo{Version: s.cfg.Version, Go: "unknown", Provider: s.cfg.Runtime.Provider().Name()}
	if bi, ok := debug.ReadBuildInfo(); ok {
		v.Go = bi.GoVersion
	}
	writeJSON(w, http.StatusOK, v)
}

func (s *Server) metricsHandler(w http.ResponseWriter, r *http.Request) {
	m := s.metrics
	m.mu.Lock()
	defer m.mu.Unlock()
	var b strings.Builder
	b.WriteString("# HELP arcan_http_requests_total HTTP requests by route and status code.\n# TYPE arcan_http_requests_total counter\n")
	keys := make([][2]string, 0, len(m.requests))
	for k := range m.requests {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b [2]string) int { return strings.Compare(a[0]+a[1], b[0]+b[1]) })
	for _, k := range keys {
		fmt.Fprintf(&b, "arcan_http_requests_total{route=%q,code=%q} %d\n", k[0], k[1], m.requests[k])
	}
	b.WriteString("# HELP arcan_runs_total Runs ended, by status.\n# TYPE arcan_runs_total counter\n")
	st := make([]string, 0, len(m.runs))
	for k := range m.runs {
		st = append(st, k)
	}
	slices.Sort(st)
	for _, k := range st {
		fmt.Fprintf(&b, "arcan_runs_total{status=%q} %d\n", k, m.runs[k])
	}
	runs, cached := s.cfg.Runtime.ActiveRuns()
	fmt.Fprintf(&b, "# HELP arcan_runs_active Runs in progress.\n# TYPE arcan_runs_active gauge\narcan_runs_active %d\n", runs)
	fmt.Fprintf(&b, "# HELP arcan_sessions_cached Session states held in memory.\n# TYPE arcan_sessions_cached gauge\narcan_sessions_cached %d\n", cached)
	fmt.Fprintf(&b, "# HELP arcan_uptime_seconds Seconds since the server started.\n# TYPE arcan_uptime_seconds gauge\narcan_uptime_seconds %.0f\n", timeSince(m.started))
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	w.Write([]byte(b.String()))
}

func (s *Server) createSession(w http.ResponseWriter, r *http.Request) {
	var req CreateSession
	if err := decodeBody(r, &req); err != nil {
		writeErr(w, err)
		return
	}
	id, err := s.cfg.Runtime.CreateSession(r.Context(), req.Name, req.Config)
	if err != nil {
		writeErr(w, err)
		return
	}
	st := aios.StreamID{Session: id, Branch: runtime.DefaultBranch}
	info, err := s.sessionInfo(r, st)
	if err != nil {
		writeErr(w, err)
		return
	}
	w.Header().Set("Location", "/v1/sessions/"+id)
	writeJSON(w, http.StatusCreated, info)
}

func (s *Server) sessionInfo(r *http.Request, st aios.StreamID) (SessionInfo, error) {
	if err := s.exists(r.Context(), st); err != nil {
		return SessionInfo{}, err
	}
	state, err := s.cfg.Runtime.State(r.Context(), st)
	if err != nil {
		return SessionInfo{}, err
	}
	info := SessionInfo{SessionID: st.Session, Branch: st.Branch, Name: state.Name, LastSeq: state.LastSeq, Run: state.Run, Approvals: state.Approvals, Usage: state.Usage}
	if info.Approvals == nil {
		info.Approvals = []runtime.Approval{}
	}
	return info, nil
}

func (s *Server) listSessions(w http.ResponseWriter, r *http.Request) {
	ids, err := s.cfg.Journal.Sessions(r.Context())
	if err != nil {
		writeErr(w, err)
		return
	}
	out := SessionList{Sessions: []SessionSummary{}}
	for _, id := range ids {
		h, _ := s.cfg.Journal.Head(r.Context(), aios.StreamID{Session: id, Branch: runtime.DefaultBranch})
		out.Sessions = append(out.Sessions, SessionSummary{SessionID: id, Head: h})
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) getSession(w http.ResponseWriter, r *http.Request) {
	st, err := s.stream(r)
	if err != nil {
		writeErr(w, err)
		return
	}
	info, err := s.sessionInfo(r, st)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, info)
}

func (s *Server) startRun(w http.ResponseWriter, r *http.Request) {
	st, err := s.stream(r)
	if err != nil {
		writeErr(w, err)
		return
	}
	var req RunRequest
	if err := decodeBody(r, &req); err != nil {
		writeErr(w, err)
		return
	}
	if strings.TrimSpace(req.Input) == "" {
		writeErr(w, badRequest("input is empty"))
		return
	}
	format, err := parseFormat(req.Format)
	if err != nil {
		writeErr(w, err)
		return
	}
	key, err := idempotencyKey(r)
	if err != nil {
		writeErr(w, err)
		return
	}
	cancelOnLeave, err := onDisconnect(r)
	if err != nil {
		writeErr(w, err)
		return
	}
	if err := s.exists(r.Context(), st); err != nil {
		writeErr(w, err)
		return
	}
	opts := runtime.RunOptions{Input: req.Input}
	if key != "" {
		// The input decides the run; stream, format and async only how
		// it is answered, so a retry may change them.
		opts.IdempotencyKey, opts.RequestHash = key, requestHash("runs", req.Input)
	}
	streaming := req.Stream || strings.Contains(r.Header.Get("Accept"), "text/event-stream")
	if req.Async {
		if cancelOnLeave {
			writeErr(w, badRequest("on_disconnect=cancel is for a synchronous or streamed run"))
			return
		}
		if _, active := s.cfg.Runtime.Active(st); active && key == "" {
			writeErr(w, runtime.ErrRunActive)
			return
		}
		// Answer 202 only once the input is durable (or the run failed first).
		accepted := make(chan string, 1)
		failed := make(chan error, 1)
		var dup runtime.Result
		if err := s.goBackground(func(ctx context.Context) {
			o := opts
			o.OnAccepted = func(id string) { accepted <- id }
			res, err := s.cfg.Runtime.Run(ctx, st, o)
			if errors.Is(err, runtime.ErrDuplicateRun) {
				dup = res
				failed <- err
				return
			}
			s.metrics.run(res.Status)
			if err != nil {
				s.log.Warn("async run", "session", st.Session, "err", err)
				failed <- err
			}
		}); err != nil {
			writeErr(w, err)
			return
		}
		select {
		case id := <-accepted:
			writeJSON(w, http.StatusAccepted, SignalResult{Accepted: true, RunID: id, Detail: "follow /v1/sessions/" + st.Session + "/events/stream"})
		case err := <-failed:
			if errors.Is(err, runtime.ErrDuplicateRun) {
				s.duplicate(w, st, dup, err, false, format)
				return
			}
			writeErr(w, err)
		}
		return
	}
	if streaming {
		s.streamRun(w, r, st, opts, format, cancelOnLeave)
		return
	}
	res, err, ok := s.runDetached(r, &client{}, cancelOnLeave, func(ctx context.Context) (runtime.Result, error) {
		return s.cfg.Runtime.Run(ctx, st, opts)
	})
	if !ok {
		return // the client left; the run goes on unless it asked otherwise
	}
	if errors.Is(err, runtime.ErrDuplicateRun) {
		s.duplicate(w, st, res, err, false, format)
		return
	}
	if err != nil && res.RunID == "" {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (s *Server) signal(w http.ResponseWriter, r *http.Request) {
	st, err := s.stream(r)
	if err != nil {
		writeErr(w, err)
		return
	}
	var sig Signal
	if err := decodeBody(r, &sig); err != nil {
		writeErr(w, err)
		return
	}
	if err := s.exists(r.Context(), st); err != nil {
		writeErr(w, err)
		return
	}
	rt := s.cfg.Runtime
	switch sig.Type {
	case "cancel":
		if rt.Cancel(st) {
			writeJSON(w, http.StatusOK, SignalResult{Accepted: true, Detail: "run cancelled"})
			return
		}
		// A run paused for approval is not active, yet it is unfinished.
		ok, err := rt.CancelPaused(r.Context(), st)
		if err != nil {
			writeErr(w, err)
			return
		}
		writeJSON(w, http.StatusOK, SignalResult{Accepted: ok, Detail: map[bool]string{true: "run waiting for approval cancelled", false: "no active run"}[ok]})
	case "approve", "deny":
		if sig.ApprovalID == "" {
			writeErr(w, badRequest("approval_id is required"))
			return
		}
		if err := rt.Resolve(r.Context(), st, sig.ApprovalID, sig.Type == "approve", sig.Reason); err != nil {
			writeErr(w, err)
			return
		}
		// Resume once nothing else is pending.
		state, err := rt.State(r.Context(), st)
		if err == nil && len(state.Approvals) == 0 {
			if err := s.goBackground(func(ctx context.Context) {
				res, err := rt.Resume(ctx, st, runtime.RunOptions{})
				s.metrics.run(res.Status)
				if err != nil {
					s.log.Warn("resume after approval", "session", st.Session, "err", err)
				}
			}); err != nil {
				// The decision is durable: the next process resumes the run.
				writeJSON(w, http.StatusOK, SignalResult{Accepted: true, Detail: "decision journaled; the run resumes when arcand starts again"})
				return
			}
		}
		writeJSON(w, http.StatusOK, SignalResult{Accepted: true, Detail: "decision journaled"})
	case "resume":
		if id, active := rt.Active(st); active {
			writeErr(w, fmt.Errorf("%w: %s", runtime.ErrRunActive, id))
			return
		}
		state, err := rt.State(r.Context(), st)
		if err != nil {
			writeErr(w, err)
			return
		}
		if run := state.Run; run == nil || run.Status != runtime.RunRunning && run.Status != runtime.RunAwaitingApproval {
			writeErr(w, runtime.ErrNothingToResume)
			return
		}
		if err := s.goBackground(func(ctx context.Context) {
			res, _ := rt.Resume(ctx, st, runtime.RunOptions{})
			s.metrics.run(res.Status)
		}); err != nil {
			writeErr(w, err)
			return
		}
		writeJSON(w, http.StatusAccepted, SignalResult{Accepted: true})
	case "message":
		if strings.TrimSpace(sig.Input) == "" {
			writeErr(w, badRequest("input is required for a message"))
			return
		}
		if _, active := rt.Active(st); active {
			writeErr(w, runtime.ErrRunActive)
			return
		}
		accepted := make(chan string, 1)
		failed := make(chan error, 1)
		if err := s.goBackground(func(ctx context.Context) {
			res, err := rt.Run(ctx, st, runtime.RunOptions{Input: sig.Input, OnAccepted: func(id string) { accepted <- id }})
			s.metrics.run(res.Status)
			if err != nil {
				failed <- err
			}
		}); err != nil {
			writeErr(w, err)
			return
		}
		select {
		case id := <-accepted:
			writeJSON(w, http.StatusAccepted, SignalResult{Accepted: true, RunID: id, Detail: "run started"})
		case err := <-failed:
			writeErr(w, err)
		}
	default:
		writeErr(w, badRequest("signal type %q (want cancel, approve, deny, message or resume)", sig.Type))
	}
}

func (s *Server) state(w http.ResponseWriter, r *http.Request) {
	st, err := s.stream(r)
	if err != nil {
		writeErr(w, err)
		return
	}
	if err := s.exists(r.Context(), st); err != nil {
		writeErr(w, err)
		return
	}
	state, err := s.cfg.Runtime.State(r.Context(), st)
	if err != nil {
		writeErr(w, err)
		return
	}
	raw, err := state.Encode()
	if err != nil {
		writeErr(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(append(raw, '\n'))
}

func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	st, err := s.stream(r)
	if err != nil {
		writeErr(w, err)
		return
	}
	if err := s.exists(r.Context(), st); err != nil {
		writeErr(w, err)
		return
	}
	after, err := queryUint(r, "after")
	if err != nil {
		writeErr(w, err)
		return
	}
	limit, err := queryUint(r, "limit")
	if err != nil {
		writeErr(w, err)
		return
	}
	switch {
	case limit == 0:
		limit = 1000
	case limit > 10000:
		limit = 10000 // a page at most; the answer's head says whether more follow
	}
	out := EventList{Events: []json.RawMessage{}}
	for e, err := range s.cfg.Journal.Read(r.Context(), aios.ReadQuery{Stream: st, After: after, Limit: int(limit)}) {
		if err != nil {
			writeErr(w, err)
			return
		}
		raw, err := aios.EncodeEnvelope(e)
		if err != nil {
			writeErr(w, err)
			return
		}
		out.Events = append(out.Events, raw)
	}
	out.Head, _ = s.cfg.Journal.Head(r.Context(), st)
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) listBranches(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := validID("session", id); err != nil {
		writeErr(w, err)
		return
	}
	if s.cfg.Branches == nil {
		writeError(w, http.StatusNotImplemented, "unsupported", "this journal cannot list branches")
		return
	}
	bs, err := s.cfg.Branches(r.Context(), id)
	if err != nil {
		writeErr(w, err)
		return
	}
	if len(bs) == 0 {
		writeErr(w, fmt.Errorf("session %s: %w", id, aios.ErrNotFound))
		return
	}
	writeJSON(w, http.StatusOK, BranchList{Branches: bs})
}

func (s *Server) fork(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	var req ForkRequest
	if err := decodeBody(r, &req); err != nil {
		writeErr(w, err)
		return
	}
	if req.From == "" {
		req.From = runtime.DefaultBranch
	}
	for _, v := range [][2]string{{"session", id}, {"branch", req.Name}, {"branch", req.From}} {
		if err := validID(v[0], v[1]); err != nil {
			writeErr(w, err)
			return
		}
	}
	parent := aios.StreamID{Session: id, Branch: req.From}
	if err := s.exists(r.Context(), parent); err != nil {
		writeErr(w, err)
		return
	}
	seq, err := s.cfg.Journal.Fork(r.Context(), s.ids, aios.SystemClock{}, parent, req.Name, req.At)
	if err != nil {
		writeError(w, http.StatusConflict, "conflict", err.Error())
		return
	}
	head, _ := s.cfg.Journal.Head(r.Context(), aios.StreamID{Session: id, Branch: req.Name})
	writeJSON(w, http.StatusCreated, BranchInfo{Branch: req.Name, Parent: req.From, ForkSeq: head, Head: head, EventSeq: seq})
}

func (s *Server) merge(w http.ResponseWriter, r *http.Request) {
	id, branch := r.PathValue("id"), r.PathValue("branch")
	var req MergeRequest
	if err := decodeBody(r, &req); err != nil {
		writeErr(w, err)
		return
	}
	if req.Into == "" {
		req.Into = runtime.DefaultBranch
	}
	for _, v := range [][2]string{{"session", id}, {"branch", branch}, {"branch", req.Into}} {
		if err := validID(v[0], v[1]); err != nil {
			writeErr(w, err)
			return
		}
	}
	if err := s.exists(r.Context(), aios.StreamID{Session: id, Branch: req.Into}); err != nil {
		writeErr(w, err)
		return
	}
	seq, err := s.cfg.Journal.Merge(r.Context(), s.ids, aios.SystemClock{}, id, branch, req.Into)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, MergeResult{Seq: seq})
}

func (s *Server) approvals(w http.ResponseWriter, r *http.Request) {
	st, err := s.stream(r)
	if err != nil {
		writeErr(w, err)
		return
	}
	if err := s.exists(r.Context(), st); err != nil {
		writeErr(w, err)
		return
	}
	state, err := s.cfg.Runtime.State(r.Context(), st)
	if err != nil {
		writeErr(w, err)
		return
	}
	out := ApprovalList{Approvals: state.Approvals}
	if out.Approvals == nil {
		out.Approvals = []runtime.Approval{}
	}
	writeJSON(w, http.StatusOK, out)
}
