package vigil

import (
	"log/slog"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
)

// Metric names. The gen_ai.* ones follow the GenAI semantic conventions; the
// life.* ones are this project's.
const (
	MetricTokenUsage        = "gen_ai.client.token.usage"
	MetricOperationDuration = "gen_ai.client.operation.duration"
	MetricToolExecutions    = "life.tool.executions"
	MetricToolFailures      = "life.tool.failures"
	MetricToolDuration      = "life.tool.duration"
	MetricCostEstimated     = "life.cost.estimated"
	MetricCostIncurred      = "life.cost.incurred"
	MetricBudgetRemaining   = "life.budget.remaining"
	MetricModeTransitions   = "life.mode.transitions"
	MetricAppendDuration    = "life.journal.append.duration"
	MetricAppendBatchSize   = "life.journal.append.batch_size"
)

// Bucket boundaries the GenAI conventions recommend.
var (
	tokenBuckets    = []float64{1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864}
	durationBuckets = []float64{0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92}
	latencyBuckets  = []float64{0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1}
	batchBuckets    = []float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024}
)

type instruments struct {
	tokenUsage     metric.Int64Histogram
	opDuration     metric.Float64Histogram
	toolExec       metric.Int64Counter
	toolFail       metric.Int64Counter
	toolDuration   metric.Float64Histogram
	costEstimated  metric.Float64Counter
	costIncurred   metric.Float64Counter
	budget         metric.Float64Gauge
	modeTransition metric.Int64Counter
	appendDuration metric.Float64Histogram
	appendBatch    metric.Int64Histogram

	outcomeOK, outcomeErr measure // cached: a set per record is costly
}

// measure is one attribute set as ready-made option lists: passing a
// single option to Record or Add allocates its variadic slice each call.
type measure struct {
	rec []metric.RecordOption
	add []metric.AddOption
}

func newMeasure(o metric.MeasurementOption) measure {
	return measure{rec: []metric.RecordOption{o}, add: []metric.AddOption{o}}
}

// newInstruments creates every instrument; one that the SDK refuses is
// replaced by a no-op and logged, so telemetry never breaks the agent.
func newInstruments(m metric.Meter, log *slog.Logger) *instruments {
	noop := metricnoop.Meter{}
	check := func(name string, err error) bool {
		if err != nil {
			log.Warn("vigil: instrument unavailable", "name", name, "err", err)
			return false
		}
		return true
	}
	var in instruments
	var err error
	if in.tokenUsage, err = m.Int64Histogram(MetricTokenUsage, metric.WithUnit("{token}"),
		metric.WithDescription("Number of input and output tokens used."),
		metric.WithExplicitBucketBoundaries(tokenBuckets...)); !check(MetricTokenUsage, err) {
		in.tokenUsage, _ = noop.Int64Histogram(MetricTokenUsage)
	}
	if in.opDuration, err = m.Float64Histogram(MetricOperationDuration, metric.WithUnit("s"),
		metric.WithDescription("GenAI operation duration."),
		metric.WithExplicitBucketBoundaries(durationBuckets...)); !check(MetricOperationDuration, err) {
		in.opDuration, _ = noop.Float64Histogram(MetricOperationDuration)
	}
	if in.toolExec, err = m.Int64Counter(MetricToolExecutions, metric.WithUnit("{call}"),
		metric.WithDescription("Tool calls made, by tool and outcome.")); !check(MetricToolExecutions, err) {
		in.toolExec, _ = noop.Int64Counter(MetricToolExecutions)
	}
	if in.toolFail, err = m.Int64Counter(MetricToolFailures, metric.WithUnit("{call}"),
		metric.WithDescription("Tool calls that failed or returned an error result.")); !check(MetricToolFailures, err) {
		in.toolFail, _ = noop.Int64Counter(MetricToolFailures)
	}
	if in.toolDuration, err = m.Float64Histogram(MetricToolDuration, metric.WithUnit("s"),
		metric.WithDescription("Tool call duration."),
		metric.WithExplicitBucketBoundaries(durationBuckets...)); !check(MetricToolDuration, err) {
		in.toolDuration, _ = noop.Float64Histogram(MetricToolDuration)
	}
	if in.costEstimated, err = m.Float64Counter(MetricCostEstimated, metric.WithUnit("USD"),
		metric.WithDescription("Model cost estimated from token usage and the configured prices.")); !check(MetricCostEstimated, err) {
		in.costEstimated, _ = noop.Float64Counter(MetricCostEstimated)
	}
	if in.costIncurred, err = m.Float64Counter(MetricCostIncurred, metric.WithUnit("{credit}"),
		metric.WithDescription("Cost journaled by finance.cost_incurred events.")); !check(MetricCostIncurred, err) {
		in.costIncurred, _ = noop.Float64Counter(MetricCostIncurred)
	}
	if in.budget, err = m.Float64Gauge(MetricBudgetRemaining, metric.WithUnit("1"),
		metric.WithDescription("Remaining budget by resource (tokens, time_ms, cost_usd, tool_calls, errors).")); !check(MetricBudgetRemaining, err) {
		in.budget, _ = noop.Float64Gauge(MetricBudgetRemaining)
	}
	if in.modeTransition, err = m.Int64Counter(MetricModeTransitions, metric.WithUnit("{transition}"),
		metric.WithDescription("Operating and economic mode transitions.")); !check(MetricModeTransitions, err) {
		in.modeTransition, _ = noop.Int64Counter(MetricModeTransitions)
	}
	if in.appendDuration, err = m.Float64Histogram(MetricAppendDuration, metric.WithUnit("s"),
		metric.WithDescription("Journal append latency, until durable."),
		metric.WithExplicitBucketBoundaries(latencyBuckets...)); !check(MetricAppendDuration, err) {
		in.appendDuration, _ = noop.Float64Histogram(MetricAppendDuration)
	}
	if in.appendBatch, err = m.Int64Histogram(MetricAppendBatchSize, metric.WithUnit("{event}"),
		metric.WithDescription("Events per journal append."),
		metric.WithExplicitBucketBoundaries(batchBuckets...)); !check(MetricAppendBatchSize, err) {
		in.appendBatch, _ = noop.Int64Histogram(MetricAppendBatchSize)
	}
	in.outcomeOK = newMeasure(metric.WithAttributeSet(attribute.NewSet(AttrOutcome.String("ok"))))
	in.outcomeErr = newMeasure(metric.WithAttributeSet(attribute.NewSet(AttrOutcome.String("error"))))
	return &in
}

// Attribute keys of this project (the gen_ai.* keys come from semconv).
const (
	AttrSessionID    = attribute.Key("life.session_id")
	AttrBranchID     = attribute.Key("life.branch_id")
	AttrRunID        = attribute.Key("life.run_id")
	AttrSeq          = attribute.Key("life.seq")
	AttrPhase        = attribute.Key("life.phase")
	AttrStep         = attribute.Key("life.step")
	AttrReplay       = attribute.Key("life.replay")
	AttrRunReason    = attribute.Key("life.run.reason")
	AttrIterations   = attribute.Key("life.run.iterations")
	AttrBatchSize    = attribute.Key("life.journal.batch_size")
	AttrEventCount   = attribute.Key("life.journal.events")
	AttrToolOutcome  = attribute.Key("life.tool.outcome")
	AttrModeKind     = attribute.Key("life.mode.kind")
	AttrModeFrom     = attribute.Key("life.mode.from")
	AttrModeTo       = attribute.Key("life.mode.to")
	AttrBudgetRes    = attribute.Key("life.budget.resource")
	AttrCostCategory = attribute.Key("life.cost.category")
	AttrOutcome      = attribute.Key("life.outcome")

	// AttrGenAISystem is gen_ai.system, the name gen_ai.provider.name had
	// before semconv 1.37; written too for backends that still read it.
	AttrGenAISystem = attribute.Key("gen_ai.system")
)

// metricKey names a cached group of metric attribute sets.
type metricKey struct{ a, b, c string }

// metricSets caches metric attribute sets by key, lock-free once made: a
// set is sorted and allocated when built, which would cost every
// measurement. Keys come from requests (model names), so the cache is
// bounded; past the bound sets are built per call.
type metricSets struct {
	m sync.Map // metricKey -> value from build
	n atomic.Int32
}

const maxCachedSets = 256

func (c *metricSets) get(k metricKey, build func() any) any {
	if v, ok := c.m.Load(k); ok {
		return v
	}
	v := build()
	if c.n.Load() >= maxCachedSets {
		return v
	}
	if prev, loaded := c.m.LoadOrStore(k, v); loaded {
		return prev
	}
	c.n.Add(1)
	return v
}
