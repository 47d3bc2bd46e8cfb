package vigil

import (
	"context"

	"github.com/lifeos/life/aios"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

type bindingKey struct{}

type binding struct {
	runs   *RunTracer
	stream aios.StreamID
	span   trace.SpanID // ctx's span when bound: a newer span in ctx wins
}

type callIDKey struct{}

// Bind returns a context that ties the calls made with it to a journal
// stream: the provider and tool decorators then open their chat and
// execute_tool spans under the stream's current run or phase span, as the
// run tracer derived it from the journal, and carry life.session_id,
// life.branch_id and life.run_id. A span started in the context after Bind
// takes precedence. The runtime calls it once per run.
func (t *Telemetry) Bind(ctx context.Context, stream aios.StreamID) context.Context {
	if !t.enabled {
		return ctx
	}
	return context.WithValue(ctx, bindingKey{}, &binding{
		runs: t.runs, stream: stream, span: trace.SpanContextFromContext(ctx).SpanID(),
	})
}

// WithToolCallID tells the tool decorator the model's id for the call made
// with ctx. Without it the decorator takes the id from the stream's pending
// ToolCallRequested events.
func WithToolCallID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, callIDKey{}, id)
}

// parent returns ctx with the span new spans should hang under, the bound
// stream (nil when none) and the id of its open run.
func (t *Telemetry) parent(ctx context.Context) (context.Context, *binding, string) {
	b, _ := ctx.Value(bindingKey{}).(*binding)
	if b == nil || b.runs != t.runs {
		return ctx, nil, ""
	}
	sp, runID := t.runs.current(b.stream)
	if sp != nil && trace.SpanContextFromContext(ctx).SpanID() == b.span {
		ctx = trace.ContextWithSpan(ctx, sp)
	}
	return ctx, b, runID
}

// appendAttrs appends the life.* attributes of the bound stream, if any.
func (b *binding) appendAttrs(kv []attribute.KeyValue, runID string) []attribute.KeyValue {
	if b == nil {
		return kv
	}
	kv = append(kv, AttrSessionID.String(b.stream.Session), AttrBranchID.String(b.stream.Branch))
	if runID != "" {
		kv = append(kv, AttrRunID.String(runID))
	}
	return kv
}

// SpanContextFromEvent returns the trace context an event was journaled
// under (its trace_id and span_id metadata), marked remote; ok is false when
// the event carries none or a malformed one.
func SpanContextFromEvent(env aios.EventEnvelope) (trace.SpanContext, bool) {
	tid, err := trace.TraceIDFromHex(env.TraceID())
	if err != nil {
		return trace.SpanContext{}, false
	}
	sid, err := trace.SpanIDFromHex(env.SpanID())
	if err != nil {
		return trace.SpanContext{}, false
	}
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled, Remote: true,
	})
	return sc, sc.IsValid()
}

// ContextWithEvent returns ctx carrying the event's original trace context
// as a remote parent, so work that continues a replayed session joins the
// trace the session was first written under. Without trace metadata it
// returns ctx unchanged.
func ContextWithEvent(ctx context.Context, env aios.EventEnvelope) context.Context {
	if sc, ok := SpanContextFromEvent(env); ok {
		return trace.ContextWithRemoteSpanContext(ctx, sc)
	}
	return ctx
}
