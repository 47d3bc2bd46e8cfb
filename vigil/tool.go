package vigil

import (
	"context"
	"encoding/json"
	"slices"
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
// or an IsError result counts as a failure. The span ends, and the metrics
// are recorded, on vigil's goroutine just after the call returns (see
// [Telemetry.WrapJournal]). A disabled Telemetry returns tool itself.
func (t *Telemetry) WrapTool(tool aios.Tool) aios.Tool {
	if !t.enabled || tool == nil {
		return tool
	}
	if w, ok := tool.(*wrappedTool); ok && w.t == t {
		return tool
	}
	spec := tool.Spec()
	info := t.tools.get(metricKey{a: spec.Name, b: spec.Description}, func() any { return newToolInfo(spec) }).(*toolInfo)
	return &wrappedTool{next: tool, t: t, info: info}
}

type wrappedTool struct {
	next aios.Tool
	t    *Telemetry
	info *toolInfo
}

// toolInfo is what a tool's spans and metrics share from call to call,
// made once per tool (by name and description).
type toolInfo struct {
	name     string
	spanName string
	attrs    []attribute.KeyValue // start attributes, cap == len
	// metric options of the outcomes that carry no Go error: by tool and
	// outcome (executions, duration), by tool and error type (failures)
	ok, toolErr, failToolErr measure
}

func newToolInfo(spec aios.ToolSpec) *toolInfo {
	name := spec.Name
	attrs := []attribute.KeyValue{
		semconv.GenAIOperationNameExecuteTool,
		semconv.GenAIToolName(name),
		semconv.GenAIToolType("function"),
	}
	if spec.Description != "" {
		attrs = append(attrs, semconv.GenAIToolDescription(spec.Description))
	}
	byOutcome := func(outcome string) measure {
		return newMeasure(metric.WithAttributes(semconv.GenAIToolName(name), AttrToolOutcome.String(outcome)))
	}
	return &toolInfo{
		name:        name,
		spanName:    "execute_tool " + name,
		attrs:       slices.Clip(attrs),
		ok:          byOutcome("ok"),
		toolErr:     byOutcome("tool_error"),
		failToolErr: newMeasure(metric.WithAttributes(semconv.GenAIToolName(name), semconv.ErrorTypeKey.String("tool_error"))),
	}
}

func (w *wrappedTool) Spec() aios.ToolSpec { return w.next.Spec() }

// Unwrap returns the wrapped tool.
func (w *wrappedTool) Unwrap() aios.Tool { return w.next }

func (w *wrappedTool) Call(ctx context.Context, args json.RawMessage) (aios.ToolResult, error) {
	t, info := w.t, w.info
	ctx, b, runID := t.parent(ctx)
	kv := make([]attribute.KeyValue, 0, len(info.attrs)+4)
	kv = append(kv, info.attrs...)
	kv = b.appendAttrs(kv, runID)
	callID, _ := ctx.Value(callIDKey{}).(string)
	if callID == "" && b != nil {
		callID = b.runs.claimCall(b.stream, info.name)
	}
	if callID != "" {
		kv = append(kv, semconv.GenAIToolCallID(callID))
	}
	// SpanKindInternal is the default kind.
	ctx, span := t.tracer.Start(ctx, info.spanName, trace.WithAttributes(kv...))
	returned := false
	defer func() {
		if !returned { // the tool panicked
			span.SetStatus(codes.Error, "panic")
			span.End()
		}
	}()
	if t.capture && span.IsRecording() {
		span.SetAttributes(semconv.GenAIToolCallArgumentsKey.String(string(t.redactArgs("tool_call.arguments", args))))
	}

	began := time.Now()
	res, err := w.next.Call(ctx, args)
	dur := time.Since(began)
	returned = true
	if t.capture && span.IsRecording() && err == nil {
		span.SetAttributes(semconv.GenAIToolCallResultKey.String(string(t.redactArgs("tool_call.result", res.Output))))
	}
	// The outcome, the metrics and the end on the finisher: the caller goes
	// on with the result meanwhile.
	ended := trace.WithTimestamp(began.Add(dur))
	isError := res.IsError
	t.fin.add(func() {
		switch {
		case err != nil:
			et := errorType(err)
			t.recordError(span, err)
			span.SetAttributes(semconv.ErrorTypeKey.String(et), AttrToolOutcome.String("error"))
			byOutcome := metric.WithAttributes(semconv.GenAIToolName(info.name), AttrToolOutcome.String("error"))
			t.inst.toolExec.Add(ctx, 1, byOutcome)
			t.inst.toolFail.Add(ctx, 1, metric.WithAttributes(semconv.GenAIToolName(info.name), semconv.ErrorTypeKey.String(et)))
			t.inst.toolDuration.Record(ctx, dur.Seconds(), byOutcome)
		case isError:
			span.SetStatus(codes.Error, "tool returned an error result")
			span.SetAttributes(semconv.ErrorTypeKey.String("tool_error"), AttrToolOutcome.String("tool_error"))
			t.inst.toolExec.Add(ctx, 1, info.toolErr.add...)
			t.inst.toolFail.Add(ctx, 1, info.failToolErr.add...)
			t.inst.toolDuration.Record(ctx, dur.Seconds(), info.toolErr.rec...)
		default:
			span.SetAttributes(AttrToolOutcome.String("ok"))
			t.inst.toolExec.Add(ctx, 1, info.ok.add...)
			t.inst.toolDuration.Record(ctx, dur.Seconds(), info.ok.rec...)
		}
		span.End(ended)
	})
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
