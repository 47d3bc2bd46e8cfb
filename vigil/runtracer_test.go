package vigil

import (
	"context"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/lifeos/life/aios"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

func tracetestRecorder() *tracetest.SpanRecorder { return tracetest.NewSpanRecorder() }

// TestRunTracerTrees feeds event sequences in the orders runtimes journal
// them and checks the tree: each span as "name<parent".
func TestRunTracerTrees(t *testing.T) {
	run := &aios.RunStarted{Provider: "mock"}
	ph := func(p aios.LoopPhase) aios.Payload { return &aios.PhaseEntered{Phase: p} }
	step := func(i uint32) aios.Payload { return &aios.StepStarted{Index: i} }
	stepEnd := func(i uint32) aios.Payload { return &aios.StepFinished{Index: i, StopReason: "end_turn"} }
	done := &aios.RunFinished{Reason: "completed"}
	tests := []struct {
		name   string
		events []aios.Payload
		want   []string
		failed []string // the spans ending with an error status
	}{
		{
			name:   "phase then step (arcan's order)",
			events: []aios.Payload{run, ph(aios.PhasePerceive), ph(aios.PhaseGate), ph(aios.PhaseDeliberate), step(0), stepEnd(0), ph(aios.PhaseExecute), ph(aios.PhaseReflect), ph(aios.PhaseDeliberate), step(1), stepEnd(1), ph(aios.PhaseCommit), done},
			want: []string{"commit<invoke_agent", "deliberate<invoke_agent", "deliberate<invoke_agent", "execute<invoke_agent", "gate<invoke_agent",
				"invoke_agent<", "perceive<invoke_agent", "reflect<invoke_agent", "step 0<deliberate", "step 1<deliberate"},
		},
		{
			name:   "step then phases",
			events: []aios.Payload{run, step(0), ph(aios.PhasePerceive), ph(aios.PhaseDeliberate), stepEnd(0), ph(aios.PhaseCommit), done},
			want:   []string{"commit<invoke_agent", "deliberate<step 0", "invoke_agent<", "perceive<step 0", "step 0<invoke_agent"},
		},
		{
			name:   "step without finish is closed by the next step and the run",
			events: []aios.Payload{run, step(0), step(1), done},
			want:   []string{"invoke_agent<", "step 0<invoke_agent", "step 1<invoke_agent"},
		},
		{
			name:   "errored run closes everything",
			events: []aios.Payload{run, ph(aios.PhaseDeliberate), step(0), &aios.RunErrored{Error: "boom"}},
			want:   []string{"deliberate<invoke_agent", "invoke_agent<", "step 0<deliberate"},
			failed: []string{"deliberate", "invoke_agent", "step 0"},
		},
		{
			name:   "cancelled run fails what it interrupts",
			events: []aios.Payload{run, step(0), ph(aios.PhaseExecute), &aios.RunFinished{Reason: "cancelled", TotalIterations: 1}},
			want:   []string{"execute<step 0", "invoke_agent<", "step 0<invoke_agent"},
			failed: []string{"execute", "invoke_agent", "step 0"},
		},
		{
			name:   "max iterations is not a failure",
			events: []aios.Payload{run, step(0), &aios.RunFinished{Reason: "max_iterations", TotalIterations: 1}},
			want:   []string{"invoke_agent<", "step 0<invoke_agent"},
		},
		{
			name:   "new run supersedes an open one",
			events: []aios.Payload{run, ph(aios.PhaseExecute), run, done},
			want:   []string{"execute<invoke_agent", "invoke_agent<", "invoke_agent<"},
			failed: []string{"execute", "invoke_agent"},
		},
		{
			name:   "session closed ends the run",
			events: []aios.Payload{run, ph(aios.PhaseExecute), &aios.SessionClosed{Reason: "bye"}},
			want:   []string{"execute<invoke_agent", "invoke_agent<"},
		},
		{
			name:   "phases without a run",
			events: []aios.Payload{ph(aios.PhaseSleep), ph(aios.PhasePerceive)},
			want:   []string{"sleep<"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Config{})
			ids := aios.NewULIDGenerator(nil, nil)
			for _, p := range tt.events {
				env := aios.NewEnvelope(ids, aios.SystemClock{}, "s", "main", p)
				h.tel.Runs().Observe(context.Background(), env)
			}
			spans := h.rec.Ended()
			idx := byID(spans)
			var got []string
			for _, s := range spans {
				parent := ""
				if p, ok := idx[s.Parent().SpanID()]; ok {
					parent = p.Name()
				}
				got = append(got, strings.ReplaceAll(s.Name()+"<"+parent, "invoke_agent tester", "invoke_agent"))
			}
			sort.Strings(got)
			if strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Errorf("tree\n got  %v\n want %v", got, tt.want)
			}
			var failed []string
			for _, s := range spans {
				if s.Status().Code == codes.Error {
					failed = append(failed, strings.TrimSuffix(s.Name(), " tester"))
				}
			}
			sort.Strings(failed)
			if strings.Join(failed, " ") != strings.Join(tt.failed, " ") {
				t.Errorf("failed spans %v, want %v", failed, tt.failed)
			}
			for _, s := range spans {
				if s.EndTime().Before(s.StartTime()) {
					t.Errorf("%s ends before it starts", s.Name())
				}
			}
		})
	}
}

func TestRunTracerSpanEvents(t *testing.T) {
	h := newHarness(t, Config{})
	ids := aios.NewULIDGenerator(nil, nil)
	for _, p := range []aios.Payload{
		&aios.RunStarted{Provider: "mock"},
		&aios.PhaseEntered{Phase: aios.PhaseExecute},
		&aios.PolicyEvaluated{ToolName: "bash", Decision: aios.PolicyDeny, RuleID: "no-shell"},
		&aios.SandboxViolation{SandboxID: "ws", ViolationType: "path_escape", Details: "../x"},
		&aios.ModeChanged{From: aios.ModeExplore, To: aios.ModeRecover, Reason: "errors"},
		&aios.ErrorRaised{Message: "boom"},
		&aios.RunFinished{Reason: "completed"},
	} {
		h.tel.Runs().Observe(context.Background(), aios.NewEnvelope(ids, aios.SystemClock{}, "s", "main", p))
	}
	var got []string
	for _, e := range one(t, h.rec.Ended(), "execute").Events() {
		got = append(got, e.Name)
	}
	if strings.Join(got, ",") != "policy_evaluated,sandbox_violation,mode_changed,error_raised" {
		t.Errorf("span events %v", got)
	}
}

// TestRunTracerTimesByEvents checks that live spans take the events' times
// when those are near the wall clock, and the observation time otherwise.
func TestRunTracerTimesByEvents(t *testing.T) {
	h := newHarness(t, Config{})
	now := time.Now()
	mk := func(p aios.Payload, at time.Time) aios.EventEnvelope {
		return aios.EventEnvelope{EventID: "e", SessionID: "s", BranchID: "main", Timestamp: aios.Micros(at), Payload: p, SchemaVersion: 1}
	}
	h.tel.Runs().Observe(context.Background(), mk(&aios.RunStarted{}, now.Add(-30*time.Millisecond)))
	h.tel.Runs().Observe(context.Background(), mk(&aios.PhaseEntered{Phase: aios.PhaseGate}, now.Add(-20*time.Millisecond)))
	h.tel.Runs().Observe(context.Background(), mk(&aios.PhaseEntered{Phase: aios.PhaseDeliberate}, now.Add(-5*time.Millisecond)))
	h.tel.Runs().Observe(context.Background(), mk(&aios.RunFinished{Reason: "completed"}, now))
	gate := one(t, h.rec.Ended(), "gate")
	if d := gate.EndTime().Sub(gate.StartTime()); d < 14*time.Millisecond || d > 16*time.Millisecond {
		t.Errorf("gate lasted %v, want the 15ms between its events", d)
	}
	// A clock that steps back does not end a span before it starts.
	h3 := newHarness(t, Config{})
	h3.tel.Runs().Observe(context.Background(), mk(&aios.RunStarted{}, now.Add(-10*time.Millisecond)))
	h3.tel.Runs().Observe(context.Background(), mk(&aios.PhaseEntered{Phase: aios.PhaseGate}, now.Add(-20*time.Millisecond)))
	h3.tel.Runs().Observe(context.Background(), mk(&aios.RunFinished{Reason: "completed"}, now.Add(-30*time.Millisecond)))
	for _, s := range h3.rec.Ended() {
		if s.EndTime().Before(s.StartTime()) {
			t.Errorf("%s ends %v before it starts", s.Name(), s.StartTime().Sub(s.EndTime()))
		}
	}
	// A fake clock far in the past is not trusted.
	h2 := newHarness(t, Config{})
	before := time.Now()
	h2.tel.Runs().Observe(context.Background(), mk(&aios.RunStarted{}, time.Unix(1000, 0)))
	h2.tel.Runs().Observe(context.Background(), mk(&aios.RunFinished{}, time.Unix(2000, 0)))
	if run := one(t, h2.rec.Ended(), "invoke_agent tester"); run.StartTime().Before(before) {
		t.Errorf("run started at the fake clock's %v", run.StartTime())
	}
}

// FuzzReplay replays arbitrary journal input: events in any order, with any
// trace metadata. Replay must never panic and must close every span it
// opens.
func FuzzReplay(f *testing.F) {
	f.Add([]byte(`[{"event_id":"a","session_id":"s","branch_id":"b","seq":1,"timestamp":1700000000000000,"payload":{"type":"RunStarted","provider":"mock","max_iterations":2},"metadata":{"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7"},"schema_version":1},
	{"event_id":"b","session_id":"s","branch_id":"b","seq":2,"timestamp":1700000000000100,"payload":{"type":"PhaseEntered","phase":"deliberate"},"metadata":{},"schema_version":1},
	{"event_id":"c","session_id":"s","branch_id":"b","seq":3,"timestamp":1700000000000200,"payload":{"type":"ToolCallCompleted","tool_run_id":"r","tool_name":"t","result":{},"duration_ms":5,"status":"ok"},"metadata":{"trace_id":"zz"},"schema_version":1},
	{"event_id":"d","session_id":"s","branch_id":"b","seq":4,"timestamp":1,"payload":{"type":"RunFinished","reason":"completed","total_iterations":1},"metadata":{},"schema_version":1}]`))
	f.Add([]byte(`[{"event_id":"a","session_id":"s","branch_id":"b","seq":1,"timestamp":5,"payload":{"type":"StepFinished","index":0,"stop_reason":"x","directive_count":0},"metadata":{},"schema_version":1}]`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		events, err := aios.DecodeEnvelopes(raw)
		if err != nil {
			return
		}
		rec := tracetestRecorder()
		tel, err := New(context.Background(), Config{}, WithSpanProcessor(rec))
		if err != nil {
			t.Fatal(err)
		}
		seq := func(yield func(aios.EventEnvelope, error) bool) {
			for _, e := range events {
				if !yield(e, nil) {
					return
				}
			}
		}
		if err := tel.Runs().Replay(context.Background(), seq); err != nil {
			t.Fatal(err)
		}
		if s, e := len(rec.Started()), len(rec.Ended()); s != e {
			t.Fatalf("%d spans started, %d ended", s, e)
		}
		for _, s := range rec.Ended() {
			if s.EndTime().Before(s.StartTime()) {
				t.Fatalf("%s ends at %v, before its start %v", s.Name(), s.EndTime(), s.StartTime())
			}
		}
	})
}

func FuzzSpanContextFromEvent(f *testing.F) {
	f.Add("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7")
	f.Add("00000000000000000000000000000000", "0000000000000000")
	f.Add("4BF92F3577B34DA6A3CE929D0E0E4736", "xyz")
	f.Fuzz(func(t *testing.T, tid, sid string) {
		env := aios.EventEnvelope{Metadata: map[string]string{aios.MetaTraceID: tid, aios.MetaSpanID: sid}}
		sc, ok := SpanContextFromEvent(env)
		if !ok {
			return
		}
		if !sc.IsValid() || sc.TraceID().String() != strings.ToLower(tid) || sc.SpanID().String() != strings.ToLower(sid) {
			t.Fatalf("accepted %q/%q as %s/%s", tid, sid, sc.TraceID(), sc.SpanID())
		}
	})
}
