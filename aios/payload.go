package aios

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Custom is the catch-all payload kind: subsystem events whose event_type this
// package has no struct for, written as {"type":"Custom","event_type":...,"data":...}.
type Custom struct {
	EventType string          `json:"event_type"`
	Data      json.RawMessage `json:"data"`
}

// Type returns "Custom".
func (*Custom) Type() string { return "Custom" }

// Unknown is a payload whose "type" this package does not know. It keeps the
// whole payload object verbatim and re-encodes to it, so a newer writer's
// events survive a round trip through an older reader. (The reference rewrites
// such payloads into Custom; Unknown reads that wrapper too, as Custom.)
type Unknown struct {
	TypeName string          // the "type" value, "" when the key is absent
	Raw      json.RawMessage // the whole payload object, compacted
}

// Type returns the original "type" value.
func (u *Unknown) Type() string { return u.TypeName }

// SubsystemEvent is a typed subsystem event (anima.*, finance.*,
// autonomic.*, ...). It encodes as a Custom payload whose data is the struct;
// its fields are declared in sorted key order because Rust writes free JSON
// with sorted keys.
type SubsystemEvent interface {
	Payload
	EventType() string
}

// MarshalPayload writes p in its tagged wire form.
func MarshalPayload(p Payload) ([]byte, error) { return marshalPayload(p, nil) }

func marshalPayload(p Payload, extra map[string]json.RawMessage) ([]byte, error) {
	if err := checkPayload(p, extra, true); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidEnvelope, err)
	}
	if _, ok := p.(*StatePatchCommitted); ok {
		b, err := encodeTagged("type", p.Type(), p, extra)
		if err != nil {
			// ops and provenance refuse to encode what they could not decode
			return nil, fmt.Errorf("%w: StatePatchCommitted field patch: %w", ErrInvalidEnvelope, err)
		}
		return b, nil
	}
	switch v := p.(type) {
	case *Unknown:
		if len(v.Raw) == 0 {
			return nil, errors.New("aios: Unknown payload without raw JSON")
		}
		return compactJSON(v.Raw), nil
	case SubsystemEvent:
		data, err := marshalNoEscape(v)
		if err != nil {
			return nil, err
		}
		return encodeTagged("type", "Custom", &Custom{EventType: v.EventType(), Data: data}, extra)
	default:
		return encodeTagged("type", p.Type(), p, extra)
	}
}

// UnmarshalPayload decodes one payload object. Unknown types come back as
// [*Unknown]; malformed known types are a [*DecodeError].
func UnmarshalPayload(raw []byte) (Payload, error) {
	p, _, err := unmarshalPayload(raw, false)
	return p, err
}

// unmarshalPayload also returns the keys a known kind did not define.
// validated says raw is a value of a document already scanned whole.
func unmarshalPayload(raw []byte, validated bool) (Payload, map[string]json.RawMessage, error) {
	var buf [16]member
	ms, ok := []member(nil), false
	if validated {
		ms, ok = membersOfValid(raw, buf[:0])
	}
	if !ok {
		var err error
		if ms, err = objectMembers(raw, buf[:0]); err != nil {
			return nil, nil, &DecodeError{Field: "payload", Err: err}
		}
	}
	var rawType []byte
	for _, m := range ms {
		if string(m.key) == "type" {
			rawType = m.val // the last one wins, as in encoding/json
		}
	}
	if rawType == nil {
		return &Unknown{Raw: compactJSON(raw)}, nil, nil
	}
	if name, ok := plainStringBytes(rawType); ok && string(name) != "Custom" {
		// a known kind, found without allocating its name
		if p := newKnownPayload(string(name)); p != nil {
			extra, err := decodeMembers(ms, p, p.Type(), "type")
			if err != nil {
				return nil, nil, err
			}
			return p, extra, nil
		}
	}
	var t string
	if !plainStringValue(rawType, &t) {
		if err := json.Unmarshal(rawType, &t); err != nil {
			return nil, nil, &DecodeError{Field: "type", Err: err}
		}
	}
	if t == "Custom" {
		return unmarshalCustom(ms)
	}
	p := newKnownPayload(t)
	if p == nil {
		return &Unknown{TypeName: t, Raw: compactJSON(raw)}, nil, nil
	}
	extra, err := decodeMembers(ms, p, t, "type")
	if err != nil {
		return nil, nil, err
	}
	return p, extra, nil
}

func unmarshalCustom(ms []member) (Payload, map[string]json.RawMessage, error) {
	c := new(Custom)
	extra, err := decodeMembers(ms, c, "Custom", "type")
	if err != nil {
		return nil, nil, err
	}
	typed := newSubsystemEvent(c.EventType)
	if typed == nil {
		return c, extra, nil
	}
	// Subsystem shapes are ours, not the reference's: data that does not fit
	// the struct (or has keys it lacks) stays a generic Custom, losing nothing.
	if dataExtra, err := decodeObject(c.Data, typed, c.EventType, ""); err != nil || dataExtra != nil {
		return c, extra, nil
	}
	if reencoded, err := marshalNoEscape(typed); err != nil || !jsonEqual(reencoded, c.Data) {
		return c, extra, nil // e.g. a float where we hold an integer
	}
	return typed, extra, nil
}

func isObject(raw []byte) bool {
	_, err := objectMembers(raw, nil)
	return err == nil
}

// jsonEqual reports whether a and b hold the same JSON value.
func jsonEqual(a, b []byte) bool {
	var va, vb any
	if json.Unmarshal(a, &va) != nil || json.Unmarshal(b, &vb) != nil {
		return false
	}
	ca, _ := json.Marshal(va)
	cb, _ := json.Marshal(vb)
	return string(ca) == string(cb)
}
