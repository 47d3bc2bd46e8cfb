package runtime

import (
	"testing"

	"github.com/lifeos/life/aios"
)

// A call is inherited when its request was read from another branch (a
// fork's prefix comes from its parent, with the parent's branch id).
func TestCallInheritedFromAncestor(t *testing.T) {
	tests := []struct {
		eventBranch string
		want        bool
	}{
		{"b", false},
		{"main", true},
		{"", false}, // no branch id: not known to be another's
	}
	for _, tt := range tests {
		st := NewSessionState(aios.StreamID{Session: "s", Branch: "b"})
		st.Apply(aios.EventEnvelope{BranchID: tt.eventBranch, RunID: "r", Payload: &aios.RunStarted{}})
		st.Apply(aios.EventEnvelope{BranchID: tt.eventBranch, RunID: "r", Payload: &aios.ToolCallRequested{CallID: "c", ToolName: "t", Arguments: []byte(`{}`)}})
		if len(st.Calls) != 1 || st.Calls[0].Inherited != tt.want {
			t.Errorf("event on %q: %+v, want inherited %v", tt.eventBranch, st.Calls, tt.want)
		}
	}
}
