package sse

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/lifeos/life/aios"
)

// The chat formats render one run (RunStarted .. RunFinished) as one
// assistant message. turn tracks what the three share; each format turns
// its callbacks into messages.

type turnSink interface {
	start(e *aios.EventEnvelope)
	startStep()
	text(delta string)
	endText()
	toolCall(id, name string, args json.RawMessage)
	toolResult(id string, result json.RawMessage)
	toolError(id, msg string)
	finishStep()
	finish(reason string, usage *aios.TokenUsage)
	fail(msg string)
}

type turn struct {
	sink     turnSink
	started  bool
	inStep   bool
	inText   bool
	sawText  bool
	sawTools bool
	done     bool
	model    string
	usage    *aios.TokenUsage
}

func (t *turn) ensureStarted(e *aios.EventEnvelope) {
	if !t.started {
		t.started = true
		t.sink.start(e)
	}
}

func (t *turn) ensureStep(e *aios.EventEnvelope) {
	t.ensureStarted(e)
	if !t.inStep {
		t.inStep = true
		t.sink.startStep()
	}
}

func (t *turn) closeText() {
	if t.inText {
		t.inText = false
		t.sink.endText()
	}
}

func (t *turn) emitText(e *aios.EventEnvelope, s string) {
	if s == "" {
		return
	}
	t.ensureStep(e)
	t.inText = true
	t.sawText = true
	t.sink.text(s)
}

// feed routes one event; it returns false when the event means nothing to
// the chat formats.
func (t *turn) feed(e *aios.EventEnvelope) bool {
	if t.done {
		return false
	}
	switch p := e.Payload.(type) {
	case *aios.RunStarted:
		t.ensureStarted(e)
	case *aios.StepStarted:
		if t.inStep {
			t.closeText()
			t.sink.finishStep()
			t.inStep = false
		}
		t.ensureStep(e)
	case *aios.AssistantTextDelta:
		t.emitText(e, p.Delta)
	case *aios.TextDelta:
		t.emitText(e, p.Delta)
	case *aios.AssistantMessageCommitted:
		t.noteModel(p.Model, p.TokenUsage)
		if !t.sawText {
			t.emitText(e, p.Content)
		}
	case *aios.Message:
		if p.Role != "assistant" {
			return false
		}
		t.noteModel(p.Model, p.TokenUsage)
		if !t.sawText {
			t.emitText(e, p.Content)
		}
	case *aios.ToolCallRequested:
		t.ensureStep(e)
		t.closeText()
		t.sawTools = true
		args := p.Arguments
		if len(args) == 0 {
			args = json.RawMessage("{}")
		}
		t.sink.toolCall(p.CallID, p.ToolName, args)
	case *aios.ToolCallCompleted:
		callID := p.CallID
		if callID == "" {
			callID = p.ToolRunID
		}
		t.ensureStep(e)
		t.closeText()
		result := p.Result
		if len(result) == 0 {
			result = json.RawMessage("null")
		}
		t.sink.toolResult(callID, result)
	case *aios.ToolCallFailed:
		t.ensureStep(e)
		t.closeText()
		t.sink.toolError(p.CallID, p.Error)
	case *aios.StepFinished:
		if !t.inStep {
			return false
		}
		t.closeText()
		t.sink.finishStep()
		t.inStep = false
	case *aios.RunFinished:
		if !t.sawText && p.FinalAnswer != "" {
			t.emitText(e, p.FinalAnswer)
		}
		if p.Usage != nil {
			t.usage = p.Usage
		}
		t.ensureStarted(e)
		t.closeText()
		if t.inStep {
			t.sink.finishStep()
			t.inStep = false
		}
		t.sink.finish(p.Reason, t.usage)
		t.done = true
	case *aios.RunErrored:
		t.ensureStarted(e)
		t.closeText()
		t.sink.fail(p.Error)
		t.done = true
	case *aios.ErrorRaised:
		if !t.started {
			return false
		}
		t.closeText()
		t.sink.fail(p.Message)
		t.done = true
	default:
		return false
	}
	return true
}

func (t *turn) noteModel(model string, u *aios.TokenUsage) {
	if model != "" {
		t.model = model
	}
	if u != nil {
		t.usage = u
	}
}

// collector gathers the messages of one event; the seq id goes on the last
// one so a resumed stream never repeats or skips part of an event.
type collector struct {
	msgs []Message
}

func (c *collector) add(event string, v any) {
	b, err := marshal(v)
	if err != nil {
		b = []byte(`{"error":"encode"}`) // only plain maps and strings reach here
	}
	c.msgs = append(c.msgs, Message{Event: event, Data: b})
}

func (c *collector) raw(event, data string) {
	c.msgs = append(c.msgs, Message{Event: event, Data: []byte(data)})
}

func (c *collector) take(seq uint64) []Message {
	out := c.msgs
	c.msgs = nil
	if len(out) > 0 {
		out[len(out)-1].ID = id(seq)
	}
	return out
}

func marshal(v any) ([]byte, error) {
	// chat payloads are ours; HTML escaping would only garble text deltas
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return b, nil
}

func runID(e *aios.EventEnvelope) string {
	if e.RunID != "" {
		return e.RunID
	}
	return e.EventID
}

// ---- openai: chat.completion.chunk ----

type openAI struct {
	collector
	t       turn
	opts    Options
	id      string
	created int64
	tools   int
}

func newOpenAI(opts Options) *openAI {
	o := &openAI{opts: opts}
	o.t.sink = o
	return o
}

func (o *openAI) Format() string { return "openai" }
func (o *openAI) Done() bool     { return o.t.done }
func (o *openAI) Header(h http.Header) {
	setStreamHeaders(h)
}

func (o *openAI) Encode(e aios.EventEnvelope) ([]Message, error) {
	if o.created == 0 {
		o.created = int64(e.Timestamp / 1_000_000)
	}
	o.t.feed(&e)
	return o.take(e.Seq), nil
}

func (o *openAI) model() string {
	if o.t.model != "" {
		return o.t.model
	}
	return o.opts.Model
}

func (o *openAI) chunk(delta map[string]any, finish any) {
	o.add("", map[string]any{
		"id": o.id, "object": "chat.completion.chunk", "created": o.created, "model": o.model(),
		"choices": []any{map[string]any{"index": 0, "delta": delta, "finish_reason": finish}},
	})
}

func (o *openAI) start(e *aios.EventEnvelope) {
	o.id = "chatcmpl-" + runID(e)
	o.chunk(map[string]any{"role": "assistant", "content": ""}, nil)
}
func (o *openAI) startStep()                         {}
func (o *openAI) endText()                           {}
func (o *openAI) finishStep()                        {}
func (o *openAI) text(d string)                      { o.chunk(map[string]any{"content": d}, nil) }
func (o *openAI) toolError(string, string)           {}
func (o *openAI) toolResult(string, json.RawMessage) {}
func (o *openAI) toolCall(id, name string, args json.RawMessage) {
	o.chunk(map[string]any{"tool_calls": []any{map[string]any{
		"index": o.tools, "id": id, "type": "function",
		"function": map[string]any{"name": name, "arguments": string(args)},
	}}}, nil)
	o.tools++
}

func (o *openAI) finish(reason string, usage *aios.TokenUsage) {
	fr := "stop"
	switch reason {
	case "tool_call", "tool_calls":
		fr = "tool_calls"
	case "max_iterations", "max_tokens", "length":
		fr = "length"
	}
	o.chunk(map[string]any{}, fr)
	if usage != nil {
		o.add("", map[string]any{
			"id": o.id, "object": "chat.completion.chunk", "created": o.created, "model": o.model(),
			"choices": []any{},
			"usage":   map[string]any{"prompt_tokens": usage.PromptTokens, "completion_tokens": usage.CompletionTokens, "total_tokens": usage.TotalTokens},
		})
	}
	o.raw("", "[DONE]")
}

func (o *openAI) fail(msg string) {
	o.add("", map[string]any{"error": map[string]any{"message": msg, "type": "server_error"}})
	o.raw("", "[DONE]")
}

// ---- anthropic: Messages API stream ----

type anthropic struct {
	collector
	t     turn
	opts  Options
	block int // index of the open or next content block
	open  bool
}

func newAnthropic(opts Options) *anthropic {
	a := &anthropic{opts: opts}
	a.t.sink = a
	return a
}

func (a *anthropic) Format() string       { return "anthropic" }
func (a *anthropic) Done() bool           { return a.t.done }
func (a *anthropic) Header(h http.Header) { setStreamHeaders(h) }

func (a *anthropic) Encode(e aios.EventEnvelope) ([]Message, error) {
	a.t.feed(&e)
	return a.take(e.Seq), nil
}

func (a *anthropic) start(e *aios.EventEnvelope) {
	model := a.opts.Model
	a.add("message_start", map[string]any{"type": "message_start", "message": map[string]any{
		"id": "msg_" + runID(e), "type": "message", "role": "assistant", "model": model,
		"content": []any{}, "stop_reason": nil, "stop_sequence": nil,
		"usage": map[string]any{"input_tokens": 0, "output_tokens": 0},
	}})
}
func (a *anthropic) startStep()  {}
func (a *anthropic) finishStep() {}

func (a *anthropic) closeBlock() {
	if a.open {
		a.add("content_block_stop", map[string]any{"type": "content_block_stop", "index": a.block})
		a.open = false
		a.block++
	}
}

func (a *anthropic) text(d string) {
	if !a.open {
		a.add("content_block_start", map[string]any{"type": "content_block_start", "index": a.block,
			"content_block": map[string]any{"type": "text", "text": ""}})
		a.open = true
	}
	a.add("content_block_delta", map[string]any{"type": "content_block_delta", "index": a.block,
		"delta": map[string]any{"type": "text_delta", "text": d}})
}

func (a *anthropic) endText() { a.closeBlock() }

func (a *anthropic) toolCall(id, name string, args json.RawMessage) {
	a.closeBlock()
	a.add("content_block_start", map[string]any{"type": "content_block_start", "index": a.block,
		"content_block": map[string]any{"type": "tool_use", "id": id, "name": name, "input": map[string]any{}}})
	a.open = true
	a.add("content_block_delta", map[string]any{"type": "content_block_delta", "index": a.block,
		"delta": map[string]any{"type": "input_json_delta", "partial_json": string(args)}})
	a.closeBlock()
}
func (a *anthropic) toolResult(string, json.RawMessage) {}
func (a *anthropic) toolError(string, string)           {}

func (a *anthropic) finish(reason string, usage *aios.TokenUsage) {
	a.closeBlock()
	sr := "end_turn"
	switch reason {
	case "tool_call", "tool_calls":
		sr = "tool_use"
	case "max_iterations", "max_tokens", "length":
		sr = "max_tokens"
	}
	out := uint32(0)
	if usage != nil {
		out = usage.CompletionTokens
	}
	a.add("message_delta", map[string]any{"type": "message_delta",
		"delta": map[string]any{"stop_reason": sr, "stop_sequence": nil},
		"usage": map[string]any{"output_tokens": out}})
	a.add("message_stop", map[string]any{"type": "message_stop"})
}

func (a *anthropic) fail(msg string) {
	a.closeBlock()
	a.add("error", map[string]any{"type": "error", "error": map[string]any{"type": "api_error", "message": msg}})
}

// ---- vercel: AI SDK UI message stream v1 ----

type vercel struct {
	collector
	t      turn
	opts   Options
	textN  int
	textID string
}

func newVercel(opts Options) *vercel {
	v := &vercel{opts: opts}
	v.t.sink = v
	return v
}

func (v *vercel) Format() string { return "vercel" }
func (v *vercel) Done() bool     { return v.t.done }

// Header sets the UI message stream headers.
func (v *vercel) Header(h http.Header) {
	setStreamHeaders(h)
	h.Set("x-vercel-ai-ui-message-stream", "v1")
}

func (v *vercel) Encode(e aios.EventEnvelope) ([]Message, error) {
	v.t.feed(&e)
	return v.take(e.Seq), nil
}

func (v *vercel) start(e *aios.EventEnvelope) {
	v.add("", map[string]any{"type": "start", "messageId": "msg-" + runID(e)})
}
func (v *vercel) startStep()  { v.add("", map[string]any{"type": "start-step"}) }
func (v *vercel) finishStep() { v.add("", map[string]any{"type": "finish-step"}) }

func (v *vercel) text(d string) {
	if v.textID == "" {
		v.textN++
		v.textID = "text-" + strconv.Itoa(v.textN)
		v.add("", map[string]any{"type": "text-start", "id": v.textID})
	}
	v.add("", map[string]any{"type": "text-delta", "id": v.textID, "delta": d})
}

func (v *vercel) endText() {
	if v.textID != "" {
		v.add("", map[string]any{"type": "text-end", "id": v.textID})
		v.textID = ""
	}
}

func (v *vercel) toolCall(id, name string, args json.RawMessage) {
	v.add("", map[string]any{"type": "tool-input-start", "toolCallId": id, "toolName": name})
	v.add("", map[string]any{"type": "tool-input-delta", "toolCallId": id, "inputTextDelta": string(args)})
	v.add("", map[string]any{"type": "tool-input-available", "toolCallId": id, "toolName": name, "input": args})
}

func (v *vercel) toolResult(id string, result json.RawMessage) {
	v.add("", map[string]any{"type": "tool-output-available", "toolCallId": id, "output": result})
}

func (v *vercel) toolError(id, msg string) {
	v.add("", map[string]any{"type": "tool-output-error", "toolCallId": id, "errorText": msg})
}

func (v *vercel) finish(reason string, _ *aios.TokenUsage) {
	fr := "stop"
	switch reason {
	case "tool_call", "tool_calls":
		fr = "tool-calls"
	case "max_iterations", "max_tokens", "length":
		fr = "length"
	case "error":
		fr = "error"
	case "cancelled":
		fr = "other"
	}
	v.add("", map[string]any{"type": "finish", "finishReason": fr})
	v.raw("", "[DONE]")
}

func (v *vercel) fail(msg string) {
	v.add("", map[string]any{"type": "error", "errorText": msg})
	v.raw("", "[DONE]")
}
