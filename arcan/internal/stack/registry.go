package stack

import (
	"context"
	"fmt"

	"github.com/lifeos/life/aios"
)

// Registry is a fixed set of tools by name, in the order given.
// (praxis has no registry type yet; this is the smallest one that works.)
type Registry struct {
	order []string
	tools map[string]aios.Tool
}

// NewRegistry returns a registry of ts; a later tool with a taken name wins.
func NewRegistry(ts ...aios.Tool) *Registry {
	r := &Registry{tools: map[string]aios.Tool{}}
	for _, t := range ts {
		n := t.Spec().Name
		if _, ok := r.tools[n]; !ok {
			r.order = append(r.order, n)
		}
		r.tools[n] = t
	}
	return r
}

// Tool finds a tool.
func (r *Registry) Tool(name string) (aios.Tool, bool) { t, ok := r.tools[name]; return t, ok }

// Specs lists the tools' specs.
func (r *Registry) Specs() []aios.ToolSpec {
	out := make([]aios.ToolSpec, 0, len(r.order))
	for _, n := range r.order {
		out = append(out, r.tools[n].Spec())
	}
	return out
}

// Policy decides by the tool's annotations and the approval mode: read-only
// tools run; tools that change things follow the mode.
type Policy struct {
	mode string
	reg  aios.ToolRegistry
}

// NewPolicy returns the policy for mode (auto, ask, deny).
func NewPolicy(mode string, reg aios.ToolRegistry) *Policy { return &Policy{mode: mode, reg: reg} }

// Evaluate implements aios.PolicyGate.
func (p *Policy) Evaluate(_ context.Context, req aios.PolicyRequest) (aios.PolicyDecision, error) {
	t, ok := p.reg.Tool(req.ToolName)
	if !ok {
		return aios.PolicyDecision{Decision: aios.PolicyDeny, RuleID: "unknown-tool", Explanation: fmt.Sprintf("no tool %q", req.ToolName)}, nil
	}
	if t.Spec().Annotations.ReadOnly {
		return aios.PolicyDecision{Decision: aios.PolicyAllow, RuleID: "read-only"}, nil
	}
	switch p.mode {
	case ApproveAuto:
		return aios.PolicyDecision{Decision: aios.PolicyAllow, RuleID: "approve-auto"}, nil
	case ApproveDeny:
		return aios.PolicyDecision{Decision: aios.PolicyDeny, RuleID: "approve-deny", Explanation: "tools that change things are disabled"}, nil
	}
	return aios.PolicyDecision{Decision: aios.PolicyRequireApproval, RuleID: "approve-ask", Explanation: "this tool changes things: a person must approve"}, nil
}
