// Package api is autonomicd's HTTP interface over a [controller.Hub]:
//
//	GET /healthz                       {"status":"ok","streams":N} (+ follower counts)
//	GET /v1/gating/{session}?branch=B  the aios.Gating in force (branch "main" by default)
//	GET /v1/projection/{session}?branch=B  projection, gating and rule positions
//	GET /v1/rules                      the rules with their thresholds
//
// Every answer is JSON; errors are {"error": "..."} with a 4xx/5xx status.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/autonomic/controller"
)

// Syncer brings a stream's projection up to date with its journal before a
// read (autonomiclago.Projector does). Optional.
type Syncer interface {
	CatchUp(ctx context.Context, stream aios.StreamID) (uint64, error)
}

// Options tune the handler.
type Options struct {
	// Sync, when set, is called before answering for a stream.
	Sync Syncer
	// SyncTimeout bounds that call (default 2 s); on timeout the answer is
	// served from the projection as it stands.
	SyncTimeout time.Duration
	// Followers, when set, adds the daemon's follower counts to /healthz.
	Followers func() FollowerStats
	Logger    *slog.Logger
}

// FollowerStats counts the streams a daemon knows by what it does with
// them: Following holds a subscription; Waiting has events past what was
// folded and waits for a free slot (or a retry); Idle is caught up and
// followed again when new events arrive.
type FollowerStats struct {
	Following int `json:"following"`
	Waiting   int `json:"waiting"`
	Idle      int `json:"idle"`
}

// DefaultBranch is the branch used when a request names none.
const DefaultBranch = "main"

// maxID bounds session and branch ids.
const maxID = 256

type handler struct {
	hub  *controller.Hub
	opts Options
	log  *slog.Logger
	mux  *http.ServeMux
}

// NewHandler returns the HTTP handler of autonomicd.
func NewHandler(hub *controller.Hub, opts Options) http.Handler {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.SyncTimeout <= 0 {
		opts.SyncTimeout = 2 * time.Second
	}
	h := &handler{hub: hub, opts: opts, log: opts.Logger, mux: http.NewServeMux()}
	h.mux.HandleFunc("GET /healthz", h.health)
	h.mux.HandleFunc("GET /v1/gating/{session}", h.gating)
	h.mux.HandleFunc("GET /v1/projection/{session}", h.projection)
	h.mux.HandleFunc("GET /v1/rules", h.rules)
	h.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such endpoint: "+r.Method+" "+r.URL.Path)
	})
	return h
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// The mux answers a wrong method on a known path with a plain-text 405;
	// keep every answer JSON.
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET")
		writeError(w, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed")
		return
	}
	h.mux.ServeHTTP(w, r)
}

func (h *handler) health(w http.ResponseWriter, _ *http.Request) {
	out := map[string]any{"status": "ok", "streams": len(h.hub.Streams())}
	if h.opts.Followers != nil {
		f := h.opts.Followers()
		out["following"], out["waiting"], out["idle"] = f.Following, f.Waiting, f.Idle
	}
	writeJSON(w, http.StatusOK, out)
}

func (h *handler) rules(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"rules": h.hub.Controller().Rules()})
}

// ErrBadStream is matched by invalid session or branch ids.
var ErrBadStream = errors.New("api: bad stream id")

// ParseStream validates the session path value and the branch query value.
func ParseStream(session, branch string) (aios.StreamID, error) {
	if branch == "" {
		branch = DefaultBranch
	}
	for _, v := range []struct{ name, s string }{{"session", session}, {"branch", branch}} {
		switch {
		case v.s == "":
			return aios.StreamID{}, fmt.Errorf("%w: %s id is empty", ErrBadStream, v.name)
		case len(v.s) > maxID:
			return aios.StreamID{}, fmt.Errorf("%w: %s id is over %d bytes", ErrBadStream, v.name, maxID)
		case !utf8.ValidString(v.s) || strings.ContainsFunc(v.s, func(r rune) bool { return r < 0x20 || r == 0x7f }):
			return aios.StreamID{}, fmt.Errorf("%w: %s id has control characters or invalid UTF-8", ErrBadStream, v.name)
		}
	}
	return aios.StreamID{Session: session, Branch: branch}, nil
}

func (h *handler) stream(w http.ResponseWriter, r *http.Request) (aios.StreamID, bool) {
	q := r.URL.Query()
	for k := range q {
		if k != "branch" {
			writeError(w, http.StatusBadRequest, "unknown query parameter "+k)
			return aios.StreamID{}, false
		}
	}
	if len(q["branch"]) > 1 {
		writeError(w, http.StatusBadRequest, "branch given more than once")
		return aios.StreamID{}, false
	}
	id, err := ParseStream(r.PathValue("session"), q.Get("branch"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return aios.StreamID{}, false
	}
	if h.opts.Sync != nil {
		ctx, cancel := context.WithTimeout(r.Context(), h.opts.SyncTimeout)
		defer cancel()
		if _, err := h.opts.Sync.CatchUp(ctx, id); err != nil {
			// Advice from a slightly stale projection beats no advice.
			h.log.Warn("autonomic: catch-up before answering failed", "session", id.Session, "branch", id.Branch, "err", err)
		}
	}
	return id, true
}

func (h *handler) gating(w http.ResponseWriter, r *http.Request) {
	id, ok := h.stream(w, r)
	if !ok {
		return
	}
	g, err := h.hub.Decide(r.Context(), id)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, g)
}

func (h *handler) projection(w http.ResponseWriter, r *http.Request) {
	id, ok := h.stream(w, r)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, h.hub.View(id))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"encode answer"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}
