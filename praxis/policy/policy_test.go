package policy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/lifeos/life/aios"
)

type fakeTool struct{ spec aios.ToolSpec }

func (f fakeTool) Spec() aios.ToolSpec { return f.spec }
func (f fakeTool) Call(context.Context, json.RawMessage) (aios.ToolResult, error) {
	return aios.ToolResult{}, nil
}

// fakeRegistry is a unit-test registry of annotated no-op tools.
type fakeRegistry map[string]aios.ToolAnnotations

func (r fakeRegistry) Tool(name string) (aios.Tool, bool) {
	a, ok := r[name]
	return fakeTool{aios.ToolSpec{Name: name, Annotations: a}}, ok
}
func (r fakeRegistry) Specs() []aios.ToolSpec { return nil }

var reg = fakeRegistry{
	"read_file":  {ReadOnly: true, Category: "fs"},
	"write_file": {Category: "fs"},
	"bash":       {Category: "exec", OpenWorld: true},
	"web_fetch":  {ReadOnly: true, OpenWorld: true, Category: "net"},
	"mcp__x":     {ReadOnly: true, Category: "mcp"},
}

func TestEvaluate(t *testing.T) {
	cfg, err := ParseConfig([]byte(`{"default":"allow","rules":[
		{"id":"no-rm","tool":"bash","decision":"require_approval","reason":"shell needs a human"},
		{"id":"mcp-deny","tool":"mcp__*","decision":"deny"},
		{"id":"fs-ok","category":"fs","decision":"allow"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	g, err := NewGate(cfg, reg)
	if err != nil {
		t.Fatal(err)
	}
	type step struct {
		setup    func()
		tool     string
		decision aios.PolicyDecisionKind
		rule     string
	}
	steps := []step{
		{nil, "read_file", aios.PolicyAllow, "fs-ok"},
		{nil, "bash", aios.PolicyRequireApproval, "no-rm"},
		{nil, "mcp__x", aios.PolicyDeny, "mcp-deny"},
		{nil, "unknown", aios.PolicyAllow, "default"},
		{func() { _ = g.SetCapability(CapExec, false, "load shedding") }, "bash", aios.PolicyDeny, "capability.exec"},
		{nil, "read_file", aios.PolicyAllow, "fs-ok"},
		{func() { _ = g.SetCapability(CapExec, true, "") }, "bash", aios.PolicyRequireApproval, "no-rm"},
		{func() { _ = g.SetCapability(CapWrite, false, "read-only mode") }, "write_file", aios.PolicyDeny, "capability.write"},
		{nil, "read_file", aios.PolicyAllow, "fs-ok"},
		{func() { _ = g.SetCapability(CapWrite, true, "") }, "write_file", aios.PolicyAllow, "fs-ok"},
		{func() {
			gt := aios.OpenGating()
			gt.AllowNetwork = false
			gt.DeniedTools = aios.Strings{"write_file"}
			g.ApplyGating(gt)
		}, "web_fetch", aios.PolicyDeny, "capability.network"},
		{nil, "write_file", aios.PolicyDeny, "gating.denied_tools"},
		{nil, "read_file", aios.PolicyAllow, "fs-ok"},
		{func() { g.ApplyGating(aios.Gating{AllowShell: true, AllowNetwork: true}) }, "read_file", aios.PolicyDeny, "capability.tools"},
		{func() { g.ApplyGating(aios.OpenGating()) }, "write_file", aios.PolicyAllow, "fs-ok"},
	}
	for i, s := range steps {
		if s.setup != nil {
			s.setup()
		}
		d, err := g.Evaluate(t.Context(), aios.PolicyRequest{ToolName: s.tool})
		if err != nil || d.Decision != s.decision || d.RuleID != s.rule {
			t.Fatalf("step %d (%s): %+v %v; want %s by %s", i, s.tool, d, err, s.decision, s.rule)
		}
	}
	// The category in the request wins over the annotation.
	d, _ := g.Evaluate(t.Context(), aios.PolicyRequest{ToolName: "other", Category: "fs"})
	if d.RuleID != "fs-ok" {
		t.Fatalf("category from request: %+v", d)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := g.Evaluate(ctx, aios.PolicyRequest{ToolName: "bash"}); !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	if err := g.SetCapability("teleport", false, ""); err == nil {
		t.Fatal("unknown capability accepted")
	}
}

func TestParseConfigErrors(t *testing.T) {
	for _, bad := range []string{
		``, `[]`, `{"default":"maybe"}`, `{"rules":[{"decision":"allow"}]}`,
		`{"rules":[{"id":"a","decision":"allow"},{"id":"a","decision":"deny"}]}`,
		`{"rules":[{"id":"a","decision":"perhaps"}]}`, `{"rules":[{"id":"a","tool":"[","decision":"deny"}]}`,
		`{"deny_capabilities":["teleport"]}`, `{"extra":1}`, `{} {}`,
	} {
		if _, err := ParseConfig([]byte(bad)); !errors.Is(err, ErrBadConfig) {
			t.Fatalf("ParseConfig(%s) = %v", bad, err)
		}
	}
	c, err := ParseConfig([]byte(`{"deny_capabilities":["exec"]}`))
	if err != nil {
		t.Fatal(err)
	}
	g, _ := NewGate(c, reg)
	if d, _ := g.Evaluate(t.Context(), aios.PolicyRequest{ToolName: "bash"}); d.Decision != aios.PolicyDeny {
		t.Fatalf("configured capability denial: %+v", d)
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(`{"default":"deny","rules":[{"id":"a","tool":"read_*","decision":"allow"}],"deny_capabilities":["network"]}`))
	f.Add([]byte(`{"rules":[{"id":"a","category":"exec","decision":"require_approval"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseConfig(b)
		if err != nil {
			if !errors.Is(err, ErrBadConfig) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		g, err := NewGate(c, reg)
		if err != nil {
			t.Fatalf("valid config rejected by NewGate: %v", err)
		}
		for name := range reg {
			d, err := g.Evaluate(context.Background(), aios.PolicyRequest{ToolName: name})
			if err != nil || !d.Decision.Valid() {
				t.Fatalf("evaluate %s: %+v %v", name, d, err)
			}
		}
	})
}

func ExampleGate() {
	cfg := Config{Rules: []Rule{{ID: "shell-approval", Category: "exec", Decision: aios.PolicyRequireApproval}}}
	g, _ := NewGate(cfg, nil)
	d, _ := g.Evaluate(context.Background(), aios.PolicyRequest{ToolName: "bash", Category: "exec"})
	fmt.Println(d.Decision, d.RuleID)
	_ = g.SetCapability(CapExec, false, "budget exhausted")
	d, _ = g.Evaluate(context.Background(), aios.PolicyRequest{ToolName: "bash", Category: "exec"})
	fmt.Println(d.Decision, d.RuleID)
	// Output:
	// require_approval shell-approval
	// deny capability.exec
}
