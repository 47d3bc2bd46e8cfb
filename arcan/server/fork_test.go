package server

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/arcan/runtime"
)

// A branch forked in the middle of a run inherits the unfinished run; its
// resume must never run a tool call requested before the fork point (the
// parent runs it, or has): the call is answered "not run on this branch"
// and the run goes on with the model.
func TestForkMidRunNeverRepeatsACall(t *testing.T) {
	tests := []struct {
		name  string
		input string
		// forkAt picks the fork point among main's events.
		forkAt func(evs []aios.EventEnvelope) uint64
		// signal sent to the child: "" for the resume at a daemon's start
		signal string
	}{
		{"requested, not started", "list the files", seqOf[*aios.ToolCallRequested], ""},
		{"started, not completed", "list the files", seqOf[*aios.ToolCallStarted], ""},
		{"waiting for approval, approved on the child", "write once", last, "approve"},
		{"waiting for approval, resumed on the child", "write once", last, "resume"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, nil)
			id := e.session(t)
			main := aios.StreamID{Session: id, Branch: "main"}
			if resp, raw := e.do(t, "POST", "/v1/sessions/"+id+"/runs", `{"input":"`+tt.input+`"}`); resp.StatusCode != 200 {
				t.Fatalf("%d %s", resp.StatusCode, raw)
			}
			at := tt.forkAt(readAll(t, e.j, main))
			child := fmt.Sprintf("b%d", i)
			if resp, raw := e.do(t, "POST", "/v1/sessions/"+id+"/branches", fmt.Sprintf(`{"name":%q,"at":%d}`, child, at)); resp.StatusCode != 201 {
				t.Fatalf("%d %s", resp.StatusCode, raw)
			}
			cs := aios.StreamID{Session: id, Branch: child}
			st, _ := runtime.Reconstruct(context.Background(), e.j, cs)
			if st.Run == nil || st.Run.Status == runtime.RunFinishedStatus || len(st.Calls) != 1 || !st.Calls[0].Inherited {
				t.Fatalf("child state: %+v %+v", st.Run, st.Calls)
			}
			if tt.signal != "" {
				approval := st.Approvals[0].ApprovalID
				if resp, raw := e.do(t, "POST", "/v1/sessions/"+id+"/signals?branch="+child, `{"type":"`+tt.signal+`","approval_id":"`+approval+`"}`); resp.StatusCode/100 != 2 {
					t.Fatalf("%d %s", resp.StatusCode, raw)
				}
			} else if n, err := e.srv.ResumeInterrupted(context.Background()); n != 1 || err != nil {
				t.Fatalf("resumed %d %v", n, err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := e.srv.Drain(ctx); err != nil {
				t.Fatal(err)
			}
			var notRun int
			for _, ev := range readAll(t, e.j, cs) {
				if ev.BranchID != child {
					continue // inherited
				}
				switch p := ev.Payload.(type) {
				case *aios.ToolCallStarted:
					t.Fatalf("the child ran %s, a call requested before its fork", p.ToolName)
				case *aios.ToolCallFailed:
					if strings.Contains(p.Error, "not run on this branch") {
						notRun++
					}
				}
			}
			st, _ = runtime.Reconstruct(context.Background(), e.j, cs)
			if notRun != 1 || st.Run.Status != runtime.RunFinishedStatus || st.Run.Reason != runtime.StatusCompleted {
				t.Fatalf("%d calls answered not run; run %+v", notRun, st.Run)
			}
			if len(st.Approvals) != 0 {
				t.Fatalf("approvals left pending on the child: %+v", st.Approvals)
			}
			if tt.signal != "" {
				if _, err := os.Stat(filepath.Join(e.ws, "out.txt")); !os.IsNotExist(err) {
					t.Fatalf("the write ran on the child: %v", err)
				}
			}
		})
	}
}

func last(evs []aios.EventEnvelope) uint64 { return evs[len(evs)-1].Seq }

func readAll(t *testing.T, j aios.Journal, st aios.StreamID) []aios.EventEnvelope {
	t.Helper()
	var out []aios.EventEnvelope
	for e, err := range j.Read(context.Background(), aios.ReadQuery{Stream: st}) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

// seqOf is the seq of the first event with a payload of type P.
func seqOf[P aios.Payload](evs []aios.EventEnvelope) uint64 {
	for _, e := range evs {
		if _, ok := e.Payload.(P); ok {
			return e.Seq
		}
	}
	panic(fmt.Sprintf("no %T event", *new(P)))
}
