package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lifeos/life/aios"
)

// sameAsReplay fails the test unless live encodes byte for byte as the
// state rebuilt from j alone, and returns that state.
func sameAsReplay(t *testing.T, j aios.Journal, stream aios.StreamID, live *SessionState) *SessionState {
	t.Helper()
	replay, err := Reconstruct(context.Background(), j, stream)
	if err != nil {
		t.Fatalf("replay: %v", err)
	}
	a, _ := live.Encode()
	b, _ := replay.Encode()
	if string(a) != string(b) {
		t.Fatalf("live and replay differ:\n%s\n%s", a, b)
	}
	return replay
}

func newTool(name string, ann aios.ToolAnnotations) *fakeTool {
	return &fakeTool{spec: aios.ToolSpec{Name: name, Description: name, InputSchema: json.RawMessage(`{"type":"object"}`), Annotations: ann}, out: name}
}

type fixture struct {
	j     *fakeJournal
	p     *scriptProvider
	tools fakeRegistry
	rt    *Runtime
	cfg   Config
	id    aios.StreamID
}

func setup(t *testing.T, mod func(*Config), replies ...reply) *fixture {
	t.Helper()
	f := &fixture{j: newFakeJournal(), p: &scriptProvider{replies: replies}, tools: fakeRegistry{
		"echo":  newTool("echo", aios.ToolAnnotations{ReadOnly: true, Category: "fs"}),
		"write": newTool("write", aios.ToolAnnotations{Destructive: true, Category: "fs"}),
	}}
	f.cfg = Config{Journal: f.j, Provider: f.p, Tools: f.tools}
	if mod != nil {
		mod(&f.cfg)
	}
	f.rt = f.restart(t)
	id, err := f.rt.CreateSession(context.Background(), "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	f.id = aios.StreamID{Session: id, Branch: DefaultBranch}
	return f
}

// restart builds a fresh runtime over the same journal, as a new process would.
func (f *fixture) restart(t *testing.T) *Runtime {
	t.Helper()
	rt, err := New(f.cfg)
	if err != nil {
		t.Fatal(err)
	}
	return rt
}

func types(evs []aios.EventEnvelope) []string {
	var out []string
	for _, e := range evs {
		t := e.Payload.Type()
		if c, ok := e.Payload.(aios.SubsystemEvent); ok {
			t = c.EventType()
		}
		if t == "PhaseEntered" || t == "AssistantTextDelta" {
			continue
		}
		out = append(out, t)
	}
	return out
}

func call(id, name, args string) aios.ToolCall {
	return aios.ToolCall{ID: id, Name: name, Arguments: json.RawMessage(args)}
}

func TestRunPlainAnswer(t *testing.T) {
	f := setup(t, nil, reply{text: "Hello there, friend.", usage: aios.TokenUsage{PromptTokens: 5, CompletionTokens: 4}})
	var deltas strings.Builder
	var seen []aios.EventEnvelope
	res, err := f.rt.Run(context.Background(), f.id, RunOptions{Input: "hi", OnDelta: func(s string) { deltas.WriteString(s) }, OnEvent: func(e aios.EventEnvelope) { seen = append(seen, e) }})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != StatusCompleted || res.FinalAnswer != "Hello there, friend." || res.Usage.TotalTokens != 9 {
		t.Fatalf("result %+v", res)
	}
	if deltas.String() != res.FinalAnswer {
		t.Fatalf("deltas %q", deltas.String())
	}
	got := strings.Join(types(f.j.all(f.id)), ",")
	want := "SessionCreated,UserMessage,RunStarted,StepStarted,AssistantMessageCommitted,StepFinished,StatePatchCommitted,RunFinished"
	if got != want {
		t.Fatalf("events\n got %s\nwant %s", got, want)
	}
	for i, e := range seen {
		if e.Seq == 0 || i > 0 && e.Seq != seen[i-1].Seq+1 {
			t.Fatalf("OnEvent saw seq %d after %d", e.Seq, seen[max(i-1, 0)].Seq)
		}
	}
	// Phases are journaled.
	var phases []string
	for _, e := range f.j.all(f.id) {
		if p, ok := e.Payload.(*aios.PhaseEntered); ok {
			phases = append(phases, string(p.Phase))
		}
	}
	if strings.Join(phases, ",") != "perceive,gate,deliberate,commit" {
		t.Fatalf("phases %v", phases)
	}
}

func TestToolResultsReachTheNextTurn(t *testing.T) {
	f := setup(t, nil,
		reply{calls: []aios.ToolCall{call("c1", "echo", `{ "x": 1 }`)}},
		reply{text: "the tool said so"},
		reply{text: "second run"},
	)
	ctx := context.Background()
	res, err := f.rt.Run(ctx, f.id, RunOptions{Input: "use the tool"})
	if err != nil || res.Status != StatusCompleted || res.Iterations != 2 {
		t.Fatalf("%+v %v", res, err)
	}
	if _, err := f.rt.Run(ctx, f.id, RunOptions{Input: "again"}); err != nil {
		t.Fatal(err)
	}
	// The continuation turn of the second run sees the first run's tool output.
	last := f.p.requests[2].Messages
	var found bool
	for _, m := range last {
		if m.Role == aios.RoleTool && m.ToolCallID == "c1" && m.Content == `echo({"x":1})` {
			found = true
		}
	}
	if !found {
		t.Fatalf("tool result missing from history: %+v", last)
	}
	// Order: user, assistant(tool call), tool, assistant, user.
	var roles []string
	for _, m := range last {
		roles = append(roles, string(m.Role))
	}
	if strings.Join(roles, ",") != "user,assistant,tool,assistant,user" {
		t.Fatalf("roles %v", roles)
	}
	if len(last[1].ToolCalls) != 1 || string(last[1].ToolCalls[0].Arguments) != `{"x":1}` {
		t.Fatalf("assistant tool calls %+v", last[1])
	}
}

func TestLiveStateEqualsReplay(t *testing.T) {
	f := setup(t, nil,
		reply{text: "looking", calls: []aios.ToolCall{call("c1", "echo", `{"a":"<b>"}`), call("c2", "nope", `{}`)}},
		reply{text: "final"},
	)
	ctx := context.Background()
	if _, err := f.rt.Run(ctx, f.id, RunOptions{Input: "go"}); err != nil {
		t.Fatal(err)
	}
	live, err := f.rt.State(ctx, f.id)
	if err != nil {
		t.Fatal(err)
	}
	replay := sameAsReplay(t, f.j, f.id, live)
	if live.Transcript() != replay.Transcript() || !strings.Contains(live.Transcript(), `unknown tool "nope"`) {
		t.Fatalf("transcript:\n%s", live.Transcript())
	}
}

func TestApprovalSurvivesRestart(t *testing.T) {
	for _, approve := range []bool{true, false} {
		t.Run(map[bool]string{true: "approve", false: "deny"}[approve], func(t *testing.T) {
			f := setup(t, func(c *Config) { c.Policy = fakePolicy{"write": aios.PolicyRequireApproval} },
				reply{calls: []aios.ToolCall{call("w1", "write", `{"path":"x"}`), call("e1", "echo", `{}`)}},
				reply{text: "ok"},
			)
			ctx := context.Background()
			res, err := f.rt.Run(ctx, f.id, RunOptions{Input: "write it"})
			if err != nil || res.Status != StatusAwaitingApproval || len(res.Approvals) != 1 {
				t.Fatalf("%+v %v", res, err)
			}
			if _, err := f.rt.Run(ctx, f.id, RunOptions{Input: "more"}); !errors.Is(err, ErrAwaitingApproval) {
				t.Fatalf("run while waiting: %v", err)
			}
			write := f.tools["write"].(*fakeTool)
			if write.count() != 0 || f.tools["echo"].(*fakeTool).count() != 1 {
				t.Fatal("tools ran before approval")
			}
			rt := f.restart(t) // the pause survives a restart
			st, err := rt.State(ctx, f.id)
			if err != nil || len(st.Approvals) != 1 || st.Run.Status != RunAwaitingApproval {
				t.Fatalf("state after restart %+v %v", st, err)
			}
			if err := rt.Resolve(ctx, f.id, "missing", true, ""); !errors.Is(err, aios.ErrNotFound) {
				t.Fatalf("unknown approval: %v", err)
			}
			if err := rt.Resolve(ctx, f.id, res.Approvals[0].ApprovalID, approve, "because"); err != nil {
				t.Fatal(err)
			}
			res, err = rt.Resume(ctx, f.id, RunOptions{})
			if err != nil || res.Status != StatusCompleted {
				t.Fatalf("resume %+v %v", res, err)
			}
			want := map[bool]int{true: 1, false: 0}[approve]
			if write.count() != want {
				t.Fatalf("write ran %d times, want %d", write.count(), want)
			}
			if _, err := rt.Resume(ctx, f.id, RunOptions{}); !errors.Is(err, ErrNothingToResume) {
				t.Fatalf("second resume: %v", err)
			}
			if write.count() != want {
				t.Fatal("approved call ran twice")
			}
			last := f.p.requests[len(f.p.requests)-1].Messages
			tool := last[len(last)-1]
			if approve == tool.IsError {
				t.Fatalf("model saw %+v", tool)
			}
		})
	}
}

// copyJournal is the journal as a kill -9 leaves it: what was appended.
func copyJournal(j *fakeJournal) *fakeJournal {
	j.mu.Lock()
	defer j.mu.Unlock()
	c := newFakeJournal()
	for k, v := range j.streams {
		c.streams[k] = append([][]byte(nil), v...)
	}
	for k, v := range j.ids {
		c.ids[k] = v
	}
	return c
}

func TestCrashRecovery(t *testing.T) {
	for _, idempotent := range []bool{false, true} {
		t.Run(map[bool]string{false: "side-effect", true: "idempotent"}[idempotent], func(t *testing.T) {
			slow := newTool("slow", aios.ToolAnnotations{Idempotent: idempotent})
			slow.block = make(chan struct{})
			f := setup(t, func(c *Config) { c.Tools.(fakeRegistry)["slow"] = slow },
				reply{calls: []aios.ToolCall{call("s1", "slow", `{}`)}},
			)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { defer close(done); f.rt.Run(ctx, f.id, RunOptions{Input: "slow"}) }()
			for slow.count() == 0 {
				time.Sleep(time.Millisecond)
			}
			disk := copyJournal(f.j) // the process dies here, mid-call
			cancel()
			<-done

			f.p.replies = []reply{{text: "recovered"}}
			cfg := f.cfg
			cfg.Journal = disk
			slow.block = nil
			rt, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			res, err := rt.Resume(context.Background(), f.id, RunOptions{})
			if err != nil || res.Status != StatusCompleted {
				t.Fatalf("%+v %v", res, err)
			}
			want := map[bool]int{false: 1, true: 2}[idempotent]
			if slow.count() != want {
				t.Fatalf("slow ran %d times, want %d", slow.count(), want)
			}
			st, _ := rt.State(context.Background(), f.id)
			tr := st.Transcript()
			if !idempotent && !strings.Contains(tr, "interrupted") {
				t.Fatalf("interruption not reported:\n%s", tr)
			}
			if !strings.HasSuffix(tr, "assistant: recovered\n") {
				t.Fatalf("transcript:\n%s", tr)
			}
		})
	}
}

func TestNewRunFinishesInterruptedRun(t *testing.T) {
	f := setup(t, nil, reply{text: "first", err: errors.New("boom")})
	// A RunStarted with no end, as a crash during the provider call leaves.
	disk := copyJournal(f.j)
	e := aios.NewEnvelope(aios.NewULIDGenerator(nil, nil), aios.SystemClock{}, f.id.Session, f.id.Branch, &aios.RunStarted{Provider: "script", MaxIterations: 4})
	e.RunID = "old"
	disk.Append(context.Background(), e)
	f.cfg.Journal = disk
	f.p.replies = []reply{{text: "finished old"}, {text: "new answer"}}
	rt := f.restart(t)
	res, err := rt.Run(context.Background(), f.id, RunOptions{Input: "next"})
	if err != nil || res.FinalAnswer != "new answer" {
		t.Fatalf("%+v %v", res, err)
	}
	st, _ := rt.State(context.Background(), f.id)
	if st.Runs != 2 || st.Run.Status != RunFinishedStatus {
		t.Fatalf("%+v", st.Run)
	}
}

func TestLimits(t *testing.T) {
	loopCall := reply{calls: []aios.ToolCall{call("", "echo", `{}`)}, usage: aios.TokenUsage{PromptTokens: 60, CompletionTokens: 40}}
	many := []reply{loopCall, loopCall, loopCall, loopCall, loopCall, loopCall}
	tests := []struct {
		name   string
		limits Limits
		status string
		err    error
		calls  int
	}{
		{"iterations", Limits{MaxIterations: 3}, StatusMaxIterations, nil, 3},
		{"tokens", Limits{MaxTokens: 250}, StatusBudgetExceeded, ErrBudgetExceeded, 2},
		{"tool calls", Limits{MaxToolCalls: 2}, StatusBudgetExceeded, ErrBudgetExceeded, 2},
		{"cost", Limits{MaxCostUSD: 0.15}, StatusBudgetExceeded, ErrBudgetExceeded, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := setup(t, func(c *Config) { c.Pricing = Pricing{PromptPerMTok: 1000, CompletionPerMTok: 1000} }, many...)
			res, err := f.rt.Run(context.Background(), f.id, RunOptions{Input: "loop", Limits: &tc.limits})
			if res.Status != tc.status || !errors.Is(err, tc.err) && !(tc.err == nil && err == nil) {
				t.Fatalf("%+v %v", res, err)
			}
			if n := f.tools["echo"].(*fakeTool).count(); n != tc.calls {
				t.Fatalf("tool ran %d times, want %d", n, tc.calls)
			}
			st, _ := Reconstruct(context.Background(), f.j, f.id)
			if st.Run.Status == RunRunning {
				t.Fatal("run left open")
			}
			for _, c := range st.Calls {
				if c.Status == CallRequested {
					t.Fatalf("call left without result: %+v", c)
				}
			}
		})
	}
}

func TestWallClockAndCancel(t *testing.T) {
	t.Run("wall clock", func(t *testing.T) {
		f := setup(t, nil)
		f.p.block = make(chan struct{})
		res, err := f.rt.Run(context.Background(), f.id, RunOptions{Input: "wait", Limits: &Limits{WallClock: 50 * time.Millisecond}})
		if !errors.Is(err, ErrBudgetExceeded) || res.Status != StatusBudgetExceeded {
			t.Fatalf("%+v %v", res, err)
		}
	})
	t.Run("cancel", func(t *testing.T) {
		f := setup(t, nil)
		f.p.block = make(chan struct{})
		errc := make(chan error, 1)
		go func() {
			_, err := f.rt.Run(context.Background(), f.id, RunOptions{Input: "wait"})
			errc <- err
		}()
		for {
			if _, ok := f.rt.Active(f.id); ok {
				break
			}
			time.Sleep(time.Millisecond)
		}
		if _, err := f.rt.Run(context.Background(), f.id, RunOptions{Input: "x"}); !errors.Is(err, ErrRunActive) {
			t.Fatalf("concurrent run: %v", err)
		}
		if !f.rt.Cancel(f.id) {
			t.Fatal("nothing cancelled")
		}
		if err := <-errc; !errors.Is(err, ErrCancelled) {
			t.Fatalf("run error %v", err)
		}
		evs := f.j.all(f.id)
		rf, ok := evs[len(evs)-1].Payload.(*aios.RunFinished)
		if !ok || rf.Reason != StatusCancelled {
			t.Fatalf("last event %#v", evs[len(evs)-1].Payload)
		}
		if f.rt.Cancel(f.id) {
			t.Fatal("cancel of idle stream reported a run")
		}
	})
}

func TestGate(t *testing.T) {
	t.Run("fail open", func(t *testing.T) {
		f := setup(t, func(c *Config) { c.Gate = fakeGate{err: errors.New("autonomic down")} },
			reply{calls: []aios.ToolCall{call("c", "echo", `{}`)}}, reply{text: "ok"})
		res, err := f.rt.Run(context.Background(), f.id, RunOptions{Input: "x"})
		if err != nil || res.Status != StatusCompleted || f.tools["echo"].(*fakeTool).count() != 1 {
			t.Fatalf("%+v %v", res, err)
		}
		if !strings.Contains(strings.Join(types(f.j.all(f.id)), ","), aios.EventGateUnavailable) {
			t.Fatal("fail-open not journaled")
		}
	})
	t.Run("denies tools", func(t *testing.T) {
		g := aios.OpenGating()
		g.DeniedTools = aios.Strings{"echo"}
		f := setup(t, func(c *Config) { c.Gate = fakeGate{g: g} },
			reply{calls: []aios.ToolCall{call("c", "echo", `{}`)}}, reply{text: "ok"})
		if _, err := f.rt.Run(context.Background(), f.id, RunOptions{Input: "x"}); err != nil {
			t.Fatal(err)
		}
		if f.tools["echo"].(*fakeTool).count() != 0 {
			t.Fatal("denied tool ran")
		}
		for _, s := range f.p.requests[0].Tools {
			if s.Name == "echo" {
				t.Fatal("denied tool offered to the model")
			}
		}
	})
	t.Run("policy deny", func(t *testing.T) {
		f := setup(t, func(c *Config) { c.Policy = fakePolicy{"echo": aios.PolicyDeny} },
			reply{calls: []aios.ToolCall{call("c", "echo", `{}`)}}, reply{text: "ok"})
		if _, err := f.rt.Run(context.Background(), f.id, RunOptions{Input: "x"}); err != nil {
			t.Fatal(err)
		}
		if f.tools["echo"].(*fakeTool).count() != 0 {
			t.Fatal("denied tool ran")
		}
	})
}

func TestSnapshotPlusTail(t *testing.T) {
	dir := t.TempDir()
	var replies []reply
	for range 10 {
		replies = append(replies, reply{calls: []aios.ToolCall{call("", "echo", `{}`)}}, reply{text: "ok"})
	}
	f := setup(t, func(c *Config) { c.Snapshots = FileSnapshots{Dir: dir}; c.SnapshotEvery = 7 }, replies...)
	ctx := context.Background()
	for range 10 {
		if _, err := f.rt.Run(ctx, f.id, RunOptions{Input: "again"}); err != nil {
			t.Fatal(err)
		}
	}
	seq, _, err := f.cfg.Snapshots.Latest(ctx, f.id)
	if err != nil || seq == 0 {
		t.Fatalf("no snapshot: %d %v", seq, err)
	}
	fromSnap, err := f.restart(t).State(ctx, f.id)
	if err != nil {
		t.Fatal(err)
	}
	full, err := Reconstruct(ctx, f.j, f.id)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := fromSnap.Encode()
	b, _ := full.Encode()
	if string(a) != string(b) {
		t.Fatalf("snapshot+tail differs from full replay:\n%s\n%s", a, b)
	}
	// A snapshot from a future the journal does not have is ignored.
	if err := f.cfg.Snapshots.Save(ctx, f.id, seq+1000, []byte(`{"last_seq":99999}`)); err != nil {
		t.Fatal(err)
	}
	st, err := f.restart(t).State(ctx, f.id)
	if err != nil || st.LastSeq != full.LastSeq {
		t.Fatalf("%v %d", err, st.LastSeq)
	}
}

func TestAppendFailureRebuildsState(t *testing.T) {
	f := setup(t, nil, reply{text: "a"}, reply{text: "b"})
	f.j.failAt = f.j.appends + 1
	if _, err := f.rt.Run(context.Background(), f.id, RunOptions{Input: "x"}); !errors.Is(err, errFakeAppend) {
		t.Fatalf("want append error, got %v", err)
	}
	st, err := f.rt.State(context.Background(), f.id)
	if err != nil {
		t.Fatal(err)
	}
	full, _ := Reconstruct(context.Background(), f.j, f.id)
	a, _ := st.Encode()
	b, _ := full.Encode()
	if string(a) != string(b) {
		t.Fatalf("state not rebuilt after failed append:\n%s\n%s", a, b)
	}
}

func TestBadInput(t *testing.T) {
	if _, err := New(Config{}); !errors.Is(err, ErrBadInput) {
		t.Fatal(err)
	}
	f := setup(t, nil)
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"empty input", func() error { _, err := f.rt.Run(ctx, f.id, RunOptions{}); return err }()},
		{"empty session", func() error {
			_, err := f.rt.Run(ctx, aios.StreamID{Branch: "main"}, RunOptions{Input: "x"})
			return err
		}()},
		{"bad config", func() error { _, err := f.rt.CreateSession(ctx, "x", json.RawMessage("{")); return err }()},
	} {
		if !errors.Is(tc.err, ErrBadInput) {
			t.Errorf("%s: %v", tc.name, tc.err)
		}
	}
	if _, err := f.rt.Resume(ctx, f.id, RunOptions{}); !errors.Is(err, ErrNothingToResume) {
		t.Errorf("resume of fresh session: %v", err)
	}
}

func TestStatePatchPerRun(t *testing.T) {
	f := setup(t, nil, reply{text: "one"}, reply{text: "two"})
	ctx := context.Background()
	for _, in := range []string{"a", "b"} {
		if _, err := f.rt.Run(ctx, f.id, RunOptions{Input: in}); err != nil {
			t.Fatal(err)
		}
	}
	st, _ := Reconstruct(ctx, f.j, f.id)
	var doc struct {
		Runs struct {
			Count int `json:"count"`
			Last  struct {
				Status string `json:"status"`
			} `json:"last"`
		} `json:"runs"`
	}
	if err := json.Unmarshal(st.Doc, &doc); err != nil || st.Version != 2 || doc.Runs.Count != 2 || doc.Runs.Last.Status != StatusCompleted {
		t.Fatalf("doc %s version %d: %v", st.Doc, st.Version, err)
	}
}

func TestDeltasCoalescedAndCallbackMayReenter(t *testing.T) {
	long := strings.Repeat("word ", 200) // 1000 bytes, streamed 4 at a time
	f := setup(t, nil, reply{text: long})
	var live strings.Builder
	var states int
	res, err := f.rt.Run(context.Background(), f.id, RunOptions{
		Input:   "talk",
		OnDelta: func(s string) { live.WriteString(s) },
		OnEvent: func(aios.EventEnvelope) {
			if _, err := f.rt.State(context.Background(), f.id); err == nil { // must not deadlock
				states++
			}
		},
	})
	if err != nil || res.FinalAnswer != long || live.String() != long || states == 0 {
		t.Fatalf("%v live=%d states=%d", err, live.Len(), states)
	}
	var journaled strings.Builder
	n := 0
	for _, e := range f.j.all(f.id) {
		if d, ok := e.Payload.(*aios.AssistantTextDelta); ok {
			if *d.Index != uint32(n) {
				t.Fatalf("delta index %d, want %d", *d.Index, n)
			}
			journaled.WriteString(d.Delta)
			n++
		}
	}
	if journaled.String() != long || n != (len(long)+deltaChunk-1)/deltaChunk {
		t.Fatalf("%d delta events holding %d bytes", n, journaled.Len())
	}
}

func TestOnAcceptedAfterInputIsDurable(t *testing.T) {
	f := setup(t, nil, reply{text: "ok"})
	var seen bool
	_, err := f.rt.Run(context.Background(), f.id, RunOptions{Input: "remember me", OnAccepted: func(id string) {
		seen = true
		var found bool
		for _, e := range f.j.all(f.id) {
			if m, ok := e.Payload.(*aios.UserMessage); ok && m.Content == "remember me" && e.RunID == id {
				found = true
			}
		}
		if !found {
			t.Error("accepted before the input was in the journal")
		}
	}})
	if err != nil || !seen {
		t.Fatalf("%v accepted=%v", err, seen)
	}
}

func TestSessionCacheEviction(t *testing.T) {
	f := setup(t, func(c *Config) { c.MaxCachedSessions = 4 })
	ctx := context.Background()
	var ids []aios.StreamID
	for range 12 {
		id, err := f.rt.CreateSession(ctx, "e", nil)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, aios.StreamID{Session: id, Branch: DefaultBranch})
	}
	// Many goroutines on few streams through a tiny cache: at most one run
	// per stream at a time, and every state equals its replay.
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 10 {
				st := ids[(g+i)%len(ids)]
				if _, err := f.rt.Run(ctx, st, RunOptions{Input: "hi"}); err != nil && !errors.Is(err, ErrRunActive) {
					t.Error(err)
				}
				f.rt.State(ctx, st)
			}
		}()
	}
	wg.Wait()
	if _, err := f.rt.CreateSession(ctx, "one more", nil); err != nil { // an insertion evicts
		t.Fatal(err)
	}
	f.rt.mu.Lock()
	n := len(f.rt.sessions)
	f.rt.mu.Unlock()
	if n > 4 {
		t.Fatalf("%d sessions cached, cap 4", n)
	}
	for _, st := range ids {
		live, err := f.rt.State(ctx, st)
		if err != nil {
			t.Fatal(err)
		}
		sameAsReplay(t, f.j, st, live) // after eviction
		// Runs never overlapped: each RunStarted is followed by its RunFinished.
		open := ""
		for _, e := range f.j.all(st) {
			switch e.Payload.(type) {
			case *aios.RunStarted:
				if open != "" {
					t.Fatalf("run %s started while %s was open", e.RunID, open)
				}
				open = e.RunID
			case *aios.RunFinished, *aios.RunErrored:
				open = ""
			}
		}
	}
}

// A turn with one tool call costs four durable appends: the input before the
// first model call (so a crash during a long call leaves a resumable run),
// the intent before the tool, the result before the next model call, and
// the end.
func TestAppendsPerTurn(t *testing.T) {
	for _, accept := range []bool{false, true} {
		f := setup(t, nil, reply{calls: []aios.ToolCall{call("c", "echo", `{}`)}}, reply{text: "done"})
		before := f.j.appends
		opts := RunOptions{Input: "go"}
		if accept {
			opts.OnAccepted = func(string) {}
		}
		if _, err := f.rt.Run(context.Background(), f.id, opts); err != nil {
			t.Fatal(err)
		}
		// input before the first model call, the tool intent, its result
		// before the second call, the end: with or without a waiting client.
		want := 4
		if got := f.j.appends - before; got != want {
			t.Errorf("accept=%v: %d appends, want %d", accept, got, want)
		}
	}
}

// Events another writer appends to a session's stream between runs are in
// the fold before the next model call; those appended during a run are in
// it by the run's next flush. Either way the cached state stays what a
// replay gives (state patch versions included).
func TestOtherWritersFolded(t *testing.T) {
	ctx := context.Background()
	ids := aios.NewULIDGenerator(nil, nil)
	for _, during := range []bool{false, true} {
		f := setup(t, nil, reply{text: "one"}, reply{text: "two"}, reply{text: "three"})
		foreign := func() {
			t.Helper()
			// Mid-run the patch takes the version the run's own patch is
			// based on: that one is re-based when the run ends.
			evs := []aios.EventEnvelope{
				aios.NewEnvelope(ids, aios.SystemClock{}, f.id.Session, f.id.Branch, &aios.UserMessage{Content: "from elsewhere"}),
				aios.NewEnvelope(ids, aios.SystemClock{}, f.id.Session, f.id.Branch, &aios.StatePatchCommitted{NewVersion: 2, Patch: aios.StatePatch{
					BaseVersion: 1, Ops: []aios.PatchOp{{Op: aios.OpSet, Path: "/note", Value: json.RawMessage(`"x"`)}},
				}}),
			}
			if _, err := f.j.Append(ctx, evs...); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := f.rt.Run(ctx, f.id, RunOptions{Input: "a"}); err != nil {
			t.Fatal(err)
		}
		opts := RunOptions{Input: "b"}
		if during {
			opts.OnAccepted = func(string) { foreign() } // input durable, model not yet asked
		} else {
			foreign()
		}
		if _, err := f.rt.Run(ctx, f.id, opts); err != nil {
			t.Fatalf("during=%v: %v", during, err)
		}
		if _, err := f.rt.Run(ctx, f.id, RunOptions{Input: "c"}); err != nil {
			t.Fatalf("during=%v: %v", during, err)
		}
		saw := func(i int) string {
			var seen []string
			for _, m := range f.p.requests[i].Messages {
				seen = append(seen, m.Content)
			}
			return strings.Join(seen, " ")
		}
		want := []string{"a", "a one from elsewhere b", "a one from elsewhere b two c"}
		if during {
			want = []string{"a", "a one b", "a one b from elsewhere two c"}
		}
		for i, w := range want {
			if got := saw(i); got != w {
				t.Errorf("during=%v: model call %d saw %q, want %q", during, i+1, got, w)
			}
		}
		s := f.rt.sessions[f.id]
		s.mu.Lock()
		live, _ := s.state.Encode()
		s.mu.Unlock()
		replay, err := Reconstruct(ctx, f.j, f.id)
		if err != nil {
			t.Fatalf("during=%v: %v", during, err)
		}
		if r, _ := replay.Encode(); string(live) != string(r) {
			t.Errorf("during=%v: cached state is not the replay:\n%s\n%s", during, live, r)
		}
		// Three runs' patches and the other writer's, whatever the order.
		if replay.Version != 4 || !strings.Contains(string(replay.Doc), `"note":"x"`) || !strings.Contains(string(replay.Doc), `"count":3`) {
			t.Errorf("during=%v: version %d, doc %s", during, replay.Version, replay.Doc)
		}
	}
}

// A stream cached while empty and written since by another (as a fork is
// created with its parent's events) is read before the run is judged: an
// interrupted run found there is finished first.
func TestRunOnStreamCreatedSinceCached(t *testing.T) {
	ctx := context.Background()
	f := setup(t, nil, reply{text: "old done"}, reply{text: "new done"})
	branch := aios.StreamID{Session: f.id.Session, Branch: "fork"}
	if st, err := f.rt.State(ctx, branch); err != nil || st.LastSeq != 0 {
		t.Fatalf("%v %+v", err, st)
	}
	ids := aios.NewULIDGenerator(nil, nil)
	started := aios.NewEnvelope(ids, aios.SystemClock{}, branch.Session, branch.Branch, &aios.RunStarted{Provider: "script"})
	started.RunID = "r0"
	if _, err := f.j.Append(ctx, aios.NewEnvelope(ids, aios.SystemClock{}, branch.Session, branch.Branch, &aios.UserMessage{Content: "old"}), started); err != nil {
		t.Fatal(err)
	}
	if _, err := f.rt.Run(ctx, branch, RunOptions{Input: "new"}); err != nil {
		t.Fatal(err)
	}
	var got []string
	for e, err := range f.j.Read(ctx, aios.ReadQuery{Stream: branch}) {
		if err != nil {
			t.Fatal(err)
		}
		if p, ok := e.Payload.(*aios.RunFinished); ok {
			got = append(got, e.RunID+":"+p.FinalAnswer)
		}
	}
	if len(got) != 2 || got[0] != "r0:old done" {
		t.Fatalf("runs finished: %q, want the interrupted r0 first", got)
	}
}

// A snapshot is a cache: one that is damaged, of an older layout, of
// another stream, or that the journal's tail does not fold onto is
// dropped, and the state is rebuilt from the journal alone.
func TestBadSnapshotRebuildsFromJournal(t *testing.T) {
	tests := []struct {
		name string
		edit func(m map[string]any) // nil: the file holds garbage
	}{
		{"garbage", nil},
		{"older layout without doc", func(m map[string]any) { delete(m, "doc") }},
		{"older layout without messages", func(m map[string]any) { delete(m, "messages") }},
		{"another stream", func(m map[string]any) { m["session"] = "someone-else" }},
		{"document the tail does not fold onto", func(m map[string]any) { m["doc"] = 5 }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			f := setup(t, func(c *Config) { c.Snapshots = FileSnapshots{Dir: dir} }, reply{text: "one"}, reply{text: "two"}, reply{text: "three"})
			ctx := context.Background()
			if _, err := f.rt.Run(ctx, f.id, RunOptions{Input: "a"}); err != nil {
				t.Fatal(err)
			}
			mid, err := Reconstruct(ctx, f.j, f.id)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.rt.Run(ctx, f.id, RunOptions{Input: "b"}); err != nil {
				t.Fatal(err)
			}
			snaps := FileSnapshots{Dir: dir}
			if tc.edit == nil {
				if err := os.MkdirAll(dir, 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(snaps.path(f.id), []byte("\x00not json"), 0o600); err != nil {
					t.Fatal(err)
				}
			} else {
				raw, _ := mid.Encode()
				var m map[string]any
				if err := json.Unmarshal(raw, &m); err != nil {
					t.Fatal(err)
				}
				tc.edit(m)
				raw, _ = json.Marshal(m)
				if err := snaps.Save(ctx, f.id, mid.LastSeq, raw); err != nil {
					t.Fatal(err)
				}
			}
			rt := f.restart(t)
			got, err := rt.State(ctx, f.id)
			if err != nil {
				t.Fatal(err)
			}
			full, err := Reconstruct(ctx, f.j, f.id)
			if err != nil {
				t.Fatal(err)
			}
			a, _ := got.Encode()
			b, _ := full.Encode()
			if string(a) != string(b) {
				t.Fatalf("state from a bad snapshot:\n%s\nwant the journal's:\n%s", a, b)
			}
			res, err := rt.Run(ctx, f.id, RunOptions{Input: "c"})
			if err != nil || res.FinalAnswer != "three" {
				t.Fatalf("%+v %v", res, err)
			}
		})
	}
}

// A run paused for approval is cancelled through the journal: its calls
// never run, it finishes cancelled (also after a restart), and the
// session takes new input.
func TestCancelPausedRun(t *testing.T) {
	f := setup(t, func(c *Config) { c.Policy = fakePolicy{"write": aios.PolicyRequireApproval} },
		reply{calls: []aios.ToolCall{call("w1", "write", `{"path":"x"}`), call("w2", "write", `{"path":"y"}`)}},
		reply{text: "next"},
	)
	ctx := context.Background()
	res, err := f.rt.Run(ctx, f.id, RunOptions{Input: "write both"})
	if err != nil || res.Status != StatusAwaitingApproval || len(res.Approvals) != 2 {
		t.Fatalf("%+v %v", res, err)
	}
	if ok, err := f.rt.CancelPaused(ctx, aios.StreamID{Session: "nosuch", Branch: DefaultBranch}); ok || err != nil {
		t.Fatalf("no run: %v %v", ok, err)
	}
	rt := f.restart(t)
	// One approved, one pending: neither runs once the run is cancelled.
	if err := rt.Resolve(ctx, f.id, res.Approvals[0].ApprovalID, true, ""); err != nil {
		t.Fatal(err)
	}
	ok, err := rt.CancelPaused(ctx, f.id)
	if !ok || err != nil {
		t.Fatalf("cancel paused: %v %v", ok, err)
	}
	if ok, err := rt.CancelPaused(ctx, f.id); ok || err != nil {
		t.Fatalf("second cancel: %v %v", ok, err)
	}
	if _, err := rt.Resume(ctx, f.id, RunOptions{}); !errors.Is(err, ErrNothingToResume) {
		t.Fatalf("resume after cancel: %v", err)
	}
	if n := f.tools["write"].(*fakeTool).count(); n != 0 {
		t.Fatalf("write ran %d times after the run was cancelled", n)
	}
	st, err := Reconstruct(ctx, f.j, f.id)
	if err != nil {
		t.Fatal(err)
	}
	if st.Run.Status != RunFinishedStatus || st.Run.Reason != StatusCancelled || len(st.Approvals) != 0 {
		t.Fatalf("run %+v approvals %+v", st.Run, st.Approvals)
	}
	for _, c := range st.Calls {
		if c.Status != CallFailed {
			t.Fatalf("call left open: %+v", c)
		}
	}
	if !strings.Contains(string(st.Document()), `"status":"cancelled"`) {
		t.Fatalf("doc %s", st.Document())
	}
	live, err := rt.State(ctx, f.id)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := live.Encode()
	b, _ := st.Encode()
	if string(a) != string(b) {
		t.Fatalf("live state differs from the replay:\n%s\n%s", a, b)
	}
	res, err = rt.Run(ctx, f.id, RunOptions{Input: "something else"})
	if err != nil || res.FinalAnswer != "next" {
		t.Fatalf("%+v %v", res, err)
	}
	// The model saw a result for every call.
	msgs := f.p.requests[len(f.p.requests)-1].Messages
	results := 0
	for _, m := range msgs {
		if m.Role == aios.RoleTool {
			results++
		}
	}
	if results != 2 {
		t.Fatalf("%d tool results in %+v", results, msgs)
	}
}

// A provider that reports no usage cannot take a run past its token
// budget: the runtime estimates the usage, and says so in the event.
func TestTokenBudgetWithoutReportedUsage(t *testing.T) {
	talk := reply{text: strings.Repeat("blah ", 80), calls: []aios.ToolCall{call("", "echo", `{}`)}} // no usage
	f := setup(t, nil, talk, talk, talk, talk, talk, talk)
	res, err := f.rt.Run(context.Background(), f.id, RunOptions{Input: "talk", Limits: &Limits{MaxTokens: 250}})
	if res.Status != StatusBudgetExceeded || !errors.Is(err, ErrBudgetExceeded) {
		t.Fatalf("%+v %v", res, err)
	}
	if n := f.tools["echo"].(*fakeTool).count(); n != 1 {
		t.Fatalf("tool ran %d times past a 250-token budget", n)
	}
	estimated := 0
	for _, e := range f.j.all(f.id) {
		if _, ok := e.Payload.(*aios.AssistantMessageCommitted); ok && e.Metadata[MetaUsageEstimated] == "true" {
			estimated++
		}
	}
	if estimated != 2 || res.Usage.TotalTokens < 250 {
		t.Fatalf("%d estimated messages, usage %+v", estimated, res.Usage)
	}
	// Without a budget nothing is estimated: the journal keeps what the
	// provider said.
	f = setup(t, nil, reply{text: "hi"})
	if res, err := f.rt.Run(context.Background(), f.id, RunOptions{Input: "x"}); err != nil || res.Usage.TotalTokens != 0 {
		t.Fatalf("%+v %v", res, err)
	}
}

// The transcript (what arcan replay prints) says how the last run ended
// when it did not answer, alike live and replayed.
func TestTranscriptTellsRunEnd(t *testing.T) {
	tests := []struct {
		name   string
		mod    func(*Config)
		replay []reply
		limits *Limits
		want   string
	}{
		{"answered", nil, []reply{{text: "fine"}}, nil, "assistant: fine\n"},
		{"failed", nil, []reply{{err: errors.New("model down")}}, nil, "[run failed: provider script: model down]\n"},
		{"waiting", func(c *Config) { c.Policy = fakePolicy{"write": aios.PolicyRequireApproval} },
			[]reply{{calls: []aios.ToolCall{call("w1", "write", `{"path":"x"}`)}}}, nil, "[waiting for approval: write {\"path\":\"x\"}]\n"},
		{"max iterations", nil, []reply{{calls: []aios.ToolCall{call("", "echo", `{}`)}}}, &Limits{MaxIterations: 1}, "[run ended: max_iterations]\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := setup(t, tc.mod, tc.replay...)
			ctx := context.Background()
			f.rt.Run(ctx, f.id, RunOptions{Input: "go", Limits: tc.limits})
			live, err := f.rt.State(ctx, f.id)
			if err != nil {
				t.Fatal(err)
			}
			replayed, err := Reconstruct(ctx, f.j, f.id)
			if err != nil {
				t.Fatal(err)
			}
			tr := replayed.Transcript()
			if live.Transcript() != tr || !strings.HasSuffix(tr, tc.want) {
				t.Fatalf("transcript:\n%s\nwant it to end with %q", tr, tc.want)
			}
		})
	}
}

// A run interrupted (the process is going away) is left unfinished with
// what it did journaled, and Resume in the next process finishes it; the
// calls it had not started yet run then, once.
func TestInterruptedRunResumes(t *testing.T) {
	slow := newTool("slow", aios.ToolAnnotations{})
	slow.block = make(chan struct{})
	f := setup(t, func(c *Config) { c.Tools.(fakeRegistry)["slow"] = slow },
		reply{calls: []aios.ToolCall{call("s1", "slow", `{}`), call("e1", "echo", `{}`)}},
		reply{text: "finished"},
	)
	ctx, cancel := context.WithCancelCause(context.Background())
	done := make(chan struct{})
	var res Result
	var err error
	go func() { defer close(done); res, err = f.rt.Run(ctx, f.id, RunOptions{Input: "go"}) }()
	for slow.count() == 0 {
		time.Sleep(time.Millisecond)
	}
	cancel(ErrInterrupted)
	<-done
	if res.Status != StatusInterrupted || !errors.Is(err, ErrInterrupted) {
		t.Fatalf("%+v %v", res, err)
	}
	st, _ := Reconstruct(context.Background(), f.j, f.id)
	if st.Run.Status != RunRunning {
		t.Fatalf("run %+v", st.Run)
	}
	slow.block = nil
	res, err = f.restart(t).Resume(context.Background(), f.id, RunOptions{})
	if err != nil || res.FinalAnswer != "finished" {
		t.Fatalf("%+v %v", res, err)
	}
	if slow.count() != 1 || f.tools["echo"].(*fakeTool).count() != 1 {
		t.Fatalf("slow ran %d, echo %d times", slow.count(), f.tools["echo"].(*fakeTool).count())
	}
}

// A tool call whose arguments are not a JSON object (malformed JSON from
// the model, an array) does not run, not even with empty arguments: the
// model gets an error it can correct, and the run goes on.
func TestMalformedToolArguments(t *testing.T) {
	f := setup(t, nil,
		reply{calls: []aios.ToolCall{call("c1", "echo", `{"path": `), call("c2", "echo", `[1]`), call("c3", "echo", `"x"`)}},
		reply{calls: []aios.ToolCall{call("c4", "echo", `{"path":"a"}`)}},
		reply{text: "fixed"},
	)
	res, err := f.rt.Run(context.Background(), f.id, RunOptions{Input: "go"})
	if err != nil || res.FinalAnswer != "fixed" {
		t.Fatalf("%+v %v", res, err)
	}
	if n := f.tools["echo"].(*fakeTool).count(); n != 1 {
		t.Fatalf("echo ran %d times, want only the well-formed call", n)
	}
	st, _ := Reconstruct(context.Background(), f.j, f.id)
	errs := 0
	for _, m := range st.Messages {
		if m.Role == aios.RoleTool && m.IsError && strings.Contains(m.Content, "must be a JSON object") {
			errs++
		}
		for _, c := range m.ToolCalls {
			if c.ID == "c1" && string(c.Arguments) != `"{\"path\": "` {
				t.Fatalf("malformed arguments not kept for the model: %s", c.Arguments)
			}
		}
	}
	if errs != 3 {
		t.Fatalf("%d refusals in\n%s", errs, st.Transcript())
	}
}
