package controller

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/autonomic/projection"
)

// Hub keeps the controller state of many streams. It is safe for concurrent
// use and implements [aios.Gate].
type Hub struct {
	c  *Controller
	mu sync.Mutex
	m  map[aios.StreamID]*Stream
}

// NewHub returns an empty hub over c.
func NewHub(c *Controller) *Hub { return &Hub{c: c, m: make(map[aios.StreamID]*Stream)} }

// Controller returns the hub's controller.
func (h *Hub) Controller() *Controller { return h.c }

func (h *Hub) stream(id aios.StreamID) *Stream {
	st, ok := h.m[id]
	if !ok {
		st = h.c.NewStream(id)
		h.m[id] = st
	}
	return st
}

// Apply folds e into its own stream (e.SessionID, e.BranchID) and returns
// the envelopes to journal for the changes it caused (see
// [Controller.Apply] and [Envelopes]).
func (h *Hub) Apply(e *aios.EventEnvelope) []aios.EventEnvelope {
	return h.ApplyTo(aios.StreamID{Session: e.SessionID, Branch: e.BranchID}, e)
}

// ApplyTo folds e into stream, which may differ from e's own: reading a
// forked branch yields its parent's events up to the fork point, and they
// belong to the branch's projection too.
func (h *Hub) ApplyTo(stream aios.StreamID, e *aios.EventEnvelope) []aios.EventEnvelope {
	h.mu.Lock()
	out := h.c.Apply(h.stream(stream), e)
	h.mu.Unlock()
	if len(out) == 0 {
		return nil
	}
	return Envelopes(stream, e, out)
}

// Seq returns the last seq folded for a stream, 0 for an unknown stream.
func (h *Hub) Seq(id aios.StreamID) uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	if st, ok := h.m[id]; ok {
		return st.State.Seq
	}
	return 0
}

// Decide returns the gating in force for a stream. A stream without events
// gets the decision of the empty projection (sovereign by default). It
// never blocks and never fails.
func (h *Hub) Decide(_ context.Context, id aios.StreamID) (aios.Gating, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if st, ok := h.m[id]; ok {
		return cloneGating(st.Gating), nil
	}
	return h.c.NewStream(id).Gating, nil
}

// View is the read model of one stream served by autonomicd.
type View struct {
	State  projection.State `json:"projection"`
	Gating aios.Gating      `json:"gating"`
	Rules  []RuleStatus     `json:"rules"`
}

// View returns a copy of a stream's projection, gating and rule positions.
func (h *Hub) View(id aios.StreamID) View {
	h.mu.Lock()
	defer h.mu.Unlock()
	st, ok := h.m[id]
	if !ok {
		st = h.c.NewStream(id)
	}
	v := View{State: *st.State, Gating: cloneGating(st.Gating), Rules: h.c.Status(st)}
	// Deep-copy what the fold mutates in place.
	v.State.Economic.Buckets = slices.Clone(v.State.Economic.Buckets)
	v.State.Operational.OpenRuns = cloneMap(v.State.Operational.OpenRuns)
	v.State.Operational.PendingDenials = cloneMap(v.State.Operational.PendingDenials)
	v.State.Cognitive.RunsWithUsage = cloneMap(v.State.Cognitive.RunsWithUsage)
	if r := v.State.Economic.RunwayHours; r != nil {
		x := *r
		v.State.Economic.RunwayHours = &x
	}
	return v
}

// Snapshot encodes a stream's state (see [Controller.Snapshot]).
func (h *Hub) Snapshot(id aios.StreamID) ([]byte, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.c.Snapshot(h.stream(id))
}

// Resume replaces a stream's state with a snapshot's.
func (h *Hub) Resume(id aios.StreamID, snapshot []byte) error {
	st, err := h.c.Resume(snapshot)
	if err != nil {
		return err
	}
	if st.State.Session != id.Session || st.State.Branch != id.Branch {
		return fmt.Errorf("%w: snapshot of %s/%s, not %s/%s", ErrSnapshot, st.State.Session, st.State.Branch, id.Session, id.Branch)
	}
	h.mu.Lock()
	h.m[id] = st
	h.mu.Unlock()
	return nil
}

// Streams lists the streams the hub holds.
func (h *Hub) Streams() []aios.StreamID {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]aios.StreamID, 0, len(h.m))
	for id := range h.m {
		out = append(out, id)
	}
	slices.SortFunc(out, func(a, b aios.StreamID) int {
		if a.Session != b.Session {
			if a.Session < b.Session {
				return -1
			}
			return 1
		}
		switch {
		case a.Branch < b.Branch:
			return -1
		case a.Branch > b.Branch:
			return 1
		}
		return 0
	})
	return out
}

func cloneGating(g aios.Gating) aios.Gating {
	g.Advice = slices.Clone(g.Advice)
	g.DeniedTools = slices.Clone(g.DeniedTools)
	g.Reasons = slices.Clone(g.Reasons)
	return g
}

func cloneMap[K comparable, V any](m map[K]V) map[K]V {
	if m == nil {
		return nil
	}
	out := make(map[K]V, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
