package vigil

import (
	"context"
	"fmt"
	"iter"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lifeos/life/aios"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.41.0"
	"go.opentelemetry.io/otel/trace"
)

// RunTracer derives spans from a run's journal events, so that any runtime
// that journals the contract's events gets the same span tree, live or from
// a replayed journal: RunStarted opens `invoke_agent` (ended by RunFinished
// or RunErrored), StepStarted opens `step {n}` (ended by StepFinished or
// the next step) and PhaseEntered opens a span named after the phase (ended
// by the next phase, or the end of the step or run it is in). A step opened
// inside a phase nests under it and a phase opened inside a step nests under
// the step, so both orders a runtime may journal them in give a sensible
// tree. Spans are timed by the events' timestamps when those are close to
// the wall clock (a runtime that batches its appends still shows each
// phase's real length), else by the time the event is observed. Mode,
// budget and cost events feed metrics; mode changes, policy verdicts,
// sandbox violations and raised errors become events on the current span.
//
// Live events usually arrive through a journal wrapped by
// [Telemetry.WrapJournal]; [RunTracer.Observe] feeds one directly. It keeps
// one open run per stream and is safe for concurrent use.
type RunTracer struct {
	t       *Telemetry
	mu      sync.Mutex
	streams map[aios.StreamID]*streamState
	closed  bool                    // by closeAll: no span opens after Shutdown began
	optBuf  []trace.SpanStartOption // observe's span start options, under mu
	// inflight counts the Observe and journal Append calls under way,
	// whose spans end after the lock is released: Shutdown waits for them
	// so that it does not stop the SDK under spans about to end.
	inflight atomic.Int64
}

type frameKind uint8

const (
	frameRun frameKind = iota
	framePhase
	frameStep
)

type frame struct {
	kind frameKind
	span trace.Span
}

type streamState struct {
	stack   []frame // open spans, outermost (the run) first
	runID   string
	pending []pendingCall // tool calls requested and not finished
	last    time.Time     // the latest time a span of the stream was given
	// replay only: where derived chat and tool spans start
	mark       time.Time
	toolStarts map[string]time.Time // by tool name
}

type pendingCall struct {
	id, tool string
	claimed  bool
}

func newRunTracer(t *Telemetry) *RunTracer {
	return &RunTracer{t: t, streams: map[aios.StreamID]*streamState{}}
}

// observation is what one event did to the stream's spans.
type observation struct {
	sc     trace.SpanContext // written into the event's metadata
	opened trace.Span        // the span the event opened, if any
	// Spans to end once the event is durable: a few inline, the rest in
	// more (a value type without closures, so observing allocates little).
	ends   [3]trace.Span
	nEnds  int
	more   []trace.Span
	endOpt trace.SpanEndOption // the event's timestamp, or nil for now
	seq    uint64              // the journal's seq for the event, once known
}

func (o *observation) addEnd(sp trace.Span) {
	if o.nEnds < len(o.ends) {
		o.ends[o.nEnds] = sp
		o.nEnds++
		return
	}
	o.more = append(o.more, sp)
}

// finish records the seq on the span the event opened and ends the spans
// it closed, at the event's time, else at end (nil: now).
func (o *observation) finish(end trace.SpanEndOption) {
	if o.opened != nil && o.seq > 0 {
		o.opened.SetAttributes(AttrSeq.Int64(int64(o.seq)))
	}
	if o.nEnds == 0 {
		return
	}
	if o.endOpt != nil {
		end = o.endOpt
	}
	var opts []trace.SpanEndOption // one slice for all the ends
	if end != nil {
		opts = []trace.SpanEndOption{end}
	}
	for _, sp := range o.ends[:o.nEnds] {
		sp.End(opts...)
	}
	for _, sp := range o.more {
		sp.End(opts...)
	}
}

// Observe feeds one live event to the tracer and returns the span context
// the event belongs to (the span it opened or closed, else the innermost
// open span of its stream, else ctx's span).
func (r *RunTracer) Observe(ctx context.Context, env aios.EventEnvelope) trace.SpanContext {
	if !r.t.enabled {
		return trace.SpanContextFromContext(ctx)
	}
	r.inflight.Add(1)
	defer r.inflight.Add(-1)
	o := r.observe(ctx, &env, false)
	o.seq = env.Seq
	o.finish(nil)
	return o.sc
}

// waitIdle waits, up to ctx, for the Observe and Append calls under way.
func (r *RunTracer) waitIdle(ctx context.Context) {
	for r.inflight.Load() > 0 {
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Millisecond):
		}
	}
}

// Replay rebuilds the span tree of recorded events, timed by the events'
// own timestamps. Each rebuilt span carries life.replay=true and, when the
// event recorded the trace it was written under, a link to that original
// span: this is how a replayed session is correlated to its first trace.
// Chat and tool spans are derived from AssistantMessageCommitted and
// ToolCall* events. Replay records no metrics (they were counted live). It
// returns the first error of events.
func (r *RunTracer) Replay(ctx context.Context, events iter.Seq2[aios.EventEnvelope, error]) error {
	// Its own stream states: a replay never touches the live runs' spans.
	rep := newRunTracer(r.t)
	defer rep.closeAll("replay ended", false)
	for env, err := range events {
		if err != nil {
			return fmt.Errorf("vigil: replay: %w", err)
		}
		if !r.t.enabled {
			continue
		}
		o := rep.observe(ctx, &env, true)
		o.seq = env.Seq
		o.finish(nil)
	}
	return nil
}

// current returns the innermost open span of a stream, or nil.
func (r *RunTracer) current(stream aios.StreamID) (trace.Span, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.streams[stream]
	if st == nil {
		return nil, ""
	}
	return st.innermost(), st.runID
}

// claimCall returns the oldest unclaimed call id requested for tool on a
// stream, so a tool span can carry gen_ai.tool.call.id without the runtime
// passing it.
func (r *RunTracer) claimCall(stream aios.StreamID, tool string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.streams[stream]
	if st == nil {
		return ""
	}
	for i := range st.pending {
		if p := &st.pending[i]; p.tool == tool && !p.claimed {
			p.claimed = true
			return p.id
		}
	}
	return ""
}

func (st *streamState) innermost() trace.Span {
	if n := len(st.stack); n > 0 {
		return st.stack[n-1].span
	}
	return nil
}

// find returns the index of the innermost open frame of kind k, or -1.
func (st *streamState) find(k frameKind) int {
	for i := len(st.stack) - 1; i >= 0; i-- {
		if st.stack[i].kind == k {
			return i
		}
	}
	return -1
}

func (st *streamState) idle() bool {
	return len(st.stack) == 0 && len(st.pending) == 0
}

// closeAll ends every open span, marking it unfinished (and failed, with
// failed: a run cut short by Shutdown did not complete).
func (r *RunTracer) closeAll(reason string, failed bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	for id, st := range r.streams {
		if failed {
			st.fail(reason)
		}
		for i := len(st.stack) - 1; i >= 0; i-- {
			st.stack[i].span.SetAttributes(AttrRunReason.String(reason))
			st.stack[i].span.End()
		}
		delete(r.streams, id)
	}
}

// fail marks every open span of the stream failed: a run that errors or is
// cancelled interrupts the steps and phases it has open, and a backend
// should show the whole path to the failure in red, not only the root.
func (st *streamState) fail(desc string) {
	for _, f := range st.stack {
		f.span.SetStatus(codes.Error, desc)
	}
}

// runCancelled reports whether a RunFinished reason says the run was
// cancelled (arcan's "cancelled"), which ends it unsuccessfully.
func runCancelled(reason string) bool {
	return strings.EqualFold(reason, "cancelled") || strings.EqualFold(reason, "canceled")
}

func (r *RunTracer) observe(ctx context.Context, env *aios.EventEnvelope, replay bool) observation {
	stream := aios.StreamID{Session: env.SessionID, Branch: env.BranchID}
	if !replay && !shapesSpans(env.Payload) {
		// Fast path for the many events (text deltas, ...) that only need
		// the span they belong to.
		r.mu.Lock()
		var cur trace.Span
		if st := r.streams[stream]; st != nil {
			cur = st.innermost()
		}
		r.mu.Unlock()
		if cur != nil {
			return observation{sc: cur.SpanContext()}
		}
		return observation{sc: trace.SpanContextFromContext(ctx)}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return observation{sc: trace.SpanContextFromContext(ctx)}
	}
	st := r.streams[stream]
	if st == nil {
		st = &streamState{}
		r.streams[stream] = st
	}
	ts := env.Time()
	var o observation
	// One option carries the event's time to the start and the end of the
	// spans it opens or closes (and saves the SDK a clock read).
	var tsOpt trace.SpanEventOption
	if replay || trustedTime(ts) {
		// Journal order wins over clocks: an event stamped earlier than
		// the one before it (a clock stepped back, a hand-edited journal)
		// is timed at that one, so no span ends before it starts.
		if ts.Before(st.last) {
			ts = st.last
		}
		tsOpt = trace.WithTimestamp(ts)
		o.endOpt = tsOpt
	} else {
		ts = time.Now() // what the SDK times this event's spans by
	}
	st.last = ts
	var startOpts []trace.SpanStartOption // replay's derived chat and tool spans
	var linkOpt trace.SpanStartOption
	if replay {
		startOpts = append(startOpts, tsOpt)
		if orig, ok := SpanContextFromEvent(*env); ok {
			linkOpt = trace.WithLinks(trace.Link{SpanContext: orig})
			startOpts = append(startOpts, linkOpt)
		}
	}
	// Stream ids go on the run span (and derived chat and tool spans);
	// phases and steps inherit them from it.
	var base []attribute.KeyValue
	if replay {
		base = append(base, AttrReplay.Bool(true))
	}

	endSpan := func(sp trace.Span, kv ...attribute.KeyValue) {
		if sp == nil {
			return
		}
		if len(kv) > 0 {
			sp.SetAttributes(kv...)
		}
		o.addEnd(sp)
	}
	parentCtx := func(sp trace.Span) context.Context {
		if sp != nil {
			return trace.ContextWithSpan(ctx, sp)
		}
		return ctx
	}
	// start opens a span with attrs, an option made once per kind of span
	// where it can be (see phaseAttrs), plus the event's time and link.
	start := func(parent context.Context, name string, attrs trace.SpanStartOption) trace.Span {
		// r.optBuf under r.mu: Start reads the options and keeps none.
		opts := append(r.optBuf[:0], attrs)
		if replay {
			opts = append(opts, trace.WithAttributes(base...))
		}
		if tsOpt != nil {
			opts = append(opts, tsOpt)
		}
		if linkOpt != nil {
			opts = append(opts, linkOpt)
		}
		_, sp := r.t.tracer.Start(parent, name, opts...)
		clear(opts)
		r.optBuf = opts
		o.opened = sp
		return sp
	}
	// popTo ends the frames above index i and, with inclusive, frame i too.
	popTo := func(i int, inclusive bool, kv ...attribute.KeyValue) trace.Span {
		if i < 0 {
			return nil
		}
		for j := len(st.stack) - 1; j > i; j-- {
			endSpan(st.stack[j].span)
		}
		st.stack = st.stack[:i+1]
		sp := st.stack[i].span
		if inclusive {
			endSpan(sp, kv...)
			st.stack = st.stack[:i]
		}
		return sp
	}
	push := func(k frameKind, sp trace.Span) { st.stack = append(st.stack, frame{k, sp}) }
	closeRun := func(kv ...attribute.KeyValue) trace.Span {
		var run trace.Span
		if len(st.stack) > 0 {
			run = popTo(0, true, kv...)
		}
		st.runID = ""
		st.pending = nil // calls of an ended run are never claimed
		return run
	}

	var sc trace.SpanContext
	switch p := env.Payload.(type) {
	case *aios.RunStarted:
		st.fail("superseded by a new run")
		closeRun(AttrRunReason.String("superseded"))
		name := "invoke_agent"
		kv := make([]attribute.KeyValue, 0, 10)
		kv = append(kv,
			AttrSessionID.String(env.SessionID), AttrBranchID.String(env.BranchID),
			semconv.GenAIOperationNameInvokeAgent,
			semconv.GenAIConversationID(env.SessionID),
			AttrRunID.String(env.RunID),
		)
		if p.Provider != "" {
			kv = append(kv, semconv.GenAIProviderNameKey.String(p.Provider), AttrGenAISystem.String(p.Provider))
		}
		if r.t.agent != "" {
			name += " " + r.t.agent
			kv = append(kv, semconv.GenAIAgentName(r.t.agent))
		}
		if id := env.AgentID(); id != "" {
			kv = append(kv, semconv.GenAIAgentID(id))
		}
		run := start(ctx, name, trace.WithAttributes(kv...))
		push(frameRun, run)
		st.runID = env.RunID
		st.mark = ts
		sc = run.SpanContext()
	case *aios.StepStarted:
		popTo(st.find(frameStep), true)
		step := start(parentCtx(st.innermost()), stepName(p.Index), stepAttrs(p.Index))
		push(frameStep, step)
		st.mark = ts
		sc = step.SpanContext()
	case *aios.StepFinished:
		if step := popTo(st.find(frameStep), true, attribute.String("life.step.stop_reason", p.StopReason)); step != nil {
			sc = step.SpanContext()
		}
	case *aios.PhaseEntered:
		// A new phase replaces the phases open above the innermost step or run.
		for len(st.stack) > 0 && st.stack[len(st.stack)-1].kind == framePhase {
			popTo(len(st.stack)-1, true)
		}
		phase := start(parentCtx(st.innermost()), string(p.Phase), phaseAttrs(p.Phase))
		push(framePhase, phase)
		st.mark = ts
		sc = phase.SpanContext()
	case *aios.RunFinished:
		kv := []attribute.KeyValue{AttrRunReason.String(p.Reason), AttrIterations.Int64(int64(p.TotalIterations))}
		if p.Usage != nil {
			kv = append(kv, semconv.GenAIUsageInputTokens(int(p.Usage.PromptTokens)),
				semconv.GenAIUsageOutputTokens(int(p.Usage.CompletionTokens)))
		}
		if runCancelled(p.Reason) {
			st.fail("run cancelled")
			kv = append(kv, semconv.ErrorTypeKey.String("cancelled"))
		}
		if run := closeRun(kv...); run != nil {
			sc = run.SpanContext()
		}
	case *aios.RunErrored:
		st.fail(r.t.redactText("error", p.Error))
		if run := closeRun(AttrRunReason.String("error"), semconv.ErrorTypeKey.String("run_errored")); run != nil {
			sc = run.SpanContext()
		}
	case *aios.SessionClosed:
		closeRun(AttrRunReason.String("session closed"))
		st.pending = nil
	case *aios.ToolCallRequested:
		st.pending = append(st.pending, pendingCall{id: p.CallID, tool: p.ToolName})
	case *aios.ToolCallStarted:
		if replay {
			if st.toolStarts == nil {
				st.toolStarts = map[string]time.Time{}
			}
			st.toolStarts[p.ToolName] = ts
		}
	case *aios.ToolCallCompleted:
		st.dropPending(p.CallID, p.ToolName)
		if replay {
			from := st.toolStart(p.ToolName, ts, p.DurationMs)
			r.replayTool(ctx, st, append(base, AttrSessionID.String(env.SessionID), AttrBranchID.String(env.BranchID)), startOpts, from, ts, p.ToolName, p.CallID, p.Status != aios.SpanOK, string(p.Status))
		}
	case *aios.ToolCallFailed:
		st.dropPending(p.CallID, p.ToolName)
		if replay {
			from := st.toolStart(p.ToolName, ts, 0)
			r.replayTool(ctx, st, append(base, AttrSessionID.String(env.SessionID), AttrBranchID.String(env.BranchID)), startOpts, from, ts, p.ToolName, p.CallID, true, r.t.redactText("error", p.Error))
		}
	case *aios.AssistantMessageCommitted:
		if replay {
			r.replayChat(ctx, st, append(base, AttrSessionID.String(env.SessionID), AttrBranchID.String(env.BranchID)), startOpts, st.mark, ts, p.Model, p.TokenUsage)
			st.mark = ts
		}
	case *aios.ModeChanged:
		if cur := st.innermost(); cur != nil {
			cur.AddEvent("mode_changed", trace.WithAttributes(AttrModeFrom.String(string(p.From)), AttrModeTo.String(string(p.To))))
		}
		if !replay {
			r.t.inst.modeTransition.Add(ctx, 1, metric.WithAttributes(AttrModeKind.String("operating"),
				AttrModeFrom.String(string(p.From)), AttrModeTo.String(string(p.To))))
		}
	case *aios.PolicyEvaluated:
		if cur := st.innermost(); cur != nil {
			cur.AddEvent("policy_evaluated", trace.WithAttributes(semconv.GenAIToolName(p.ToolName),
				attribute.String("life.policy.decision", string(p.Decision)), attribute.String("life.policy.rule_id", p.RuleID)))
		}
	case *aios.SandboxViolation:
		if cur := st.innermost(); cur != nil {
			cur.AddEvent("sandbox_violation", trace.WithAttributes(attribute.String("life.sandbox.id", p.SandboxID),
				attribute.String("life.sandbox.violation", p.ViolationType)))
		}
	case *aios.ErrorRaised:
		if cur := st.innermost(); cur != nil {
			cur.AddEvent("error_raised", trace.WithAttributes(attribute.String("life.error.message", r.t.redactText("error", p.Message))))
		}
	case *aios.EconomicModeChanged:
		if !replay {
			r.t.inst.modeTransition.Add(ctx, 1, metric.WithAttributes(AttrModeKind.String("economic"),
				AttrModeFrom.String(string(p.From)), AttrModeTo.String(string(p.To))))
		}
	case *aios.BudgetUpdated:
		if !replay {
			r.recordBudget(ctx, env, p.Budget)
		}
	case *aios.StateEstimated:
		if !replay {
			r.recordBudget(ctx, env, p.State.Budget)
		}
	case *aios.CostIncurred:
		if !replay {
			kv := []attribute.KeyValue{AttrCostCategory.String(p.Category)}
			if p.Model != "" {
				kv = append(kv, semconv.GenAIRequestModel(p.Model))
			}
			r.t.inst.costIncurred.Add(ctx, float64(p.AmountMicroCredits)/1e6, metric.WithAttributes(kv...))
		}
	}

	if !sc.IsValid() {
		if cur := st.innermost(); cur != nil {
			sc = cur.SpanContext()
		} else {
			sc = trace.SpanContextFromContext(ctx)
		}
	}
	if st.idle() {
		delete(r.streams, stream)
	}
	o.sc = sc
	return o
}

func (st *streamState) dropPending(callID, tool string) {
	for i, p := range st.pending {
		if (callID != "" && p.id == callID) || (callID == "" && p.tool == tool) {
			st.pending = append(st.pending[:i], st.pending[i+1:]...)
			return
		}
	}
}

func (st *streamState) toolStart(tool string, end time.Time, durMs uint64) time.Time {
	if t, ok := st.toolStarts[tool]; ok {
		delete(st.toolStarts, tool)
		return t
	}
	return end.Add(-time.Duration(durMs) * time.Millisecond)
}

func (r *RunTracer) recordBudget(ctx context.Context, env *aios.EventEnvelope, b aios.BudgetState) {
	sess := AttrSessionID.String(env.SessionID)
	for _, v := range []struct {
		res string
		val float64
	}{
		{"tokens", float64(b.TokensRemaining)},
		{"time_ms", float64(b.TimeRemainingMs)},
		{"cost_usd", float64(b.CostRemainingUSD)},
		{"tool_calls", float64(b.ToolCallsRemaining)},
		{"errors", float64(b.ErrorBudgetRemaining)},
	} {
		r.t.inst.budget.Record(ctx, v.val, metric.WithAttributes(sess, AttrBudgetRes.String(v.res)))
	}
}

func (r *RunTracer) replayTool(ctx context.Context, st *streamState, base []attribute.KeyValue, startOpts []trace.SpanStartOption,
	from, to time.Time, tool, callID string, failed bool, detail string) {
	parent := st.innermost()
	if parent != nil {
		ctx = trace.ContextWithSpan(ctx, parent)
	}
	opts := append([]trace.SpanStartOption{trace.WithAttributes(base...), trace.WithAttributes(
		semconv.GenAIOperationNameExecuteTool, semconv.GenAIToolName(tool), semconv.GenAIToolType("function"),
		AttrRunID.String(st.runID))}, startOpts...)
	if from.After(to) { // a start logged after the end, or an overflowing duration
		from = to
	}
	opts = append(opts, trace.WithTimestamp(from))
	_, sp := r.t.tracer.Start(ctx, "execute_tool "+tool, opts...)
	if callID != "" {
		sp.SetAttributes(semconv.GenAIToolCallID(callID))
	}
	if failed {
		sp.SetStatus(codes.Error, detail)
		sp.SetAttributes(semconv.ErrorTypeKey.String("tool_error"))
	}
	sp.End(trace.WithTimestamp(to))
}

func (r *RunTracer) replayChat(ctx context.Context, st *streamState, base []attribute.KeyValue, startOpts []trace.SpanStartOption,
	from, to time.Time, model string, usage *aios.TokenUsage) {
	parent := st.innermost()
	if parent != nil {
		ctx = trace.ContextWithSpan(ctx, parent)
	}
	name := "chat"
	kv := []attribute.KeyValue{semconv.GenAIOperationNameChat, AttrRunID.String(st.runID)}
	if model != "" {
		name += " " + model
		kv = append(kv, semconv.GenAIRequestModel(model), semconv.GenAIResponseModel(model))
	}
	if usage != nil {
		kv = append(kv, semconv.GenAIUsageInputTokens(int(usage.PromptTokens)), semconv.GenAIUsageOutputTokens(int(usage.CompletionTokens)))
	}
	if from.IsZero() || from.After(to) {
		from = to
	}
	opts := append([]trace.SpanStartOption{trace.WithAttributes(base...), trace.WithAttributes(kv...),
		trace.WithSpanKind(trace.SpanKindClient)}, startOpts...)
	opts = append(opts, trace.WithTimestamp(from))
	_, sp := r.t.tracer.Start(ctx, name, opts...)
	sp.End(trace.WithTimestamp(to))
}

// Span names and attribute options of the phases and first steps, made
// once: a turn opens a dozen of these spans. Read-only after init.
var (
	phaseOpts = func() map[aios.LoopPhase]trace.SpanStartOption {
		m := map[aios.LoopPhase]trace.SpanStartOption{}
		for _, p := range []aios.LoopPhase{aios.PhasePerceive, aios.PhaseDeliberate, aios.PhaseGate,
			aios.PhaseExecute, aios.PhaseCommit, aios.PhaseReflect, aios.PhaseSleep} {
			m[p] = trace.WithAttributes(AttrPhase.String(string(p)))
		}
		return m
	}()
	stepNames, stepOpts = func() ([16]string, [16]trace.SpanStartOption) {
		var names [16]string
		var opts [16]trace.SpanStartOption
		for i := range names {
			names[i] = "step " + strconv.Itoa(i)
			opts[i] = trace.WithAttributes(AttrStep.Int64(int64(i)))
		}
		return names, opts
	}()
)

func phaseAttrs(p aios.LoopPhase) trace.SpanStartOption {
	if o, ok := phaseOpts[p]; ok {
		return o
	}
	return trace.WithAttributes(AttrPhase.String(string(p)))
}

func stepName(i uint32) string {
	if int(i) < len(stepNames) {
		return stepNames[i]
	}
	return "step " + strconv.FormatUint(uint64(i), 10)
}

func stepAttrs(i uint32) trace.SpanStartOption {
	if int(i) < len(stepOpts) {
		return stepOpts[i]
	}
	return trace.WithAttributes(AttrStep.Int64(int64(i)))
}

// trustedTime reports whether an event's timestamp is close enough to the
// wall clock to time a live span by (a runtime under a fake clock is not).
func trustedTime(ts time.Time) bool {
	d := time.Since(ts)
	return d > -time.Second && d < time.Minute
}

// shapesSpans reports whether a live event opens or closes spans or feeds
// metrics.
func shapesSpans(p aios.Payload) bool {
	switch p.(type) {
	case *aios.RunStarted, *aios.StepStarted, *aios.StepFinished, *aios.PhaseEntered,
		*aios.RunFinished, *aios.RunErrored, *aios.SessionClosed,
		*aios.ToolCallRequested, *aios.ToolCallCompleted, *aios.ToolCallFailed,
		*aios.ModeChanged, *aios.EconomicModeChanged, *aios.BudgetUpdated,
		*aios.StateEstimated, *aios.CostIncurred,
		*aios.PolicyEvaluated, *aios.SandboxViolation, *aios.ErrorRaised:
		return true
	}
	return false
}
