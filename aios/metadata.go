package aios

import "encoding/json"

// Metadata keys for the kernel-only fields, as the reference's kernel-to-journal
// bridge writes them.
const (
	MetaAgentID       = "agent_id"
	MetaActor         = "actor"  // JSON text: {"type":"system","component":"arcan-daemon"}
	MetaSchema        = "schema" // JSON text: {"name":"aios-protocol","version":"0.1.0"}
	MetaTraceID       = "trace_id"
	MetaSpanID        = "span_id"
	MetaDigest        = "digest"
	MetaCorrelationID = "correlation_id"
)

// Actor says who caused an event.
type Actor struct {
	Type      ActorType `json:"type"`
	Component string    `json:"component,omitempty"`
}

// EventSchema names the schema an event was written against.
type EventSchema struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

func (e *EventEnvelope) meta(k string) string { return e.Metadata[k] }

func (e *EventEnvelope) setMeta(k, v string) {
	if e.Metadata == nil {
		e.Metadata = map[string]string{}
	}
	if v == "" {
		delete(e.Metadata, k)
		return
	}
	e.Metadata[k] = v
}

// AgentID returns the agent_id metadata.
func (e *EventEnvelope) AgentID() string { return e.meta(MetaAgentID) }

// SetAgentID sets (or, with "", clears) the agent_id metadata.
func (e *EventEnvelope) SetAgentID(id string) { e.setMeta(MetaAgentID, id) }

// TraceID returns the trace_id metadata (W3C hex).
func (e *EventEnvelope) TraceID() string { return e.meta(MetaTraceID) }

// SpanID returns the span_id metadata (W3C hex).
func (e *EventEnvelope) SpanID() string { return e.meta(MetaSpanID) }

// SetTrace sets the trace_id and span_id metadata.
func (e *EventEnvelope) SetTrace(traceID, spanID string) {
	e.setMeta(MetaTraceID, traceID)
	e.setMeta(MetaSpanID, spanID)
}

// Digest returns the journal's hash-chain digest of this event.
func (e *EventEnvelope) Digest() string { return e.meta(MetaDigest) }

// SetDigest sets the digest metadata.
func (e *EventEnvelope) SetDigest(d string) { e.setMeta(MetaDigest, d) }

// Actor decodes the actor metadata; ok is false when absent or malformed
// (the reference requires the type).
func (e *EventEnvelope) Actor() (a Actor, ok bool) {
	s := e.meta(MetaActor)
	if s == "" || json.Unmarshal([]byte(s), &a) != nil || !a.Type.Valid() {
		return Actor{}, false
	}
	return a, true
}

// SetActor writes the actor metadata as JSON text, as serde_json writes it
// (no HTML escaping).
func (e *EventEnvelope) SetActor(a Actor) {
	b, _ := marshalNoEscape(a) // a string enum and a string: cannot fail
	e.setMeta(MetaActor, string(b))
}

// Schema decodes the schema metadata; ok is false when absent or malformed.
func (e *EventEnvelope) Schema() (s EventSchema, ok bool) {
	v := e.meta(MetaSchema)
	if v == "" || json.Unmarshal([]byte(v), &s) != nil {
		return EventSchema{}, false
	}
	return s, true
}

// SetSchema writes the schema metadata as JSON text.
func (e *EventEnvelope) SetSchema(s EventSchema) {
	b, _ := marshalNoEscape(s)
	e.setMeta(MetaSchema, string(b))
}
