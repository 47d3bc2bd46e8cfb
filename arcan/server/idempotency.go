package server

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/arcan/runtime"
	lagosse "github.com/lifeos/life/lago/sse"
)

// IdempotencyKeyHeader is the request header of the IETF draft
// (draft-ietf-httpapi-idempotency-key-header): a run request repeated with
// the same key on the same session (branch) returns the run the first
// started and never starts another.
const IdempotencyKeyHeader = "Idempotency-Key"

// ReplayedHeader marks an answer that repeats an earlier run's result
// for a repeated Idempotency-Key (the name Stripe and others use).
const ReplayedHeader = "Idempotent-Replayed"

// maxIdempotencyKey caps a key's length, in bytes.
const maxIdempotencyKey = 255

// idempotencyKey returns the request's key, "" without one. The draft's
// form is a structured-field string ("key"); a bare value is taken too, as
// most clients send one. A key is printable ASCII, at most
// maxIdempotencyKey bytes.
func idempotencyKey(r *http.Request) (string, error) {
	vs := r.Header.Values(IdempotencyKeyHeader)
	switch len(vs) {
	case 0:
		return "", nil
	case 1:
	default:
		return "", badRequest("more than one %s header", IdempotencyKeyHeader)
	}
	v := strings.TrimSpace(vs[0])
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		var b strings.Builder
		in := v[1 : len(v)-1]
		for i := 0; i < len(in); i++ {
			c := in[i]
			switch {
			case c == '\\' && i+1 < len(in) && (in[i+1] == '"' || in[i+1] == '\\'):
				i++
				c = in[i]
			case c == '\\' || c == '"':
				return "", badRequest("%s: malformed quoted string", IdempotencyKeyHeader)
			}
			b.WriteByte(c)
		}
		v = b.String()
	}
	if v == "" || len(v) > maxIdempotencyKey {
		return "", badRequest("%s must be 1 to %d bytes", IdempotencyKeyHeader, maxIdempotencyKey)
	}
	for i := 0; i < len(v); i++ {
		if v[i] < 0x20 || v[i] > 0x7e {
			return "", badRequest("%s must be printable ASCII", IdempotencyKeyHeader)
		}
	}
	return v, nil
}

// requestHash fingerprints what a run request asks for, so that a key
// repeated with another request is told apart: the route and the parts
// that decide the run (not how its answer is delivered), length-prefixed.
func requestHash(route string, parts ...string) string {
	h := sha256.New()
	fmt.Fprintf(h, "%d:%s", len(route), route)
	for _, p := range parts {
		fmt.Fprintf(h, "%d:%s", len(p), p)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// writeInProgress answers a repeat whose run is still going: 409 naming it.
func writeInProgress(w http.ResponseWriter, st aios.StreamID, runID string) {
	var e APIError
	e.Error.Type, e.Error.RunID = "conflict", runID
	e.Error.Message = fmt.Sprintf("run %s, started with this %s, is in progress; follow /v1/sessions/%s/events/stream or poll /state", runID, IdempotencyKeyHeader, st.Session)
	writeJSON(w, http.StatusConflict, e)
}

// duplicate answers a run request whose key named an existing run (err
// matches runtime.ErrDuplicateRun): 409 while it runs, else its result,
// as JSON or, for a streaming request, as a short stream in format (the
// run's answer and end; the run's own events are at /events/stream).
func (s *Server) duplicate(w http.ResponseWriter, st aios.StreamID, res runtime.Result, err error, stream bool, format string) {
	if errors.Is(err, runtime.ErrRunActive) {
		writeInProgress(w, st, res.RunID)
		return
	}
	w.Header().Set(ReplayedHeader, "true")
	if !stream {
		writeJSON(w, http.StatusOK, res)
		return
	}
	enc, eerr := lagosse.New(lagoFormat(format), lagosse.Options{Model: s.cfg.Runtime.Provider().Name()})
	if eerr != nil {
		writeErr(w, badRequest("%v", eerr))
		return
	}
	enc.Header(w.Header())
	w.WriteHeader(http.StatusOK)
	sw := lagosse.NewWriter(w)
	if format != FormatCanonical {
		synthetic := func(p aios.Payload) {
			e := aios.NewEnvelope(s.ids, aios.SystemClock{}, st.Session, st.Branch, p)
			e.RunID = res.RunID
			msgs, _ := enc.Encode(e)
			for i := range msgs {
				msgs[i].ID = "" // not journal seqs
			}
			sw.Write(msgs...)
		}
		if res.FinalAnswer != "" {
			synthetic(&aios.AssistantTextDelta{Delta: res.FinalAnswer})
		}
		var p aios.Payload = &aios.RunFinished{Reason: res.Status, TotalIterations: res.Iterations, FinalAnswer: res.FinalAnswer, Usage: &res.Usage}
		if res.Status == runtime.StatusErrored || res.Status == runtime.StatusBudgetExceeded {
			p = &aios.RunErrored{Error: res.Error}
		}
		synthetic(p)
		return
	}
	raw, _ := json.Marshal(res)
	sw.Write(lagosse.Message{Event: "done", Data: raw})
}
