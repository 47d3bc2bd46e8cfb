package stack

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/arcan/runtime"
	"github.com/lifeos/life/vigil"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

func TestPolicyModes(t *testing.T) {
	reg, err := NewTools(t.TempDir(), "", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		mode, tool string
		want       aios.PolicyDecisionKind
	}{
		{ApproveAsk, "read_file", aios.PolicyAllow},
		{ApproveAsk, "write_file", aios.PolicyRequireApproval},
		{ApproveAuto, "write_file", aios.PolicyAllow},
		{ApproveDeny, "write_file", aios.PolicyDeny},
		{ApproveDeny, "list_dir", aios.PolicyAllow},
	}
	for _, tc := range tests {
		p, err := NewPolicy(tc.mode, reg)
		if err != nil {
			t.Fatal(err)
		}
		d, err := p.Evaluate(context.Background(), aios.PolicyRequest{ToolName: tc.tool, Arguments: json.RawMessage(`{}`)})
		if err != nil || d.Decision != tc.want {
			t.Errorf("%s %s: %+v %v, want %s", tc.mode, tc.tool, d, err, tc.want)
		}
	}
}

// With the embedded autonomic gate writing into the same streams, the live
// state still equals a replay of the journal, byte for byte.
func TestLiveEqualsReplayWithGate(t *testing.T) {
	ws := t.TempDir()
	os.WriteFile(filepath.Join(ws, "a.txt"), []byte("alpha"), 0o600)
	st, err := Open(Options{Home: t.TempDir(), Workspace: ws, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	id, err := st.Runtime.CreateSession(ctx, "gate", nil)
	if err != nil {
		t.Fatal(err)
	}
	stream := aios.StreamID{Session: id, Branch: runtime.DefaultBranch}
	for _, in := range []string{"list the files", "read a.txt", "hello", "list files again"} {
		if res, err := st.Runtime.Run(ctx, stream, runtime.RunOptions{Input: in}); err != nil || res.Status != runtime.StatusCompleted {
			t.Fatalf("%q: %+v %v", in, res, err)
		}
	}
	live, err := st.Runtime.State(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	replay, err := runtime.Reconstruct(ctx, st.Journal, stream)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := live.Encode()
	b, _ := replay.Encode()
	if string(a) != string(b) {
		t.Fatalf("live != replay\n%s\n%s", a, b)
	}
	var gateEvents int
	for e, err := range st.Journal.Read(ctx, aios.ReadQuery{Stream: stream}) {
		if err != nil {
			t.Fatal(err)
		}
		if c, ok := e.Payload.(aios.SubsystemEvent); ok && strings.HasPrefix(c.EventType(), "autonomic.") {
			gateEvents++
		}
	}
	if gateEvents == 0 {
		t.Fatal("the autonomic gate left no trace in the journal")
	}
	if _, err := Open(Options{Home: t.TempDir(), Gate: "ftp://x"}); err == nil {
		t.Fatal("bad gate accepted")
	}
}

// With telemetry on, a run yields vigil's spans: the chat call and the
// tool execution, tied to the run.
func TestTelemetrySpans(t *testing.T) {
	sr := tracetest.NewSpanRecorder()
	ws := t.TempDir()
	os.WriteFile(filepath.Join(ws, "a.txt"), []byte("alpha"), 0o600)
	st, err := Open(Options{Home: t.TempDir(), Workspace: ws, NoSync: true, Gate: "off", Telemetry: []vigil.Option{vigil.WithSpanProcessor(sr)}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	id, _ := st.Runtime.CreateSession(ctx, "otel", nil)
	if _, err := st.Runtime.Run(ctx, aios.StreamID{Session: id, Branch: runtime.DefaultBranch}, runtime.RunOptions{Input: "list the files"}); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range sr.Ended() {
		names = append(names, s.Name())
	}
	joined := strings.Join(names, ",")
	if !strings.Contains(joined, "chat") || !strings.Contains(joined, "execute_tool list_dir") {
		t.Fatalf("spans: %v", names)
	}
}
