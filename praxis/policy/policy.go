// Package policy decides whether a tool call may run: per-tool and
// per-category rules (allow, deny, require_approval), and capability
// switches (exec, network, write, tools) that a homeostasis gate can turn
// off at run time. Gate implements aios.PolicyGate.
package policy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"slices"
	"sync"

	"github.com/lifeos/life/aios"
)

// Capabilities a gate can switch off.
const (
	CapExec    = "exec"    // tools of category exec (bash)
	CapNetwork = "network" // tools annotated OpenWorld
	CapWrite   = "write"   // tools not annotated ReadOnly
	CapTools   = "tools"   // every tool
)

var capabilities = []string{CapExec, CapNetwork, CapWrite, CapTools}

// Rule matches calls by tool name (a path.Match pattern, "" = any) and
// category ("" = any). The first matching rule decides.
type Rule struct {
	ID       string                  `json:"id"`
	Tool     string                  `json:"tool,omitempty"`
	Category string                  `json:"category,omitempty"`
	Decision aios.PolicyDecisionKind `json:"decision"`
	Reason   string                  `json:"reason,omitempty"`
}

// Config is a policy document.
type Config struct {
	Default aios.PolicyDecisionKind `json:"default,omitempty"` // allow when empty
	Rules   []Rule                  `json:"rules,omitempty"`
	// Deny switches capabilities off from the start.
	Deny []string `json:"deny_capabilities,omitempty"`
}

// ErrBadConfig is matched by every policy document error.
var ErrBadConfig = errors.New("policy: bad config")

// ParseConfig reads a JSON policy document strictly.
func ParseConfig(b []byte) (Config, error) {
	var c Config
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return Config{}, fmt.Errorf("%w: %v", ErrBadConfig, err)
	}
	if dec.More() {
		return Config{}, fmt.Errorf("%w: trailing data", ErrBadConfig)
	}
	return c, c.Validate()
}

// Validate checks decisions, patterns and capability names.
func (c Config) Validate() error {
	if c.Default != "" && !c.Default.Valid() {
		return fmt.Errorf("%w: default decision %q", ErrBadConfig, c.Default)
	}
	seen := map[string]bool{}
	for i, r := range c.Rules {
		if r.ID == "" || seen[r.ID] {
			return fmt.Errorf("%w: rule %d: id missing or repeated", ErrBadConfig, i)
		}
		seen[r.ID] = true
		if !r.Decision.Valid() {
			return fmt.Errorf("%w: rule %q: decision %q (want allow, deny or require_approval)", ErrBadConfig, r.ID, r.Decision)
		}
		if _, err := path.Match(r.Tool, ""); err != nil {
			return fmt.Errorf("%w: rule %q: tool pattern %q: %v", ErrBadConfig, r.ID, r.Tool, err)
		}
	}
	for _, c := range c.Deny {
		if !slices.Contains(capabilities, c) {
			return fmt.Errorf("%w: unknown capability %q (want one of %v)", ErrBadConfig, c, capabilities)
		}
	}
	return nil
}

// Gate is a policy gate; safe for concurrent use.
type Gate struct {
	specs aios.ToolRegistry // for annotations; may be nil

	mu     sync.RWMutex
	cfg    Config
	denied map[string]string // capability -> reason
	tools  map[string]string // tool -> reason (homeostasis denied_tools)
}

// NewGate makes a gate for cfg; specs, when set, supplies the annotations
// (category, read-only, open-world) of the tools being judged.
func NewGate(cfg Config, specs aios.ToolRegistry) (*Gate, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	g := &Gate{specs: specs, cfg: cfg, denied: map[string]string{}, tools: map[string]string{}}
	for _, c := range cfg.Deny {
		g.denied[c] = "denied by configuration"
	}
	return g, nil
}

// SetCapability switches a capability on or off, with a reason for denials.
func (g *Gate) SetCapability(capability string, allowed bool, reason string) error {
	if !slices.Contains(capabilities, capability) {
		return fmt.Errorf("policy: unknown capability %q", capability)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if allowed {
		delete(g.denied, capability)
	} else {
		g.denied[capability] = reason
	}
	return nil
}

// ApplyGating takes a homeostasis decision: shell, network and tools
// switches and the denied tool list replace the previous ones.
func (g *Gate) ApplyGating(gt aios.Gating) {
	g.mu.Lock()
	defer g.mu.Unlock()
	reason := "homeostasis"
	if len(gt.Reasons) > 0 {
		reason = fmt.Sprintf("homeostasis: %v", []string(gt.Reasons))
	}
	set := func(c string, allowed bool) {
		if allowed {
			delete(g.denied, c)
		} else {
			g.denied[c] = reason
		}
	}
	set(CapExec, gt.AllowShell)
	set(CapNetwork, gt.AllowNetwork)
	set(CapTools, gt.AllowTools)
	g.tools = map[string]string{}
	for _, t := range gt.DeniedTools {
		g.tools[t] = reason
	}
}

func deny(id, why string) aios.PolicyDecision {
	return aios.PolicyDecision{Decision: aios.PolicyDeny, RuleID: id, Explanation: why}
}

// Evaluate judges one call. Capability switches come first, then the
// denied-tools list, then the rules in order, then the default.
func (g *Gate) Evaluate(ctx context.Context, req aios.PolicyRequest) (aios.PolicyDecision, error) {
	if err := ctx.Err(); err != nil {
		return aios.PolicyDecision{}, err
	}
	var ann aios.ToolAnnotations
	if g.specs != nil {
		if t, ok := g.specs.Tool(req.ToolName); ok {
			ann = t.Spec().Annotations
		}
	}
	category := req.Category
	if category == "" {
		category = ann.Category
	}
	g.mu.RLock()
	defer g.mu.RUnlock()
	if why, ok := g.denied[CapTools]; ok {
		return deny("capability.tools", "tools are switched off: "+why), nil
	}
	if why, ok := g.denied[CapExec]; ok && category == "exec" {
		return deny("capability.exec", "command execution is switched off: "+why), nil
	}
	if why, ok := g.denied[CapNetwork]; ok && (ann.OpenWorld || category == "net") {
		return deny("capability.network", "network access is switched off: "+why), nil
	}
	if why, ok := g.denied[CapWrite]; ok && !ann.ReadOnly {
		return deny("capability.write", "writes are switched off: "+why), nil
	}
	if why, ok := g.tools[req.ToolName]; ok {
		return deny("gating.denied_tools", req.ToolName+" is denied: "+why), nil
	}
	for _, r := range g.cfg.Rules {
		if r.Category != "" && r.Category != category {
			continue
		}
		if r.Tool != "" {
			if m, _ := path.Match(r.Tool, req.ToolName); !m {
				continue
			}
		}
		return aios.PolicyDecision{Decision: r.Decision, RuleID: r.ID, Explanation: r.Reason}, nil
	}
	d := g.cfg.Default
	if d == "" {
		d = aios.PolicyAllow
	}
	return aios.PolicyDecision{Decision: d, RuleID: "default"}, nil
}

var _ aios.PolicyGate = (*Gate)(nil)
