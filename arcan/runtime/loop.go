package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lifeos/life/aios"
)

// Run outcomes, as in [Result.Status].
const (
	StatusCompleted        = "completed"
	StatusAwaitingApproval = "awaiting_approval"
	StatusCancelled        = "cancelled"
	StatusMaxIterations    = "max_iterations"
	StatusBudgetExceeded   = "budget_exceeded"
	StatusErrored          = "error"
	StatusInterrupted      = "interrupted" // left unfinished for Resume (ErrInterrupted)
)

// RunOptions configure one run.
type RunOptions struct {
	// Input is the user message that starts the run (required by Run).
	Input string
	// OnEvent sees every event of the run after it is durable, in order.
	OnEvent func(aios.EventEnvelope)
	// OnDelta sees each piece of assistant text as it streams, before it
	// is durable (it is journaled with the message that contains it).
	OnDelta func(text string)
	// Limits replaces the runtime's limits for this run when set.
	Limits *Limits
	// OnAccepted is called once the input and the run's start are durable
	// (the moment an asynchronous caller may acknowledge the request).
	OnAccepted func(runID string)
	// IdempotencyKey, when set, is journaled with the run (RunStarted
	// metadata), with RequestHash, a fingerprint of the request. A later Run
	// with the same key on the stream starts nothing: it fails with
	// ErrDuplicateRun and that run's result, or with ErrKeyReused when its
	// RequestHash differs. Resume ignores both.
	IdempotencyKey string
	RequestHash    string
}

// Result is how a run ended.
type Result struct {
	RunID       string          `json:"run_id"`
	Status      string          `json:"status"`
	FinalAnswer string          `json:"final_answer,omitempty"`
	Iterations  uint32          `json:"iterations"`
	Usage       aios.TokenUsage `json:"usage"`
	Approvals   []Approval      `json:"approvals,omitempty"`
	Error       string          `json:"error,omitempty"`
}

// Run appends the user's input to stream and runs the loop until the model
// answers without tool calls, a limit stops it, or a tool call needs approval.
// An earlier run interrupted by a crash is first finished from the journal.
func (r *Runtime) Run(ctx context.Context, stream aios.StreamID, opts RunOptions) (Result, error) {
	if opts.Input == "" {
		return Result{}, fmt.Errorf("%w: empty input", ErrBadInput)
	}
	return r.run(ctx, stream, opts, false)
}

// Resume continues the last run of stream: after its approvals were
// resolved, or after the process running it died. Calls that were started
// but never completed are reported to the model as interrupted, not re-run,
// unless their tool is annotated Idempotent.
func (r *Runtime) Resume(ctx context.Context, stream aios.StreamID, opts RunOptions) (Result, error) {
	return r.run(ctx, stream, opts, true)
}

type loop struct {
	r      *Runtime
	s      *session
	opts   RunOptions
	limits Limits
	runID  string
	b      *batch
	gating *aios.Gating // last journaled advice

	pending  []byte // streamed text not yet in a delta event
	deltaIdx uint32
	acc      streamAcc
	phases   *[6]aios.PhaseEntered // the run's phase markers, one allocation for all
	specs    []aios.ToolSpec       // the registry's specs for this step; nil until asked
}

// phase returns the run's marker payload for p. Payloads are not changed
// once added, so the markers of a run share one allocation.
func (l *loop) phase(p aios.LoopPhase) aios.Payload {
	if l.phases == nil {
		l.phases = &[6]aios.PhaseEntered{{Phase: aios.PhasePerceive}, {Phase: aios.PhaseGate}, {Phase: aios.PhaseDeliberate},
			{Phase: aios.PhaseExecute}, {Phase: aios.PhaseCommit}, {Phase: aios.PhaseReflect}}
	}
	for i := range l.phases {
		if l.phases[i].Phase == p {
			return &l.phases[i]
		}
	}
	return &aios.PhaseEntered{Phase: p}
}

// toolSpecs returns the registry's specs, asked once per step.
func (l *loop) toolSpecs() []aios.ToolSpec {
	if l.specs == nil {
		l.specs = l.r.cfg.Tools.Specs()
	}
	return l.specs
}

func (r *Runtime) run(ctx context.Context, stream aios.StreamID, opts RunOptions, resume bool) (Result, error) {
	s, err := r.load(ctx, stream)
	if err != nil {
		return Result{}, err
	}
	if !resume && opts.IdempotencyKey != "" {
		// A stream folded empty may have been created since (a fork with
		// its parent's keyed runs): asked, as below.
		if s.state.LastSeq == 0 {
			if err := r.catchUp(ctx, s); err != nil {
				s.mu.Unlock()
				return Result{}, err
			}
		}
		// Judged under the session's lock, so of two racing repeats one
		// starts the run and the other finds it.
		if k := s.state.keyed(opts.IdempotencyKey); k != nil {
			res, err := s.state.keyedResult(k, opts.RequestHash)
			s.mu.Unlock()
			return res, err
		}
	}
	if s.active != nil {
		id := s.active.id
		s.mu.Unlock()
		return Result{}, fmt.Errorf("%w: %s", ErrRunActive, id)
	}
	// No catchUp (a read of the journal's head) per run: the writers that
	// share a session stream (the gate's outage note, a merge's marker) do
	// not change the run state judged here, and the run's first flush,
	// before any model call, rebuilds the fold if they wrote (batch.flush).
	// A stream folded empty may have been created since (a fork), with
	// its parent's events: that one is asked.
	if s.state.LastSeq == 0 {
		if err := r.catchUp(ctx, s); err != nil {
			s.mu.Unlock()
			return Result{}, err
		}
	}
	prev := s.state.Run
	unfinished := prev != nil && (prev.Status == RunRunning || prev.Status == RunAwaitingApproval)
	if resume && !unfinished {
		s.mu.Unlock()
		return Result{}, ErrNothingToResume
	}
	if !resume && prev != nil && prev.Status == RunAwaitingApproval {
		s.mu.Unlock()
		return Result{}, fmt.Errorf("%w: run %s", ErrAwaitingApproval, prev.ID)
	}
	limits := r.cfg.Limits
	if opts.Limits != nil {
		limits = *opts.Limits
		if limits.MaxIterations == 0 {
			limits.MaxIterations = r.cfg.Limits.MaxIterations
		}
	}
	if r.cfg.BindContext != nil {
		ctx = r.cfg.BindContext(ctx, stream)
	}
	runCtx, cancel := context.WithCancelCause(ctx)
	a := &activeRun{cancel: cancel, done: make(chan struct{})}
	s.active = a
	r.active.Add(1)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.active = nil
		r.active.Add(-1)
		s.mu.Unlock()
		cancel(nil)
		close(a.done)
	}()

	l := &loop{r: r, s: s, opts: opts, limits: limits}
	if limits.WallClock > 0 {
		var stop context.CancelFunc
		runCtx, stop = context.WithTimeoutCause(runCtx, limits.WallClock, fmt.Errorf("%w: wall clock %s", ErrBudgetExceeded, limits.WallClock))
		defer stop()
	}
	if unfinished {
		l.setRun(a, prev.ID)
		accept := l.opts.OnAccepted
		if !resume {
			l.opts.OnAccepted = nil // it acknowledges the new input, not the old run
		}
		res, err := l.continueRun(runCtx)
		l.opts.OnAccepted = accept
		if resume || err != nil {
			return res, err
		}
		if res.Status == StatusAwaitingApproval {
			// Finishing the interrupted run needs a person first; the new
			// input is not taken.
			return res, fmt.Errorf("%w: run %s (finishing an interrupted run)", ErrAwaitingApproval, res.RunID)
		}
	}
	l.setRun(a, r.cfg.IDs.NewID())
	l.lock()
	l.b.add(&aios.UserMessage{Content: opts.Input})
	var meta []string
	if opts.IdempotencyKey != "" {
		meta = []string{MetaIdempotencyKey, opts.IdempotencyKey, MetaRequestHash, opts.RequestHash}
	}
	l.b.add(&aios.RunStarted{Provider: r.cfg.Provider.Name(), MaxIterations: limits.MaxIterations}, meta...)
	l.unlock()
	return l.iterate(runCtx)
}

// keyedResult answers a Run whose key names k: the run's result when it
// ended or waits for approval, else (in progress, or unfinished and to be
// resumed) ErrRunActive with its id.
func (s *SessionState) keyedResult(k *KeyedRun, requestHash string) (Result, error) {
	if k.RequestHash != requestHash {
		return Result{}, fmt.Errorf("%w: key %q names run %s", ErrKeyReused, k.Key, k.RunID)
	}
	run := k.End
	if s.Run != nil && s.Run.ID == k.RunID {
		run = s.Run
	}
	if run == nil || run.Status == RunRunning {
		// Not the latest run and never ended: a journal only other writers
		// could have left; in progress as far as anyone can tell.
		return Result{RunID: k.RunID, Status: RunRunning}, fmt.Errorf("%w: %w: %s", ErrDuplicateRun, ErrRunActive, k.RunID)
	}
	res := Result{RunID: run.ID, Iterations: run.Iterations, Usage: run.Usage, FinalAnswer: run.FinalAnswer}
	switch run.Status {
	case RunAwaitingApproval:
		res.Status = StatusAwaitingApproval
		res.Approvals = slices.Clone(s.Approvals)
	case RunErroredStatus:
		// RunErrored holds only the error's text; a budget's starts so.
		res.Status, res.Error = StatusErrored, run.Reason
		if strings.HasPrefix(run.Reason, ErrBudgetExceeded.Error()) {
			res.Status = StatusBudgetExceeded
		}
	default:
		res.Status = run.Reason
	}
	return res, fmt.Errorf("%w: %s", ErrDuplicateRun, run.ID)
}

func (l *loop) setRun(a *activeRun, id string) {
	l.s.mu.Lock()
	a.id = id
	l.s.mu.Unlock()
	l.runID = id
	l.b = l.r.batch(l.s, id)
}

func (l *loop) lock()   { l.s.mu.Lock() }
func (l *loop) unlock() { l.s.mu.Unlock() }

func (l *loop) add(p aios.Payload, meta ...string) {
	l.lock()
	l.b.add(p, meta...)
	l.unlock()
}

// addAll adds several payloads under one lock.
func (l *loop) addAll(ps ...aios.Payload) {
	l.lock()
	for _, p := range ps {
		l.b.add(p)
	}
	l.unlock()
}

// flush makes the pending events durable, then reports them to OnEvent
// outside the session lock (so the callback may call back into the runtime).
func (l *loop) flush(ctx context.Context) error {
	if err := l.flushDeltas(); err != nil {
		return err
	}
	l.lock()
	evs, err := l.b.flush(ctx)
	l.unlock()
	if l.opts.OnEvent != nil {
		for _, e := range evs {
			l.opts.OnEvent(e)
		}
	}
	// Journals and OnEvent take the events by value, so the batch's
	// buffer serves the next flush (only this goroutine uses l.b).
	l.b.reuse(evs)
	return err
}

// deltaChunk is how much streamed text one AssistantTextDelta event holds:
// providers stream a few characters at a time, and journaling each piece
// would cost an event per token. Live subscribers get every piece through
// OnDelta regardless.
const deltaChunk = 256

// flushDeltas journals the buffered text as one delta event.
func (l *loop) flushDeltas() error {
	if len(l.pending) == 0 {
		return nil
	}
	i := l.deltaIdx
	l.add(&aios.AssistantTextDelta{Delta: string(l.pending), Index: &i})
	l.deltaIdx++
	l.pending = l.pending[:0]
	return nil
}

// continueRun settles the calls of an unfinished run, then iterates.
func (l *loop) continueRun(ctx context.Context) (Result, error) {
	l.lock()
	calls := slices.Clone(l.s.state.Calls)
	l.unlock()
	l.add(&aios.SessionResumed{})
	gating := l.decide(ctx)
	turn := uint32(0)
	for _, c := range calls {
		if c.Inherited && c.Status != CallDone && c.Status != CallFailed {
			// Requested before this branch was forked from the branch that
			// runs it: that branch may run it, or has, so running it here
			// could repeat its side effect. Like a call a crash interrupted,
			// it is answered instead, and the run goes on with the model
			// (rather than ending the inherited run: the fork is meant to
			// explore from here).
			if c.Status == CallAwaitingApproval && c.ApprovalID != "" {
				l.add(&aios.ApprovalResolved{ApprovalID: c.ApprovalID, Decision: aios.ApprovalDenied, Reason: "requested before this branch was forked"})
			}
			l.add(&aios.ToolCallFailed{CallID: c.CallID, ToolName: c.ToolName,
				Error: "not run on this branch: it was requested before the branch was forked, and the parent branch may have run it; ask for it again if it is still needed here"})
			continue
		}
		tool, ok := l.r.cfg.Tools.Tool(c.ToolName)
		switch c.Status {
		case CallRequested:
			if err := l.dispatch(ctx, c, gating, &turn); err != nil {
				return l.stop(ctx, err)
			}
		case CallApproved:
			if !ok {
				l.add(&aios.ToolCallFailed{CallID: c.CallID, ToolName: c.ToolName, Error: "unknown tool"})
				continue
			}
			if err := l.runTool(ctx, c, tool); err != nil {
				return l.stop(ctx, err)
			}
		case CallStarted:
			if ok && tool.Spec().Annotations.Idempotent {
				if err := l.runTool(ctx, c, tool); err != nil {
					return l.stop(ctx, err)
				}
				continue
			}
			l.add(&aios.ToolCallFailed{CallID: c.CallID, ToolName: c.ToolName,
				Error: "interrupted: the process stopped while this call ran; it may or may not have taken effect and was not re-run"})
		}
	}
	if res, paused, err := l.pauseIfWaiting(ctx); paused {
		return res, err
	}
	return l.iterate(ctx)
}

func (l *loop) pauseIfWaiting(ctx context.Context) (Result, bool, error) {
	l.lock()
	pending := slices.Clone(l.s.state.Approvals)
	l.unlock()
	if len(pending) == 0 {
		return Result{}, false, nil
	}
	if err := l.flush(ctx); err != nil {
		return l.result(StatusErrored, err.Error()), true, err
	}
	res := l.result(StatusAwaitingApproval, "")
	res.Approvals = pending
	return res, true, nil
}

func (l *loop) result(status, errText string) Result {
	l.lock()
	defer l.unlock()
	res := Result{RunID: l.runID, Status: status, Error: errText}
	if run := l.s.state.Run; run != nil && run.ID == l.runID {
		res.FinalAnswer, res.Iterations, res.Usage = run.FinalAnswer, run.Iterations, run.Usage
	}
	return res
}

// decide asks the autonomic gate; it is advisory and fail-open.
func (l *loop) decide(ctx context.Context) aios.Gating {
	g := aios.OpenGating()
	if l.r.cfg.Gate == nil {
		return g
	}
	got, err := l.r.cfg.Gate.Decide(ctx, l.s.stream)
	if err != nil {
		l.r.log.Warn("autonomic gate failed, going on open", "err", err)
		l.add(&aios.GateUnavailable{Error: err.Error(), FailOpen: true})
		l.gating = nil
		return g
	}
	if l.gating == nil || !sameGating(*l.gating, got) {
		d := aios.GatingDecision(got)
		l.add(&d)
		l.gating = &got
	}
	return got
}

// sameGating reports whether a and b encode alike. Equal fields encode
// alike, so only advice that differs field by field (rare: the gate
// changed its mind) pays for the encoding.
func sameGating(a, b aios.Gating) bool {
	if gatingFieldsEqual(a, b) {
		return true
	}
	ra, _ := json.Marshal(a)
	rb, _ := json.Marshal(b)
	return string(ra) == string(rb)
}

func gatingFieldsEqual(a, b aios.Gating) bool {
	return a.AllowNetwork == b.AllowNetwork && a.AllowShell == b.AllowShell && a.AllowTools == b.AllowTools &&
		a.EconomicMode == b.EconomicMode && a.MaxTokens == b.MaxTokens && a.MaxToolCallsPerTurn == b.MaxToolCallsPerTurn &&
		a.OperatingMode == b.OperatingMode && slices.Equal(a.Advice, b.Advice) && slices.Equal(a.DeniedTools, b.DeniedTools) &&
		slices.Equal(a.Reasons, b.Reasons)
}

// iterate runs model turns until the run ends or pauses.
func (l *loop) iterate(ctx context.Context) (Result, error) {
	for {
		if err := context.Cause(ctx); err != nil {
			return l.stop(ctx, err)
		}
		l.lock()
		run := *l.s.state.Run
		l.unlock()
		if run.Iterations >= l.limits.MaxIterations {
			l.add(l.phase(aios.PhaseCommit))
			l.commitRunState(StatusMaxIterations)
			l.add(&aios.RunFinished{Reason: StatusMaxIterations, TotalIterations: run.Iterations, Usage: ptr(run.Usage)})
			if err := l.flush(ctx); err != nil {
				return l.result(StatusErrored, err.Error()), err
			}
			return l.result(StatusMaxIterations, ""), nil
		}
		if err := l.checkBudget(run); err != nil {
			return l.stop(ctx, err)
		}
		l.addAll(l.phase(aios.PhasePerceive), l.phase(aios.PhaseGate))
		gating := l.decide(ctx)
		l.addAll(l.phase(aios.PhaseDeliberate), &aios.StepStarted{Index: run.Iterations})
		// Everything so far (the user's input, tool results) is made durable
		// before the model is asked: a crash during a long provider call then
		// leaves a resumable run, and observers that derive the run's shape
		// from the journal (vigil's spans) see the step before its chat.
		if err := l.flush(ctx); err != nil {
			return l.result(StatusErrored, err.Error()), err
		}
		if l.opts.OnAccepted != nil {
			l.opts.OnAccepted(l.runID)
			l.opts.OnAccepted = nil
		}
		l.specs = nil // asked afresh each step: the registry may change between steps
		req := l.request(gating, run)
		text, calls, fin, err := l.callProvider(ctx, req)
		if err != nil {
			return l.stop(ctx, err)
		}
		var specs []aios.ToolSpec
		if len(calls) > 0 {
			specs = l.toolSpecs()
		}
		var meta []string
		if fin.Usage.TotalTokens == 0 && (l.limits.MaxTokens > 0 || l.limits.MaxCostUSD > 0) {
			// The provider reported no usage (some OpenAI-compatible
			// servers do not): a token or cost budget must hold anyway.
			fin.Usage = estimateUsage(req, text, calls)
			meta = []string{MetaUsageEstimated, "true"}
		}
		l.lock()
		l.b.add(&aios.AssistantMessageCommitted{Role: string(aios.RoleAssistant), Content: text, Model: fin.Model, TokenUsage: ptr(fin.Usage)}, meta...)
		for _, c := range calls {
			l.b.add(&aios.ToolCallRequested{CallID: c.ID, ToolName: c.Name, Arguments: c.Arguments, Category: category(specs, c.Name)})
		}
		l.b.add(&aios.StepFinished{Index: run.Iterations, StopReason: fin.StopReason, DirectiveCount: uint64(len(calls) + min(len(text), 1))})
		l.unlock()
		if len(calls) == 0 {
			l.lock()
			done := *l.s.state.Run
			l.b.add(l.phase(aios.PhaseCommit))
			l.unlock()
			l.commitRunState(StatusCompleted)
			l.add(&aios.RunFinished{Reason: StatusCompleted, TotalIterations: done.Iterations, FinalAnswer: text, Usage: ptr(done.Usage)})
			if err := l.flush(ctx); err != nil {
				return l.result(StatusErrored, err.Error()), err
			}
			return l.result(StatusCompleted, ""), nil
		}
		l.lock()
		after := *l.s.state.Run
		l.unlock()
		if err := l.checkBudget(after); err != nil {
			return l.stop(ctx, err)
		}
		l.add(l.phase(aios.PhaseExecute))
		turn := uint32(0)
		for _, c := range calls {
			cs := CallState{CallID: c.ID, ToolName: c.Name, Arguments: c.Arguments, Status: CallRequested}
			if err := l.dispatch(ctx, cs, gating, &turn); err != nil {
				return l.stop(ctx, err)
			}
		}
		if res, paused, err := l.pauseIfWaiting(ctx); paused {
			return res, err
		}
		l.add(l.phase(aios.PhaseReflect))
	}
}

// estimateUsage guesses the tokens of a model call at about four bytes a
// token: what the budgets count when the provider reports no usage.
func estimateUsage(req aios.ChatRequest, text string, calls []aios.ToolCall) aios.TokenUsage {
	in := len(req.System)
	for _, m := range req.Messages {
		in += len(m.Content)
		for _, c := range m.ToolCalls {
			in += len(c.Name) + len(c.Arguments)
		}
	}
	for _, t := range req.Tools {
		in += len(t.Name) + len(t.Description) + len(t.InputSchema)
	}
	out := len(text)
	for _, c := range calls {
		out += len(c.Name) + len(c.Arguments)
	}
	u := aios.TokenUsage{PromptTokens: uint32(min((in+3)/4, math.MaxUint32/2)), CompletionTokens: uint32(min(max((out+3)/4, 1), math.MaxUint32/2))}
	u.TotalTokens = u.PromptTokens + u.CompletionTokens
	return u
}

// ptr returns a pointer to a copy of u: payloads point at their own
// usage, and the loop's locals stay on the stack.
func ptr(u aios.TokenUsage) *aios.TokenUsage { return &u }

// runSummary is the /runs/last value. The struct's fields are in sorted
// key order, so it encodes exactly as the map it replaces did.
func runSummary(run *RunState, status string) json.RawMessage {
	raw, _ := json.Marshal(struct {
		ID         string          `json:"id"`
		Iterations uint32          `json:"iterations"`
		Status     string          `json:"status"`
		ToolCalls  uint32          `json:"tool_calls"`
		Usage      aios.TokenUsage `json:"usage"`
	}{run.ID, run.Iterations, status, run.ToolCalls, run.Usage})
	return raw
}

// commitRunState journals a StatePatchCommitted that records how the run
// ended under /runs/last in the state document, so state subscribers see
// it as a patch. Its ops are blind sets, so re-basing them keeps their
// meaning.
func (l *loop) commitRunState(status string) {
	l.lock()
	defer l.unlock()
	l.b.addRunState(status)
}

// addRunState adds the /runs patch of commitRunState; the session's lock
// is held.
func (b *batch) addRunState(status string) {
	st := b.s.state
	run := st.Run
	if run == nil {
		return
	}
	last := runSummary(run, status)
	count := strconv.AppendUint(nil, uint64(st.Runs), 10) // as json.Marshal writes it
	e := b.add(&aios.StatePatchCommitted{NewVersion: st.Version + 1, Patch: aios.StatePatch{
		BaseVersion: st.Version,
		Ops:         []aios.PatchOp{{Op: aios.OpSet, Path: "/runs/last", Value: last}, {Op: aios.OpSet, Path: "/runs/count", Value: count}},
	}})
	// Based on the version folded now; if another writer's patch lands
	// first in the journal, the flush re-bases it.
	b.rebase = e.EventID
}

func (l *loop) checkBudget(run RunState) error {
	lim := l.limits
	switch {
	case lim.MaxTokens > 0 && uint64(run.Usage.TotalTokens) >= lim.MaxTokens:
		return fmt.Errorf("%w: %d tokens used, limit %d", ErrBudgetExceeded, run.Usage.TotalTokens, lim.MaxTokens)
	case lim.MaxCostUSD > 0 && l.r.cfg.Pricing.Cost(run.Usage) >= lim.MaxCostUSD:
		return fmt.Errorf("%w: cost %.6f USD, limit %.6f", ErrBudgetExceeded, l.r.cfg.Pricing.Cost(run.Usage), lim.MaxCostUSD)
	case lim.MaxToolCalls > 0 && run.ToolCalls > lim.MaxToolCalls:
		return fmt.Errorf("%w: %d tool calls asked, limit %d", ErrBudgetExceeded, run.ToolCalls, lim.MaxToolCalls)
	}
	return nil
}

// category is the category of the named tool's spec ("" when not listed;
// the last spec of that name wins, as it did in a map of the specs).
func category(specs []aios.ToolSpec, name string) string {
	for i := len(specs) - 1; i >= 0; i-- {
		if specs[i].Name == name {
			return specs[i].Annotations.Category
		}
	}
	return ""
}

// request builds the provider call from the folded conversation, which
// includes every tool call and its result.
func (l *loop) request(g aios.Gating, run RunState) aios.ChatRequest {
	l.lock()
	// Capped, not copied: the fold only appends, and the one message it
	// edits in place (the latest assistant message) is created after this
	// call's stream has ended.
	n := len(l.s.state.Messages)
	msgs := l.s.state.Messages[:n:n]
	l.unlock()
	req := aios.ChatRequest{Model: l.r.cfg.Model, System: l.r.cfg.System, Messages: msgs}
	if g.AllowTools {
		specs := l.toolSpecs()
		if len(g.DeniedTools) > 0 {
			specs = slices.DeleteFunc(slices.Clone(specs), func(s aios.ToolSpec) bool { return slices.Contains(g.DeniedTools, s.Name) })
		}
		if len(specs) > 0 { // none stays nil, as providers may tell nil from empty
			req.Tools = specs
		}
	}
	capped, limit := false, uint64(0)
	if g.MaxTokens > 0 {
		capped, limit = true, uint64(g.MaxTokens)
	}
	if l.limits.MaxTokens > 0 {
		left := l.limits.MaxTokens - uint64(run.Usage.TotalTokens)
		if !capped || left < limit {
			limit = left
		}
		capped = true
	}
	if capped {
		req.MaxTokens = uint32(min(limit, 1<<31))
	}
	return req
}

// callProvider streams one model call, journaling text deltas with the
// message they belong to.
func (l *loop) callProvider(ctx context.Context, req aios.ChatRequest) (string, []aios.ToolCall, aios.Finish, error) {
	a := &l.acc
	a.text, a.calls, a.fin, a.done, a.err = a.text[:0], nil, aios.Finish{}, false, nil
	l.deltaIdx = 0
	defer l.flushDeltas() // the rest of the text, before the message it belongs to
	// The body only hands each event to take: state kept in l.acc rather
	// than in locals spares the heap variables a range-over-func body
	// capturing them would cost on every call.
	for ev, err := range l.r.cfg.Provider.Stream(ctx, req) {
		if err != nil {
			l.acc.err = err
			break
		}
		l.take(ev)
	}
	if a.err != nil {
		if c := context.Cause(ctx); c != nil {
			return "", nil, aios.Finish{}, c
		}
		return "", nil, aios.Finish{}, fmt.Errorf("provider %s: %w", l.r.cfg.Provider.Name(), a.err)
	}
	if !a.done {
		if c := context.Cause(ctx); c != nil {
			return "", nil, aios.Finish{}, c
		}
		return "", nil, aios.Finish{}, fmt.Errorf("provider %s: stream ended without a done event", l.r.cfg.Provider.Name())
	}
	return string(a.text), a.calls, a.fin, nil
}

// streamAcc collects one provider stream.
type streamAcc struct {
	text  []byte // reused from call to call; the answer is copied out
	calls []aios.ToolCall
	fin   aios.Finish
	done  bool
	err   error
}

func (l *loop) take(ev aios.ProviderEvent) {
	a := &l.acc
	switch ev.Kind {
	case aios.ProviderTextDelta:
		if ev.Text == "" {
			return
		}
		a.text = append(a.text, ev.Text...)
		l.pending = append(l.pending, ev.Text...)
		if len(l.pending) >= deltaChunk {
			l.flushDeltas()
		}
		if l.opts.OnDelta != nil {
			l.opts.OnDelta(ev.Text)
		}
	case aios.ProviderToolCall:
		if ev.ToolCall == nil {
			return
		}
		c := *ev.ToolCall
		if c.ID == "" {
			c.ID = "call_" + l.r.cfg.IDs.NewID()
		}
		switch {
		case len(c.Arguments) == 0:
			c.Arguments = json.RawMessage("{}")
		case !json.Valid(c.Arguments):
			// Kept, as a JSON string, for the model to see: dispatch
			// refuses any arguments but an object.
			c.Arguments, _ = json.Marshal(string(c.Arguments))
		}
		c.Arguments = compact(c.Arguments)
		a.calls = append(a.calls, c)
	case aios.ProviderDone:
		f := aios.Finish{}
		if ev.Finish != nil {
			f = *ev.Finish
		}
		if f.Usage.TotalTokens == 0 {
			f.Usage.TotalTokens = f.Usage.PromptTokens + f.Usage.CompletionTokens
		}
		a.fin, a.done = f, true
	}
}

// dispatch puts one requested call through the gate's limits and the
// policy, then runs it, asks for approval, or records the refusal.
func (l *loop) dispatch(ctx context.Context, c CallState, g aios.Gating, turn *uint32) error {
	tool, ok := l.r.cfg.Tools.Tool(c.ToolName)
	if !ok {
		l.add(&aios.ToolCallFailed{CallID: c.CallID, ToolName: c.ToolName, Error: fmt.Sprintf("unknown tool %q", c.ToolName)})
		return nil
	}
	if a := c.Arguments; len(a) == 0 || a[0] != '{' { // compacted: an object starts at once
		l.add(&aios.ToolCallFailed{CallID: c.CallID, ToolName: c.ToolName, Error: fmt.Sprintf("arguments must be a JSON object; got %.200s", a)})
		return nil
	}
	spec := tool.Spec()
	if reason := gateRefusal(g, spec, *turn); reason != "" {
		l.add(&aios.PolicyEvaluated{ToolName: c.ToolName, Decision: aios.PolicyDeny, RuleID: "autonomic", Explanation: reason})
		l.add(&aios.ToolCallFailed{CallID: c.CallID, ToolName: c.ToolName, Error: "blocked by autonomic gate: " + reason})
		return nil
	}
	*turn++
	if l.r.cfg.Policy != nil {
		dec, err := l.r.cfg.Policy.Evaluate(ctx, aios.PolicyRequest{Stream: l.s.stream, RunID: l.runID, ToolName: c.ToolName, Category: spec.Annotations.Category, Arguments: c.Arguments})
		if err != nil {
			if cause := context.Cause(ctx); cause != nil {
				return cause
			}
			// Fail closed: a call the policy could not judge does not run.
			l.add(&aios.ToolCallFailed{CallID: c.CallID, ToolName: c.ToolName, Error: "policy unavailable: " + err.Error()})
			return nil
		}
		if !dec.Decision.Valid() {
			dec = aios.PolicyDecision{Decision: aios.PolicyDeny, Explanation: fmt.Sprintf("policy returned unknown decision %q", dec.Decision)}
		}
		l.add(&aios.PolicyEvaluated{ToolName: c.ToolName, Decision: dec.Decision, RuleID: dec.RuleID, Explanation: dec.Explanation})
		switch dec.Decision {
		case aios.PolicyDeny:
			msg := "denied by policy"
			if dec.Explanation != "" {
				msg += ": " + dec.Explanation
			}
			l.add(&aios.ToolCallFailed{CallID: c.CallID, ToolName: c.ToolName, Error: msg})
			return nil
		case aios.PolicyRequireApproval:
			l.add(&aios.ApprovalRequested{ApprovalID: l.r.cfg.IDs.NewID(), CallID: c.CallID, ToolName: c.ToolName, Arguments: c.Arguments, Risk: risk(spec.Annotations)})
			return nil
		}
	}
	return l.runTool(ctx, c, tool)
}

func gateRefusal(g aios.Gating, spec aios.ToolSpec, turn uint32) string {
	switch {
	case !g.AllowTools:
		return "tools are not allowed in this mode"
	case slices.Contains(g.DeniedTools, spec.Name):
		return "tool " + spec.Name + " is denied"
	case spec.Annotations.Category == "exec" && !g.AllowShell:
		return "shell tools are not allowed in this mode"
	case spec.Annotations.OpenWorld && !g.AllowNetwork:
		return "network tools are not allowed in this mode"
	case g.MaxToolCallsPerTurn > 0 && turn >= g.MaxToolCallsPerTurn:
		return fmt.Sprintf("at most %d tool calls per turn", g.MaxToolCallsPerTurn)
	}
	return ""
}

func risk(a aios.ToolAnnotations) aios.RiskLevel {
	switch {
	case a.Destructive:
		return aios.RiskHigh
	case a.ReadOnly:
		return aios.RiskLow
	}
	return aios.RiskMedium
}

// runTool journals the intent durably, then calls the tool once.
func (l *loop) runTool(ctx context.Context, c CallState, tool aios.Tool) error {
	runID := l.r.cfg.IDs.NewID()
	l.add(&aios.ToolCallStarted{ToolRunID: runID, ToolName: c.ToolName}, MetaCallID, c.CallID)
	if err := l.flush(ctx); err != nil {
		return err
	}
	start := l.r.cfg.Clock.Now()
	res, err := callTool(ctx, tool, c.Arguments)
	dur := uint64(max(l.r.cfg.Clock.Now().Sub(start).Milliseconds(), 0))
	if err != nil {
		l.add(&aios.ToolCallFailed{CallID: c.CallID, ToolName: c.ToolName, Error: err.Error()})
		if cause := context.Cause(ctx); cause != nil {
			return cause
		}
		return nil
	}
	for _, p := range res.Events {
		if p != nil {
			l.add(p)
		}
	}
	out := res.Output
	if len(out) == 0 || !json.Valid(out) {
		out, _ = json.Marshal(string(out))
	}
	status := aios.SpanOK
	if res.IsError {
		status = aios.SpanError
	}
	result := toolResult(out, res.IsError)
	l.add(&aios.ToolCallCompleted{ToolRunID: runID, CallID: c.CallID, ToolName: c.ToolName, Result: result, DurationMs: dur, Status: status})
	return nil
}

// toolResult wraps a tool's output (valid JSON) as {"output":…,"status":…}
// or {"error":…,"status":…}. Structs with fields in sorted key order
// encode as the maps they replace did; the encoder compacts out itself.
func toolResult(out json.RawMessage, isError bool) json.RawMessage {
	var raw []byte
	if isError {
		raw, _ = json.Marshal(struct {
			Error  json.RawMessage `json:"error"`
			Status json.RawMessage `json:"status"`
		}{out, json.RawMessage(`"failure"`)})
	} else {
		raw, _ = json.Marshal(struct {
			Output json.RawMessage `json:"output"`
			Status json.RawMessage `json:"status"`
		}{out, json.RawMessage(`"success"`)})
	}
	return raw
}

// callTool turns a tool panic into an error so one bad tool cannot take
// the daemon down.
func callTool(ctx context.Context, t aios.Tool, args json.RawMessage) (res aios.ToolResult, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("tool %s panicked: %v", t.Spec().Name, p)
		}
	}()
	return t.Call(ctx, args)
}

// stop ends the run on cause: cancellation, a budget, or an error. The
// closing events are written even though ctx may be done.
func (l *loop) stop(ctx context.Context, cause error) (Result, error) {
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if c := context.Cause(ctx); c != nil && errors.Is(cause, context.Canceled) {
		cause = c
	}
	if errors.Is(cause, ErrInterrupted) {
		// The process is going away: what is pending is made durable and
		// the run left unfinished, so the next process resumes it.
		if err := l.flush(wctx); err != nil {
			return l.result(StatusErrored, err.Error()), errors.Join(cause, err)
		}
		return l.result(StatusInterrupted, cause.Error()), cause
	}
	// Calls that never started get a result, so the conversation stays
	// well-formed for the next provider call.
	l.lock()
	calls := slices.Clone(l.s.state.Calls)
	run := *l.s.state.Run
	l.unlock()
	for _, c := range calls {
		if c.Status == CallRequested || c.Status == CallApproved {
			l.add(&aios.ToolCallFailed{CallID: c.CallID, ToolName: c.ToolName, Error: "not run: " + cause.Error()})
		}
	}
	var status string
	var retErr error
	switch {
	case errors.Is(cause, ErrCancelled) || errors.Is(cause, context.Canceled):
		l.commitRunState(StatusCancelled)
	case errors.Is(cause, ErrBudgetExceeded):
		l.commitRunState(StatusBudgetExceeded)
	default:
		l.commitRunState(StatusErrored)
	}
	switch {
	case errors.Is(cause, ErrCancelled) || errors.Is(cause, context.Canceled):
		status, retErr = StatusCancelled, fmt.Errorf("%w", ErrCancelled)
		l.add(&aios.RunFinished{Reason: StatusCancelled, TotalIterations: run.Iterations, Usage: ptr(run.Usage)})
	case errors.Is(cause, ErrBudgetExceeded):
		status, retErr = StatusBudgetExceeded, cause
		l.add(&aios.RunErrored{Error: cause.Error()})
	default:
		status, retErr = StatusErrored, cause
		l.add(&aios.RunErrored{Error: cause.Error()})
	}
	if err := l.flush(wctx); err != nil {
		return l.result(StatusErrored, err.Error()), errors.Join(retErr, err)
	}
	return l.result(status, cause.Error()), retErr
}
