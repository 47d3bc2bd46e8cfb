package praxis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/lifeos/life/aios"
)

// ErrUnknownTool is matched when a call names no registered tool.
var ErrUnknownTool = fmt.Errorf("praxis: unknown tool: %w", aios.ErrNotFound)

// ErrDenied is matched (errors.Is) by a [*DeniedError].
var ErrDenied = errors.New("praxis: denied by policy")

// ErrApprovalRequired is matched (errors.Is) by a [*DeniedError] whose
// decision is require_approval.
var ErrApprovalRequired = errors.New("praxis: approval required")

// DeniedError is a policy verdict other than allow.
type DeniedError struct {
	Tool     string
	Decision aios.PolicyDecision
}

func (e *DeniedError) Error() string {
	return fmt.Sprintf("praxis: %s: %s by rule %s: %s", e.Tool, e.Decision.Decision, e.Decision.RuleID, e.Decision.Explanation)
}

// Is matches ErrDenied, or ErrApprovalRequired for require_approval.
func (e *DeniedError) Is(target error) bool {
	if e.Decision.Decision == aios.PolicyRequireApproval {
		return target == ErrApprovalRequired
	}
	return target == ErrDenied
}

// Dispatcher runs tool calls through the policy gate and reports every step
// (ToolCallRequested, PolicyEvaluated, ToolCallStarted, the tool's own
// events, ToolCallCompleted or ToolCallFailed) to Journal, in order.
type Dispatcher struct {
	Tools aios.ToolRegistry
	Gate  aios.PolicyGate // nil allows everything
	// Journal receives each event; an error stops the call (an event that
	// cannot be journaled must not be acted on). Nil discards.
	Journal func(ctx context.Context, p aios.Payload) error
	IDs     aios.IDGenerator // run ids; nil uses a ULID generator
	Stream  aios.StreamID
	RunID   string

	idsOnce sync.Once
	ids     aios.IDGenerator
}

func (d *Dispatcher) emit(ctx context.Context, p aios.Payload) error {
	if d.Journal == nil {
		return nil
	}
	if err := d.Journal(ctx, p); err != nil {
		return fmt.Errorf("praxis: journal %s: %w", p.Type(), err)
	}
	return nil
}

// Call runs one call. A refusal by the gate is a *DeniedError (and no tool
// runs); an unknown tool is ErrUnknownTool; a tool failure the model should
// see is a result with IsError.
func (d *Dispatcher) Call(ctx context.Context, call aios.ToolCall) (aios.ToolResult, error) {
	args := call.Arguments
	if len(args) == 0 {
		args = json.RawMessage(`{}`)
	}
	tool, ok := d.Tools.Tool(call.Name)
	category := ""
	if ok {
		category = tool.Spec().Annotations.Category
	}
	if err := d.emit(ctx, &aios.ToolCallRequested{CallID: call.ID, ToolName: call.Name, Arguments: args, Category: category}); err != nil {
		return aios.ToolResult{}, err
	}
	if !ok {
		err := fmt.Errorf("%w: %q", ErrUnknownTool, call.Name)
		return aios.ToolResult{}, errors.Join(err, d.emit(ctx, &aios.ToolCallFailed{CallID: call.ID, ToolName: call.Name, Error: err.Error()}))
	}
	dec := aios.PolicyDecision{Decision: aios.PolicyAllow, RuleID: "no-gate"}
	if d.Gate != nil {
		var err error
		dec, err = d.Gate.Evaluate(ctx, aios.PolicyRequest{Stream: d.Stream, RunID: d.RunID, ToolName: call.Name, Category: category, Arguments: args})
		if err != nil {
			return aios.ToolResult{}, fmt.Errorf("praxis: policy: %w", err)
		}
	}
	if err := d.emit(ctx, &aios.PolicyEvaluated{ToolName: call.Name, Decision: dec.Decision, RuleID: dec.RuleID, Explanation: dec.Explanation}); err != nil {
		return aios.ToolResult{}, err
	}
	if dec.Decision != aios.PolicyAllow {
		return aios.ToolResult{}, &DeniedError{Tool: call.Name, Decision: dec}
	}
	d.idsOnce.Do(func() {
		d.ids = d.IDs
		if d.ids == nil {
			d.ids = aios.NewULIDGenerator(aios.SystemClock{}, nil)
		}
	})
	runID := d.ids.NewID()
	if err := d.emit(ctx, &aios.ToolCallStarted{ToolRunID: runID, ToolName: call.Name}); err != nil {
		return aios.ToolResult{}, err
	}
	start := time.Now()
	res, err := tool.Call(ctx, args)
	dur := time.Since(start)
	if err != nil {
		return aios.ToolResult{}, errors.Join(err, d.emit(ctx, &aios.ToolCallFailed{CallID: call.ID, ToolName: call.Name, Error: err.Error()}))
	}
	for _, ev := range res.Events {
		if err := d.emit(ctx, ev); err != nil {
			return res, err
		}
	}
	status := aios.SpanOK
	if res.IsError {
		status = aios.SpanError
	}
	return res, d.emit(ctx, &aios.ToolCallCompleted{ToolRunID: runID, CallID: call.ID, ToolName: call.Name, Result: res.Output, DurationMs: uint64(dur.Milliseconds()), Status: status})
}
