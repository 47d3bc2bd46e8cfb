package vigil

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"sync"

	"github.com/lifeos/life/aios"
)

// fakeJournal is an in-memory aios.Journal for unit tests: seq per stream,
// no durability.
type fakeJournal struct {
	mu      sync.Mutex
	streams map[aios.StreamID][]aios.EventEnvelope
	heads   map[aios.StreamID]uint64
	failing bool
	discard bool // keep only the heads (benchmarks)
	appends int  // Append calls
}

func newFakeJournal() *fakeJournal {
	return &fakeJournal{streams: map[aios.StreamID][]aios.EventEnvelope{}, heads: map[aios.StreamID]uint64{}}
}

var errFakeAppend = errors.New("fake journal: append refused")

func (j *fakeJournal) Append(_ context.Context, events ...aios.EventEnvelope) ([]uint64, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.appends++
	if j.failing {
		return nil, errFakeAppend
	}
	for i := range events {
		if err := events[i].Validate(); err != nil {
			return nil, err
		}
	}
	seqs := make([]uint64, len(events))
	for i, e := range events {
		id := aios.StreamID{Session: e.SessionID, Branch: e.BranchID}
		j.heads[id]++
		e.Seq = j.heads[id]
		if !j.discard {
			j.streams[id] = append(j.streams[id], e)
		}
		seqs[i] = e.Seq
	}
	return seqs, nil
}

func (j *fakeJournal) events(id aios.StreamID) []aios.EventEnvelope {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([]aios.EventEnvelope(nil), j.streams[id]...)
}

func (j *fakeJournal) Read(_ context.Context, q aios.ReadQuery) iter.Seq2[aios.EventEnvelope, error] {
	evs := j.events(q.Stream)
	return func(yield func(aios.EventEnvelope, error) bool) {
		n := 0
		for _, e := range evs {
			if e.Seq <= q.After || (q.Until > 0 && e.Seq > q.Until) {
				continue
			}
			if q.Limit > 0 && n >= q.Limit {
				return
			}
			n++
			if !yield(e, nil) {
				return
			}
		}
	}
}

func (j *fakeJournal) Head(_ context.Context, id aios.StreamID) (uint64, error) {
	return uint64(len(j.events(id))), nil
}

func (j *fakeJournal) Subscribe(ctx context.Context, id aios.StreamID, after uint64) iter.Seq2[aios.EventEnvelope, error] {
	return j.Read(ctx, aios.ReadQuery{Stream: id, After: after})
}

// scriptedProvider is a fake aios.Provider: it asks for the "echo" tool
// until the conversation holds a tool result, then answers with text.
type scriptedProvider struct {
	mu    sync.Mutex
	calls int
	fail  error
}

func (p *scriptedProvider) Name() string { return "mock" }

func (p *scriptedProvider) Stream(ctx context.Context, req aios.ChatRequest) iter.Seq2[aios.ProviderEvent, error] {
	p.mu.Lock()
	n := p.calls
	p.calls++
	p.mu.Unlock()
	return func(yield func(aios.ProviderEvent, error) bool) {
		if p.fail != nil {
			yield(aios.ProviderEvent{}, p.fail)
			return
		}
		usage := aios.TokenUsage{PromptTokens: 12, CompletionTokens: 7, TotalTokens: 19}
		last := req.Messages[len(req.Messages)-1]
		if last.Role != aios.RoleTool {
			if !yield(aios.ProviderEvent{Kind: aios.ProviderToolCall, ToolCall: &aios.ToolCall{
				ID: fmt.Sprintf("call_%d", len(req.Messages)-1), Name: "echo", Arguments: json.RawMessage(`{"text":"hi"}`)}}, nil) {
				return
			}
			yield(aios.ProviderEvent{Kind: aios.ProviderDone, Finish: &aios.Finish{
				StopReason: "tool_use", Usage: usage, Model: req.Model, ResponseID: fmt.Sprintf("resp_%d", n)}}, nil)
			return
		}
		for _, d := range []string{"the echo ", "said hi"} {
			if !yield(aios.ProviderEvent{Kind: aios.ProviderTextDelta, Text: d}, nil) {
				return
			}
		}
		yield(aios.ProviderEvent{Kind: aios.ProviderDone, Finish: &aios.Finish{
			StopReason: "end_turn", Usage: usage, Model: req.Model, ResponseID: fmt.Sprintf("resp_%d", n)}}, nil)
	}
}

// echoTool is a fake aios.Tool that returns its arguments.
type echoTool struct{ failWith error }

func (echoTool) Spec() aios.ToolSpec {
	return aios.ToolSpec{Name: "echo", Description: "Returns its input.", InputSchema: json.RawMessage(`{"type":"object"}`)}
}

func (t echoTool) Call(_ context.Context, args json.RawMessage) (aios.ToolResult, error) {
	if t.failWith != nil {
		return aios.ToolResult{}, t.failWith
	}
	return aios.ToolResult{Output: args}, nil
}

type oneToolRegistry struct{ tool aios.Tool }

func (r oneToolRegistry) Tool(name string) (aios.Tool, bool) {
	if name == r.tool.Spec().Name {
		return r.tool, true
	}
	return nil, false
}

func (r oneToolRegistry) Specs() []aios.ToolSpec { return []aios.ToolSpec{r.tool.Spec()} }

// turnPorts are the ports a test turn runs through.
type turnPorts struct {
	journal  aios.Journal
	provider aios.Provider
	tools    aios.ToolRegistry
	bind     func(context.Context, aios.StreamID) context.Context
	ids      aios.IDGenerator
}

// runTurn is a minimal agent loop over the contract, the shape of one
// runtime turn: it journals the run's events in batches the way a runtime
// does (made durable before each provider and tool call and at the end)
// and calls the provider and the tool in between. It is a test driver, not
// the runtime (the e2e module runs arcan's).
func runTurn(ctx context.Context, p turnPorts, stream aios.StreamID, prompt string) (string, error) {
	clock := aios.SystemClock{}
	runID := p.ids.NewID()
	if p.bind != nil {
		ctx = p.bind(ctx, stream)
	}
	var pending []aios.EventEnvelope
	add := func(pls ...aios.Payload) {
		for _, pl := range pls {
			env := aios.NewEnvelope(p.ids, clock, stream.Session, stream.Branch, pl)
			env.RunID = runID
			env.SetAgentID("agent-test")
			pending = append(pending, env)
		}
	}
	flush := func() error {
		if len(pending) == 0 {
			return nil
		}
		_, err := p.journal.Append(ctx, pending...)
		pending = pending[:0]
		return err
	}
	add(&aios.UserMessage{Content: prompt}, &aios.RunStarted{Provider: p.provider.Name(), MaxIterations: 4})
	msgs := []aios.ChatMessage{{Role: aios.RoleUser, Content: prompt}}
	var total aios.TokenUsage
	for step := uint32(0); step < 4; step++ {
		add(&aios.StepStarted{Index: step}, &aios.PhaseEntered{Phase: aios.PhasePerceive}, &aios.PhaseEntered{Phase: aios.PhaseDeliberate})
		if err := flush(); err != nil {
			return "", err
		}
		temp, topP := 0.2, 0.9
		req := aios.ChatRequest{Model: "mock-1", System: "be brief", Messages: msgs, Tools: p.tools.Specs(), MaxTokens: 256, Temperature: &temp, TopP: &topP}
		var text string
		var calls []aios.ToolCall
		var fin *aios.Finish
		for ev, err := range p.provider.Stream(ctx, req) {
			if err != nil {
				add(&aios.RunErrored{Error: err.Error()})
				_ = flush()
				return "", err
			}
			switch ev.Kind {
			case aios.ProviderTextDelta:
				text += ev.Text
			case aios.ProviderToolCall:
				calls = append(calls, *ev.ToolCall)
			case aios.ProviderDone:
				fin = ev.Finish
			}
		}
		total = total.Add(fin.Usage)
		u := fin.Usage
		add(&aios.AssistantMessageCommitted{Role: "assistant", Content: text, Model: fin.Model, TokenUsage: &u})
		msgs = append(msgs, aios.ChatMessage{Role: aios.RoleAssistant, Content: text, ToolCalls: calls})
		if len(calls) == 0 {
			fu := total
			add(&aios.StepFinished{Index: step, StopReason: fin.StopReason},
				&aios.PhaseEntered{Phase: aios.PhaseCommit},
				&aios.RunFinished{Reason: "completed", TotalIterations: step + 1, FinalAnswer: text, Usage: &fu})
			return text, flush()
		}
		add(&aios.PhaseEntered{Phase: aios.PhaseExecute})
		for _, c := range calls {
			add(&aios.ToolCallRequested{CallID: c.ID, ToolName: c.Name, Arguments: c.Arguments},
				&aios.ToolCallStarted{ToolRunID: "run-" + c.ID, ToolName: c.Name})
			if err := flush(); err != nil {
				return "", err
			}
			tool, ok := p.tools.Tool(c.Name)
			if !ok {
				return "", fmt.Errorf("no tool %q", c.Name)
			}
			res, err := tool.Call(ctx, c.Arguments)
			if err != nil {
				add(&aios.ToolCallFailed{CallID: c.ID, ToolName: c.Name, Error: err.Error()})
				msgs = append(msgs, aios.ChatMessage{Role: aios.RoleTool, ToolCallID: c.ID, Content: err.Error(), IsError: true})
				continue
			}
			add(&aios.ToolCallCompleted{ToolRunID: "run-" + c.ID, CallID: c.ID, ToolName: c.Name, Result: res.Output, Status: aios.SpanOK})
			msgs = append(msgs, aios.ChatMessage{Role: aios.RoleTool, ToolCallID: c.ID, Content: string(res.Output)})
		}
		add(&aios.StepFinished{Index: step, StopReason: "tool_use"})
	}
	return "", errors.New("turn did not finish")
}
