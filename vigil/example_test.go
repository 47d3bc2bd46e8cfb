package vigil_test

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"log/slog"
	"os"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/vigil"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// exampleProvider is a fake provider that answers "hello" once.
type exampleProvider struct{}

func (exampleProvider) Name() string { return "mock" }

func (exampleProvider) Stream(_ context.Context, req aios.ChatRequest) iter.Seq2[aios.ProviderEvent, error] {
	return func(yield func(aios.ProviderEvent, error) bool) {
		if !yield(aios.ProviderEvent{Kind: aios.ProviderTextDelta, Text: "hello"}, nil) {
			return
		}
		yield(aios.ProviderEvent{Kind: aios.ProviderDone, Finish: &aios.Finish{
			StopReason: "end_turn", Model: req.Model, Usage: aios.TokenUsage{PromptTokens: 5, CompletionTokens: 1, TotalTokens: 6}}}, nil)
	}
}

func attr(s sdktrace.ReadOnlySpan, key string) string {
	for _, kv := range s.Attributes() {
		if string(kv.Key) == key {
			return kv.Value.String()
		}
	}
	return ""
}

func ExampleConfigFromEnv() {
	env := map[string]string{
		"OTEL_TRACES_EXPORTER":        "otlp",
		"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
		"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318",
	}
	cfg, err := vigil.ConfigFromEnv(func(k string) string { return env[k] })
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(cfg.Traces.Exporters, cfg.Traces.Endpoint)
	fmt.Println(cfg.Metrics.Exporters)

	_, err = vigil.ConfigFromEnv(func(k string) string {
		return map[string]string{"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "2"}[k]
	})
	fmt.Println(err)
	// Output:
	// [otlp] http://127.0.0.1:4318/v1/traces
	// [none]
	// vigil: OTEL_TRACES_SAMPLER_ARG="2": want a ratio between 0 and 1
}

func ExampleTelemetry_WrapProvider() {
	ctx := context.Background()
	rec := tracetest.NewSpanRecorder()
	tel, _ := vigil.New(ctx, vigil.Config{}, vigil.WithSpanProcessor(rec))
	defer tel.Shutdown(ctx)

	p := tel.WrapProvider(exampleProvider{})
	for range p.Stream(ctx, aios.ChatRequest{Model: "mock-1", Messages: []aios.ChatMessage{{Role: aios.RoleUser, Content: "hi"}}}) {
	}
	_ = tel.ForceFlush(ctx) // a call's span ends on vigil's goroutine, just after the call
	s := rec.Ended()[0]
	fmt.Println(s.Name())
	fmt.Println(attr(s, "gen_ai.provider.name"), attr(s, "gen_ai.usage.input_tokens"), attr(s, "gen_ai.usage.output_tokens"))
	// Output:
	// chat mock-1
	// mock 5 1
}

type echo struct{}

func (echo) Spec() aios.ToolSpec { return aios.ToolSpec{Name: "echo"} }
func (echo) Call(_ context.Context, args json.RawMessage) (aios.ToolResult, error) {
	return aios.ToolResult{Output: args}, nil
}

func ExampleTelemetry_WrapTool() {
	ctx := context.Background()
	rec := tracetest.NewSpanRecorder()
	tel, _ := vigil.New(ctx, vigil.Config{}, vigil.WithSpanProcessor(rec))
	defer tel.Shutdown(ctx)

	tool := tel.WrapTool(echo{})
	_, _ = tool.Call(vigil.WithToolCallID(ctx, "call_1"), json.RawMessage(`{}`))
	_ = tel.ForceFlush(ctx) // a call's span ends on vigil's goroutine, just after the call
	s := rec.Ended()[0]
	fmt.Println(s.Name(), attr(s, "gen_ai.tool.call.id"), attr(s, "life.tool.outcome"))
	// Output:
	// execute_tool echo call_1 ok
}

// memJournal is a minimal in-memory journal for the example.
type memJournal struct{ events []aios.EventEnvelope }

func (j *memJournal) Append(_ context.Context, evs ...aios.EventEnvelope) ([]uint64, error) {
	var seqs []uint64
	for _, e := range evs {
		e.Seq = uint64(len(j.events) + 1)
		j.events = append(j.events, e)
		seqs = append(seqs, e.Seq)
	}
	return seqs, nil
}

func (j *memJournal) Read(context.Context, aios.ReadQuery) iter.Seq2[aios.EventEnvelope, error] {
	return func(yield func(aios.EventEnvelope, error) bool) {
		for _, e := range j.events {
			if !yield(e, nil) {
				return
			}
		}
	}
}
func (j *memJournal) Head(context.Context, aios.StreamID) (uint64, error) {
	return uint64(len(j.events)), nil
}
func (j *memJournal) Subscribe(ctx context.Context, s aios.StreamID, _ uint64) iter.Seq2[aios.EventEnvelope, error] {
	return j.Read(ctx, aios.ReadQuery{Stream: s})
}

// A runtime wraps its journal and provider and binds each run's context to
// its stream: the run's journal events open invoke_agent and phase spans,
// and the provider's chat span nests under the current phase.
func ExampleTelemetry_Bind() {
	ctx := context.Background()
	rec := tracetest.NewSpanRecorder()
	tel, _ := vigil.New(ctx, vigil.Config{}, vigil.WithSpanProcessor(rec))

	mem := &memJournal{}
	journal := tel.WrapJournal(mem)
	provider := tel.WrapProvider(exampleProvider{})
	stream := aios.StreamID{Session: "s1", Branch: "main"}
	ctx = tel.Bind(ctx, stream)

	ids := aios.NewULIDGenerator(nil, nil)
	emit := func(p aios.Payload) {
		env := aios.NewEnvelope(ids, aios.SystemClock{}, stream.Session, stream.Branch, p)
		env.RunID = "run-1"
		_, _ = journal.Append(ctx, env)
	}
	emit(&aios.RunStarted{Provider: "mock", MaxIterations: 1})
	emit(&aios.PhaseEntered{Phase: aios.PhaseDeliberate})
	for range provider.Stream(ctx, aios.ChatRequest{Model: "mock-1", Messages: []aios.ChatMessage{{Role: aios.RoleUser, Content: "hi"}}}) {
	}
	emit(&aios.RunFinished{Reason: "completed", TotalIterations: 1})
	_ = tel.Shutdown(ctx)

	byID := map[string]string{}
	for _, s := range rec.Ended() {
		byID[s.SpanContext().SpanID().String()] = s.Name()
	}
	for _, s := range rec.Ended() {
		if s.Name() != "lago append" {
			parent := byID[s.Parent().SpanID().String()]
			if parent == "" {
				parent = "(root)"
			}
			fmt.Printf("%s <- %s\n", s.Name(), parent)
		}
	}
	// Every journaled event carries its span: here RunStarted, the run's.
	fmt.Println(byID[mem.events[0].SpanID()])
	// Output:
	// chat mock-1 <- deliberate
	// deliberate <- invoke_agent
	// invoke_agent <- (root)
	// invoke_agent
}

func ExampleRunTracer_Replay() {
	ctx := context.Background()
	ids := aios.NewULIDGenerator(nil, nil)
	var events []aios.EventEnvelope
	for _, p := range []aios.Payload{
		&aios.RunStarted{Provider: "mock"},
		&aios.PhaseEntered{Phase: aios.PhaseDeliberate},
		&aios.AssistantMessageCommitted{Role: "assistant", Content: "hi", Model: "mock-1", TokenUsage: &aios.TokenUsage{PromptTokens: 3, CompletionTokens: 1}},
		&aios.RunFinished{Reason: "completed", TotalIterations: 1},
	} {
		env := aios.NewEnvelope(ids, aios.SystemClock{}, "s1", "main", p)
		env.SetTrace("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7") // written by the original run
		events = append(events, env)
	}

	rec := tracetest.NewSpanRecorder()
	tel, _ := vigil.New(ctx, vigil.Config{}, vigil.WithSpanProcessor(rec))
	seq := func(yield func(aios.EventEnvelope, error) bool) {
		for _, e := range events {
			if !yield(e, nil) {
				return
			}
		}
	}
	_ = tel.Runs().Replay(ctx, seq)
	for _, s := range rec.Ended() {
		if s.Name() == "invoke_agent" {
			fmt.Println(s.Name(), "linked to", s.Links()[0].SpanContext.TraceID())
		}
	}
	// Output:
	// invoke_agent linked to 4bf92f3577b34da6a3ce929d0e0e4736
}

func ExampleLogHandler() {
	log := slog.New(vigil.LogHandler(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	})))
	// Without a span in the context nothing is added.
	log.InfoContext(context.Background(), "no span")
	// Output:
	// level=INFO msg="no span"
}

// A daemon builds its telemetry from the standard OTEL_* variables
// (OTEL_TRACES_EXPORTER=otlp, OTEL_EXPORTER_OTLP_ENDPOINT=..., ...) and
// shuts it down on exit, which flushes what is still queued.
func ExampleFromEnv() {
	ctx := context.Background()
	tel, err := vigil.FromEnv(ctx, vigil.WithAgentName("arcand"))
	if err != nil {
		slog.Error("telemetry configuration", "err", err) // names the bad variable
		return
	}
	defer tel.Shutdown(ctx)
	slog.SetDefault(slog.New(vigil.LogHandler(slog.NewJSONHandler(os.Stderr, nil))))
}

// Work that continues a recorded session joins the trace its events were
// first written under.
func ExampleContextWithEvent() {
	env := aios.EventEnvelope{Metadata: map[string]string{}}
	env.SetTrace("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7")
	ctx := vigil.ContextWithEvent(context.Background(), env)

	rec := tracetest.NewSpanRecorder()
	tel, _ := vigil.New(ctx, vigil.Config{}, vigil.WithSpanProcessor(rec))
	_, span := tel.Tracer().Start(ctx, "resume")
	span.End()
	s := rec.Ended()[0]
	fmt.Println(s.SpanContext().TraceID(), s.Parent().SpanID())
	// Output:
	// 4bf92f3577b34da6a3ce929d0e0e4736 00f067aa0ba902b7
}

// Events appended through the wrapped journal carry the trace they were
// written under; the caller's envelopes are left as they were.
func ExampleTelemetry_WrapJournal() {
	ctx := context.Background()
	rec := tracetest.NewSpanRecorder()
	tel, _ := vigil.New(ctx, vigil.Config{}, vigil.WithSpanProcessor(rec))
	mem := &memJournal{}
	journal := tel.WrapJournal(mem)

	ctx, span := tel.Tracer().Start(ctx, "request")
	env := aios.NewEnvelope(aios.NewULIDGenerator(nil, nil), aios.SystemClock{}, "s1", "main", &aios.UserMessage{Content: "hi"})
	_, _ = journal.Append(ctx, env)
	span.End()

	fmt.Println(mem.events[0].TraceID() == span.SpanContext().TraceID().String())
	fmt.Println(env.TraceID() == "")
	// Output:
	// true
	// true
}

func ExampleTelemetry_WrapRegistry() {
	ctx := context.Background()
	rec := tracetest.NewSpanRecorder()
	tel, _ := vigil.New(ctx, vigil.Config{}, vigil.WithSpanProcessor(rec))
	tools := tel.WrapRegistry(registry{echo{}})

	tool, _ := tools.Tool("echo")
	_, _ = tool.Call(ctx, json.RawMessage(`{"x":1}`))
	_ = tel.ForceFlush(ctx)
	fmt.Println(rec.Ended()[0].Name())
	// Output:
	// execute_tool echo
}

type registry struct{ tool aios.Tool }

func (r registry) Tool(name string) (aios.Tool, bool) { return r.tool, name == r.tool.Spec().Name }
func (r registry) Specs() []aios.ToolSpec             { return []aios.ToolSpec{r.tool.Spec()} }

// Settle is how a test reads a synchronous span recorder: a call's span
// ends on vigil's goroutine just after the call returns.
func ExampleTelemetry_Settle() {
	ctx := context.Background()
	rec := tracetest.NewSpanRecorder()
	tel, _ := vigil.New(ctx, vigil.Config{}, vigil.WithSpanProcessor(rec))
	defer tel.Shutdown(ctx)

	_, _ = tel.WrapTool(echo{}).Call(ctx, json.RawMessage(`{}`))
	_ = tel.Settle(ctx)
	fmt.Println(len(rec.Ended()), rec.Ended()[0].Name())
	// Output:
	// 1 execute_tool echo
}
