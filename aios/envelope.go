package aios

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"
)

// CurrentSchemaVersion is the schema_version this package writes.
const CurrentSchemaVersion = 1

// EventEnvelope is one journal entry: the Lago envelope of the reference
// system. Keys on the wire, in order: event_id, session_id, branch_id,
// run_id?, seq, timestamp, parent_id?, payload, metadata, schema_version.
//
// Kernel-only fields (agent_id, actor, schema, trace_id, span_id, digest)
// travel in Metadata; use the accessors in metadata.go.
type EventEnvelope struct {
	EventID       string
	SessionID     string
	BranchID      string
	RunID         string // optional
	Seq           uint64 // assigned by the journal; 0 before append
	Timestamp     uint64 // microseconds since the Unix epoch
	ParentID      string // optional
	Payload       Payload
	Metadata      map[string]string
	SchemaVersion uint8

	// PayloadExtra holds keys of a known payload kind that the kind does not
	// define; they are written back after the kind's own fields.
	PayloadExtra map[string]json.RawMessage
}

// NewEnvelope returns an envelope for p on (session, branch) with a fresh
// ULID event id from ids and the clock's time in microseconds.
func NewEnvelope(ids IDGenerator, clock Clock, session, branch string, p Payload) EventEnvelope {
	return EventEnvelope{
		EventID:       ids.NewID(),
		SessionID:     session,
		BranchID:      branch,
		Timestamp:     Micros(clock.Now()),
		Payload:       p,
		Metadata:      map[string]string{},
		SchemaVersion: CurrentSchemaVersion,
	}
}

// Micros converts t to the envelope's timestamp unit.
func Micros(t time.Time) uint64 {
	if us := t.UnixMicro(); us > 0 {
		return uint64(us)
	}
	return 0
}

// Time converts the envelope's timestamp to a time.Time.
func (e *EventEnvelope) Time() time.Time { return time.UnixMicro(int64(e.Timestamp)) }

// MarshalJSON writes the envelope in wire order with the tagged payload.
// The envelope is written by hand around the payload's bytes: encoding/json
// would re-scan the payload to compact it, and this is every append's path.
func (e EventEnvelope) MarshalJSON() ([]byte, error) {
	payload, err := marshalPayload(e.Payload, e.PayloadExtra)
	if err != nil {
		return nil, fmt.Errorf("aios: encode event %s: %w", e.EventID, err)
	}
	b := make([]byte, 0, len(payload)+160+64*len(e.Metadata))
	b = append(b, `{"event_id":`...)
	b = appendString(b, e.EventID)
	b = append(b, `,"session_id":`...)
	b = appendString(b, e.SessionID)
	b = append(b, `,"branch_id":`...)
	b = appendString(b, e.BranchID)
	if e.RunID != "" {
		b = append(b, `,"run_id":`...)
		b = appendString(b, e.RunID)
	}
	b = append(b, `,"seq":`...)
	b = strconv.AppendUint(b, e.Seq, 10)
	b = append(b, `,"timestamp":`...)
	b = strconv.AppendUint(b, e.Timestamp, 10)
	if e.ParentID != "" {
		b = append(b, `,"parent_id":`...)
		b = appendString(b, e.ParentID)
	}
	b = append(b, `,"payload":`...)
	b = append(b, payload...)
	b = append(b, `,"metadata":{`...)
	keys := make([]string, 0, len(e.Metadata))
	for k := range e.Metadata {
		keys = append(keys, k)
	}
	slices.Sort(keys) // as Go writes maps, and as the fixtures write Rust's
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, k)
		b = append(b, ':')
		b = appendString(b, e.Metadata[k])
	}
	b = append(b, `},"schema_version":`...)
	b = strconv.AppendUint(b, uint64(e.SchemaVersion), 10)
	return append(b, '}'), nil
}

// envelopeFields is the decoding view of the wire form: required keys have
// no omitempty, and the payload is decoded separately.
type envelopeFields struct {
	EventID       string            `json:"event_id"`
	SessionID     string            `json:"session_id"`
	BranchID      string            `json:"branch_id"`
	RunID         string            `json:"run_id,omitempty"`
	Seq           uint64            `json:"seq,omitempty"`
	Timestamp     uint64            `json:"timestamp"`
	ParentID      string            `json:"parent_id,omitempty"`
	Payload       json.RawMessage   `json:"payload" aios:"raw"`
	Metadata      map[string]string `json:"metadata,omitempty"`
	SchemaVersion *uint8            `json:"schema_version,omitempty"`
}

// UnmarshalJSON decodes an envelope. Malformed input is a [*DecodeError];
// an unknown payload type is not an error (it becomes [*Unknown]). Unknown
// top-level keys are dropped, as the reference does.
func (e *EventEnvelope) UnmarshalJSON(raw []byte) error {
	return e.decode(raw, nil)
}

// Decoder decodes envelopes as [DecodeEnvelope] does, sharing the session,
// branch and run ids and metadata values that repeat from one envelope to
// the next instead of allocating them again: for reading a stream. Its zero
// value is ready; it is not safe for concurrent use.
type Decoder struct {
	session, branch, run string
	meta                 map[string]string // last value per metadata key
}

// maxSharedMeta bounds the metadata keys a Decoder remembers values of.
const maxSharedMeta = 16

// Decode decodes one envelope.
func (d *Decoder) Decode(raw []byte) (EventEnvelope, error) {
	var e EventEnvelope
	err := e.decode(raw, d)
	return e, err
}

func (e *EventEnvelope) decode(raw []byte, d *Decoder) error {
	var w envelopeFields
	var buf [16]member
	ms, err := objectMembers(raw, buf[:0])
	if err != nil {
		return &DecodeError{Type: "envelope", Err: err}
	}
	if !w.decodeFast(ms, d) {
		w = envelopeFields{}
		if _, err := decodeMembers(ms, &w, "envelope", ""); err != nil {
			return err
		}
	}
	p, extra, err := unmarshalPayload(w.Payload, true)
	if err != nil {
		return err
	}
	sv := uint8(CurrentSchemaVersion)
	if w.SchemaVersion != nil {
		sv = *w.SchemaVersion
	}
	if w.Metadata == nil {
		w.Metadata = map[string]string{}
	}
	*e = EventEnvelope{
		EventID: w.EventID, SessionID: w.SessionID, BranchID: w.BranchID, RunID: w.RunID,
		Seq: w.Seq, Timestamp: w.Timestamp, ParentID: w.ParentID, Payload: p,
		Metadata: w.Metadata, SchemaVersion: sv, PayloadExtra: extra,
	}
	return nil
}

// ErrInvalidEnvelope is matched by the errors of [EventEnvelope.Validate].
var ErrInvalidEnvelope = errors.New("aios: invalid envelope")

// Validate checks what a journal needs before it accepts an event: ids
// present, a timestamp, a payload that will decode again once written (enum
// values in their sets, extra keys apart from the kind's fields). It does not
// check Seq (the journal assigns it).
func (e *EventEnvelope) Validate() error {
	var problems []string
	if e.EventID == "" {
		problems = append(problems, "event_id is empty")
	}
	if e.SessionID == "" {
		problems = append(problems, "session_id is empty")
	}
	if e.BranchID == "" {
		problems = append(problems, "branch_id is empty")
	}
	if e.Timestamp == 0 {
		problems = append(problems, "timestamp is zero")
	}
	if u, ok := e.Payload.(*Unknown); ok && !isObject(u.Raw) {
		problems = append(problems, "unknown payload is not a JSON object")
	} else if err := checkPayload(e.Payload, e.PayloadExtra, false); err != nil {
		problems = append(problems, err.Error())
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w %s: %v", ErrInvalidEnvelope, e.EventID, problems)
	}
	return nil
}

// DecodeEnvelope decodes one envelope; every failure, including invalid JSON
// syntax, is a [*DecodeError].
func DecodeEnvelope(raw []byte) (EventEnvelope, error) {
	var e EventEnvelope
	err := e.UnmarshalJSON(raw)
	return e, err
}

// DecodeEnvelopes decodes a JSON array of envelopes (the conformance fixture
// and `lago import` format).
func DecodeEnvelopes(raw []byte) ([]EventEnvelope, error) {
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, &DecodeError{Type: "envelope array", Err: err}
	}
	if items == nil { // null: not an empty import but no array at all
		return nil, &DecodeError{Type: "envelope array", Err: errors.New("not a JSON array")}
	}
	out := make([]EventEnvelope, len(items))
	for i, item := range items {
		if err := out[i].UnmarshalJSON(item); err != nil {
			return nil, fmt.Errorf("event %d: %w", i, err)
		}
	}
	return out, nil
}

// CanonicalBytes is the envelope's compact JSON without the digest metadata
// key: the bytes a journal hashes for its chain.
func (e EventEnvelope) CanonicalBytes() ([]byte, error) {
	if _, ok := e.Metadata[MetaDigest]; ok {
		md := make(map[string]string, len(e.Metadata))
		for k, v := range e.Metadata {
			if k != MetaDigest {
				md[k] = v
			}
		}
		e.Metadata = md
	}
	return e.MarshalJSON()
}

// EncodeEnvelope is the envelope's compact wire form, without the HTML
// escaping that json.Marshal adds around a MarshalJSON method.
func EncodeEnvelope(e EventEnvelope) ([]byte, error) { return e.MarshalJSON() }
