package vigil

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/exporters/stdout/stdoutmetric"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.41.0"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// ScopeName is the instrumentation scope of every span and metric vigil makes.
const ScopeName = "github.com/lifeos/life/vigil"

// Redactor rewrites captured content before it is put on a span. kind says
// what the text is: "system", "user", "assistant", "tool", "tool_call.arguments",
// "tool_call.result", or "error" for the error messages spans carry (status,
// exception events, error_raised events), which are recorded even with
// capture off because an error can quote content.
type Redactor func(kind, text string) string

// Price is what a model costs, in USD per million tokens.
type Price struct {
	InputPerMTok  float64
	OutputPerMTok float64
}

// Option adjusts [New] and [NewWithProviders].
type Option func(*options)

type options struct {
	spanProcessors []sdktrace.SpanProcessor
	metricReaders  []sdkmetric.Reader
	redactor       Redactor
	pricing        map[string]Price
	agentName      string
	logger         *slog.Logger
	stdout         io.Writer
	attrs          []attribute.KeyValue
	skipDeltas     bool
}

// WithSpanProcessor adds a span processor to the SDK that New builds, on top
// of the configured exporters (tests pass a tracetest.SpanRecorder).
func WithSpanProcessor(sp sdktrace.SpanProcessor) Option {
	return func(o *options) { o.spanProcessors = append(o.spanProcessors, sp) }
}

// WithMetricReader adds a metric reader to the SDK that New builds (tests
// pass an sdkmetric.ManualReader).
func WithMetricReader(r sdkmetric.Reader) Option {
	return func(o *options) { o.metricReaders = append(o.metricReaders, r) }
}

// WithRedactor sets the hook that rewrites captured content.
func WithRedactor(r Redactor) Option { return func(o *options) { o.redactor = r } }

// WithPricing sets per-model prices for the estimated cost metric.
func WithPricing(p map[string]Price) Option {
	return func(o *options) {
		o.pricing = make(map[string]Price, len(p))
		for k, v := range p {
			o.pricing[k] = v
		}
	}
}

// WithAgentName sets gen_ai.agent.name on invoke_agent spans.
func WithAgentName(name string) Option { return func(o *options) { o.agentName = name } }

// WithLogger sets the logger vigil reports its own problems to.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithDeltaTraceMetadata says whether streaming deltas (AssistantTextDelta,
// TextDelta, voice chunks) get trace_id and span_id metadata when appended
// through WrapJournal (default true: every event does). They are a large
// share of a turn's events (about a third of the stamped events of an arcan
// turn with the mock provider), so leaving them out trims the journal cost
// of the trace metadata; a reader then takes a delta's trace context from
// the nearest earlier event of its stream.
func WithDeltaTraceMetadata(on bool) Option { return func(o *options) { o.skipDeltas = !on } }

// WithStdout sets where the console exporters write (default os.Stdout).
func WithStdout(w io.Writer) Option { return func(o *options) { o.stdout = w } }

// WithResourceAttributes adds resource attributes to the SDK New builds.
func WithResourceAttributes(kv ...attribute.KeyValue) Option {
	return func(o *options) { o.attrs = append(o.attrs, kv...) }
}

// Telemetry holds the tracer, the meter instruments and the run tracer that
// the decorators share. Make one with [New], [FromEnv], [NewWithProviders]
// or [Disabled]; it is safe for concurrent use.
type Telemetry struct {
	tracer     trace.Tracer
	inst       *instruments
	runs       *RunTracer
	fin        *finisher   // what follows a call, off the caller's path
	closing    atomic.Bool // Shutdown began: appends pass through untraced
	tools      metricSets  // *toolInfo by tool name and description
	capture    bool
	redact     Redactor
	pricing    map[string]Price
	agent      string
	logger     *slog.Logger
	skipDeltas bool
	enabled    bool
	shutdown   []func(context.Context) error
	flush      []func(context.Context) error
	once       sync.Once
	shutErr    error
}

// FromEnv reads the OTEL_* environment (see [ConfigFromEnv]) and builds
// the SDK it describes.
func FromEnv(ctx context.Context, opts ...Option) (*Telemetry, error) {
	cfg, err := ConfigFromOS()
	if err != nil {
		return nil, err
	}
	return New(ctx, cfg, opts...)
}

// New builds a tracer and meter provider for cfg: batch span export and
// periodic metric export to the configured exporters, plus whatever
// processors and readers the options add. With no exporter and no added
// processor or reader it returns a disabled Telemetry that costs next to
// nothing. Call Shutdown to flush.
func New(ctx context.Context, cfg Config, opts ...Option) (*Telemetry, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.normalized()
	o := applyOptions(opts)
	if !cfg.Traces.Enabled() && !cfg.Metrics.Enabled() && len(o.spanProcessors) == 0 && len(o.metricReaders) == 0 {
		t := newTelemetry(tracenoop.NewTracerProvider(), metricnoop.NewMeterProvider(), o)
		t.capture = cfg.CaptureContent
		return t, nil
	}

	res, err := resource.New(ctx,
		resource.WithFromEnv(), // OTEL_RESOURCE_ATTRIBUTES, OTEL_SERVICE_NAME
		resource.WithTelemetrySDK(),
		resource.WithAttributes(o.attrs...),
	)
	if err != nil && res == nil {
		return nil, fmt.Errorf("vigil: resource: %w", err)
	}
	if err != nil {
		// A partial resource (a malformed OTEL_RESOURCE_ATTRIBUTES pair is
		// dropped) still exports; say what was dropped.
		o.logger.WarnContext(ctx, "vigil: resource attributes partly ignored", "err", err)
	}
	if cfg.ServiceName != "" {
		res, err = resource.Merge(res, resource.NewSchemaless(semconv.ServiceName(cfg.ServiceName)))
		if err != nil {
			return nil, fmt.Errorf("vigil: resource: %w", err)
		}
	}

	var cleanup []func(context.Context) error
	fail := func(err error) (*Telemetry, error) {
		for _, f := range cleanup {
			_ = f(ctx)
		}
		return nil, err
	}

	topts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res), sdktrace.WithSampler(buildSampler(cfg))}
	for _, e := range cfg.Traces.Exporters {
		exp, err := traceExporter(ctx, e, cfg.Traces, o)
		if err != nil {
			return fail(err)
		}
		if exp != nil {
			topts = append(topts, sdktrace.WithBatcher(exp))
		}
	}
	for _, sp := range o.spanProcessors {
		topts = append(topts, sdktrace.WithSpanProcessor(sp))
	}
	tp := sdktrace.NewTracerProvider(topts...)
	cleanup = append(cleanup, tp.Shutdown)

	mopts := []sdkmetric.Option{sdkmetric.WithResource(res)}
	for _, e := range cfg.Metrics.Exporters {
		exp, err := metricExporter(ctx, e, cfg.Metrics, o)
		if err != nil {
			return fail(err)
		}
		if exp != nil {
			mopts = append(mopts, sdkmetric.WithReader(sdkmetric.NewPeriodicReader(exp)))
		}
	}
	for _, r := range o.metricReaders {
		mopts = append(mopts, sdkmetric.WithReader(r))
	}
	mp := sdkmetric.NewMeterProvider(mopts...)

	t := newTelemetry(tp, mp, o)
	t.capture = cfg.CaptureContent
	t.enabled = true
	t.shutdown = []func(context.Context) error{tp.Shutdown, mp.Shutdown}
	t.flush = []func(context.Context) error{tp.ForceFlush, mp.ForceFlush}
	return t, nil
}

// NewWithProviders uses providers the caller owns (for example the global
// ones); Shutdown then does nothing.
func NewWithProviders(tp trace.TracerProvider, mp metric.MeterProvider, opts ...Option) *Telemetry {
	t := newTelemetry(tp, mp, applyOptions(opts))
	t.enabled = true
	return t
}

// Disabled returns a Telemetry that records nothing; its decorators return
// the wrapped port unchanged.
func Disabled() *Telemetry {
	return newTelemetry(tracenoop.NewTracerProvider(), metricnoop.NewMeterProvider(), applyOptions(nil))
}

func applyOptions(opts []Option) options {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if o.logger == nil {
		o.logger = slog.New(slog.DiscardHandler)
	}
	return o
}

func newTelemetry(tp trace.TracerProvider, mp metric.MeterProvider, o options) *Telemetry {
	t := &Telemetry{
		tracer:     tp.Tracer(ScopeName, trace.WithSchemaURL(semconv.SchemaURL)),
		inst:       newInstruments(mp.Meter(ScopeName, metric.WithSchemaURL(semconv.SchemaURL)), o.logger),
		redact:     o.redactor,
		pricing:    o.pricing,
		agent:      o.agentName,
		logger:     o.logger,
		skipDeltas: o.skipDeltas,
	}
	t.runs = newRunTracer(t)
	t.fin = newFinisher()
	return t
}

// Enabled reports whether this Telemetry records anything.
func (t *Telemetry) Enabled() bool { return t.enabled }

// Tracer is the tracer vigil's spans come from.
func (t *Telemetry) Tracer() trace.Tracer { return t.tracer }

// Runs is the run tracer that turns journal events into invoke_agent and
// phase spans.
func (t *Telemetry) Runs() *RunTracer { return t.runs }

// Settle waits, up to ctx, until vigil has finished what the calls that
// already returned left it to do on its own goroutine (their spans' ends and
// metrics, see [Telemetry.WrapJournal]). It exports nothing: a synchronous
// span processor, such as an in-memory recorder, then holds those spans.
func (t *Telemetry) Settle(ctx context.Context) error {
	if err := t.fin.wait(ctx); err != nil {
		return fmt.Errorf("vigil: settle: %w", err)
	}
	return nil
}

// ForceFlush settles (see [Telemetry.Settle]) and exports everything
// recorded so far.
func (t *Telemetry) ForceFlush(ctx context.Context) error {
	errs := []error{t.fin.wait(ctx)}
	for _, f := range t.flush {
		errs = append(errs, f(ctx))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("vigil: flush: %w", err)
	}
	return nil
}

// Shutdown ends the spans of runs still open (failed: the runs did not
// finish), waits up to ctx for the journal appends under way so that the
// spans they end are kept, flushes and stops the exporters. Spans of
// provider and tool calls still running are not exported. Later calls
// return the first result.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	t.once.Do(func() {
		t.closing.Store(true) // before waitIdle: see journal.Append
		_ = t.fin.wait(ctx)   // so the spans appends closed keep their seqs
		t.runs.closeAll("shutdown", true)
		t.runs.waitIdle(ctx)
		_ = t.fin.wait(ctx)
		var errs []error
		for _, f := range t.shutdown {
			errs = append(errs, f(ctx))
		}
		if err := errors.Join(errs...); err != nil {
			t.shutErr = fmt.Errorf("vigil: shutdown: %w", err)
		}
	})
	return t.shutErr
}

func buildSampler(cfg Config) sdktrace.Sampler {
	switch cfg.Sampler {
	case SamplerAlwaysOn:
		return sdktrace.AlwaysSample()
	case SamplerAlwaysOff:
		return sdktrace.NeverSample()
	case SamplerTraceIDRatio:
		return sdktrace.TraceIDRatioBased(cfg.SamplerArg)
	case SamplerParentBasedAlwaysOff:
		return sdktrace.ParentBased(sdktrace.NeverSample())
	case SamplerParentBasedTraceIDRatio:
		return sdktrace.ParentBased(sdktrace.TraceIDRatioBased(cfg.SamplerArg))
	}
	return sdktrace.ParentBased(sdktrace.AlwaysSample())
}

func traceExporter(ctx context.Context, e Exporter, sc SignalConfig, o options) (sdktrace.SpanExporter, error) {
	switch e {
	case ExporterConsole:
		var sopts []stdouttrace.Option
		if o.stdout != nil {
			sopts = append(sopts, stdouttrace.WithWriter(o.stdout))
		}
		exp, err := stdouttrace.New(sopts...)
		if err != nil {
			return nil, fmt.Errorf("vigil: stdout trace exporter: %w", err)
		}
		return exp, nil
	case ExporterOTLP:
		var (
			exp sdktrace.SpanExporter
			err error
		)
		if sc.Protocol == ProtocolGRPC {
			var gopts []otlptracegrpc.Option
			if sc.Endpoint != "" {
				gopts = append(gopts, otlptracegrpc.WithEndpointURL(sc.Endpoint))
			}
			exp, err = otlptracegrpc.New(ctx, gopts...)
		} else {
			var hopts []otlptracehttp.Option
			if sc.Endpoint != "" {
				hopts = append(hopts, otlptracehttp.WithEndpointURL(sc.Endpoint))
			}
			if sc.Protocol == ProtocolHTTPJSON {
				hopts = append(hopts, otlptracehttp.WithEncoding(otlptracehttp.EncodingJSON))
			}
			exp, err = otlptracehttp.New(ctx, hopts...)
		}
		if err != nil {
			return nil, fmt.Errorf("vigil: otlp trace exporter (%s %s): %w", sc.Protocol, sc.Endpoint, err)
		}
		return exp, nil
	}
	return nil, nil
}

func metricExporter(ctx context.Context, e Exporter, sc SignalConfig, o options) (sdkmetric.Exporter, error) {
	switch e {
	case ExporterConsole:
		var sopts []stdoutmetric.Option
		if o.stdout != nil {
			sopts = append(sopts, stdoutmetric.WithWriter(o.stdout))
		}
		exp, err := stdoutmetric.New(sopts...)
		if err != nil {
			return nil, fmt.Errorf("vigil: stdout metric exporter: %w", err)
		}
		return exp, nil
	case ExporterOTLP:
		var (
			exp sdkmetric.Exporter
			err error
		)
		if sc.Protocol == ProtocolGRPC {
			var gopts []otlpmetricgrpc.Option
			if sc.Endpoint != "" {
				gopts = append(gopts, otlpmetricgrpc.WithEndpointURL(sc.Endpoint))
			}
			exp, err = otlpmetricgrpc.New(ctx, gopts...)
		} else {
			var hopts []otlpmetrichttp.Option
			if sc.Endpoint != "" {
				hopts = append(hopts, otlpmetrichttp.WithEndpointURL(sc.Endpoint))
			}
			exp, err = otlpmetrichttp.New(ctx, hopts...)
		}
		if err != nil {
			return nil, fmt.Errorf("vigil: otlp metric exporter (%s %s): %w", sc.Protocol, sc.Endpoint, err)
		}
		return exp, nil
	}
	return nil, nil
}
