package vigil

import (
	"context"
	"encoding/json"
	"time"

	"github.com/lifeos/life/aios"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.41.0"
	"go.opentelemetry.io/otel/trace"
)

// WrapTool returns tool with an `execute_tool {name}` span per call and the
// tool execution, failure and duration metrics. A call that returns an error
// or an IsError result counts as a failure. A disabled Telemetry returns
// tool itself.
func (t *Telemetry) WrapTool(tool aios.Tool) aios.Tool {
	if !t.enabled || tool == nil {
		return tool
	}
	if w, ok := tool.(*wrappedTool); ok && w.t == t {
		return tool
	}
	return &wrappedTool{next: tool, t: t, spec: tool.Spec()}
}

type wrappedTool struct {
	next aios.Tool
	t    *Telemetry
	spec aios.ToolSpec
}

func (w *wrappedTool) Spec() aios.ToolSpec { return w.next.Spec() }

// Unwrap returns the wrapped tool.
func (w *wrappedTool) Unwrap() aios.Tool { return w.next }

func (w *wrappedTool) Call(ctx context.Context, args json.RawMessage) (aios.ToolResult, error) {
	t := w.t
	ctx, b, streamAttrs := t.parent(ctx)
	name := w.spec.Name
	kv := append([]attribute.KeyValue{
		semconv.GenAIOperationNameExecuteTool,
		semconv.GenAIToolName(name),
		semconv.GenAIToolType("function"),
	}, streamAttrs...)
	if w.spec.Description != "" {
		kv = append(kv, semconv.GenAIToolDescription(w.spec.Description))
	}
	callID, _ := ctx.Value(callIDKey{}).(string)
	if callID == "" && b != nil {
		callID = b.runs.claimCall(b.stream, name)
	}
	if callID != "" {
		kv = append(kv, semconv.GenAIToolCallID(callID))
	}
	ctx, span := t.tracer.Start(ctx, "execute_tool "+name, trace.WithSpanKind(trace.SpanKindInternal), trace.WithAttributes(kv...))
	defer span.End()
	if t.capture && span.IsRecording() {
		span.SetAttributes(semconv.GenAIToolCallArgumentsKey.String(string(t.redactArgs("tool_call.arguments", args))))
	}

	began := time.Now()
	res, err := w.next.Call(ctx, args)
	dur := time.Since(began)

	outcome := "ok"
	mkv := []attribute.KeyValue{semconv.GenAIToolName(name)}
	switch {
	case err != nil:
		outcome = "error"
		et := errorType(err)
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
		span.SetAttributes(semconv.ErrorTypeKey.String(et))
		mkv = append(mkv, semconv.ErrorTypeKey.String(et))
	case res.IsError:
		outcome = "tool_error"
		span.SetStatus(codes.Error, "tool returned an error result")
		span.SetAttributes(semconv.ErrorTypeKey.String("tool_error"))
		mkv = append(mkv, semconv.ErrorTypeKey.String("tool_error"))
	}
	span.SetAttributes(AttrToolOutcome.String(outcome))
	if err == nil && t.capture && span.IsRecording() {
		span.SetAttributes(semconv.GenAIToolCallResultKey.String(string(t.redactArgs("tool_call.result", res.Output))))
	}
	t.inst.toolExec.Add(ctx, 1, metric.WithAttributes(semconv.GenAIToolName(name), AttrToolOutcome.String(outcome)))
	if outcome != "ok" {
		t.inst.toolFail.Add(ctx, 1, metric.WithAttributes(mkv...))
	}
	t.inst.toolDuration.Record(ctx, dur.Seconds(), metric.WithAttributes(semconv.GenAIToolName(name), AttrToolOutcome.String(outcome)))
	return res, err
}

// WrapRegistry returns r with every tool it hands out wrapped by WrapTool.
func (t *Telemetry) WrapRegistry(r aios.ToolRegistry) aios.ToolRegistry {
	if !t.enabled || r == nil {
		return r
	}
	return &registry{next: r, t: t}
}

type registry struct {
	next aios.ToolRegistry
	t    *Telemetry
}

func (r *registry) Tool(name string) (aios.Tool, bool) {
	tool, ok := r.next.Tool(name)
	if !ok {
		return tool, ok
	}
	return r.t.WrapTool(tool), true
}

func (r *registry) Specs() []aios.ToolSpec { return r.next.Specs() }
