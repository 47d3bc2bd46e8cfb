package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/arcan/runtime"
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
	case "":
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

func (s *sseWriter) comment(c string) {
	fmt.Fprintf(s.w, ": %s\n\n", c)
	if s.f != nil {
		s.f.Flush()
	}
}

// encoder turns runtime events into one stream format.
type encoder interface {
	// event writes a durable journal event.
	event(e aios.EventEnvelope)
	// delta writes live assistant text.
	delta(text string)
	// done ends a run.
	done(res runtime.Result, err error)
}

func newEncoder(format string, sw *sseWriter, id string, created int64, model string) encoder {
	switch format {
	case FormatOpenAI:
		return &openaiEnc{sw: sw, id: "chatcmpl-" + id, created: created, model: model}
	case FormatAnthropic:
		return &anthropicEnc{sw: sw, id: "msg_" + id, model: model}
	case FormatVercel:
		return &vercelEnc{sw: sw, id: id}
	}
	return &canonicalEnc{sw: sw}
}

// canonical: every journal event as its envelope, id = seq, event = type.
type canonicalEnc struct{ sw *sseWriter }

func (c *canonicalEnc) event(e aios.EventEnvelope) {
	raw, err := aios.EncodeEnvelope(e)
	if err != nil {
		return
	}
	c.sw.send(strconv.FormatUint(e.Seq, 10), e.Payload.Type(), raw)
}

func (c *canonicalEnc) delta(text string) {
	c.sw.json("", "AssistantTextDelta", map[string]string{"type": "AssistantTextDelta", "delta": text})
}

func (c *canonicalEnc) done(res runtime.Result, err error) {
	if err != nil && res.Error == "" {
		res.Error = err.Error()
	}
	c.sw.json("", "done", res)
}

// openai: chat.completion.chunk objects, then [DONE].
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

func (o *openaiEnc) event(e aios.EventEnvelope) {
	switch p := e.Payload.(type) {
	case *aios.AssistantTextDelta:
		o.text(strconv.FormatUint(e.Seq, 10), p.Delta)
	case *aios.RunFinished:
		stop := "stop"
		o.chunk(strconv.FormatUint(e.Seq, 10), map[string]any{}, &stop)
		o.started = false
	}
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

// anthropic: the Messages API stream events.
type anthropicEnc struct {
	sw        *sseWriter
	id, model string
	open      bool
}

func (a *anthropicEnc) begin(seq string) {
	if a.open {
		return
	}
	a.open = true
	a.sw.json(seq, "message_start", map[string]any{"type": "message_start", "message": map[string]any{
		"id": a.id, "type": "message", "role": "assistant", "content": []any{}, "model": a.model,
		"stop_reason": nil, "stop_sequence": nil, "usage": map[string]int{"input_tokens": 0, "output_tokens": 0}}})
	a.sw.json(seq, "content_block_start", map[string]any{"type": "content_block_start", "index": 0, "content_block": map[string]string{"type": "text", "text": ""}})
}

func (a *anthropicEnc) text(seq, t string) {
	a.begin(seq)
	a.sw.json(seq, "content_block_delta", map[string]any{"type": "content_block_delta", "index": 0, "delta": map[string]string{"type": "text_delta", "text": t}})
}

func (a *anthropicEnc) end(seq, stop string, usage aios.TokenUsage) {
	a.begin(seq)
	a.sw.json(seq, "content_block_stop", map[string]any{"type": "content_block_stop", "index": 0})
	a.sw.json(seq, "message_delta", map[string]any{"type": "message_delta", "delta": map[string]any{"stop_reason": stop, "stop_sequence": nil}, "usage": map[string]uint32{"output_tokens": usage.CompletionTokens}})
	a.sw.json(seq, "message_stop", map[string]string{"type": "message_stop"})
	a.open = false
}

func (a *anthropicEnc) event(e aios.EventEnvelope) {
	seq := strconv.FormatUint(e.Seq, 10)
	switch p := e.Payload.(type) {
	case *aios.AssistantTextDelta:
		a.text(seq, p.Delta)
	case *aios.RunFinished:
		u := aios.TokenUsage{}
		if p.Usage != nil {
			u = *p.Usage
		}
		a.end(seq, "end_turn", u)
	}
}

func (a *anthropicEnc) delta(t string) { a.text("", t) }

func (a *anthropicEnc) done(res runtime.Result, err error) {
	if err != nil && res.Status != runtime.StatusCancelled {
		a.sw.json("", "error", map[string]any{"type": "error", "error": map[string]string{"type": "api_error", "message": err.Error()}})
		return
	}
	stop := "end_turn"
	if res.Status == runtime.StatusMaxIterations || res.Status == runtime.StatusBudgetExceeded {
		stop = "max_tokens"
	}
	a.end("", stop, res.Usage)
}

// vercel: the AI SDK UI message stream (protocol v1).
type vercelEnc struct {
	sw       *sseWriter
	id       string
	started  bool
	textOpen bool
	n        int
}

func (v *vercelEnc) start() {
	if !v.started {
		v.started = true
		v.sw.json("", "", map[string]string{"type": "start", "messageId": v.id})
		v.sw.json("", "", map[string]string{"type": "start-step"})
	}
}

func (v *vercelEnc) closeText() {
	if v.textOpen {
		v.sw.json("", "", map[string]string{"type": "text-end", "id": fmt.Sprintf("text-%d", v.n)})
		v.textOpen = false
	}
}

func (v *vercelEnc) text(t string) {
	v.start()
	if !v.textOpen {
		v.n++
		v.textOpen = true
		v.sw.json("", "", map[string]string{"type": "text-start", "id": fmt.Sprintf("text-%d", v.n)})
	}
	v.sw.json("", "", map[string]string{"type": "text-delta", "id": fmt.Sprintf("text-%d", v.n), "delta": t})
}

func (v *vercelEnc) event(e aios.EventEnvelope) {
	switch p := e.Payload.(type) {
	case *aios.AssistantTextDelta:
		v.text(p.Delta)
	case *aios.ToolCallRequested:
		v.start()
		v.closeText()
		var input any
		if json.Unmarshal(p.Arguments, &input) != nil {
			input = map[string]any{}
		}
		v.sw.json("", "", map[string]any{"type": "tool-input-available", "toolCallId": p.CallID, "toolName": p.ToolName, "input": input, "dynamic": true})
	case *aios.ToolCallCompleted:
		v.start()
		var out any
		if json.Unmarshal(p.Result, &out) != nil {
			out = string(p.Result)
		}
		v.sw.json("", "", map[string]any{"type": "tool-output-available", "toolCallId": p.CallID, "output": out, "dynamic": true})
	case *aios.ToolCallFailed:
		v.start()
		v.sw.json("", "", map[string]any{"type": "tool-output-error", "toolCallId": p.CallID, "errorText": p.Error, "dynamic": true})
	case *aios.StepFinished:
		v.start()
		v.closeText()
		v.sw.json("", "", map[string]string{"type": "finish-step"})
		v.sw.json("", "", map[string]string{"type": "start-step"})
	}
}

func (v *vercelEnc) delta(t string) { v.text(t) }

func (v *vercelEnc) done(res runtime.Result, err error) {
	v.start()
	v.closeText()
	if err != nil && res.Status != runtime.StatusCancelled {
		v.sw.json("", "", map[string]string{"type": "error", "errorText": err.Error()})
	}
	v.sw.json("", "", map[string]string{"type": "finish-step"})
	v.sw.json("", "", map[string]string{"type": "finish"})
	v.sw.send("", "", []byte("[DONE]"))
}

// streamRun runs the agent and streams the run in format.
func (s *Server) streamRun(w http.ResponseWriter, r *http.Request, st aios.StreamID, input, format string) {
	sw := newSSE(w, format)
	enc := newEncoder(format, sw, s.ids.NewID(), time.Now().Unix(), s.cfg.Runtime.Provider().Name())
	res, err := s.cfg.Runtime.Run(r.Context(), st, runtime.RunOptions{
		Input:   input,
		OnDelta: enc.delta,
		OnEvent: func(e aios.EventEnvelope) {
			if _, ok := e.Payload.(*aios.AssistantTextDelta); ok {
				return // already sent live
			}
			if _, ok := e.Payload.(*aios.RunFinished); ok && format != FormatCanonical {
				return // done() closes the message
			}
			enc.event(e)
		},
	})
	s.metrics.run(res.Status)
	enc.done(res, err)
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
	sw := newSSE(w, format)
	enc := newEncoder(format, sw, st.Session, time.Now().Unix(), s.cfg.Runtime.Provider().Name())
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
					sw.json("", "error", map[string]string{"error": err.Error()})
				default:
				}
				return
			}
			enc.event(e)
		case <-tick.C:
			sw.comment("keep-alive")
		case <-ctx.Done():
			return
		case <-s.closing:
			return
		}
	}
}

func timeSince(t time.Time) float64 { return time.Since(t).Seconds() }
