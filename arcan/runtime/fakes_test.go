package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"sync"

	"github.com/lifeos/life/aios"
)

// fakeJournal is an in-memory aios.Journal for unit tests: it round-trips
// every event through its JSON wire form, as a real journal does.
type fakeJournal struct {
	mu      sync.Mutex
	streams map[aios.StreamID][][]byte
	ids     map[string]uint64
	failAt  int // when > 0, the failAt-th Append call fails
	appends int
	notify  chan struct{}
}

func newFakeJournal() *fakeJournal {
	return &fakeJournal{streams: map[aios.StreamID][][]byte{}, ids: map[string]uint64{}, notify: make(chan struct{})}
}

var errFakeAppend = errors.New("fake journal: append failed")

func (j *fakeJournal) Append(_ context.Context, evs ...aios.EventEnvelope) ([]uint64, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.appends++
	if j.failAt > 0 && j.appends == j.failAt {
		return nil, errFakeAppend
	}
	seqs := make([]uint64, len(evs))
	for i, e := range evs {
		if err := e.Validate(); err != nil {
			return nil, err
		}
		if s, ok := j.ids[e.EventID]; ok {
			seqs[i] = s
			continue
		}
		st := aios.StreamID{Session: e.SessionID, Branch: e.BranchID}
		e.Seq = uint64(len(j.streams[st]) + 1)
		raw, err := aios.EncodeEnvelope(e)
		if err != nil {
			return nil, err
		}
		j.streams[st] = append(j.streams[st], raw)
		j.ids[e.EventID] = e.Seq
		seqs[i] = e.Seq
	}
	close(j.notify)
	j.notify = make(chan struct{})
	return seqs, nil
}

func (j *fakeJournal) Read(_ context.Context, q aios.ReadQuery) iter.Seq2[aios.EventEnvelope, error] {
	return func(yield func(aios.EventEnvelope, error) bool) {
		j.mu.Lock()
		raws := append([][]byte(nil), j.streams[q.Stream]...)
		j.mu.Unlock()
		n := 0
		for i := q.After; i < uint64(len(raws)); i++ {
			if q.Until > 0 && i+1 > q.Until || q.Limit > 0 && n >= q.Limit {
				return
			}
			e, err := aios.DecodeEnvelope(raws[i])
			if !yield(e, err) {
				return
			}
			n++
		}
	}
}

func (j *fakeJournal) Head(_ context.Context, s aios.StreamID) (uint64, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	return uint64(len(j.streams[s])), nil
}

func (j *fakeJournal) Subscribe(ctx context.Context, s aios.StreamID, after uint64) iter.Seq2[aios.EventEnvelope, error] {
	return func(yield func(aios.EventEnvelope, error) bool) {
		for {
			j.mu.Lock()
			raws := j.streams[s]
			wait := j.notify
			j.mu.Unlock()
			for ; after < uint64(len(raws)); after++ {
				e, err := aios.DecodeEnvelope(raws[after])
				if !yield(e, err) {
					return
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-wait:
			}
		}
	}
}

func (j *fakeJournal) all(s aios.StreamID) []aios.EventEnvelope {
	var out []aios.EventEnvelope
	for e, err := range j.Read(context.Background(), aios.ReadQuery{Stream: s}) {
		if err != nil {
			panic(err)
		}
		out = append(out, e)
	}
	return out
}

// scriptProvider is a fake provider that plays one scripted reply per call
// and records the requests it saw.
type scriptProvider struct {
	mu       sync.Mutex
	replies  []reply
	requests []aios.ChatRequest
	block    chan struct{} // when set, Stream waits on it (or ctx) before replying
}

type reply struct {
	text  string
	calls []aios.ToolCall
	usage aios.TokenUsage
	err   error
}

func (p *scriptProvider) Name() string { return "script" }

func (p *scriptProvider) Stream(ctx context.Context, req aios.ChatRequest) iter.Seq2[aios.ProviderEvent, error] {
	return func(yield func(aios.ProviderEvent, error) bool) {
		p.mu.Lock()
		p.requests = append(p.requests, req)
		var r reply
		if len(p.replies) > 0 {
			r, p.replies = p.replies[0], p.replies[1:]
		} else {
			r = reply{text: "done"}
		}
		block := p.block
		p.mu.Unlock()
		if block != nil {
			select {
			case <-block:
			case <-ctx.Done():
				yield(aios.ProviderEvent{}, ctx.Err())
				return
			}
		}
		if r.err != nil {
			yield(aios.ProviderEvent{}, r.err)
			return
		}
		for i := 0; i < len(r.text); i += 4 {
			if !yield(aios.ProviderEvent{Kind: aios.ProviderTextDelta, Text: r.text[i:min(i+4, len(r.text))]}, nil) {
				return
			}
		}
		for _, c := range r.calls {
			if !yield(aios.ProviderEvent{Kind: aios.ProviderToolCall, ToolCall: &c}, nil) {
				return
			}
		}
		stop := "end_turn"
		if len(r.calls) > 0 {
			stop = "tool_use"
		}
		yield(aios.ProviderEvent{Kind: aios.ProviderDone, Finish: &aios.Finish{StopReason: stop, Usage: r.usage, Model: "script-1"}}, nil)
	}
}

// fakeTool counts its calls; it can block on a channel or panic.
type fakeTool struct {
	spec  aios.ToolSpec
	mu    sync.Mutex
	calls int
	out   string
	block chan struct{}
}

func (t *fakeTool) Spec() aios.ToolSpec { return t.spec }

func (t *fakeTool) Call(ctx context.Context, args json.RawMessage) (aios.ToolResult, error) {
	t.mu.Lock()
	t.calls++
	t.mu.Unlock()
	if t.block != nil {
		select {
		case <-t.block:
		case <-ctx.Done():
			return aios.ToolResult{}, ctx.Err()
		}
	}
	out, _ := json.Marshal(fmt.Sprintf("%s(%s)", t.out, args))
	return aios.ToolResult{Output: out}, nil
}

func (t *fakeTool) count() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.calls
}

type fakeRegistry map[string]aios.Tool

func (r fakeRegistry) Tool(n string) (aios.Tool, bool) { t, ok := r[n]; return t, ok }
func (r fakeRegistry) Specs() []aios.ToolSpec {
	var out []aios.ToolSpec
	for _, n := range []string{"echo", "write", "slow"} {
		if t, ok := r[n]; ok {
			out = append(out, t.Spec())
		}
	}
	return out
}

// fakePolicy answers by tool name.
type fakePolicy map[string]aios.PolicyDecisionKind

func (p fakePolicy) Evaluate(_ context.Context, req aios.PolicyRequest) (aios.PolicyDecision, error) {
	if d, ok := p[req.ToolName]; ok {
		return aios.PolicyDecision{Decision: d, RuleID: "test"}, nil
	}
	return aios.PolicyDecision{Decision: aios.PolicyAllow}, nil
}

type fakeGate struct {
	g   aios.Gating
	err error
}

func (g fakeGate) Decide(context.Context, aios.StreamID) (aios.Gating, error) { return g.g, g.err }
