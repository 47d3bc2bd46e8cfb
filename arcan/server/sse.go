package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/arcan/runtime"
	lagosse "github.com/lifeos/life/lago/sse"
)

// Stream formats.
const (
	FormatCanonical = "canonical"
	FormatOpenAI    = "openai"
	FormatAnthropic = "anthropic"
	FormatVercel    = "vercel"
)

func parseFormat(f string) (string, error) {
	switch f {
	case "", "lago":
		return FormatCanonical, nil
	case FormatCanonical, FormatOpenAI, FormatAnthropic, FormatVercel:
		return f, nil
	}
	return "", badRequest("format %q (want canonical, openai, anthropic or vercel)", f)
}

// sseWriter writes server-sent events and flushes each one.
type sseWriter struct {
	w http.ResponseWriter
	f http.Flusher
}

func newSSE(w http.ResponseWriter, format string) *sseWriter {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	if format == FormatVercel {
		h.Set("X-Vercel-AI-UI-Message-Stream", "v1")
	}
	w.WriteHeader(http.StatusOK)
	f, _ := w.(http.Flusher)
	if f != nil {
		f.Flush() // the headers now: the first event may be a model call away
	}
	return &sseWriter{w: w, f: f}
}

// send writes one event; data must be one line (JSON is).
func (s *sseWriter) send(id, event string, data []byte) {
	var b strings.Builder
	if id != "" {
		b.WriteString("id: " + id + "\n")
	}
	if event != "" {
		b.WriteString("event: " + event + "\n")
	}
	b.WriteString("data: ")
	b.Write(data)
	b.WriteString("\n\n")
	s.w.Write([]byte(b.String()))
	if s.f != nil {
		s.f.Flush()
	}
}

func (s *sseWriter) json(id, event string, v any) {
	raw, err := json.Marshal(v)
	if err != nil {
		raw, _ = json.Marshal(map[string]string{"error": err.Error()})
	}
	s.send(id, event, raw)
}

// openaiEnc writes /v1/chat/completions streams: the agent's text as
// chat.completion.chunk content (its own tool calls stay server-side, so
// an OpenAI client never sees tool_calls it would try to run), then [DONE].
type openaiEnc struct {
	sw        *sseWriter
	id, model string
	created   int64
	started   bool
	usage     bool
}

type chunkChoice struct {
	Index        int            `json:"index"`
	Delta        map[string]any `json:"delta"`
	FinishReason *string        `json:"finish_reason"`
}

func (o *openaiEnc) chunk(seq string, delta map[string]any, finish *string) {
	o.sw.json(seq, "", map[string]any{
		"id": o.id, "object": "chat.completion.chunk", "created": o.created, "model": o.model,
		"choices": []chunkChoice{{Index: 0, Delta: delta, FinishReason: finish}},
	})
}

func (o *openaiEnc) text(seq, t string) {
	d := map[string]any{"content": t}
	if !o.started {
		d["role"] = "assistant"
		o.started = true
	}
	o.chunk(seq, d, nil)
}

func (o *openaiEnc) delta(t string) { o.text("", t) }

func (o *openaiEnc) done(res runtime.Result, err error) {
	stop := "stop"
	switch {
	case err != nil && res.Status != runtime.StatusCancelled:
		o.sw.json("", "", map[string]any{"error": map[string]string{"type": "server_error", "message": err.Error()}})
		return
	case res.Status == runtime.StatusMaxIterations || res.Status == runtime.StatusBudgetExceeded:
		stop = "length"
	}
	o.chunk("", map[string]any{}, &stop)
	if o.usage {
		o.sw.json("", "", map[string]any{
			"id": o.id, "object": "chat.completion.chunk", "created": o.created, "model": o.model, "choices": []any{},
			"usage": map[string]uint32{"prompt_tokens": res.Usage.PromptTokens, "completion_tokens": res.Usage.CompletionTokens, "total_tokens": res.Usage.TotalTokens},
		})
	}
	o.sw.send("", "", []byte("[DONE]"))
}

// streamRun runs the agent and streams the run with lago's encoder for
// format. Text is sent live as it streams (those messages have no id: the
// journaled delta events carry the seqs); every other event is sent once
// it is durable, with its seq as the SSE id. The canonical stream ends with
// a "done" message holding the Result. Headers are written with the first
// message, so a run refused before it starts is a plain JSON error.
func (s *Server) streamRun(w http.ResponseWriter, r *http.Request, st aios.StreamID, opts runtime.RunOptions, format string, cancelOnLeave bool) {
	enc, err := lagosse.New(lagoFormat(format), lagosse.Options{Model: s.cfg.Runtime.Provider().Name()})
	if err != nil {
		writeErr(w, badRequest("%v", err))
		return
	}
	var sw *lagosse.Writer
	c := &client{}
	// send is called by the run's callbacks, through c: they go on after
	// the handler returned if the client left.
	send := func(msgs []lagosse.Message, live bool) {
		if len(msgs) == 0 {
			return
		}
		if sw == nil {
			enc.Header(w.Header())
			w.WriteHeader(http.StatusOK)
			sw = lagosse.NewWriter(w)
		}
		if live {
			for i := range msgs {
				msgs[i].ID = ""
			}
		}
		sw.Write(msgs...)
	}
	var runID string
	ended := false // the run's RunFinished or RunErrored reached the client
	synthetic := func(p aios.Payload) aios.EventEnvelope {
		e := aios.NewEnvelope(s.ids, aios.SystemClock{}, st.Session, st.Branch, p)
		e.RunID = runID
		return e
	}
	opts.OnAccepted = func(id string) { runID = id } // asking makes the run's first events durable (and streamed) before the model is called
	opts.OnDelta = func(t string) {
		c.do(func() {
			msgs, _ := enc.Encode(synthetic(&aios.AssistantTextDelta{Delta: t}))
			send(msgs, true)
		})
	}
	opts.OnEvent = func(e aios.EventEnvelope) {
		switch e.Payload.(type) {
		case *aios.RunStarted:
			runID = e.RunID
		case *aios.RunFinished, *aios.RunErrored:
			ended = true
		}
		if _, ok := e.Payload.(*aios.AssistantTextDelta); ok {
			return // already sent live
		}
		c.do(func() {
			msgs, _ := enc.Encode(e)
			send(msgs, false)
		})
	}
	res, err, ok := s.runDetached(r, c, cancelOnLeave, func(ctx context.Context) (runtime.Result, error) {
		return s.cfg.Runtime.Run(ctx, st, opts)
	})
	if !ok {
		return // the client left; the run goes on unless it asked otherwise
	}
	if errors.Is(err, runtime.ErrDuplicateRun) {
		s.duplicate(w, st, res, err, true, format)
		return
	}
	if sw == nil && err != nil {
		writeErr(w, err)
		return
	}
	if !enc.Done() && format != FormatCanonical {
		// A run that paused for approval (or failed before journaling its
		// end) still closes the client's message.
		var p aios.Payload = &aios.RunFinished{Reason: res.Status, TotalIterations: res.Iterations, Usage: &res.Usage}
		if err != nil && res.Status != runtime.StatusCancelled {
			p = &aios.RunErrored{Error: err.Error()}
		}
		msgs, _ := enc.Encode(synthetic(p))
		send(msgs, true)
	}
	if format == FormatCanonical {
		if err != nil && res.Error == "" {
			res.Error = err.Error()
		}
		if err != nil && !ended && res.Status != runtime.StatusCancelled {
			// No journaled end told the client (its append failed, or the
			// run never got that far): an error event says so before done.
			raw, _ := json.Marshal(map[string]string{"error": err.Error()})
			send([]lagosse.Message{{Event: "error", Data: raw}}, true)
		}
		raw, _ := json.Marshal(res)
		send([]lagosse.Message{{Event: "done", Data: raw}}, true)
	}
}

func lagoFormat(f string) string {
	if f == FormatCanonical {
		return "lago"
	}
	return f
}

// eventStream follows the journal from a seq (query after, or the
// Last-Event-ID header when reconnecting).
func (s *Server) eventStream(w http.ResponseWriter, r *http.Request) {
	st, err := s.stream(r)
	if err != nil {
		writeErr(w, err)
		return
	}
	after, err := queryUint(r, "after")
	if err != nil {
		writeErr(w, err)
		return
	}
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		n, err := strconv.ParseUint(id, 10, 64)
		if err != nil {
			writeErr(w, badRequest("Last-Event-ID %q is not a seq", id))
			return
		}
		after = n
	}
	format, err := parseFormat(r.URL.Query().Get("format"))
	if err != nil {
		writeErr(w, err)
		return
	}
	if err := s.exists(r.Context(), st); err != nil {
		writeErr(w, err)
		return
	}
	enc, err := lagosse.New(lagoFormat(format), lagosse.Options{Model: s.cfg.Runtime.Provider().Name()})
	if err != nil {
		writeErr(w, badRequest("%v", err))
		return
	}
	enc.Header(w.Header())
	w.WriteHeader(http.StatusOK)
	sw := lagosse.NewWriter(w)
	sw.Comment("stream " + st.Session + "/" + st.Branch)
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	events := make(chan aios.EventEnvelope)
	errc := make(chan error, 1)
	go func() {
		defer close(events)
		for e, err := range s.cfg.Journal.Subscribe(ctx, st, after) {
			if err != nil {
				errc <- err
				return
			}
			select {
			case events <- e:
			case <-ctx.Done():
				return
			}
		}
	}()
	tick := time.NewTicker(15 * time.Second)
	defer tick.Stop()
	for {
		select {
		case e, ok := <-events:
			if !ok {
				select {
				case err := <-errc:
					raw, _ := json.Marshal(map[string]string{"error": err.Error()})
					sw.Write(lagosse.Message{Event: "error", Data: raw})
				default:
				}
				return
			}
			msgs, err := enc.Encode(e)
			if err != nil {
				s.log.Warn("event stream: encode", "seq", e.Seq, "err", err)
				continue
			}
			if sw.Write(msgs...) != nil {
				return // the client left
			}
			if enc.Done() {
				return // a chat format ends with its run
			}
		case <-tick.C:
			sw.Comment("keep-alive")
		case <-ctx.Done():
			return
		case <-s.closing:
			return
		}
	}
}

func timeSince(t time.Time) float64 { return time.Since(t).Seconds() }
