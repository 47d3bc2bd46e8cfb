package stack

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/lifeos/life/aios"
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
