package vigil

import (
	"context"
	"log/slog"

	"go.opentelemetry.io/otel/trace"
)

// Log attribute keys for the trace context, as the OTel log data model names
// them.
const (
	LogTraceID = "trace_id"
	LogSpanID  = "span_id"
)

// LogHandler wraps h so that every record logged with a context that carries
// a span gets trace_id and span_id attributes (W3C hex) at the top level,
// also under a logger's WithGroup, which lets a log backend join logs to
// traces.
func LogHandler(h slog.Handler) slog.Handler { return &logHandler{next: h, base: h} }

type logHandler struct {
	next slog.Handler // base with the chain applied
	base slog.Handler
	// chain replays the WithAttrs and WithGroup calls made since base, once
	// one of them opened a group: a record's own attributes land in the
	// innermost group, so the trace ids then go on base, below the chain.
	chain []func(slog.Handler) slog.Handler
	group bool
}

func (h *logHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

func (h *logHandler) Handle(ctx context.Context, r slog.Record) error {
	if ctx == nil {
		return h.next.Handle(ctx, r)
	}
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return h.next.Handle(ctx, r)
	}
	ids := []slog.Attr{slog.String(LogTraceID, sc.TraceID().String()), slog.String(LogSpanID, sc.SpanID().String())}
	if !h.group {
		r = r.Clone()
		r.AddAttrs(ids...)
		return h.next.Handle(ctx, r)
	}
	next := h.base.WithAttrs(ids)
	for _, f := range h.chain {
		next = f(next)
	}
	return next.Handle(ctx, r)
}

func (h *logHandler) with(f func(slog.Handler) slog.Handler, group bool) *logHandler {
	return &logHandler{
		next:  f(h.next),
		base:  h.base,
		chain: append(h.chain[:len(h.chain):len(h.chain)], f),
		group: h.group || group,
	}
}

func (h *logHandler) WithAttrs(as []slog.Attr) slog.Handler {
	if len(as) == 0 {
		return h
	}
	return h.with(func(n slog.Handler) slog.Handler { return n.WithAttrs(as) }, false)
}

func (h *logHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	return h.with(func(n slog.Handler) slog.Handler { return n.WithGroup(name) }, true)
}
