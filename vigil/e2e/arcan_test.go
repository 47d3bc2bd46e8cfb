package e2e

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/arcan/provider/mock"
	"github.com/lifeos/life/arcan/runtime"
	"github.com/lifeos/life/lago/journal"
	"github.com/lifeos/life/praxis"
	"github.com/lifeos/life/praxis/sandbox"
	"github.com/lifeos/life/praxis/tools"
	"github.com/lifeos/life/vigil"
	"github.com/lifeos/life/vigil/internal/otelcoltest"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
)

// stack is arcan's runtime over the real parts, observed by vigil.
type stack struct {
	rt      *runtime.Runtime
	journal *journal.Journal
}

// openStack wires arcan's runtime as its binaries do (lago bbolt journal,
// praxis tools confined to a workspace, the mock provider), but with one
// tool, list_dir, and with vigil's decorators around every port.
func openStack(t testing.TB, tel *vigil.Telemetry, noSync bool) stack {
	t.Helper()
	return openStackWrapped(t, tel, noSync, nil)
}

// openStackWrapped is openStack with wrap, if not nil, around the lago
// journal (under vigil's decorator).
func openStackWrapped(t testing.TB, tel *vigil.Telemetry, noSync bool, wrap func(aios.Journal) aios.Journal) stack {
	t.Helper()
	j, err := journal.Open(filepath.Join(t.TempDir(), "journal.db"), journal.Options{NoSync: noSync})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = j.Close() })
	return openStackOn(t, tel, j, wrap)
}

// openStackOn is openStackWrapped over an open journal, which stacks may
// share.
func openStackOn(t testing.TB, tel *vigil.Telemetry, j *journal.Journal, wrap func(aios.Journal) aios.Journal) stack {
	t.Helper()
	ws := filepath.Join(t.TempDir(), "workspace")
	if err := os.MkdirAll(ws, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"notes.md", "plan.txt"} {
		if err := os.WriteFile(filepath.Join(ws, f), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	fsp, err := sandbox.NewFsPolicy(ws, sandbox.FsOptions{SandboxID: "workspace"})
	if err != nil {
		t.Fatal(err)
	}
	reg := praxis.NewRegistry()
	for _, tool := range tools.All(&tools.Env{FS: fsp}) {
		if tool.Spec().Name == mock.ListDir {
			if err := reg.Register(tool); err != nil {
				t.Fatal(err)
			}
		}
	}
	if len(reg.Specs()) != 1 {
		t.Fatalf("praxis has no %s tool", mock.ListDir)
	}
	var port aios.Journal = j
	if wrap != nil {
		port = wrap(port)
	}
	rt, err := runtime.New(runtime.Config{
		Journal:  tel.WrapJournal(port),
		Provider: tel.WrapProvider(mock.New()),
		Tools:    tel.WrapRegistry(reg),
		AgentID:  "agent-e2e",
		Limits:   runtime.Limits{MaxIterations: 4},
	})
	if err != nil {
		t.Fatal(err)
	}
	return stack{rt: rt, journal: j}
}

// turn runs one arcan turn that lists the workspace (one list_dir call).
func (s stack) turn(ctx context.Context, tel *vigil.Telemetry) (aios.StreamID, runtime.Result, error) {
	id, err := s.rt.CreateSession(ctx, "e2e", nil)
	if err != nil {
		return aios.StreamID{}, runtime.Result{}, err
	}
	stream := aios.StreamID{Session: id, Branch: runtime.DefaultBranch}
	res, err := s.rt.Run(tel.Bind(ctx, stream), stream, runtime.RunOptions{Input: "list the files in the workspace"})
	return stream, res, err
}

func attr(kvs []*commonpb.KeyValue, k string) *commonpb.AnyValue {
	v, _ := otelcoltest.Attr(kvs, k)
	return v
}

// TestArcanTurnToCollector runs a real arcan turn with the mock provider and
// one tool, traced by vigil and exported over OTLP to a real OpenTelemetry
// Collector, and asserts what the collector received: the span tree with
// the GenAI attributes, and the token usage metric.
func TestArcanTurnToCollector(t *testing.T) {
	bin, ok := otelcoltest.Path()
	if !ok {
		t.Skipf("no OpenTelemetry Collector binary at %s: build it with vigil/otelcol/build.sh or set LIFE_OTELCOL", bin)
	}
	sink := &otelcoltest.Sink{}
	srv := httptest.NewServer(sink)
	defer srv.Close()
	grpcEP, httpEP := otelcoltest.Start(t, bin, srv.URL)

	ctx := context.Background()
	tel, err := vigil.New(ctx, vigil.Config{
		ServiceName: "arcan-e2e",
		Traces:      vigil.SignalConfig{Exporters: []vigil.Exporter{vigil.ExporterOTLP}, Protocol: vigil.ProtocolGRPC, Endpoint: grpcEP},
		Metrics:     vigil.SignalConfig{Exporters: []vigil.Exporter{vigil.ExporterOTLP}, Protocol: vigil.ProtocolHTTPProtobuf, Endpoint: httpEP + "/v1/metrics"},
	}, vigil.WithAgentName("arcan"))
	if err != nil {
		t.Fatal(err)
	}
	s := openStack(t, tel, false)
	stream, res, err := s.turn(ctx, tel)
	if err != nil {
		t.Fatalf("arcan turn: %v", err)
	}
	if res.Status != "completed" {
		t.Fatalf("run status %q", res.Status)
	}
	sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := tel.Shutdown(sctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}

	var spans []*tracepb.Span
	want := []string{"invoke_agent arcan", "chat mock-1", "execute_tool list_dir", "deliberate", "execute", "commit", "lago append"}
	deadline := time.Now().Add(30 * time.Second)
	for {
		var tokenMetric bool
		spans, _, _ = sink.Snapshot()
		_, metrics, _ := sink.Snapshot()
		for _, m := range metrics {
			tokenMetric = tokenMetric || m.Name == vigil.MetricTokenUsage
		}
		seen := map[string]bool{}
		for _, sp := range spans {
			seen[sp.Name] = true
		}
		missing := []string{}
		for _, n := range want {
			if !seen[n] {
				missing = append(missing, n)
			}
		}
		if len(missing) == 0 && tokenMetric {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("collector forwarded %d spans, missing %v (token metric %v); sink errors %v", len(spans), missing, tokenMetric, sink.Errors())
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("collector forwarded %d spans", len(spans))

	byID := map[string]*tracepb.Span{}
	for _, sp := range spans {
		byID[string(sp.SpanId)] = sp
	}
	ancestry := func(sp *tracepb.Span) string {
		var p []string
		for cur := sp; len(cur.ParentSpanId) > 0; {
			parent, ok := byID[string(cur.ParentSpanId)]
			if !ok {
				return strings.Join(append(p, "?"), "/")
			}
			p = append(p, parent.Name)
			cur = parent
		}
		return strings.Join(p, "/")
	}
	var run *tracepb.Span
	var chats, toolSpans int
	for _, sp := range spans {
		switch sp.Name {
		case "invoke_agent arcan":
			run = sp
			for k, v := range map[string]string{"gen_ai.operation.name": "invoke_agent", "gen_ai.provider.name": "mock",
				"gen_ai.agent.id": "agent-e2e", "life.session_id": stream.Session, "life.branch_id": "main", "life.run_id": res.RunID, "life.run.reason": "completed"} {
				if got := attr(sp.Attributes, k).GetStringValue(); got != v {
					t.Errorf("invoke_agent %s = %q, want %q", k, got, v)
				}
			}
		case "chat mock-1":
			chats++
			if a := ancestry(sp); !strings.HasPrefix(a, "step ") || !strings.HasSuffix(a, "deliberate/invoke_agent arcan") {
				t.Errorf("chat under %s", a)
			}
			for k, v := range map[string]string{"gen_ai.operation.name": "chat", "gen_ai.provider.name": "mock",
				"gen_ai.response.model": "mock-1", "life.run_id": res.RunID} {
				if got := attr(sp.Attributes, k).GetStringValue(); got != v {
					t.Errorf("chat %s = %q, want %q", k, got, v)
				}
			}
			if attr(sp.Attributes, "gen_ai.usage.input_tokens").GetIntValue() <= 0 || attr(sp.Attributes, "gen_ai.usage.output_tokens").GetIntValue() <= 0 {
				t.Errorf("chat without token usage: %v", sp.Attributes)
			}
			if fr := attr(sp.Attributes, "gen_ai.response.finish_reasons").GetArrayValue(); fr == nil || len(fr.Values) != 1 {
				t.Errorf("chat finish reasons %v", fr)
			}
		case "execute_tool list_dir":
			toolSpans++
			if a := ancestry(sp); a != "execute/invoke_agent arcan" {
				t.Errorf("tool under %s", a)
			}
			if id := attr(sp.Attributes, "gen_ai.tool.call.id").GetStringValue(); id == "" {
				t.Errorf("tool span without gen_ai.tool.call.id")
			}
			if got := attr(sp.Attributes, "life.tool.outcome").GetStringValue(); got != "ok" {
				t.Errorf("tool outcome %q", got)
			}
		}
	}
	if run == nil || chats != 2 || toolSpans != 1 {
		t.Fatalf("run %v, %d chat spans, %d tool spans", run != nil, chats, toolSpans)
	}

	// The journal carries the trace: every event of the run names it.
	n := 0
	for env, err := range s.journal.Read(ctx, aios.ReadQuery{Stream: stream}) {
		if err != nil {
			t.Fatal(err)
		}
		if env.RunID != res.RunID {
			continue
		}
		n++
		if env.TraceID() != fmt.Sprintf("%x", run.TraceId) {
			t.Errorf("%s seq %d: trace_id %q, want the run's %x", env.Payload.Type(), env.Seq, env.TraceID(), run.TraceId)
		}
		if _, ok := byID[string(mustHex(t, env.SpanID()))]; !ok {
			t.Errorf("%s seq %d: span_id %s is not a span the collector received", env.Payload.Type(), env.Seq, env.SpanID())
		}
	}
	if n == 0 {
		t.Fatal("no events of the run in the journal")
	}

	// Back out: replaying the lago journal rebuilds the run's tree, linked
	// to the trace the collector received.
	rec := tracetest.NewSpanRecorder()
	replayTel, err := vigil.New(ctx, vigil.Config{}, vigil.WithSpanProcessor(rec), vigil.WithAgentName("arcan"))
	if err != nil {
		t.Fatal(err)
	}
	if err := replayTel.Runs().Replay(ctx, s.journal.Read(ctx, aios.ReadQuery{Stream: stream})); err != nil {
		t.Fatal(err)
	}
	linked := false
	for _, sp := range rec.Ended() {
		if sp.Name() != "invoke_agent arcan" {
			continue
		}
		for _, l := range sp.Links() {
			linked = linked || (fmt.Sprintf("%x", run.TraceId) == l.SpanContext.TraceID().String() &&
				fmt.Sprintf("%x", run.SpanId) == l.SpanContext.SpanID().String())
		}
	}
	if !linked {
		t.Errorf("replayed run is not linked to the original span %x", run.SpanId)
	}

	var input, output int64
	_, metrics, _ := sink.Snapshot()
	for _, m := range metrics {
		if m.Name != vigil.MetricTokenUsage {
			continue
		}
		for _, dp := range m.GetHistogram().GetDataPoints() {
			switch attr(dp.Attributes, "gen_ai.token.type").GetStringValue() {
			case "input":
				input += int64(dp.GetSum())
			case "output":
				output += int64(dp.GetSum())
			}
		}
	}
	if input != int64(res.Usage.PromptTokens) || output != int64(res.Usage.CompletionTokens) {
		t.Errorf("token metric input %d output %d, arcan counted %+v", input, output, res.Usage)
	}
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b := make([]byte, len(s)/2)
	if _, err := fmt.Sscanf(s, "%x", &b); err != nil {
		t.Fatalf("span id %q: %v", s, err)
	}
	return b
}

// cancellingJournal cancels a run's context once the run has journaled a
// tool call request: a user who cancels while a tool is about to run.
type cancellingJournal struct {
	aios.Journal
	cancel context.CancelFunc
}

func (j cancellingJournal) Append(ctx context.Context, events ...aios.EventEnvelope) ([]uint64, error) {
	seqs, err := j.Journal.Append(ctx, events...)
	for _, e := range events {
		if _, ok := e.Payload.(*aios.ToolCallRequested); ok {
			j.cancel()
		}
	}
	return seqs, err
}

// TestArcanCancelledRun cancels a real arcan run mid-turn and checks that
// every span vigil opened ends, the run and what it interrupted with an
// error status, and that the journaled end of the run carries the run's
// trace.
func TestArcanCancelledRun(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tel, err := vigil.New(context.Background(), vigil.Config{}, vigil.WithSpanProcessor(rec), vigil.WithAgentName("arcan"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tel.Shutdown(context.Background()) }()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := openStackWrapped(t, tel, true, func(j aios.Journal) aios.Journal { return cancellingJournal{j, cancel} })
	stream, res, err := s.turn(ctx, tel)
	if err == nil || res.Status != runtime.StatusCancelled {
		t.Fatalf("run %q, %v: want cancelled", res.Status, err)
	}
	if err := tel.ForceFlush(context.Background()); err != nil { // spans end after the appends return
		t.Fatal(err)
	}
	spans := rec.Ended()
	if started := len(rec.Started()); started != len(spans) {
		t.Errorf("%d spans started, %d ended", started, len(spans))
	}
	var run sdktrace.ReadOnlySpan
	for _, sp := range spans {
		if sp.Name() == "invoke_agent arcan" {
			run = sp
		}
	}
	if run == nil {
		t.Fatal("no invoke_agent span")
	}
	if run.Status().Code != codes.Error {
		t.Errorf("run status %v, want an error", run.Status())
	}
	for _, kv := range run.Attributes() {
		if kv.Key == "error.type" && kv.Value.AsString() != "cancelled" {
			t.Errorf("run error.type %s, want cancelled", kv.Value.AsString())
		}
	}
	traceID := run.SpanContext().TraceID().String()
	var finished bool
	for e, err := range s.journal.Read(context.Background(), aios.ReadQuery{Stream: stream}) {
		if err != nil {
			t.Fatal(err)
		}
		if p, ok := e.Payload.(*aios.RunFinished); ok && p.Reason == runtime.StatusCancelled {
			finished = true
			if e.TraceID() != traceID {
				t.Errorf("RunFinished trace %q, want the run's %s", e.TraceID(), traceID)
			}
		}
	}
	if !finished {
		t.Errorf("no cancelled RunFinished journaled")
	}
}
