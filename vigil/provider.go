package vigil

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"strings"
	"time"

	"github.com/lifeos/life/aios"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.41.0"
	"go.opentelemetry.io/otel/trace"
)

// WrapProvider returns p with a `chat {model}` client span per call (the
// request's model, else the one the response names) carrying
// the GenAI request and response attributes, and the token usage, operation
// duration and estimated cost metrics. Message content goes on the span only
// when capture is on. The span ends, and the metrics are recorded, on
// vigil's goroutine just after the stream ends (see [Telemetry.WrapJournal]).
// A disabled Telemetry returns p itself.
func (t *Telemetry) WrapProvider(p aios.Provider) aios.Provider {
	if !t.enabled || p == nil {
		return p
	}
	return &provider{next: p, t: t}
}

type provider struct {
	next aios.Provider
	t    *Telemetry
	sets metricSets // by provider, request model and response model
}

func (p *provider) Name() string { return p.next.Name() }

// Unwrap returns the wrapped provider.
func (p *provider) Unwrap() aios.Provider { return p.next }

// chatSets are the metric attribute sets of a successful call, made once
// per provider and models: computing a set sorts and allocates.
type chatSets struct {
	input, output, duration measure
}

func (p *provider) Stream(ctx context.Context, req aios.ChatRequest) iter.Seq2[aios.ProviderEvent, error] {
	return func(yield func(aios.ProviderEvent, error) bool) {
		t := p.t
		ctx, b, runID := t.parent(ctx)
		pname := p.next.Name()
		name := "chat"
		if req.Model != "" {
			name += " " + req.Model
		}
		kv := make([]attribute.KeyValue, 0, 12)
		kv = append(kv, AttrGenAISystem.String(pname), semconv.GenAIOperationNameChat, semconv.GenAIProviderNameKey.String(pname))
		if req.Model != "" {
			kv = append(kv, semconv.GenAIRequestModel(req.Model))
		}
		kv = b.appendAttrs(kv, runID)
		if req.MaxTokens > 0 {
			kv = append(kv, semconv.GenAIRequestMaxTokens(int(req.MaxTokens)))
		}
		if req.Temperature != nil {
			kv = append(kv, semconv.GenAIRequestTemperature(*req.Temperature))
		}
		if req.TopP != nil {
			kv = append(kv, semconv.GenAIRequestTopP(*req.TopP))
		}
		kv = append(kv, semconv.GenAIRequestStream(true))
		ctx, span := t.tracer.Start(ctx, name, spanKindClient, trace.WithAttributes(kv...))
		ended := false
		defer func() {
			if !ended { // the provider or the consumer's loop body panicked
				span.SetStatus(codes.Error, "panic")
				span.End()
			}
		}()
		if t.capture && span.IsRecording() {
			t.captureRequest(span, req)
		}

		began := time.Now()
		// One struct: the loop body is a closure, and each variable it sets
		// would be a heap allocation of its own.
		var st struct {
			finish    *aios.Finish
			text      strings.Builder
			calls     []aios.ToolCall
			streamErr error
			firstAt   time.Time
		}
		for ev, err := range p.next.Stream(ctx, req) {
			if err != nil {
				st.streamErr = err
				yield(ev, err)
				break
			}
			if st.firstAt.IsZero() {
				st.firstAt = time.Now()
			}
			switch ev.Kind {
			case aios.ProviderTextDelta:
				if t.capture {
					st.text.WriteString(ev.Text)
				}
			case aios.ProviderToolCall:
				if ev.ToolCall != nil && t.capture {
					st.calls = append(st.calls, *ev.ToolCall)
				}
			case aios.ProviderDone:
				st.finish = ev.Finish
			}
			if !yield(ev, nil) {
				st.streamErr = context.Canceled // the consumer stopped early
				if st.finish != nil {
					st.streamErr = nil
				}
				break
			}
		}
		dur := time.Since(began)
		finish, text, calls, streamErr, firstAt := st.finish, &st.text, st.calls, st.streamErr, st.firstAt

		// The response attributes in one call: each call may grow the
		// span's attribute slice.
		out := make([]attribute.KeyValue, 0, 8)
		if !firstAt.IsZero() {
			out = append(out, semconv.GenAIResponseTimeToFirstChunk(firstAt.Sub(began).Seconds()))
		}
		var respModel string
		if finish != nil {
			respModel = finish.Model
			if finish.ResponseID != "" {
				out = append(out, semconv.GenAIResponseID(finish.ResponseID))
			}
			if finish.Model != "" {
				out = append(out, semconv.GenAIResponseModel(finish.Model))
				if req.Model == "" {
					// The provider picked its default model: name the span after it.
					span.SetName("chat " + finish.Model)
				}
			}
			if finish.StopReason != "" {
				out = append(out, semconv.GenAIResponseFinishReasons(finish.StopReason))
			}
			out = append(out, semconv.GenAIUsageInputTokens(int(finish.Usage.PromptTokens)),
				semconv.GenAIUsageOutputTokens(int(finish.Usage.CompletionTokens)))
		} else if streamErr == nil {
			streamErr = errors.New("provider stream ended without a done event")
		}
		if streamErr != nil {
			et := errorType(streamErr)
			t.recordError(span, streamErr)
			out = append(out, semconv.ErrorTypeKey.String(et))
		}
		if t.capture && span.IsRecording() && finish != nil {
			t.captureResponse(span, text.String(), calls, finish.StopReason)
		}

		// The metrics and the end on the finisher: the caller goes on with
		// the response meanwhile.
		ended = true
		endAt := trace.WithTimestamp(began.Add(dur))
		t.fin.add(func() {
			span.SetAttributes(out...)
			metricAttrs := func(extra ...attribute.KeyValue) []attribute.KeyValue {
				kv := make([]attribute.KeyValue, 0, 5)
				kv = append(kv, semconv.GenAIOperationNameChat, semconv.GenAIProviderNameKey.String(pname))
				if req.Model != "" {
					kv = append(kv, semconv.GenAIRequestModel(req.Model))
				}
				if respModel != "" {
					kv = append(kv, semconv.GenAIResponseModel(respModel))
				}
				return append(kv, extra...)
			}
			if streamErr != nil {
				t.inst.opDuration.Record(ctx, dur.Seconds(), metric.WithAttributes(metricAttrs(semconv.ErrorTypeKey.String(errorType(streamErr)))...))
			}
			if finish != nil {
				sets := p.sets.get(metricKey{pname, req.Model, respModel}, func() any {
					return &chatSets{
						input:    newMeasure(metric.WithAttributes(metricAttrs(semconv.GenAITokenTypeInput)...)),
						output:   newMeasure(metric.WithAttributes(metricAttrs(semconv.GenAITokenTypeOutput)...)),
						duration: newMeasure(metric.WithAttributes(metricAttrs()...)),
					}
				}).(*chatSets)
				t.inst.tokenUsage.Record(ctx, int64(finish.Usage.PromptTokens), sets.input.rec...)
				t.inst.tokenUsage.Record(ctx, int64(finish.Usage.CompletionTokens), sets.output.rec...)
				if price, ok := t.price(req.Model, finish.Model); ok {
					cost := (float64(finish.Usage.PromptTokens)*price.InputPerMTok + float64(finish.Usage.CompletionTokens)*price.OutputPerMTok) / 1e6
					t.inst.costEstimated.Add(ctx, cost, sets.duration.add...)
				}
				if streamErr == nil {
					t.inst.opDuration.Record(ctx, dur.Seconds(), sets.duration.rec...)
				}
			}
			span.End(endAt)
		})
	}
}

func (t *Telemetry) price(models ...string) (Price, bool) {
	for _, m := range models {
		if p, ok := t.pricing[m]; ok && m != "" {
			return p, true
		}
	}
	return Price{}, false
}

// errorType is the error.type value: a well-known class, else the Go type.
func errorType(err error) string {
	switch {
	case errors.Is(err, context.Canceled):
		return "cancelled"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, aios.ErrNotFound):
		return "not_found"
	case errors.Is(err, aios.ErrUnsupported):
		return "unsupported"
	}
	return fmt.Sprintf("%T", err)
}

// The message shapes of gen_ai.input.messages / gen_ai.output.messages.
type msgPart struct {
	Type      string          `json:"type"`
	Content   string          `json:"content,omitempty"`
	ID        string          `json:"id,omitempty"`
	Name      string          `json:"name,omitempty"`
	Arguments json.RawMessage `json:"arguments,omitempty"`
	Response  string          `json:"response,omitempty"`
}

type genMessage struct {
	Role         string    `json:"role"`
	Parts        []msgPart `json:"parts"`
	FinishReason string    `json:"finish_reason,omitempty"`
}

// recordError puts err on span as an exception event and the error status
// with its message passed through the redactor (kind "error"): an error can
// quote a prompt, tool arguments or a tool's output, and unlike content it
// is recorded whether capture is on or not.
func (t *Telemetry) recordError(span trace.Span, err error) {
	if t.redact == nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
		return
	}
	msg := t.redact("error", err.Error())
	span.AddEvent(semconv.ExceptionEventName, trace.WithAttributes(
		semconv.ExceptionType(fmt.Sprintf("%T", err)), semconv.ExceptionMessage(msg)))
	span.SetStatus(codes.Error, msg)
}

func (t *Telemetry) redactText(kind, s string) string {
	if t.redact == nil {
		return s
	}
	return t.redact(kind, s)
}

// redactArgs applies the redactor to JSON arguments; when the result is no
// longer JSON it is carried as a JSON string.
func (t *Telemetry) redactArgs(kind string, raw json.RawMessage) json.RawMessage {
	if t.redact == nil && json.Valid(raw) {
		return raw
	}
	s := t.redactText(kind, string(raw))
	if json.Valid([]byte(s)) {
		return json.RawMessage(s)
	}
	b, _ := json.Marshal(s)
	return b
}

func (t *Telemetry) captureRequest(span trace.Span, req aios.ChatRequest) {
	if req.System != "" {
		sys, _ := json.Marshal([]msgPart{{Type: "text", Content: t.redactText("system", req.System)}})
		span.SetAttributes(semconv.GenAISystemInstructionsKey.String(string(sys)))
	}
	msgs := make([]genMessage, 0, len(req.Messages))
	for _, m := range req.Messages {
		g := genMessage{Role: string(m.Role)}
		switch {
		case m.Role == aios.RoleTool:
			g.Parts = append(g.Parts, msgPart{Type: "tool_call_response", ID: m.ToolCallID, Response: t.redactText("tool", m.Content)})
		case m.Content != "":
			g.Parts = append(g.Parts, msgPart{Type: "text", Content: t.redactText(string(m.Role), m.Content)})
		}
		for _, c := range m.ToolCalls {
			g.Parts = append(g.Parts, msgPart{Type: "tool_call", ID: c.ID, Name: c.Name, Arguments: t.redactArgs("tool_call.arguments", c.Arguments)})
		}
		msgs = append(msgs, g)
	}
	if b, err := json.Marshal(msgs); err == nil {
		span.SetAttributes(semconv.GenAIInputMessagesKey.String(string(b)))
	}
}

func (t *Telemetry) captureResponse(span trace.Span, text string, calls []aios.ToolCall, stop string) {
	g := genMessage{Role: "assistant", FinishReason: stop, Parts: []msgPart{}}
	if text != "" {
		g.Parts = append(g.Parts, msgPart{Type: "text", Content: t.redactText("assistant", text)})
	}
	for _, c := range calls {
		g.Parts = append(g.Parts, msgPart{Type: "tool_call", ID: c.ID, Name: c.Name, Arguments: t.redactArgs("tool_call.arguments", c.Arguments)})
	}
	if b, err := json.Marshal([]genMessage{g}); err == nil {
		span.SetAttributes(semconv.GenAIOutputMessagesKey.String(string(b)))
	}
}

// Span kind options, made once (WithSpanKind allocates a closure).
var (
	spanKindClient = trace.WithSpanKind(trace.SpanKindClient)
)
