package controller

import (
	"fmt"
	"time"

	"github.com/lifeos/life/aios"
)

// Test streams are built in code from compact steps; the golden test writes
// them out as wire JSON (with -update) and reads them back from there.

const t0 = uint64(1_767_225_600_000_000) // 2026-01-01T00:00:00Z in µs

type step struct {
	at  time.Duration
	run string
	p   aios.Payload
}

func build(session string, steps []step) []aios.EventEnvelope {
	out := make([]aios.EventEnvelope, len(steps))
	for i, s := range steps {
		ts := t0 + uint64(s.at.Microseconds())
		ids := aios.NewULIDGenerator(fixedClock(time.UnixMicro(int64(ts))), zeroReader{i})
		out[i] = aios.EventEnvelope{
			EventID: ids.NewID(), SessionID: session, BranchID: "main", RunID: s.run,
			Seq: uint64(i + 1), Timestamp: ts, Payload: s.p, Metadata: map[string]string{}, SchemaVersion: 1,
		}
	}
	return out
}

// zeroReader yields a deterministic "random" part for test ids.
type zeroReader struct{ i int }

func (z zeroReader) Read(p []byte) (int, error) {
	for k := range p {
		p[k] = byte(z.i >> (8 * (k % 4)))
	}
	return len(p), nil
}

func tok(in, out uint32) *aios.TokenUsage {
	return &aios.TokenUsage{PromptTokens: in, CompletionTokens: out, TotalTokens: in + out}
}

func chatTurn(at time.Duration, run, model string, in, out uint32) []step {
	return []step{
		{at, run, &aios.RunStarted{Provider: "mock", MaxIterations: 8}},
		{at + 200*time.Millisecond, run, &aios.AssistantMessageCommitted{Role: "assistant", Content: "ok", Model: model, TokenUsage: tok(in, out)}},
		{at + 300*time.Millisecond, run, &aios.RunFinished{Reason: "completed", TotalIterations: 1, Usage: tok(in, out)}},
	}
}

type scenario struct {
	name  string
	cfg   func(*Config)
	steps []step
}

func scenarios() []scenario {
	var sc []scenario
	sc = append(sc, scenario{name: "empty"})

	{
		var st []step
		st = append(st, step{0, "", &aios.BalanceSynced{BalanceMicroCredits: 50_000_000}})
		for i := range 5 {
			st = append(st, chatTurn(time.Duration(i+1)*time.Minute, fmt.Sprintf("r%d", i), "claude-sonnet-4", 2000, 400)...)
		}
		sc = append(sc, scenario{name: "healthy-chat", steps: st})
	}
	{
		// 10 credits, then spending that accelerates until the money is gone.
		st := []step{{0, "", &aios.BalanceSynced{BalanceMicroCredits: 10_000_000}}}
		at := time.Duration(0)
		for i := range 40 {
			at += 2 * time.Minute
			st = append(st, step{at, "", &aios.CostIncurred{AmountMicroCredits: uint64(50_000 + i*10_000), Category: "tool"}})
		}
		st = append(st, step{at + time.Minute, "", &aios.CostIncurred{AmountMicroCredits: 5_000_000, Category: "payment"}})
		sc = append(sc, scenario{name: "burn-to-hibernate", steps: st})
	}
	{
		st := []step{
			{0, "", &aios.BalanceSynced{BalanceMicroCredits: 100_000}},
			{time.Second, "", &aios.CostIncurred{AmountMicroCredits: 200_000, Category: "tool"}},
			{10 * time.Second, "", &aios.RevenueReceived{AmountMicroCredits: 1_000_000_000, Source: "bounty"}},
			{20 * time.Second, "", &aios.UserMessage{Content: "still there?"}},
			{45 * time.Second, "", &aios.UserMessage{Content: "now?"}},
		}
		sc = append(sc, scenario{name: "hibernate-then-revenue", steps: st})
	}
	{
		var st []step
		at := time.Duration(0)
		for i := range 10 {
			at += 5 * time.Second
			if i%3 == 0 {
				st = append(st, step{at, "", &aios.ToolCallCompleted{ToolRunID: fmt.Sprint(i), ToolName: "bash", Result: []byte(`{}`), Status: aios.SpanOK}})
			} else {
				st = append(st, step{at, "", &aios.ToolCallFailed{CallID: fmt.Sprint(i), ToolName: "bash", Error: "exit 1"}})
			}
		}
		for i := range 20 {
			at += 5 * time.Second
			st = append(st, step{at, "", &aios.ToolCallCompleted{ToolRunID: fmt.Sprint(100 + i), ToolName: "read", Result: []byte(`{}`), Status: aios.SpanOK}})
		}
		sc = append(sc, scenario{name: "error-storm", steps: st})
	}
	{
		var st []step
		for i, in := range []uint32{40000, 80000, 125000, 175000, 192000, 150000} {
			st = append(st, chatTurn(time.Duration(i)*time.Minute, fmt.Sprint("r", i), "claude-sonnet-4", in, 1000)...)
		}
		st = append(st, step{7 * time.Minute, "", &aios.ContextCompacted{DroppedCount: 40, TokensBefore: 151000, TokensAfter: 30000}})
		st = append(st, step{8 * time.Minute, "", &aios.UserMessage{Content: "continue"}})
		sc = append(sc, scenario{name: "context-pressure", steps: st})
	}
	{
		var st []step
		st = append(st, step{0, "", &aios.BudgetUpdated{Budget: aios.BudgetState{TokensRemaining: 100000, CostRemainingUSD: 5}, Reason: "session budget"}})
		for i := range 5 {
			st = append(st, chatTurn(time.Duration(i+1)*time.Minute, fmt.Sprint("r", i), "mock", 15000, 2000)...)
		}
		sc = append(sc, scenario{name: "budget-exhaustion", steps: st})
	}
	{
		st := []step{{0, "", &aios.BalanceSynced{BalanceMicroCredits: 1_000_000_000}}}
		for i := range 12 {
			st = append(st, step{time.Duration(i) * 20 * time.Second, "", &aios.CostIncurred{AmountMicroCredits: 150_000, Category: "tool"}})
		}
		st = append(st, step{15 * time.Minute, "", &aios.UserMessage{Content: "calm"}})
		sc = append(sc, scenario{name: "spend-velocity", steps: st})
	}
	{
		// Calls the gate refuses (as arcan journals them: a PolicyEvaluated
		// deny, then ToolCallFailed) are not errors: no recover mode after.
		st := []step{
			{0, "", &aios.BalanceSynced{BalanceMicroCredits: 0}},
		}
		for i := range 6 {
			at := time.Duration(i+1) * time.Second
			st = append(st,
				step{at, "r1", &aios.PolicyEvaluated{ToolName: "bash", Decision: aios.PolicyDeny, RuleID: "autonomic", Explanation: "tools are not allowed in this mode"}},
				step{at, "r1", &aios.ToolCallFailed{CallID: fmt.Sprint("c", i), ToolName: "bash", Error: "blocked by autonomic gate: tools are not allowed in this mode"}})
		}
		st = append(st, step{time.Minute, "", &aios.RevenueReceived{AmountMicroCredits: 100_000_000, Source: "grant"}})
		sc = append(sc, scenario{name: "gate-denials-inert", steps: st})
	}
	return sc
}
