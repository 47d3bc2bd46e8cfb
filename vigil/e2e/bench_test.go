package e2e

import (
	"context"
	"maps"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/lago/journal"
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

// metaJournal stamps trace_id and span_id metadata of the real sizes on
// every event, sharing a stamped map between events with equal metadata as
// vigil does within a span, with tracing off: the
// journal's share of tracing's cost (the bytes it encodes, hashes and
// writes), apart from vigil's and the SDK's.
type metaJournal struct{ aios.Journal }

func (m metaJournal) Append(ctx context.Context, events ...aios.EventEnvelope) ([]uint64, error) {
	out := make([]aios.EventEnvelope, len(events))
	var last, lastSrc map[string]string
	for i, env := range events {
		if last == nil || !maps.Equal(env.Metadata, lastSrc) {
			lastSrc = env.Metadata
			last = make(map[string]string, len(env.Metadata)+2)
			maps.Copy(last, env.Metadata)
			last[aios.MetaTraceID] = "0734187ea79f34a31fae19e9f3e9b740"
			last[aios.MetaSpanID] = "7c7a28292ddc58be"
		}
		env.Metadata = last
		out[i] = env
	}
	return m.Journal.Append(ctx, out...)
}

type setup struct {
	name string
	tel  func(b *testing.B) *vigil.Telemetry
	wrap func(aios.Journal) aios.Journal // around lago's journal, if not nil
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
	off := func(*testing.B) *vigil.Telemetry { return vigil.Disabled() }
	return []setup{
		{name: "off", tel: off},
		{name: "noop-exporter", tel: traced(sdktrace.NewBatchSpanProcessor(discardExporter{}))},
		{name: "memory-exporter", tel: traced(sdktrace.NewBatchSpanProcessor(&boundedMemory{InMemoryExporter: tracetest.NewInMemoryExporter()}))},
		// As noop-exporter, without trace metadata on streaming deltas.
		{name: "noop-no-delta-meta", tel: traced(sdktrace.NewBatchSpanProcessor(discardExporter{}), vigil.WithDeltaTraceMetadata(false))},
		// Tracing off, the journal storing trace metadata all the same.
		{name: "journal-meta-only", tel: off, wrap: func(j aios.Journal) aios.Journal { return metaJournal{j} }},
	}
}

// BenchmarkArcanTurnOverhead runs real arcan turns (a new session, the mock
// provider, one list_dir call, the lago journal fsync'd as in production,
// or without fsync) with tracing off, on with sampling 1.0 to a no-op
// exporter, and on to an in-memory exporter, interleaved in one loop, and
// reports each configuration's turn time against the untraced one: x-* is
// the ratio of the mean turn times (1.05 = 5% overhead), x-p50-* the ratio
// of the medians (steadier when other work on the machine stalls an fsync
// now and then), µs-added-p50-* the difference of the medians.
// journal-meta-only is the share the journal pays for storing the trace
// metadata. Each turn is timed until Run returns; what vigil finishes on
// its own goroutine after that is flushed before the next turn, untimed.
func BenchmarkArcanTurnOverhead(b *testing.B) {
	for _, durability := range []struct {
		name   string
		noSync bool
	}{{"fsync", false}, {"nosync", true}} {
		b.Run(durability.name, func(b *testing.B) {
			ss := setups()
			tels := make([]*vigil.Telemetry, len(ss))
			stacks := make([]stack, len(ss))
			// One journal file for all: what an fsync costs differs from
			// file to file (where its blocks sit), which would otherwise
			// bias one configuration against another.
			j, err := journal.Open(filepath.Join(b.TempDir(), "journal.db"), journal.Options{NoSync: durability.noSync})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = j.Close() })
			for i, s := range ss {
				tels[i] = s.tel(b)
				stacks[i] = openStackOn(b, tels[i], j, s.wrap)
			}
			ctx := context.Background()
			times := make([][]time.Duration, len(ss))
			b.ResetTimer()
			// A new random order each round: what a turn leaves behind
			// (caches, the garbage it made) weighs on the one after it, and
			// a fixed order would always hand it to the same configuration.
			rng := rand.New(rand.NewPCG(1, 2))
			order := make([]int, len(ss))
			for i := range order {
				order[i] = i
			}
			for b.Loop() {
				rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
				for _, k := range order {
					start := time.Now()
					if _, res, err := stacks[k].turn(ctx, tels[k]); err != nil || res.Status != "completed" {
						b.Fatalf("%s: %v %q", ss[k].name, err, res.Status)
					}
					times[k] = append(times[k], time.Since(start))
					// Untimed: the spans and metrics vigil finishes after
					// the turn returned, so that they do not land in the
					// next configuration's turn. Their CPU is in
					// BenchmarkArcanTurn's cpu-µs/turn. Export stays as in
					// production (batched, in the SDK's goroutine).
					if err := tels[k].Settle(ctx); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.StopTimer()
			mean0, p500 := stats(times[0])
			b.ReportMetric(mean0/1e3, "µs/turn-off")
			b.ReportMetric(p500/1e3, "µs/turn-p50-off")
			for k := 1; k < len(ss); k++ {
				mean, p50 := stats(times[k])
				b.ReportMetric(mean/mean0, "x-"+ss[k].name)
				b.ReportMetric(p50/p500, "x-p50-"+ss[k].name)
				b.ReportMetric((p50-p500)/1e3, "µs-added-p50-"+ss[k].name)
			}
		})
	}
}

// stats returns the mean and the median of ds, in nanoseconds.
func stats(ds []time.Duration) (mean, median float64) {
	if len(ds) == 0 {
		return 0, 0
	}
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	median = float64(s[len(s)/2])
	if len(s)%2 == 0 {
		median = (float64(s[len(s)/2-1]) + median) / 2
	}
	return float64(sum) / float64(len(ds)), median
}

// BenchmarkArcanTurn runs each configuration on its own (journal without
// fsync), for profiling one of them.
func BenchmarkArcanTurn(b *testing.B) {
	for _, s := range setups() {
		b.Run(s.name, func(b *testing.B) {
			tel := s.tel(b)
			st := openStackWrapped(b, tel, true, s.wrap)
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
