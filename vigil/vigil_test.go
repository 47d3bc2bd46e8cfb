package vigil

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"iter"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lifeos/life/aios"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

type harness struct {
	tel    *Telemetry
	rec    flushedRecorder
	reader flushedReader
	fj     *fakeJournal
	ports  turnPorts
}

func newHarness(t *testing.T, cfg Config, opts ...Option) *harness {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	reader := sdkmetric.NewManualReader()
	tel, err := New(context.Background(), cfg, append([]Option{WithSpanProcessor(rec), WithMetricReader(reader), WithAgentName("tester")}, opts...)...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	fj := newFakeJournal()
	return &harness{tel: tel, rec: flushedRecorder{rec, tel}, reader: flushedReader{reader, tel}, fj: fj, ports: turnPorts{
		journal:  tel.WrapJournal(fj),
		provider: tel.WrapProvider(&scriptedProvider{}),
		tools:    tel.WrapRegistry(oneToolRegistry{echoTool{}}),
		bind:     tel.Bind,
		ids:      aios.NewULIDGenerator(nil, nil),
	}}
}

// flushedRecorder is a span recorder whose Ended first settles: vigil ends
// a call's spans on its own goroutine after the call returns.
type flushedRecorder struct {
	*tracetest.SpanRecorder
	tel *Telemetry
}

// flushedReader is a manual metric reader whose Collect first settles, as
// flushedRecorder's Ended does.
type flushedReader struct {
	*sdkmetric.ManualReader
	tel *Telemetry
}

func (r flushedReader) Collect(ctx context.Context, rm *metricdata.ResourceMetrics) error {
	if err := r.tel.Settle(ctx); err != nil {
		return err
	}
	return r.ManualReader.Collect(ctx, rm)
}

func (r flushedRecorder) Ended() []sdktrace.ReadOnlySpan {
	if err := r.tel.Settle(context.Background()); err != nil {
		panic(err) // Background never ends
	}
	return r.SpanRecorder.Ended()
}

func spanAttr(s sdktrace.ReadOnlySpan, k string) (attribute.Value, bool) {
	for _, kv := range s.Attributes() {
		if string(kv.Key) == k {
			return kv.Value, true
		}
	}
	return attribute.Value{}, false
}

func findSpans(spans []sdktrace.ReadOnlySpan, name string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range spans {
		if s.Name() == name {
			out = append(out, s)
		}
	}
	return out
}

func one(t *testing.T, spans []sdktrace.ReadOnlySpan, name string) sdktrace.ReadOnlySpan {
	t.Helper()
	got := findSpans(spans, name)
	if len(got) != 1 {
		t.Fatalf("want one %q span, got %d (all: %v)", name, len(got), names(spans))
	}
	return got[0]
}

func names(spans []sdktrace.ReadOnlySpan) []string {
	var n []string
	for _, s := range spans {
		n = append(n, s.Name())
	}
	return n
}

func byID(spans []sdktrace.ReadOnlySpan) map[trace.SpanID]sdktrace.ReadOnlySpan {
	m := map[trace.SpanID]sdktrace.ReadOnlySpan{}
	for _, s := range spans {
		m[s.SpanContext().SpanID()] = s
	}
	return m
}

// ancestry lists a span's ancestors' names, nearest first.
func ancestry(s sdktrace.ReadOnlySpan, idx map[trace.SpanID]sdktrace.ReadOnlySpan) []string {
	var out []string
	for p := s.Parent(); p.IsValid(); {
		ps, ok := idx[p.SpanID()]
		if !ok {
			break
		}
		out = append(out, ps.Name())
		p = ps.Parent()
	}
	return out
}

func wantAttrs(t *testing.T, s sdktrace.ReadOnlySpan, want map[string]any) {
	t.Helper()
	for k, w := range want {
		v, ok := spanAttr(s, k)
		if !ok {
			t.Errorf("%s: attribute %s missing", s.Name(), k)
			continue
		}
		if got := v.AsInterface(); !equalAny(got, w) {
			t.Errorf("%s: %s = %#v, want %#v", s.Name(), k, got, w)
		}
	}
}

func equalAny(got, want any) bool {
	switch w := want.(type) {
	case int:
		g, ok := got.(int64)
		return ok && g == int64(w)
	case []string:
		g, ok := got.([]string)
		if !ok || len(g) != len(w) {
			return false
		}
		for i := range g {
			if g[i] != w[i] {
				return false
			}
		}
		return true
	}
	return got == want
}

func collect(t *testing.T, r flushedReader) map[string]metricdata.Metrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatalf("collect: %v", err)
	}
	out := map[string]metricdata.Metrics{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			out[m.Name] = m
		}
	}
	return out
}

// sumWhere adds the sums (histograms) or values (counters, gauges) of the
// data points that have attribute k=v (any point when k is "").
func sumWhere(m metricdata.Metrics, k, v string) (float64, int) {
	match := func(s attribute.Set) bool {
		if k == "" {
			return true
		}
		got, ok := s.Value(attribute.Key(k))
		return ok && got.String() == v
	}
	var sum float64
	var n int
	switch d := m.Data.(type) {
	case metricdata.Histogram[int64]:
		for _, p := range d.DataPoints {
			if match(p.Attributes) {
				sum += float64(p.Sum)
				n += int(p.Count)
			}
		}
	case metricdata.Histogram[float64]:
		for _, p := range d.DataPoints {
			if match(p.Attributes) {
				sum += p.Sum
				n += int(p.Count)
			}
		}
	case metricdata.Sum[int64]:
		for _, p := range d.DataPoints {
			if match(p.Attributes) {
				sum += float64(p.Value)
				n++
			}
		}
	case metricdata.Sum[float64]:
		for _, p := range d.DataPoints {
			if match(p.Attributes) {
				sum += p.Value
				n++
			}
		}
	case metricdata.Gauge[float64]:
		for _, p := range d.DataPoints {
			if match(p.Attributes) {
				sum += p.Value
				n++
			}
		}
	}
	return sum, n
}

func TestTurnSpanTree(t *testing.T) {
	h := newHarness(t, Config{})
	stream := aios.StreamID{Session: "sess-1", Branch: "main"}
	answer, err := runTurn(context.Background(), h.ports, stream, "say hi")
	if err != nil || answer != "the echo said hi" {
		t.Fatalf("turn: %q, %v", answer, err)
	}
	spans := h.rec.Ended()
	idx := byID(spans)
	if started := len(h.rec.Started()); started != len(spans) {
		t.Errorf("%d spans started, %d ended", started, len(spans))
	}
	for _, s := range spans {
		if s.Status().Code == codes.Error {
			t.Errorf("%s failed in a completed turn: %v", s.Name(), s.Status())
		}
		// Capture is off by default: no content anywhere.
		for _, k := range []string{"gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.system_instructions",
			"gen_ai.tool.call.arguments", "gen_ai.tool.call.result"} {
			if v, ok := spanAttr(s, k); ok {
				t.Errorf("%s carries %s = %s with capture off", s.Name(), k, v.String())
			}
		}
	}

	run := one(t, spans, "invoke_agent tester")
	if run.Parent().IsValid() {
		t.Errorf("invoke_agent has a parent")
	}
	wantAttrs(t, run, map[string]any{
		"gen_ai.operation.name": "invoke_agent", "gen_ai.provider.name": "mock",
		"gen_ai.agent.name": "tester", "gen_ai.agent.id": "agent-test",
		"gen_ai.conversation.id": "sess-1", "life.session_id": "sess-1", "life.branch_id": "main",
		"life.seq": 2, "life.run.reason": "completed", "life.run.iterations": 2,
		"gen_ai.usage.input_tokens": 24, "gen_ai.usage.output_tokens": 14,
	})
	runID, _ := spanAttr(run, "life.run_id")
	if runID.AsString() == "" {
		t.Errorf("invoke_agent has no life.run_id")
	}

	chats := findSpans(spans, "chat mock-1")
	if len(chats) != 2 {
		t.Fatalf("want 2 chat spans, got %v", names(spans))
	}
	for i, c := range chats {
		if got := ancestry(c, idx); strings.Join(got, "/") != "deliberate/step "+string(rune('0'+i))+"/invoke_agent tester" {
			t.Errorf("chat %d ancestry %v", i, got)
		}
		if c.SpanKind() != trace.SpanKindClient {
			t.Errorf("chat kind %v", c.SpanKind())
		}
		wantAttrs(t, c, map[string]any{
			"gen_ai.operation.name": "chat", "gen_ai.provider.name": "mock", "gen_ai.system": "mock", "gen_ai.request.model": "mock-1",
			"gen_ai.request.max_tokens": 256, "gen_ai.request.temperature": 0.2, "gen_ai.request.top_p": 0.9, "gen_ai.response.model": "mock-1",
			"gen_ai.usage.input_tokens": 12, "gen_ai.usage.output_tokens": 7,
			"life.session_id": "sess-1", "life.branch_id": "main", "life.run_id": runID.AsString(),
		})
		if _, ok := spanAttr(c, "gen_ai.input.messages"); ok {
			t.Errorf("content captured although capture is off")
		}
	}
	wantAttrs(t, chats[0], map[string]any{"gen_ai.response.id": "resp_0", "gen_ai.response.finish_reasons": []string{"tool_use"}})
	wantAttrs(t, chats[1], map[string]any{"gen_ai.response.id": "resp_1", "gen_ai.response.finish_reasons": []string{"end_turn"}})

	tool := one(t, spans, "execute_tool echo")
	if got := ancestry(tool, idx); strings.Join(got, "/") != "execute/step 0/invoke_agent tester" {
		t.Errorf("tool ancestry %v", got)
	}
	wantAttrs(t, tool, map[string]any{
		"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "echo", "gen_ai.tool.call.id": "call_0",
		"gen_ai.tool.type": "function", "life.tool.outcome": "ok",
	})

	phases := map[string]int{}
	for _, s := range spans {
		if v, ok := spanAttr(s, "life.phase"); ok {
			phases[v.AsString()]++
		}
	}
	if phases["perceive"] != 2 || phases["deliberate"] != 2 || phases["execute"] != 1 || phases["commit"] != 1 {
		t.Errorf("phase spans %v", phases)
	}
	if commit := one(t, spans, "commit"); strings.Join(ancestry(commit, idx), "/") != "invoke_agent tester" {
		t.Errorf("commit ancestry %v", ancestry(commit, idx))
	}
	appends := findSpans(spans, "lago append")
	if len(appends) != h.fj.appends || h.fj.appends != 4 {
		t.Errorf("%d append spans for %d appends, want 4", len(appends), h.fj.appends)
	}
	for _, s := range spans {
		if s.SpanContext().TraceID() != run.SpanContext().TraceID() && s.Name() != "lago append" {
			t.Errorf("span %s in another trace", s.Name())
		}
	}

	// Every event of the run carries the trace (the user message too: it
	// joins the run its batch starts); the run's own events carry the span
	// they opened or closed.
	for _, e := range h.fj.events(stream) {
		if e.TraceID() != run.SpanContext().TraceID().String() {
			t.Errorf("%s: trace_id %q, want the run's", e.Payload.Type(), e.TraceID())
		}
		var want trace.SpanID
		switch p := e.Payload.(type) {
		case *aios.RunStarted, *aios.RunFinished:
			want = run.SpanContext().SpanID()
		case *aios.PhaseEntered:
			sid, _ := trace.SpanIDFromHex(e.SpanID())
			if s, ok := idx[sid]; !ok || s.Name() != string(p.Phase) {
				t.Errorf("PhaseEntered %s: span_id %s is not its phase span", p.Phase, e.SpanID())
			}
			continue
		default:
			continue
		}
		if e.SpanID() != want.String() {
			t.Errorf("%s: span_id %s, want %s", e.Payload.Type(), e.SpanID(), want)
		}
	}

	ms := collect(t, h.reader)
	if sum, n := sumWhere(ms[MetricTokenUsage], "gen_ai.token.type", "input"); sum != 24 || n != 2 {
		t.Errorf("input tokens %v over %d", sum, n)
	}
	if sum, n := sumWhere(ms[MetricTokenUsage], "gen_ai.token.type", "output"); sum != 14 || n != 2 {
		t.Errorf("output tokens %v over %d", sum, n)
	}
	if _, n := sumWhere(ms[MetricOperationDuration], "gen_ai.operation.name", "chat"); n != 2 {
		t.Errorf("operation durations %d", n)
	}
	if sum, _ := sumWhere(ms[MetricToolExecutions], "gen_ai.tool.name", "echo"); sum != 1 {
		t.Errorf("tool executions %v", sum)
	}
	if _, ok := ms[MetricToolFailures]; ok {
		if sum, _ := sumWhere(ms[MetricToolFailures], "", ""); sum != 0 {
			t.Errorf("tool failures %v", sum)
		}
	}
	events := len(h.fj.events(stream))
	if sum, n := sumWhere(ms[MetricAppendBatchSize], "life.outcome", "ok"); int(sum) != events || n != h.fj.appends {
		t.Errorf("batch sizes sum %v over %d appends, want %d over %d", sum, n, events, h.fj.appends)
	}
	if _, n := sumWhere(ms[MetricAppendDuration], "", ""); n != h.fj.appends {
		t.Errorf("append latencies %d", n)
	}
}

func TestCaptureContentWithRedactor(t *testing.T) {
	redact := func(kind, s string) string {
		return strings.ReplaceAll(s, "hi", "[redacted:"+kind+"]")
	}
	h := newHarness(t, Config{CaptureContent: true}, WithRedactor(redact))
	if _, err := runTurn(context.Background(), h.ports, aios.StreamID{Session: "s", Branch: "main"}, "say hi"); err != nil {
		t.Fatal(err)
	}
	chats := findSpans(h.rec.Ended(), "chat mock-1")
	in, ok := spanAttr(chats[0], "gen_ai.input.messages")
	if !ok {
		t.Fatalf("no gen_ai.input.messages")
	}
	var msgs []genMessage
	if err := json.Unmarshal([]byte(in.AsString()), &msgs); err != nil {
		t.Fatalf("input messages not JSON: %v", err)
	}
	if len(msgs) != 1 || msgs[0].Role != "user" || msgs[0].Parts[0].Content != "say [redacted:user]" {
		t.Errorf("input messages %s", in.AsString())
	}
	if sys, _ := spanAttr(chats[0], "gen_ai.system_instructions"); !strings.Contains(sys.AsString(), "be brief") {
		t.Errorf("system instructions %q", sys.AsString())
	}
	out, _ := spanAttr(chats[1], "gen_ai.output.messages")
	if !strings.Contains(out.AsString(), "the echo said [redacted:assistant]") || !strings.Contains(out.AsString(), `"finish_reason":"end_turn"`) {
		t.Errorf("output messages %s", out.AsString())
	}
	tool := one(t, h.rec.Ended(), "execute_tool echo")
	if args, _ := spanAttr(tool, "gen_ai.tool.call.arguments"); args.AsString() != `{"text":"[redacted:tool_call.arguments]"}` {
		t.Errorf("tool arguments %q", args.AsString())
	}
	if res, _ := spanAttr(tool, "gen_ai.tool.call.result"); !strings.Contains(res.AsString(), "redacted:tool_call.result") {
		t.Errorf("tool result %q", res.AsString())
	}
}

func TestReplayRebuildsLinkedTree(t *testing.T) {
	h := newHarness(t, Config{})
	stream := aios.StreamID{Session: "sess-r", Branch: "main"}
	if _, err := runTurn(context.Background(), h.ports, stream, "say hi"); err != nil {
		t.Fatal(err)
	}
	orig := one(t, h.rec.Ended(), "invoke_agent tester")

	h2 := newHarness(t, Config{})
	err := h2.tel.Runs().Replay(context.Background(), h.fj.Read(context.Background(), aios.ReadQuery{Stream: stream}))
	if err != nil {
		t.Fatal(err)
	}
	spans := h2.rec.Ended()
	idx := byID(spans)
	run := one(t, spans, "invoke_agent tester")
	if len(run.Links()) != 1 || run.Links()[0].SpanContext.SpanID() != orig.SpanContext().SpanID() ||
		run.Links()[0].SpanContext.TraceID() != orig.SpanContext().TraceID() {
		t.Errorf("replayed run links %v, want the original span %s", run.Links(), orig.SpanContext().SpanID())
	}
	wantAttrs(t, run, map[string]any{"life.replay": true, "life.seq": 2, "life.run.reason": "completed"})
	if !run.StartTime().Equal(orig.StartTime().Truncate(time.Microsecond)) && run.StartTime().Sub(orig.StartTime()).Abs() > 50*time.Millisecond {
		t.Errorf("replayed start %v far from original %v", run.StartTime(), orig.StartTime())
	}
	chats := findSpans(spans, "chat mock-1")
	if len(chats) != 2 {
		t.Fatalf("replayed chats: %v", names(spans))
	}
	wantAttrs(t, chats[0], map[string]any{"gen_ai.usage.input_tokens": 12, "gen_ai.usage.output_tokens": 7})
	tool := one(t, spans, "execute_tool echo")
	if strings.Join(ancestry(tool, idx), "/") != "execute/step 0/invoke_agent tester" {
		t.Errorf("replayed tool ancestry %v", ancestry(tool, idx))
	}
	wantAttrs(t, tool, map[string]any{"gen_ai.tool.call.id": "call_0"})
	// No metrics from a replay.
	if ms := collect(t, h2.reader); len(ms) != 0 {
		for n, m := range ms {
			if s, c := sumWhere(m, "", ""); s != 0 || c != 0 {
				t.Errorf("replay recorded metric %s", n)
			}
		}
	}
	// A replay on a Telemetry with a live run leaves that run open.
	live := aios.NewEnvelope(aios.NewULIDGenerator(nil, nil), aios.SystemClock{}, "live", "main", &aios.RunStarted{Provider: "mock"})
	h2.tel.Runs().Observe(context.Background(), live)
	if err := h2.tel.Runs().Replay(context.Background(), h.fj.Read(context.Background(), aios.ReadQuery{Stream: stream})); err != nil {
		t.Fatal(err)
	}
	if sp, _ := h2.tel.runs.current(aios.StreamID{Session: "live", Branch: "main"}); sp == nil || !sp.IsRecording() {
		t.Errorf("replay ended the live run")
	}
	// A replay's error is returned.
	boom := errors.New("disk gone")
	bad := func(yield func(aios.EventEnvelope, error) bool) { yield(aios.EventEnvelope{}, boom) }
	if err := h2.tel.Runs().Replay(context.Background(), bad); !errors.Is(err, boom) {
		t.Errorf("replay error %v", err)
	}
}

func TestFailures(t *testing.T) {
	ctx := context.Background()
	stream := aios.StreamID{Session: "s", Branch: "main"}
	t.Run("provider", func(t *testing.T) {
		h := newHarness(t, Config{})
		h.ports.provider = h.tel.WrapProvider(&scriptedProvider{fail: context.DeadlineExceeded})
		if _, err := runTurn(ctx, h.ports, stream, "x"); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("turn err %v", err)
		}
		spans := h.rec.Ended()
		chat := one(t, spans, "chat mock-1")
		if chat.Status().Code != codes.Error {
			t.Errorf("chat status %v", chat.Status())
		}
		wantAttrs(t, chat, map[string]any{"error.type": "timeout"})
		run := one(t, spans, "invoke_agent tester")
		if run.Status().Code != codes.Error {
			t.Errorf("run status %v", run.Status())
		}
		if s, e := len(h.rec.Started()), len(spans); s != e {
			t.Errorf("%d spans started, %d ended", s, e)
		}
		for _, name := range []string{"step 0", "deliberate"} {
			if s := one(t, spans, name); s.Status().Code != codes.Error {
				t.Errorf("%s interrupted by the error has status %v", name, s.Status())
			}
		}
		ms := collect(t, h.reader)
		if _, n := sumWhere(ms[MetricOperationDuration], "error.type", "timeout"); n != 1 {
			t.Errorf("failed duration points %d", n)
		}
	})
	t.Run("tool", func(t *testing.T) {
		h := newHarness(t, Config{})
		h.ports.tools = h.tel.WrapRegistry(oneToolRegistry{echoTool{failWith: aios.ErrNotFound}})
		if _, err := runTurn(ctx, h.ports, stream, "x"); err != nil {
			t.Fatal(err)
		}
		tool := one(t, h.rec.Ended(), "execute_tool echo")
		wantAttrs(t, tool, map[string]any{"error.type": "not_found", "life.tool.outcome": "error"})
		ms := collect(t, h.reader)
		if sum, _ := sumWhere(ms[MetricToolFailures], "gen_ai.tool.name", "echo"); sum != 1 {
			t.Errorf("tool failures %v", sum)
		}
	})
	t.Run("journal", func(t *testing.T) {
		h := newHarness(t, Config{})
		h.fj.failing = true
		env := aios.NewEnvelope(aios.NewULIDGenerator(nil, nil), aios.SystemClock{}, "s", "main", &aios.UserMessage{Content: "x"})
		env.Metadata = map[string]string{"k": "v"}
		if _, err := h.ports.journal.Append(ctx, env); !errors.Is(err, errFakeAppend) {
			t.Fatalf("append err %v", err)
		}
		app := one(t, h.rec.Ended(), "lago append")
		if app.Status().Code != codes.Error {
			t.Errorf("append status %v", app.Status())
		}
		ms := collect(t, h.reader)
		if _, n := sumWhere(ms[MetricAppendDuration], "life.outcome", "error"); n != 1 {
			t.Errorf("failed appends %d", n)
		}
	})
}

func TestAppendLeavesCallerEnvelopes(t *testing.T) {
	h := newHarness(t, Config{})
	ctx, span := h.tel.Tracer().Start(context.Background(), "caller")
	defer span.End()
	env := aios.NewEnvelope(aios.NewULIDGenerator(nil, nil), aios.SystemClock{}, "s", "main", &aios.UserMessage{Content: "x"})
	env.Metadata = map[string]string{"k": "v"}
	kept := aios.NewEnvelope(aios.NewULIDGenerator(nil, nil), aios.SystemClock{}, "s", "main", &aios.UserMessage{Content: "y"})
	kept.SetTrace("0102030405060708090a0b0c0d0e0f10", "0102030405060708")
	if _, err := h.ports.journal.Append(ctx, env, kept); err != nil {
		t.Fatal(err)
	}
	if len(env.Metadata) != 1 || env.TraceID() != "" {
		t.Errorf("caller's metadata modified: %v", env.Metadata)
	}
	stored := h.fj.events(aios.StreamID{Session: "s", Branch: "main"})
	if stored[0].TraceID() != span.SpanContext().TraceID().String() || stored[0].SpanID() != span.SpanContext().SpanID().String() {
		t.Errorf("stored trace %s/%s, want the caller's span", stored[0].TraceID(), stored[0].SpanID())
	}
	if stored[0].Metadata["k"] != "v" {
		t.Errorf("metadata lost: %v", stored[0].Metadata)
	}
	if stored[1].TraceID() != "0102030405060708090a0b0c0d0e0f10" {
		t.Errorf("existing trace overwritten: %s", stored[1].TraceID())
	}
	sc, ok := SpanContextFromEvent(stored[0])
	if !ok || sc.SpanID() != span.SpanContext().SpanID() || !sc.IsRemote() {
		t.Errorf("SpanContextFromEvent %v %v", sc, ok)
	}
	child := trace.SpanContextFromContext(ContextWithEvent(context.Background(), stored[0]))
	if child.TraceID() != span.SpanContext().TraceID() {
		t.Errorf("ContextWithEvent lost the trace")
	}
	if _, ok := SpanContextFromEvent(aios.EventEnvelope{Metadata: map[string]string{"trace_id": "zz", "span_id": "0102030405060708"}}); ok {
		t.Errorf("malformed trace id accepted")
	}
}

func TestEventMetrics(t *testing.T) {
	h := newHarness(t, Config{})
	ids := aios.NewULIDGenerator(nil, nil)
	mk := func(p aios.Payload) aios.EventEnvelope {
		return aios.NewEnvelope(ids, aios.SystemClock{}, "s", "main", p)
	}
	budget := aios.BudgetState{TokensRemaining: 900, TimeRemainingMs: 5000, CostRemainingUSD: 1.5, ToolCallsRemaining: 7, ErrorBudgetRemaining: 2}
	_, err := h.ports.journal.Append(context.Background(),
		mk(&aios.ModeChanged{From: aios.ModeExplore, To: aios.ModeExecute, Reason: "r"}),
		mk(&aios.EconomicModeChanged{From: aios.EconomicSovereign, To: aios.EconomicConserving, Reason: "low"}),
		mk(&aios.BudgetUpdated{Budget: budget, Reason: "spent"}),
		mk(&aios.CostIncurred{AmountMicroCredits: 2_500_000, Category: "tokens", Model: "m"}),
	)
	if err != nil {
		t.Fatal(err)
	}
	ms := collect(t, h.reader)
	if sum, _ := sumWhere(ms[MetricModeTransitions], "life.mode.kind", "operating"); sum != 1 {
		t.Errorf("operating transitions %v", sum)
	}
	if sum, _ := sumWhere(ms[MetricModeTransitions], "life.mode.to", "conserving"); sum != 1 {
		t.Errorf("economic transitions %v", sum)
	}
	for res, want := range map[string]float64{"tokens": 900, "cost_usd": 1.5, "tool_calls": 7, "errors": 2, "time_ms": 5000} {
		if got, _ := sumWhere(ms[MetricBudgetRemaining], "life.budget.resource", res); got != want {
			t.Errorf("budget %s = %v, want %v", res, got, want)
		}
	}
	if got, _ := sumWhere(ms[MetricCostIncurred], "life.cost.category", "tokens"); got != 2.5 {
		t.Errorf("cost incurred %v", got)
	}
}

func TestEstimatedCost(t *testing.T) {
	h := newHarness(t, Config{}, WithPricing(map[string]Price{"mock-1": {InputPerMTok: 3, OutputPerMTok: 15}}))
	if _, err := runTurn(context.Background(), h.ports, aios.StreamID{Session: "s", Branch: "main"}, "x"); err != nil {
		t.Fatal(err)
	}
	got, _ := sumWhere(collect(t, h.reader)[MetricCostEstimated], "", "")
	want := 2 * (12*3.0 + 7*15.0) / 1e6
	if d := got - want; d > 1e-12 || d < -1e-12 {
		t.Errorf("estimated cost %v, want %v", got, want)
	}
}

func TestDisabledIsTransparent(t *testing.T) {
	for _, tel := range []*Telemetry{Disabled(), mustNew(t, Config{Traces: SignalConfig{Exporters: []Exporter{ExporterNone}}})} {
		p := &scriptedProvider{}
		if tel.WrapProvider(p) != aios.Provider(p) {
			t.Errorf("disabled WrapProvider wrapped")
		}
		fj := newFakeJournal()
		if tel.WrapJournal(fj) != aios.Journal(fj) {
			t.Errorf("disabled WrapJournal wrapped")
		}
		if tel.WrapTool(echoTool{}) != aios.Tool(echoTool{}) {
			t.Errorf("disabled WrapTool wrapped")
		}
		ctx := context.Background()
		if tel.Bind(ctx, aios.StreamID{}) != ctx {
			t.Errorf("disabled Bind changed ctx")
		}
		if tel.Enabled() {
			t.Errorf("Enabled")
		}
		if err := tel.Shutdown(ctx); err != nil {
			t.Error(err)
		}
	}
}

func mustNew(t *testing.T, cfg Config, opts ...Option) *Telemetry {
	t.Helper()
	tel, err := New(context.Background(), cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return tel
}

func TestConsoleExporterFlushesOnShutdown(t *testing.T) {
	var buf bytes.Buffer
	tel := mustNew(t, Config{ServiceName: "vigil-test",
		Traces:  SignalConfig{Exporters: []Exporter{ExporterConsole}},
		Metrics: SignalConfig{Exporters: []Exporter{ExporterConsole}},
	}, WithStdout(&buf))
	fj := newFakeJournal()
	ports := turnPorts{journal: tel.WrapJournal(fj), provider: tel.WrapProvider(&scriptedProvider{}),
		tools: tel.WrapRegistry(oneToolRegistry{echoTool{}}), bind: tel.Bind, ids: aios.NewULIDGenerator(nil, nil)}
	if _, err := runTurn(context.Background(), ports, aios.StreamID{Session: "s", Branch: "main"}, "x"); err != nil {
		t.Fatal(err)
	}
	if buf.Len() != 0 {
		t.Logf("exported before shutdown: %d bytes", buf.Len())
	}
	if err := tel.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{`"Name":"invoke_agent"`, `"Name":"chat mock-1"`, `"Name":"execute_tool echo"`, MetricTokenUsage, "vigil-test"} {
		if !strings.Contains(out, want) {
			t.Errorf("console output lacks %s", want)
		}
	}
	if err := tel.Shutdown(context.Background()); err != nil {
		t.Errorf("second shutdown: %v", err)
	}
}

func TestShutdownEndsOpenRuns(t *testing.T) {
	h := newHarness(t, Config{})
	ids := aios.NewULIDGenerator(nil, nil)
	env := aios.NewEnvelope(ids, aios.SystemClock{}, "s", "main", &aios.RunStarted{Provider: "mock"})
	if _, err := h.ports.journal.Append(context.Background(), env); err != nil {
		t.Fatal(err)
	}
	if n := len(findSpans(h.rec.Ended(), "invoke_agent tester")); n != 0 {
		t.Fatalf("run ended early")
	}
	if err := h.tel.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	run := one(t, h.rec.Ended(), "invoke_agent tester")
	wantAttrs(t, run, map[string]any{"life.run.reason": "shutdown"})
	if run.Status().Code != codes.Error {
		t.Errorf("run cut short by shutdown has status %v", run.Status())
	}
}

func TestLogHandlerAddsTraceIDs(t *testing.T) {
	h := newHarness(t, Config{})
	var buf bytes.Buffer
	log := slog.New(LogHandler(slog.NewJSONHandler(&buf, nil))).With("component", "test")
	ctx, span := h.tel.Tracer().Start(context.Background(), "op")
	log.InfoContext(ctx, "inside")
	span.End()
	log.InfoContext(context.Background(), "outside")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("lines %q", lines)
	}
	var in, out map[string]any
	_ = json.Unmarshal([]byte(lines[0]), &in)
	_ = json.Unmarshal([]byte(lines[1]), &out)
	if in[LogTraceID] != span.SpanContext().TraceID().String() || in[LogSpanID] != span.SpanContext().SpanID().String() || in["component"] != "test" {
		t.Errorf("inside record %v", in)
	}
	if _, ok := out[LogTraceID]; ok {
		t.Errorf("outside record has a trace id: %v", out)
	}

	// Under a group the ids stay at the top level, where a backend looks.
	buf.Reset()
	grouped := log.WithGroup("req").With("path", "/x").WithGroup("inner")
	grouped.InfoContext(ctx, "grouped", "k", "v")
	grouped.InfoContext(context.Background(), "grouped outside", "k", "v")
	lines = strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("lines %q", lines)
	}
	var g, gOut map[string]any
	_ = json.Unmarshal([]byte(lines[0]), &g)
	_ = json.Unmarshal([]byte(lines[1]), &gOut)
	req, _ := g["req"].(map[string]any)
	inner, _ := req["inner"].(map[string]any)
	if g[LogTraceID] != span.SpanContext().TraceID().String() || g[LogSpanID] != span.SpanContext().SpanID().String() ||
		g["component"] != "test" || req["path"] != "/x" || inner["k"] != "v" || inner[LogTraceID] != nil {
		t.Errorf("grouped record %s", lines[0])
	}
	if strings.Contains(lines[1], LogTraceID) || !strings.Contains(lines[1], `"req":{"path":"/x","inner":{"k":"v"}}`) {
		t.Errorf("grouped record outside a span %s", lines[1])
	}
}

func TestConcurrentRuns(t *testing.T) {
	h := newHarness(t, Config{})
	const n = 8
	errs := make(chan error, n)
	for i := range n {
		go func() {
			_, err := runTurn(context.Background(), h.ports, aios.StreamID{Session: "s" + string(rune('a'+i)), Branch: "main"}, "x")
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	spans := h.rec.Ended()
	idx := byID(spans)
	runs := findSpans(spans, "invoke_agent tester")
	if len(runs) != n {
		t.Fatalf("%d runs", len(runs))
	}
	// Each run's chat spans hang under that run, never under another's.
	for _, c := range findSpans(spans, "chat mock-1") {
		sess, _ := spanAttr(c, "life.session_id")
		anc := ancestry(c, idx)
		root := idx[c.Parent().SpanID()]
		for root != nil && root.Parent().IsValid() {
			root = idx[root.Parent().SpanID()]
		}
		if root == nil || len(anc) != 3 {
			t.Fatalf("chat ancestry %v", anc)
		}
		if rs, _ := spanAttr(root, "life.session_id"); rs.AsString() != sess.AsString() {
			t.Errorf("chat of %s under run of %s", sess.AsString(), rs.AsString())
		}
	}
	h.tel.runs.mu.Lock()
	left := len(h.tel.runs.streams)
	h.tel.runs.mu.Unlock()
	if left != 0 {
		t.Errorf("%d stream states left after finished runs", left)
	}
}

func TestDeltaTraceMetadata(t *testing.T) {
	for _, on := range []bool{true, false} {
		h := newHarness(t, Config{}, WithDeltaTraceMetadata(on))
		ctx, span := h.tel.Tracer().Start(context.Background(), "caller")
		ids := aios.NewULIDGenerator(nil, nil)
		idx := uint32(0)
		msg := aios.NewEnvelope(ids, aios.SystemClock{}, "s", "main", &aios.UserMessage{Content: "x"})
		delta := aios.NewEnvelope(ids, aios.SystemClock{}, "s", "main", &aios.AssistantTextDelta{Delta: "y", Index: &idx})
		if _, err := h.ports.journal.Append(ctx, msg, delta); err != nil {
			t.Fatal(err)
		}
		span.End()
		stored := h.fj.events(aios.StreamID{Session: "s", Branch: "main"})
		if stored[0].TraceID() == "" {
			t.Errorf("on=%v: message not stamped", on)
		}
		if got := stored[1].TraceID() != ""; got != on {
			t.Errorf("on=%v: delta stamped %v", on, got)
		}
	}
}

// TestRedactorCoversErrors checks that error text, recorded with capture
// off, goes through the redactor everywhere it lands: span status,
// exception events, error_raised events, live and replayed.
func TestRedactorCoversErrors(t *testing.T) {
	const secret = "s3cret"
	redact := func(kind, s string) string {
		if kind != "error" {
			t.Errorf("redactor called for %s with capture off", kind)
		}
		return strings.ReplaceAll(s, secret, "[x]")
	}
	leaks := func(t *testing.T, spans []sdktrace.ReadOnlySpan) (redacted int) {
		t.Helper()
		check := func(where, v string) {
			if strings.Contains(v, secret) {
				t.Errorf("%s leaks: %q", where, v)
			}
			if strings.Contains(v, "[x]") {
				redacted++
			}
		}
		for _, s := range spans {
			check(s.Name()+" status", s.Status().Description)
			for _, kv := range s.Attributes() {
				check(s.Name()+" "+string(kv.Key), kv.Value.String())
			}
			for _, e := range s.Events() {
				for _, kv := range e.Attributes {
					check(s.Name()+" event "+e.Name+" "+string(kv.Key), kv.Value.String())
				}
			}
		}
		return redacted
	}
	ctx := context.Background()
	stream := aios.StreamID{Session: "s", Branch: "main"}

	t.Run("tool", func(t *testing.T) {
		h := newHarness(t, Config{}, WithRedactor(redact))
		h.ports.tools = h.tel.WrapRegistry(oneToolRegistry{echoTool{failWith: errors.New("open /home/" + secret + ": denied")}})
		if _, err := runTurn(ctx, h.ports, stream, "x"); err != nil {
			t.Fatal(err)
		}
		tool := one(t, h.rec.Ended(), "execute_tool echo")
		if tool.Status().Description != "open /home/[x]: denied" || len(tool.Events()) != 1 || tool.Events()[0].Name != "exception" {
			t.Errorf("tool status %v, events %v", tool.Status(), tool.Events())
		}
		if n := leaks(t, h.rec.Ended()); n < 2 {
			t.Errorf("%d redacted values, want the status and the exception", n)
		}
		h2 := newHarness(t, Config{}, WithRedactor(redact))
		if err := h2.tel.Runs().Replay(ctx, h.fj.Read(ctx, aios.ReadQuery{Stream: stream})); err != nil {
			t.Fatal(err)
		}
		if rt := one(t, h2.rec.Ended(), "execute_tool echo"); rt.Status().Description != "open /home/[x]: denied" {
			t.Errorf("replayed tool status %v", rt.Status())
		}
		leaks(t, h2.rec.Ended())
	})
	t.Run("provider and run", func(t *testing.T) {
		h := newHarness(t, Config{}, WithRedactor(redact))
		h.ports.provider = h.tel.WrapProvider(&scriptedProvider{fail: errors.New("prompt " + secret + " too long")})
		if _, err := runTurn(ctx, h.ports, stream, "x"); err == nil {
			t.Fatal("turn did not fail")
		}
		h.tel.Runs().Observe(ctx, aios.NewEnvelope(aios.NewULIDGenerator(nil, nil), aios.SystemClock{}, "s2", "main", &aios.RunStarted{}))
		h.tel.Runs().Observe(ctx, aios.NewEnvelope(aios.NewULIDGenerator(nil, nil), aios.SystemClock{}, "s2", "main", &aios.ErrorRaised{Message: secret}))
		h.tel.Runs().Observe(ctx, aios.NewEnvelope(aios.NewULIDGenerator(nil, nil), aios.SystemClock{}, "s2", "main", &aios.RunFinished{Reason: "completed"}))
		var failed sdktrace.ReadOnlySpan // the run of the failed turn, not s2's
		for _, run := range findSpans(h.rec.Ended(), "invoke_agent tester") {
			if v, _ := spanAttr(run, string(AttrSessionID)); v.AsString() == stream.Session {
				failed = run
			}
		}
		if failed == nil || failed.Status().Description != "prompt [x] too long" {
			t.Errorf("run of the failed turn: %v", failed)
		}
		// chat status and exception, run and its step and phase, error_raised
		if n := leaks(t, h.rec.Ended()); n < 6 {
			t.Errorf("%d redacted values, want 6", n)
		}
	})
}

// panicTool is a fake aios.Tool that panics.
type panicTool struct{ echoTool }

func (panicTool) Call(context.Context, json.RawMessage) (aios.ToolResult, error) { panic("tool bug") }

// panicProvider is a fake aios.Provider that panics after its first event.
type panicProvider struct{ scriptedProvider }

func (p *panicProvider) Stream(ctx context.Context, req aios.ChatRequest) iter.Seq2[aios.ProviderEvent, error] {
	return func(yield func(aios.ProviderEvent, error) bool) {
		if yield(aios.ProviderEvent{Kind: aios.ProviderTextDelta, Text: "x"}, nil) {
			panic("provider bug")
		}
	}
}

// TestPanicsEndSpans checks that a panic in a tool, in a provider or in the
// loop body consuming a provider's stream still ends the span, failed: a
// recovered panic must not leave a span open forever.
func TestPanicsEndSpans(t *testing.T) {
	req := aios.ChatRequest{Model: "m", Messages: []aios.ChatMessage{{Role: aios.RoleUser, Content: "x"}}}
	for _, tt := range []struct {
		name string
		span string
		call func(tel *Telemetry)
	}{
		{"tool", "execute_tool echo", func(tel *Telemetry) {
			_, _ = tel.WrapTool(panicTool{}).Call(context.Background(), json.RawMessage(`{}`))
		}},
		{"provider", "chat m", func(tel *Telemetry) {
			for range tel.WrapProvider(&panicProvider{}).Stream(context.Background(), req) {
			}
		}},
		{"consumer", "chat m", func(tel *Telemetry) {
			for range tel.WrapProvider(&scriptedProvider{}).Stream(context.Background(), req) {
				panic("consumer bug")
			}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Config{})
			func() {
				defer func() {
					if recover() == nil {
						t.Errorf("panic swallowed")
					}
				}()
				tt.call(h.tel)
			}()
			s := one(t, h.rec.Ended(), tt.span)
			if s.Status().Code != codes.Error {
				t.Errorf("status %v", s.Status())
			}
		})
	}
}

// failingReadJournal is a fakeJournal whose Read yields one event and then
// an error.
type failingReadJournal struct{ *fakeJournal }

var errFakeRead = errors.New("fake journal: read failed")

func (j failingReadJournal) Read(ctx context.Context, q aios.ReadQuery) iter.Seq2[aios.EventEnvelope, error] {
	return func(yield func(aios.EventEnvelope, error) bool) {
		for e, err := range j.fakeJournal.Read(ctx, q) {
			if !yield(e, err) {
				return
			}
			break
		}
		yield(aios.EventEnvelope{}, errFakeRead)
	}
}

func TestJournalReadSpan(t *testing.T) {
	ctx := context.Background()
	stream := aios.StreamID{Session: "s", Branch: "main"}
	h := newHarness(t, Config{})
	ids := aios.NewULIDGenerator(nil, nil)
	for i := range 5 {
		env := aios.NewEnvelope(ids, aios.SystemClock{}, "s", "main", &aios.UserMessage{Content: strconv.Itoa(i)})
		if _, err := h.ports.journal.Append(ctx, env); err != nil {
			t.Fatal(err)
		}
	}
	read := func(j aios.Journal, q aios.ReadQuery, stopAfter int) (n int, err error) {
		for _, err := range j.Read(ctx, q) {
			if err != nil {
				return n, err
			}
			if n++; n == stopAfter {
				break
			}
		}
		return n, nil
	}
	replays := func() []sdktrace.ReadOnlySpan { return findSpans(h.rec.Ended(), "lago replay") }

	if n, err := read(h.ports.journal, aios.ReadQuery{Stream: stream, After: 1, Until: 4}, 0); err != nil || n != 3 {
		t.Fatalf("read %d, %v", n, err)
	}
	wantAttrs(t, replays()[0], map[string]any{"life.session_id": "s", "life.branch_id": "main",
		"life.seq.after": 1, "life.seq.until": 4, "life.journal.events": 3, "life.seq": 4})

	// A consumer that stops early still ends the span, counting what it read.
	if n, _ := read(h.ports.journal, aios.ReadQuery{Stream: stream}, 2); n != 2 {
		t.Fatalf("read %d", n)
	}
	wantAttrs(t, replays()[1], map[string]any{"life.journal.events": 2, "life.seq": 2})

	// A failing read is returned and fails the span.
	failing := h.tel.WrapJournal(failingReadJournal{h.fj})
	if n, err := read(failing, aios.ReadQuery{Stream: stream}, 0); !errors.Is(err, errFakeRead) || n != 1 {
		t.Fatalf("read %d, %v", n, err)
	}
	sp := replays()[2]
	if sp.Status().Code != codes.Error || len(sp.Events()) != 1 {
		t.Errorf("failed read span status %v, events %v", sp.Status(), sp.Events())
	}
	wantAttrs(t, sp, map[string]any{"life.journal.events": 1})
	if s, e := len(h.rec.Started()), len(h.rec.Ended()); s != e {
		t.Errorf("%d spans started, %d ended", s, e)
	}
}

func TestForceFlushExportsBeforeShutdown(t *testing.T) {
	var buf syncBuffer
	tel := mustNew(t, Config{
		Traces:  SignalConfig{Exporters: []Exporter{ExporterConsole}},
		Metrics: SignalConfig{Exporters: []Exporter{ExporterConsole}},
	}, WithStdout(&buf))
	defer func() { _ = tel.Shutdown(context.Background()) }()
	ports := turnPorts{journal: tel.WrapJournal(newFakeJournal()), provider: tel.WrapProvider(&scriptedProvider{}),
		tools: tel.WrapRegistry(oneToolRegistry{echoTool{}}), bind: tel.Bind, ids: aios.NewULIDGenerator(nil, nil)}
	if _, err := runTurn(context.Background(), ports, aios.StreamID{Session: "s", Branch: "main"}, "x"); err != nil {
		t.Fatal(err)
	}
	if err := tel.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{`"Name":"chat mock-1"`, MetricTokenUsage} {
		if !strings.Contains(out, want) {
			t.Errorf("flushed output lacks %s", want)
		}
	}
	if err := Disabled().ForceFlush(context.Background()); err != nil {
		t.Errorf("disabled flush: %v", err)
	}
}

// syncBuffer is a bytes.Buffer safe for the exporters' goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestShutdownDuringRuns calls Shutdown while turns are running: every run,
// step, phase and append span started before it must still end and be
// exported (only provider and tool calls under way may be cut off), and
// none may start after it.
func TestShutdownDuringRuns(t *testing.T) {
	for range 30 {
		h := newHarness(t, Config{})
		var wg sync.WaitGroup
		for i := range 4 {
			wg.Go(func() {
				_, _ = runTurn(context.Background(), h.ports, aios.StreamID{Session: "s" + strconv.Itoa(i), Branch: "main"}, "x")
			})
		}
		wg.Go(func() { _ = h.tel.Shutdown(context.Background()) })
		wg.Go(func() { _ = h.tel.Shutdown(context.Background()) })
		wg.Wait()
		ended := map[trace.SpanID]bool{}
		for _, s := range h.rec.Ended() {
			ended[s.SpanContext().SpanID()] = true
		}
		for _, s := range h.rec.Started() {
			if name := s.Name(); !ended[s.SpanContext().SpanID()] && !strings.HasPrefix(name, "chat ") && !strings.HasPrefix(name, "execute_tool ") {
				t.Errorf("%s started before Shutdown and never exported", name)
			}
		}
	}
}

// TestAppendStampsEachEventOfABatch checks the stamping of a batch whose
// events share spans and metadata (the stamped map is then shared): every
// event gets its own span's ids and keeps its own keys, and no caller map
// changes.
func TestAppendStampsEachEventOfABatch(t *testing.T) {
	h := newHarness(t, Config{})
	ids := aios.NewULIDGenerator(nil, nil)
	mk := func(p aios.Payload, md map[string]string) aios.EventEnvelope {
		env := aios.NewEnvelope(ids, aios.SystemClock{}, "s", "main", p)
		env.RunID = "r1"
		env.Metadata = md
		return env
	}
	agent := func() map[string]string { return map[string]string{aios.MetaAgentID: "a"} }
	batch := []aios.EventEnvelope{
		mk(&aios.UserMessage{Content: "hi"}, agent()),
		mk(&aios.RunStarted{Provider: "mock"}, agent()),
		mk(&aios.TextDelta{Delta: "x"}, agent()),
		mk(&aios.TextDelta{Delta: "y"}, map[string]string{aios.MetaAgentID: "a", "call_id": "c1"}),
		mk(&aios.TextDelta{Delta: "z"}, agent()),
		mk(&aios.PhaseEntered{Phase: aios.PhasePerceive}, agent()),
		mk(&aios.TextDelta{Delta: "w"}, nil),
	}
	if _, err := h.ports.journal.Append(context.Background(), batch...); err != nil {
		t.Fatal(err)
	}
	for i, env := range batch {
		if env.TraceID() != "" {
			t.Fatalf("caller's event %d stamped: %v", i, env.Metadata)
		}
	}
	stored := h.fj.events(aios.StreamID{Session: "s", Branch: "main"})
	started := map[string]trace.SpanContext{}
	for _, sp := range h.rec.Started() {
		started[sp.Name()] = sp.SpanContext()
	}
	run, perceive := started["invoke_agent tester"], started["perceive"]
	if !run.IsValid() || !perceive.IsValid() {
		t.Fatalf("spans started: %v", started)
	}
	for i, want := range []struct {
		span trace.SpanContext
		call string
		n    int // keys
	}{{run, "", 3}, {run, "", 3}, {run, "", 3}, {run, "c1", 4}, {run, "", 3}, {perceive, "", 3}, {perceive, "", 2}} {
		got := stored[i]
		if got.TraceID() != want.span.TraceID().String() || got.SpanID() != want.span.SpanID().String() {
			t.Errorf("event %d: trace %s/%s, want %s/%s", i, got.TraceID(), got.SpanID(), want.span.TraceID(), want.span.SpanID())
		}
		if got.Metadata["call_id"] != want.call || len(got.Metadata) != want.n {
			t.Errorf("event %d: metadata %v", i, got.Metadata)
		}
	}
}
