package praxis

import (
	"errors"
	"fmt"
	"regexp"
	"sync"

	"github.com/lifeos/life/aios"
)

// ErrDuplicateTool is matched when a name is registered twice.
var ErrDuplicateTool = errors.New("praxis: tool already registered")

// toolName is what MCP and the providers accept as a tool name.
var toolName = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,128}$`)

// Registry holds tools by name, in registration order; safe for concurrent
// use. It implements aios.ToolRegistry.
type Registry struct {
	mu    sync.RWMutex
	tools map[string]aios.Tool
	order []string
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{tools: map[string]aios.Tool{}} }

// Register adds tools; a bad or repeated name fails the whole call.
func (r *Registry) Register(ts ...aios.Tool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	seen := map[string]bool{}
	for _, t := range ts {
		name := t.Spec().Name
		if !toolName.MatchString(name) {
			return fmt.Errorf("praxis: bad tool name %q (want %s)", name, toolName)
		}
		if _, dup := r.tools[name]; dup || seen[name] {
			return fmt.Errorf("%w: %q", ErrDuplicateTool, name)
		}
		seen[name] = true
	}
	for _, t := range ts {
		name := t.Spec().Name
		r.tools[name] = t
		r.order = append(r.order, name)
	}
	return nil
}

// Remove drops a tool; it reports whether it was there.
func (r *Registry) Remove(name string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.tools[name]; !ok {
		return false
	}
	delete(r.tools, name)
	for i, n := range r.order {
		if n == name {
			r.order = append(r.order[:i:i], r.order[i+1:]...)
			break
		}
	}
	return true
}

// Tool finds a tool by name.
func (r *Registry) Tool(name string) (aios.Tool, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	t, ok := r.tools[name]
	return t, ok
}

// Specs lists every tool's spec in registration order.
func (r *Registry) Specs() []aios.ToolSpec {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]aios.ToolSpec, 0, len(r.order))
	for _, n := range r.order {
		out = append(out, r.tools[n].Spec())
	}
	return out
}

var _ aios.ToolRegistry = (*Registry)(nil)
