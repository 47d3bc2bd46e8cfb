package vigil

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/lifeos/life/aios"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// discardExporter is the no-op span exporter of the benchmark: the SDK does
// all its work (sampling at 1.0, recording, batching) and the spans are
// then dropped.
type discardExporter struct{}

func (discardExporter) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discardExporter) Shutdown(context.Context) error                             { return nil }

// boundedMemory is the in-memory exporter of the benchmark, emptied now
// and then so a long run does not hold every span.
type boundedMemory struct {
	*tracetest.InMemoryExporter
	n int
}

func (m *boundedMemory) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	m.n += len(spans) // the batch processor exports from one goroutine
	if m.n > 1<<14 {
		m.Reset()
		m.n = 0
	}
	return m.InMemoryExporter.ExportSpans(ctx, spans)
}

// benchSetup is one tracing configuration of the turn benchmark.
type benchSetup struct {
	name  string
	ports func(b *testing.B) (turnPorts, func())
}

func benchSetups() []benchSetup {
	raw := func() turnPorts {
		fj := newFakeJournal()
		fj.discard = true
		return turnPorts{journal: fj, provider: &scriptedProvider{},
			tools: oneToolRegistry{echoTool{}}, ids: aios.NewULIDGenerator(nil, nil)}
	}
	traced := func(b *testing.B, sp sdktrace.SpanProcessor) (turnPorts, func()) {
		tel, err := New(context.Background(), Config{Sampler: SamplerAlwaysOn},
			WithSpanProcessor(sp), WithMetricReader(sdkmetric.NewManualReader()))
		if err != nil {
			b.Fatal(err)
		}
		p := raw()
		p.journal = tel.WrapJournal(p.journal)
		p.provider = tel.WrapProvider(p.provider)
		p.tools = tel.WrapRegistry(p.tools)
		p.bind = tel.Bind
		return p, func() { _ = tel.Shutdown(context.Background()) }
	}
	return []benchSetup{
		{"off", func(*testing.B) (turnPorts, func()) { return raw(), func() {} }},
		{"noop-exporter", func(b *testing.B) (turnPorts, func()) {
			return traced(b, sdktrace.NewBatchSpanProcessor(discardExporter{}))
		}},
		{"memory-exporter", func(b *testing.B) (turnPorts, func()) {
			return traced(b, sdktrace.NewBatchSpanProcessor(&boundedMemory{InMemoryExporter: tracetest.NewInMemoryExporter()}))
		}},
	}
}

// BenchmarkTurn measures one agent turn (two provider calls, one tool call,
// 18 journaled events) over the contract's ports with tracing off, on with
// sampling 1.0 to a no-op exporter, and on to an in-memory exporter. The
// provider, tool and journal are in-memory fakes, so the turn itself costs
// microseconds and the ratio shows vigil's cost at its most visible; a
// real turn (network model call, fsync'd journal) dilutes it by orders of
// magnitude.
func BenchmarkTurn(b *testing.B) {
	for _, s := range benchSetups() {
		b.Run(s.name, func(b *testing.B) {
			ports, done := s.ports(b)
			defer done()
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			cpu := processCPU()
			for i := 0; b.Loop(); i++ {
				if _, err := runTurn(ctx, ports, aios.StreamID{Session: fmt.Sprintf("s%d", i%64), Branch: "main"}, "say hi"); err != nil {
					b.Fatal(err)
				}
			}
			done() // flush what is still queued, so its export is counted
			b.ReportMetric(float64(processCPU()-cpu)/1e3/float64(b.N), "cpu-µs/turn")
		})
	}
}

// BenchmarkTurnOverhead runs the three configurations interleaved in one
// loop, so they share machine conditions, and reports the traced turn
// times as ratios of the untraced one (1.05 = 5% overhead).
func BenchmarkTurnOverhead(b *testing.B) {
	setups := benchSetups()
	ports := make([]turnPorts, len(setups))
	for i, s := range setups {
		p, done := s.ports(b)
		defer done()
		ports[i] = p
	}
	ctx := context.Background()
	total := make([]time.Duration, len(setups))
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		stream := aios.StreamID{Session: fmt.Sprintf("s%d", i%64), Branch: "main"}
		for j := range setups {
			k := (i + j) % len(setups) // rotate the order
			start := time.Now()
			if _, err := runTurn(ctx, ports[k], stream, "say hi"); err != nil {
				b.Fatal(err)
			}
			total[k] += time.Since(start)
		}
	}
	n := float64(b.N)
	base := float64(total[0]) / n
	b.ReportMetric(base/1e3, "µs/turn-off")
	for k := 1; k < len(setups); k++ {
		per := float64(total[k]) / n
		b.ReportMetric(per/1e3, "µs/turn-"+setups[k].name)
		b.ReportMetric(per/base, "x-"+setups[k].name)
		b.ReportMetric((per-base)/1e3, "µs-added-"+setups[k].name)
	}
}

// BenchmarkSDKSpanFloor is the OpenTelemetry SDK's own cost for a turn's
// worth of spans (one root and 20 children with four attributes, batched to
// the no-op exporter), without vigil: the floor under BenchmarkTurn's
// traced configurations.
func BenchmarkSDKSpanFloor(b *testing.B) {
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()),
		sdktrace.WithBatcher(discardExporter{}))
	defer func() { _ = tp.Shutdown(context.Background()) }()
	tr := tp.Tracer("floor")
	attrs := trace.WithAttributes(AttrSessionID.String("s"), AttrBranchID.String("main"), AttrRunID.String("r"), AttrPhase.String("execute"))
	ctx := context.Background()
	b.ReportAllocs()
	cpu := processCPU()
	for b.Loop() {
		rctx, root := tr.Start(ctx, "invoke_agent", attrs)
		for range 20 {
			_, sp := tr.Start(rctx, "child", attrs)
			sp.End()
		}
		root.End()
	}
	_ = tp.ForceFlush(ctx)
	b.ReportMetric(float64(processCPU()-cpu)/1e3/float64(b.N), "cpu-µs/turn")
}

// BenchmarkSDKSpanFloorIdle is BenchmarkSDKSpanFloor's 21 spans in four
// bursts, each after the goroutine sat idle for a while as a turn does
// while the journal fsyncs, interleaved with the same waits without spans:
// µs-added-p50 is what the SDK alone adds to such a turn's wall time. Work
// that follows an idle wait runs slower than in a tight loop (cold caches,
// a woken processor), so this floor is well above the tight loop's.
func BenchmarkSDKSpanFloorIdle(b *testing.B) {
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()),
		sdktrace.WithBatcher(discardExporter{}))
	defer func() { _ = tp.Shutdown(context.Background()) }()
	tr := tp.Tracer("floor")
	attrs := trace.WithAttributes(AttrSessionID.String("s"), AttrBranchID.String("main"), AttrRunID.String("r"), AttrPhase.String("execute"))
	ctx := context.Background()
	turn := func(spans bool) time.Duration {
		var busy time.Duration
		var root trace.Span
		rctx := ctx
		for burst := range 4 {
			time.Sleep(500 * time.Microsecond)
			start := time.Now()
			if spans {
				if burst == 0 {
					rctx, root = tr.Start(ctx, "invoke_agent", attrs)
				}
				for range 5 {
					_, sp := tr.Start(rctx, "child", attrs)
					sp.End()
				}
				if burst == 3 {
					root.End()
				}
			}
			busy += time.Since(start)
		}
		return busy
	}
	var with, without []time.Duration
	for i := 0; b.Loop(); i++ {
		if i%2 == 0 {
			with, without = append(with, turn(true)), append(without, turn(false))
		} else {
			without, with = append(without, turn(false)), append(with, turn(true))
		}
	}
	b.ReportMetric(float64(median(with)-median(without))/1e3, "µs-added-p50")
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
