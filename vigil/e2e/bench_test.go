package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/lifeos/life/vigil"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// discardExporter drops spans after the SDK did all its work.
type discardExporter struct{}

func (discardExporter) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discardExporter) Shutdown(context.Context) error                             { return nil }

// boundedMemory is an in-memory exporter emptied now and then, so a long
// benchmark does not hold every span.
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

type setup struct {
	name string
	tel  func(b *testing.B) *vigil.Telemetry
}

func setups() []setup {
	traced := func(sp sdktrace.SpanProcessor, opts ...vigil.Option) func(b *testing.B) *vigil.Telemetry {
		return func(b *testing.B) *vigil.Telemetry {
			tel, err := vigil.New(context.Background(), vigil.Config{Sampler: vigil.SamplerAlwaysOn},
				append([]vigil.Option{vigil.WithSpanProcessor(sp), vigil.WithMetricReader(sdkmetric.NewManualReader()), vigil.WithAgentName("arcan")}, opts...)...)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
			return tel
		}
	}
	return []setup{
		{"off", func(*testing.B) *vigil.Telemetry { return vigil.Disabled() }},
		{"noop-exporter", traced(sdktrace.NewBatchSpanProcessor(discardExporter{}))},
		{"memory-exporter", traced(sdktrace.NewBatchSpanProcessor(&boundedMemory{InMemoryExporter: tracetest.NewInMemoryExporter()}))},
		// As noop-exporter, without trace metadata on streaming deltas.
		{"noop-no-delta-meta", traced(sdktrace.NewBatchSpanProcessor(discardExporter{}), vigil.WithDeltaTraceMetadata(false))},
	}
}

// BenchmarkArcanTurnOverhead runs real arcan turns (a new session, the mock
// provider, one list_dir call, the lago journal fsync'd as in production,
// or without fsync) with tracing off, on with sampling 1.0 to a no-op
// exporter, and on to an in-memory exporter, interleaved in one loop, and
// reports the traced turn times as ratios of the untraced one.
func BenchmarkArcanTurnOverhead(b *testing.B) {
	for _, durability := range []struct {
		name   string
		noSync bool
	}{{"fsync", false}, {"nosync", true}} {
		b.Run(durability.name, func(b *testing.B) {
			ss := setups()
			tels := make([]*vigil.Telemetry, len(ss))
			stacks := make([]stack, len(ss))
			for i, s := range ss {
				tels[i] = s.tel(b)
				stacks[i] = openStack(b, tels[i], durability.noSync)
			}
			ctx := context.Background()
			total := make([]time.Duration, len(ss))
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				for j := range ss {
					k := (i + j) % len(ss) // rotate the order
					start := time.Now()
					if _, res, err := stacks[k].turn(ctx, tels[k]); err != nil || res.Status != "completed" {
						b.Fatalf("%s: %v %q", ss[k].name, err, res.Status)
					}
					total[k] += time.Since(start)
				}
			}
			n := float64(b.N)
			base := float64(total[0]) / n
			b.ReportMetric(base/1e3, "µs/turn-off")
			for k := 1; k < len(ss); k++ {
				per := float64(total[k]) / n
				b.ReportMetric(per/1e3, "µs/turn-"+ss[k].name)
				b.ReportMetric(per/base, "x-"+ss[k].name)
			}
		})
	}
}

// BenchmarkArcanTurn runs each configuration on its own (journal without
// fsync), for profiling one of them.
func BenchmarkArcanTurn(b *testing.B) {
	for _, s := range setups() {
		b.Run(s.name, func(b *testing.B) {
			tel := s.tel(b)
			st := openStack(b, tel, true)
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			cpu := processCPU()
			for b.Loop() {
				if _, res, err := st.turn(ctx, tel); err != nil || res.Status != "completed" {
					b.Fatalf("%v %q", err, res.Status)
				}
			}
			_ = tel.Shutdown(ctx) // flush what is still queued, so its export is counted
			b.ReportMetric(float64(processCPU()-cpu)/1e3/float64(b.N), "cpu-µs/turn")
		})
	}
}
