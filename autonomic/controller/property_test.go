package controller

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/lifeos/life/aios"
)

// randomSteps makes a plausible random stream: chat turns, tool outcomes,
// costs, revenue, balance syncs, compactions, budget updates and errors.
func randomSteps(r *rand.Rand, n int) []step {
	var st []step
	at := time.Duration(0)
	run := 0
	models := []string{"claude-sonnet-4", "gpt-4o-mini", "mock", "unknown-model"}
	for len(st) < n {
		at += time.Duration(r.IntN(90_000)) * time.Millisecond
		switch k := r.IntN(15); k {
		case 14:
			st = append(st, step{at, "", &aios.PolicyEvaluated{ToolName: "bash", Decision: aios.PolicyDeny}},
				step{at, "", &aios.ToolCallFailed{CallID: "d", ToolName: "bash", Error: "denied"}})
		case 0:
			run++
			st = append(st, chatTurn(at, fmt.Sprint("r", run), models[r.IntN(len(models))], uint32(r.IntN(200_000)), uint32(r.IntN(4000)))...)
		case 1, 2:
			st = append(st, step{at, "", &aios.ToolCallCompleted{ToolRunID: "t", ToolName: "bash", Result: []byte(`{}`), Status: aios.SpanOK}})
		case 3:
			st = append(st, step{at, "", &aios.ToolCallFailed{CallID: "c", ToolName: "bash", Error: "x"}})
		case 4:
			st = append(st, step{at, "", &aios.CostIncurred{AmountMicroCredits: uint64(r.IntN(2_000_000)), Category: "tool"}})
		case 5:
			st = append(st, step{at, "", &aios.RevenueReceived{AmountMicroCredits: uint64(r.IntN(5_000_000)), Source: "s"}})
		case 6:
			st = append(st, step{at, "", &aios.BalanceSynced{BalanceMicroCredits: int64(r.IntN(20_000_000)) - 1_000_000}})
		case 7:
			st = append(st, step{at, "", &aios.ContextCompacted{TokensBefore: 100000, TokensAfter: uint64(r.IntN(50000))}})
		case 8:
			st = append(st, step{at, "", &aios.BudgetUpdated{Budget: aios.BudgetState{TokensRemaining: uint64(r.IntN(500_000))}, Reason: "r"}})
		case 9:
			st = append(st, step{at, "", &aios.ErrorRaised{Message: "e"}})
		case 10:
			st = append(st, step{at, "", &aios.ToolCallRequested{CallID: "c", ToolName: "read", Arguments: []byte(`{}`)}})
		case 11:
			st = append(st, step{at, "", &aios.PaymentSettled{AmountMicroCredits: uint64(r.IntN(1_000_000)), Chain: "eip155:8453"}})
		case 12:
			st = append(st, step{at, "", &aios.UserMessage{Content: "hi"}})
		default:
			st = append(st, step{at, "", &aios.CostIncurred{AmountMicroCredits: 0, Category: "tokens", Model: "gpt-4o", InputTokens: 10, OutputTokens: 10}})
		}
	}
	return st[:n]
}

func foldAll(t testing.TB, c *Controller, id aios.StreamID, events []aios.EventEnvelope, from *Stream) (*Stream, []string) {
	t.Helper()
	st := from
	if st == nil {
		st = c.NewStream(id)
	}
	var tr []string
	for i := range events {
		for _, p := range c.Apply(st, &events[i]) {
			b, err := aios.MarshalPayload(p)
			if err != nil {
				t.Fatal(err)
			}
			tr = append(tr, fmt.Sprintf("%d:%s", events[i].Seq, b))
		}
	}
	return st, tr
}

func mustSnapshot(t testing.TB, c *Controller, st *Stream) []byte {
	t.Helper()
	b, err := c.Snapshot(st)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestPropertyDeterministic(t *testing.T) {
	c, _ := New(DefaultConfig())
	for seed := range uint64(30) {
		evs := build("p", randomSteps(rand.New(rand.NewPCG(seed, 7)), 300))
		id := aios.StreamID{Session: "p", Branch: "main"}
		a, ta := foldAll(t, c, id, evs, nil)
		b, tb := foldAll(t, c, id, evs, nil)
		if !bytes.Equal(mustSnapshot(t, c, a), mustSnapshot(t, c, b)) || fmt.Sprint(ta) != fmt.Sprint(tb) {
			t.Fatalf("seed %d: two folds of the same stream differ", seed)
		}
	}
}

// TestPropertySnapshotResume: snapshot at any seq, resume in a fresh
// controller, fold the rest: same state and same transitions as a full replay.
func TestPropertySnapshotResume(t *testing.T) {
	for seed := range uint64(20) {
		r := rand.New(rand.NewPCG(seed, 11))
		evs := build("p", randomSteps(r, 200))
		id := aios.StreamID{Session: "p", Branch: "main"}
		c1, _ := New(DefaultConfig())
		full, fullTr := foldAll(t, c1, id, evs, nil)
		want := mustSnapshot(t, c1, full)
		if len(fullTr) < 2 {
			t.Fatalf("seed %d: only %d transitions; the stream does not exercise the rules", seed, len(fullTr))
		}
		for _, cut := range []int{0, 1, r.IntN(200), r.IntN(200), 199, 200} {
			head, headTr := foldAll(t, c1, id, evs[:cut], nil)
			snap := mustSnapshot(t, c1, head)
			c2, _ := New(DefaultConfig())
			resumed, err := c2.Resume(snap)
			if err != nil {
				t.Fatalf("seed %d cut %d: resume: %v", seed, cut, err)
			}
			// Replaying the prefix again after resuming must change nothing.
			_, dup := foldAll(t, c2, id, evs[:cut], resumed)
			if len(dup) != 0 {
				t.Fatalf("seed %d cut %d: replayed prefix produced transitions %v", seed, cut, dup)
			}
			end, tailTr := foldAll(t, c2, id, evs[cut:], resumed)
			if got := mustSnapshot(t, c2, end); !bytes.Equal(got, want) {
				t.Fatalf("seed %d cut %d: resumed state differs:\n got %s\nwant %s", seed, cut, got, want)
			}
			if fmt.Sprint(append(headTr, tailTr...)) != fmt.Sprint(fullTr) {
				t.Fatalf("seed %d cut %d: transitions differ", seed, cut)
			}
		}
	}
}

// TestPropertyInterleaving: streams folded through one hub in any
// interleaving, with duplicate deliveries, end as if folded alone.
func TestPropertyInterleaving(t *testing.T) {
	c, _ := New(DefaultConfig())
	for seed := range uint64(10) {
		r := rand.New(rand.NewPCG(seed, 13))
		streams := map[string][]aios.EventEnvelope{}
		var names []string
		for k := range 4 {
			name := fmt.Sprint("s", k)
			names = append(names, name)
			streams[name] = build(name, randomSteps(r, 80+r.IntN(80)))
		}
		h := NewHub(c)
		pos := map[string]int{}
		for remaining := true; remaining; {
			remaining = false
			name := names[r.IntN(len(names))]
			if i := pos[name]; i < len(streams[name]) {
				h.Apply(&streams[name][i])
				if r.IntN(5) == 0 {
					h.Apply(&streams[name][i]) // duplicate delivery
				}
				if i > 0 && r.IntN(7) == 0 {
					h.Apply(&streams[name][r.IntN(i)]) // a stale replay
				}
				pos[name]++
			}
			for _, n := range names {
				remaining = remaining || pos[n] < len(streams[n])
			}
		}
		for _, name := range names {
			id := aios.StreamID{Session: name, Branch: "main"}
			alone, _ := foldAll(t, c, id, streams[name], nil)
			got, err := h.Snapshot(id)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, mustSnapshot(t, c, alone)) {
				t.Fatalf("seed %d stream %s: interleaved fold differs", seed, name)
			}
		}
	}
}

// TestPropertyOwnEventsInert: journaling the transitions back into the
// stream (as autonomicd does) changes no decision.
func TestPropertyOwnEventsInert(t *testing.T) {
	c, _ := New(DefaultConfig())
	for seed := range uint64(10) {
		evs := build("p", randomSteps(rand.New(rand.NewPCG(seed, 17)), 200))
		id := aios.StreamID{Session: "p", Branch: "main"}
		plain, _ := foldAll(t, c, id, evs, nil)

		h := NewHub(c)
		var seq uint64
		for i := range evs {
			e := evs[i]
			seq++
			e.Seq = seq
			for _, own := range h.Apply(&e) {
				seq++
				own.Seq = seq
				if more := h.Apply(&own); len(more) != 0 {
					t.Fatalf("seed %d: an own event caused transitions", seed)
				}
			}
		}
		got := h.View(id)
		norm := func(s any) string { b, _ := json.Marshal(s); return string(b) }
		if norm(got.Gating) != norm(plain.Gating) || norm(got.State.Economic) != norm(plain.State.Economic) ||
			norm(got.State.Cognitive) != norm(plain.State.Cognitive) || norm(got.State.Operational) != norm(plain.State.Operational) {
			t.Fatalf("seed %d: own events changed the projection", seed)
		}
	}
}
