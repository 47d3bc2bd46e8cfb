package aios

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Payload is one event payload: a kind of the taxonomy ([*UserMessage],
// [*ToolCallRequested], ...), a typed subsystem event ([*PaymentSettled], ...),
// a generic [*Custom] event, or an [*Unknown] payload kept verbatim.
//
// Payload structs marshal without their "type" tag; use [MarshalPayload] (or
// marshal the [EventEnvelope]) to get the tagged wire form.
type Payload interface {
	// Type is the value of the payload's "type" key.
	Type() string
}

// ErrMalformed is matched (errors.Is) by every decoding error of this package:
// bad JSON, a known payload missing a required field, a wrong JSON type, an
// unknown enum value.
var ErrMalformed = errors.New("aios: malformed event")

// DecodeError says what was wrong with the input and where.
type DecodeError struct {
	Type  string // payload type being decoded, if known
	Field string // JSON key, if the error is about one
	Err   error
}

func (e *DecodeError) Error() string {
	var b strings.Builder
	b.WriteString("aios: decode")
	if e.Type != "" {
		b.WriteString(" " + e.Type)
	}
	if e.Field != "" {
		b.WriteString(" field " + e.Field)
	}
	b.WriteString(": " + e.Err.Error())
	return b.String()
}

func (e *DecodeError) Unwrap() []error { return []error{ErrMalformed, e.Err} }

// Strings is a string list that encodes as [] when empty, never null, and
// decodes a missing key as empty.
type Strings []string

// MarshalJSON writes s, or [] when s is nil.
func (s Strings) MarshalJSON() ([]byte, error) {
	if s == nil {
		return []byte("[]"), nil
	}
	return json.Marshal([]string(s))
}

// UnmarshalJSON reads an array of strings; a null element is an error, as
// in the reference (encoding/json would read it as "" and write that back).
func (s *Strings) UnmarshalJSON(b []byte) error {
	var raw []json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	if raw == nil {
		*s = nil
		return nil
	}
	out := make(Strings, len(raw))
	for i, r := range raw {
		if isNull(bytes.TrimSpace(r)) {
			return fmt.Errorf("element %d is null, not a string", i)
		}
		if err := json.Unmarshal(r, &out[i]); err != nil {
			return fmt.Errorf("element %d: %w", i, err)
		}
	}
	*s = out
	return nil
}

// fieldInfo describes one JSON field of a struct decoded strictly.
type fieldInfo struct {
	name     string
	index    int
	required bool         // written always and no default: missing is an error
	free     bool         // free JSON: null is a value
	raw      bool         // aios:"raw": keep the decoder's bytes as they are (the caller parses them)
	kind     reflect.Kind // for the fast paths; Invalid when a custom decoder applies
}

// structFields reads the json tags of t. Optional fields carry omitempty;
// fields tagged aios:"default" may be missing and take their zero value.
func structFields(t reflect.Type) []fieldInfo {
	fields := make([]fieldInfo, 0, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "" || tag == "-" || !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		kind := f.Type.Kind()
		if reflect.PointerTo(f.Type).Implements(reflect.TypeFor[json.Unmarshaler]()) {
			kind = reflect.Invalid
		}
		fields = append(fields, fieldInfo{
			name:     name,
			index:    i,
			required: !strings.Contains(opts, "omitempty") && f.Tag.Get("aios") != "default",
			free:     f.Type == reflect.TypeFor[json.RawMessage](),
			raw:      f.Tag.Get("aios") == "raw",
			kind:     kind,
		})
	}
	return fields
}

// knownFields holds the field tables of every payload kind and subsystem
// event, computed once; it is never written after package initialisation.
var knownFields = func() map[reflect.Type][]fieldInfo {
	m := map[reflect.Type][]fieldInfo{}
	add := func(v any) {
		t := reflect.TypeOf(v).Elem()
		m[t] = structFields(t)
	}
	for _, name := range KnownTypes() {
		if p := newKnownPayload(name); p != nil {
			add(p)
		}
	}
	for _, name := range subsystemEventTypes {
		add(newSubsystemEvent(name))
	}
	add(&Custom{})
	add(&envelopeFields{})
	return m
}()

func fieldsOf(t reflect.Type) []fieldInfo {
	if f, ok := knownFields[t]; ok {
		return f
	}
	return structFields(t)
}

// decodeObject decodes the JSON object raw into the struct that v points to,
// matching keys exactly (encoding/json matches case-insensitively), checking
// that required fields are present, and returning the keys it did not know,
// except skip.
func decodeObject(raw []byte, v any, typeName, skip string) (map[string]json.RawMessage, error) {
	var buf [16]member
	ms, err := objectMembers(raw, buf[:0])
	if err != nil {
		return nil, &DecodeError{Type: typeName, Err: err}
	}
	return decodeMembers(ms, v, typeName, skip)
}

// decodeMembers is decodeObject on an object already split into members.
// A repeated key takes its last value, as with encoding/json.
func decodeMembers(ms []member, v any, typeName, skip string) (map[string]json.RawMessage, error) {
	rv := reflect.ValueOf(v).Elem()
	fields := fieldsOf(rv.Type())
	var vals [32][]byte
	if len(fields) > len(vals) {
		return nil, &DecodeError{Type: typeName, Err: fmt.Errorf("struct has %d fields, more than the decoder handles", len(fields))}
	}
	var extra map[string]json.RawMessage
	for _, m := range ms {
		j := slices.IndexFunc(fields, func(f fieldInfo) bool { return f.name == string(m.key) })
		switch {
		case j >= 0:
			vals[j] = m.val
		case string(m.key) == skip:
		default:
			if extra == nil {
				extra = make(map[string]json.RawMessage)
			}
			extra[string(m.key)] = compactJSON(m.val)
		}
	}
	for j, f := range fields {
		r := vals[j]
		if r == nil || (!f.free && isNull(r)) {
			if f.required {
				return nil, &DecodeError{Type: typeName, Field: f.name, Err: errors.New("missing required field")}
			}
			continue
		}
		if err := decodeField(rv.Field(f.index), f, r); err != nil {
			return nil, &DecodeError{Type: typeName, Field: f.name, Err: err}
		}
	}
	return extra, nil
}

// decodeFast decodes the members of an envelope with no reflection when
// every value is in the plain shape the journal writes (strings without
// escapes, unsigned integers, a metadata object of plain strings) and every
// required field is there. Otherwise it returns false and w is to be decoded
// by decodeMembers, which gives the same result on the plain shape and the
// errors on the rest (FuzzFastPathsAgree checks both agree).
func (w *envelopeFields) decodeFast(ms []member, d *Decoder) bool {
	const (
		hasEventID = 1 << iota
		hasSession
		hasBranch
		hasTimestamp
		hasPayload
		required = hasEventID | hasSession | hasBranch | hasTimestamp | hasPayload
	)
	seen := 0
	for _, m := range ms {
		v := m.val
		if isNull(v) {
			return false
		}
		switch string(m.key) {
		case "event_id":
			seen |= hasEventID
			if !plainStringValue(v, &w.EventID) {
				return false
			}
		case "session_id":
			seen |= hasSession
			if !sharedStringValue(v, &w.SessionID, d, func(d *Decoder) *string { return &d.session }) {
				return false
			}
		case "branch_id":
			seen |= hasBranch
			if !sharedStringValue(v, &w.BranchID, d, func(d *Decoder) *string { return &d.branch }) {
				return false
			}
		case "run_id":
			if !sharedStringValue(v, &w.RunID, d, func(d *Decoder) *string { return &d.run }) {
				return false
			}
		case "parent_id":
			if !plainStringValue(v, &w.ParentID) {
				return false
			}
		case "seq":
			if !uintValue(v, 64, &w.Seq) {
				return false
			}
		case "timestamp":
			seen |= hasTimestamp
			if !uintValue(v, 64, &w.Timestamp) {
				return false
			}
		case "schema_version":
			var n uint64
			if !uintValue(v, 8, &n) {
				return false
			}
			w.SchemaVersion = &schemaVersions[n]
		case "payload":
			seen |= hasPayload
			w.Payload = v
		case "metadata":
			md, ok := stringMap(v, d)
			if !ok {
				return false
			}
			w.Metadata = md
		}
	}
	return seen&required == required
}

// plainStringValue sets *dst from a JSON string with nothing to unescape.
func plainStringValue(v []byte, dst *string) bool {
	b, ok := plainStringBytes(v)
	if ok {
		*dst = string(b)
	}
	return ok
}

// plainStringBytes returns the contents of a JSON string with nothing to
// unescape.
func plainStringBytes(v []byte) ([]byte, bool) {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' || !plainString(v[1:len(v)-1]) {
		return nil, false
	}
	return v[1 : len(v)-1], true
}

// sharedStringValue is plainStringValue reusing the string the decoder d
// (if any) last saw in the same field when the bytes are equal.
func sharedStringValue(v []byte, dst *string, d *Decoder, field func(*Decoder) *string) bool {
	if d == nil {
		return plainStringValue(v, dst)
	}
	last := field(d)
	if len(v) >= 2 && len(*last) == len(v)-2 && *last == string(v[1:len(v)-1]) && v[0] == '"' {
		*dst = *last
		return true
	}
	if !plainStringValue(v, dst) {
		return false
	}
	*last = *dst
	return true
}

// schemaVersions backs the decoded *uint8 schema versions, so that decoding
// one allocates nothing. Read only.
var schemaVersions = func() (t [256]uint8) {
	for i := range t {
		t[i] = uint8(i)
	}
	return t
}()

// uintValue sets *dst from a JSON unsigned integer that fits in bits.
func uintValue(v []byte, bits int, dst *uint64) bool {
	if len(v) == 0 || v[0] < '0' || v[0] > '9' {
		return false
	}
	n, err := strconv.ParseUint(string(v), 10, bits)
	if err != nil {
		return false
	}
	*dst = n
	return true
}

// decodeField decodes one value, with fast paths for the plain strings and
// unsigned integers that make up most of an envelope.
func decodeField(fv reflect.Value, f fieldInfo, r json.RawMessage) error {
	switch {
	case f.raw:
		fv.SetBytes(r) // the map's copy: nobody else holds it
		return nil
	case f.free:
		fv.SetBytes(compactJSON(r))
		return nil
	case f.kind == reflect.String && len(r) >= 2 && r[0] == '"' && r[len(r)-1] == '"' && plainString(r[1:len(r)-1]):
		fv.SetString(string(r[1 : len(r)-1]))
		return nil
	case f.kind == reflect.Map && fv.Type() == reflect.TypeFor[map[string]string]():
		if m, ok := stringMap(r, nil); ok {
			fv.Set(reflect.ValueOf(m))
			return nil
		}
		m, err := decodeStringMap(r)
		if err != nil {
			return err
		}
		fv.Set(reflect.ValueOf(m))
		return nil
	case f.kind >= reflect.Uint8 && f.kind <= reflect.Uint64 && len(r) > 0 && r[0] >= '0' && r[0] <= '9':
		if n, err := strconv.ParseUint(string(r), 10, fv.Type().Bits()); err == nil {
			fv.SetUint(n)
			return nil
		}
	case f.kind == reflect.Pointer && len(r) > 0 && r[0] >= '0' && r[0] <= '9':
		// optional unsigned numbers (schema_version)
		if et := fv.Type().Elem(); et.Kind() >= reflect.Uint8 && et.Kind() <= reflect.Uint64 {
			if n, err := strconv.ParseUint(string(r), 10, et.Bits()); err == nil {
				p := reflect.New(et)
				p.Elem().SetUint(n)
				fv.Set(p)
				return nil
			}
		}
	}
	return json.Unmarshal(r, fv.Addr().Interface())
}

// stringMap decodes an object of plain strings (metadata) without
// reflection; ok is false when anything needs the general decoder.
// With a decoder, a value equal to the one it last saw under the same key
// (an agent id, an actor) is shared instead of allocated again.
func stringMap(r []byte, d *Decoder) (map[string]string, bool) {
	var buf [8]member
	// r is a value of a validated document (see its callers)
	ms, ok := membersOfValid(r, buf[:0])
	if !ok {
		var err error
		if ms, err = objectMembers(r, buf[:0]); err != nil {
			return nil, false
		}
	}
	m := make(map[string]string, len(ms))
	for _, kv := range ms {
		v := kv.val
		if len(v) < 2 || v[0] != '"' || !plainString(v[1:len(v)-1]) {
			return nil, false
		}
		k, val := metaKey(kv.key), v[1:len(v)-1]
		if d == nil || k == MetaDigest || k == MetaSpanID { // those never repeat
			m[k] = string(val)
			continue
		}
		if last, ok := d.meta[k]; ok && last == string(val) {
			m[k] = last
			continue
		}
		s := string(val)
		m[k] = s
		if d.meta == nil {
			d.meta = make(map[string]string, 4)
		}
		if _, ok := d.meta[k]; ok || len(d.meta) < maxSharedMeta {
			d.meta[k] = s
		}
	}
	return m, true
}

// decodeStringMap decodes an object whose values must all be strings.
// encoding/json would take a null value as "" (and then write "" back); the
// reference's map of strings refuses it, and so does this.
func decodeStringMap(r []byte) (map[string]string, error) {
	var buf [8]member
	ms, err := objectMembers(r, buf[:0])
	if err != nil {
		return nil, err
	}
	m := make(map[string]string, len(ms))
	for _, kv := range ms {
		var s string
		if isNull(kv.val) || json.Unmarshal(kv.val, &s) != nil {
			return nil, fmt.Errorf("key %q: value %.32s is not a string", kv.key, kv.val)
		}
		m[string(kv.key)] = s
	}
	return m, nil
}

// metaKey returns the kernel's metadata keys without allocating: they are on
// nearly every event.
func metaKey(k []byte) string {
	switch string(k) {
	case MetaDigest:
		return MetaDigest
	case MetaAgentID:
		return MetaAgentID
	case MetaTraceID:
		return MetaTraceID
	case MetaSpanID:
		return MetaSpanID
	case MetaActor:
		return MetaActor
	case MetaSchema:
		return MetaSchema
	case MetaCorrelationID:
		return MetaCorrelationID
	}
	return string(k)
}

// plainString reports whether s needs no unescaping and holds no control
// characters or invalid UTF-8 (encoding/json replaces those).
func plainString(s []byte) bool {
	for _, c := range s {
		if c == '\\' || c == '"' || c < 0x20 || c >= 0x80 {
			return false
		}
	}
	return true
}

func isNull(r []byte) bool { return string(r) == "null" } // values from the scanner carry no white space

func compactJSON(r json.RawMessage) json.RawMessage {
	if !utf8.Valid(r) {
		r = validUTF8(r)
	}
	if !bytes.ContainsAny(r, " \t\r\n") {
		return slices.Clone(r) // valid (checked by the caller) and already compact
	}
	var b bytes.Buffer
	if err := json.Compact(&b, r); err != nil {
		return slices.Clone(r) // already validated by the caller's Unmarshal
	}
	return b.Bytes()
}

// validUTF8 replaces each byte of r that is not UTF-8 with the escape
// \ufffd, as encoding/json decodes such bytes: kept verbatim they would make
// the stored event invalid JSON (RFC 8259 requires UTF-8; serde_json refuses
// it). In a valid document such bytes are inside strings, where the escape is
// valid.
func validUTF8(r []byte) []byte {
	out := make([]byte, 0, len(r)+16)
	for i := 0; i < len(r); {
		c, size := utf8.DecodeRune(r[i:])
		if c == utf8.RuneError && size == 1 {
			out = append(out, `\ufffd`...)
		} else {
			out = append(out, r[i:i+size]...)
		}
		i += size
	}
	return out
}

// encodeTagged writes {"type":t, <fields of v>, <extra keys sorted>}. The
// fields come from encoding/json in declaration order, which is wire order.
func encodeTagged(tagKey, t string, v any, extra map[string]json.RawMessage) ([]byte, error) {
	body, err := marshalNoEscape(v)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.Grow(len(body) + len(t) + 16)
	b.WriteString(`{"` + tagKey + `":`)
	tb, _ := json.Marshal(t)
	b.Write(tb)
	inner := bytes.TrimSpace(body)
	inner = inner[1 : len(inner)-1] // strip { }
	if len(inner) > 0 {
		b.WriteByte(',')
		b.Write(inner)
	}
	if err := writeExtra(&b, extra); err != nil {
		return nil, err
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

func writeExtra(b *bytes.Buffer, extra map[string]json.RawMessage) error {
	keys := make([]string, 0, len(extra))
	for k := range extra {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		kb, _ := json.Marshal(k)
		b.WriteByte(',')
		b.Write(kb)
		b.WriteByte(':')
		if err := json.Compact(b, extra[k]); err != nil {
			return fmt.Errorf("extra key %q: %w", k, err)
		}
	}
	return nil
}

// marshalNoEscape is json.Marshal without HTML escaping: serde_json writes
// <, > and & literally, and so do we, so stored bytes match the reference.
func marshalNoEscape(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// appendString appends s as a JSON string exactly as encoding/json writes it
// with HTML escaping off: \" \\ \b \f \n \r \t, other control characters as
// \u00xx, invalid UTF-8 as \ufffd, and U+2028/U+2029 escaped.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
