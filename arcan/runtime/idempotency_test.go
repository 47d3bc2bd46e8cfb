package runtime

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/lifeos/life/aios"
)

// A Run repeated with its idempotency key starts nothing, runs no tool
// again, and answers with the first run's result, also in a new process
// (the key is in the journal) and after other runs; a different request
// with the key is refused; keys are per stream.
func TestIdempotencyKey(t *testing.T) {
	ctx := context.Background()
	f := setup(t, nil,
		reply{calls: []aios.ToolCall{call("c1", "write", `{"p":"x"}`)}},
		reply{text: "wrote it"},
		reply{text: "other"},
	)
	opts := RunOptions{Input: "write x", IdempotencyKey: "k1", RequestHash: "h1"}
	first, err := f.rt.Run(ctx, f.id, opts)
	if err != nil || first.Status != StatusCompleted {
		t.Fatalf("%+v %v", first, err)
	}
	// Another run (without the key) makes the keyed one not the latest.
	if _, err := f.rt.Run(ctx, f.id, RunOptions{Input: "more"}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		rt      *Runtime
		opts    RunOptions
		wantErr error
	}{
		{"repeat", f.rt, opts, ErrDuplicateRun},
		{"repeat after restart", f.restart(t), opts, ErrDuplicateRun},
		{"different request", f.rt, RunOptions{Input: "write y", IdempotencyKey: "k1", RequestHash: "h2"}, ErrKeyReused},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := tt.rt.Run(ctx, f.id, tt.opts)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr == ErrDuplicateRun && (res.RunID != first.RunID || res.Status != StatusCompleted || res.FinalAnswer != "wrote it" || res.Iterations != first.Iterations || res.Usage != first.Usage) {
				t.Fatalf("repeat answered %+v, first was %+v", res, first)
			}
		})
	}
	if n := f.tools["write"].(*fakeTool).count(); n != 1 {
		t.Fatalf("write ran %d times", n)
	}
	st, err := Reconstruct(ctx, f.j, f.id)
	if err != nil {
		t.Fatal(err)
	}
	if st.Runs != 2 {
		t.Fatalf("%d runs journaled, want 2", st.Runs)
	}
	// The keyed runs fold alike live and on replay.
	live, _ := f.rt.State(ctx, f.id)
	a, _ := live.Encode()
	b, _ := st.Encode()
	if string(a) != string(b) || len(st.Keyed) != 1 || st.Keyed[0].End == nil {
		t.Fatalf("live state\n%s\nreplay\n%s", a, b)
	}
	// Per stream: the key on another session starts a run there.
	other, _ := f.rt.CreateSession(ctx, "other", nil)
	if res, err := f.rt.Run(ctx, aios.StreamID{Session: other, Branch: DefaultBranch}, opts); err != nil || res.RunID == first.RunID {
		t.Fatalf("%+v %v", res, err)
	}
}

// A repeat while the keyed run is in progress is ErrRunActive (with
// ErrDuplicateRun) naming that run; once it waits for approval, the
// repeat gets its approvals.
func TestIdempotencyKeyInProgress(t *testing.T) {
	ctx := context.Background()
	f := setup(t, func(c *Config) { c.Policy = fakePolicy{"write": aios.PolicyRequireApproval} },
		reply{calls: []aios.ToolCall{call("c1", "write", `{}`)}})
	block := make(chan struct{})
	f.p.block = block
	opts := RunOptions{Input: "w", IdempotencyKey: "k", RequestHash: "h"}
	accepted := make(chan string, 1)
	done := make(chan Result, 1)
	go func() {
		o := opts
		o.OnAccepted = func(id string) { accepted <- id }
		res, _ := f.rt.Run(ctx, f.id, o)
		done <- res
	}()
	id := <-accepted
	res, err := f.rt.Run(ctx, f.id, opts)
	if !errors.Is(err, ErrDuplicateRun) || !errors.Is(err, ErrRunActive) || res.RunID != id {
		t.Fatalf("%+v %v", res, err)
	}
	close(block)
	first := <-done
	if first.Status != StatusAwaitingApproval {
		t.Fatalf("%+v", first)
	}
	res, err = f.rt.Run(ctx, f.id, opts)
	if !errors.Is(err, ErrDuplicateRun) || errors.Is(err, ErrRunActive) || res.Status != StatusAwaitingApproval || len(res.Approvals) != 1 || res.Approvals[0].ApprovalID != first.Approvals[0].ApprovalID {
		t.Fatalf("%+v %v", res, err)
	}
}

// The fold keeps the most recent maxKeyedRuns keyed runs, and a key
// journaled twice keeps its first run.
func TestKeyedRunsBounded(t *testing.T) {
	st := NewSessionState(aios.StreamID{Session: "s", Branch: DefaultBranch})
	start := func(run, key string) {
		e := aios.EventEnvelope{RunID: run, Payload: &aios.RunStarted{}, Metadata: map[string]string{MetaIdempotencyKey: key, MetaRequestHash: "h"}}
		if err := st.Apply(e); err != nil {
			t.Fatal(err)
		}
		st.Apply(aios.EventEnvelope{RunID: run, Payload: &aios.RunFinished{Reason: StatusCompleted}})
	}
	for i := range maxKeyedRuns + 10 {
		start(fmt.Sprint("run", i), fmt.Sprint("key", i))
	}
	start("again", "key20")
	if len(st.Keyed) != maxKeyedRuns || st.keyed("key9") != nil || st.keyed("key10") == nil || st.keyed("key20").RunID != "run20" {
		t.Fatalf("%d keyed, oldest %+v", len(st.Keyed), st.Keyed[0])
	}
	if k := st.keyed(fmt.Sprint("key", maxKeyedRuns+9)); k == nil || k.End == nil || k.End.Reason != StatusCompleted {
		t.Fatalf("%+v", k)
	}
}
