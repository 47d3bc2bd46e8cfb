package aios_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/lifeos/life/aios"
)

var fixtures = []string{"all-kinds.json", "branch-fork.json", "forward-compat.json", "simple-chat.json", "tool-round-trip.json"}

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "conformance", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The fixtures are copied into testdata so the module tests stand alone; when
// the shared originals are beside the repo, the copies must not drift.
func TestFixturesMatchShared(t *testing.T) {
	dir := filepath.Join("..", "..", "shared", "conformance")
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("shared conformance dir %s not present: %v", dir, err)
	}
	for _, name := range append(fixtures, "TAXONOMY.md") {
		want, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if got := readFixture(t, name); !bytes.Equal(got, want) {
			t.Errorf("testdata/conformance/%s differs from shared/conformance/%s", name, name)
		}
	}
}

// Every fixture event decodes, validates and re-encodes to exactly the bytes
// of the fixture (compacted): same keys, same order, same number forms.
func TestConformanceRoundTrip(t *testing.T) {
	for _, name := range fixtures {
		t.Run(name, func(t *testing.T) {
			raw := readFixture(t, name)
			var items []json.RawMessage
			if err := json.Unmarshal(raw, &items); err != nil {
				t.Fatal(err)
			}
			envs, err := aios.DecodeEnvelopes(raw)
			if err != nil {
				t.Fatal(err)
			}
			if len(envs) != len(items) {
				t.Fatalf("decoded %d events, fixture has %d", len(envs), len(items))
			}
			for i, env := range envs {
				if err := env.Validate(); err != nil {
					t.Errorf("%s: %v", env.EventID, err)
				}
				var want bytes.Buffer
				if err := json.Compact(&want, items[i]); err != nil {
					t.Fatal(err)
				}
				got, err := aios.EncodeEnvelope(env)
				if err != nil {
					t.Fatalf("%s: %v", env.EventID, err)
				}
				if !bytes.Equal(got, want.Bytes()) {
					t.Errorf("%s re-encodes differently\n got %s\nwant %s", env.EventID, got, want.Bytes())
				}
			}
		})
	}
}

// all-kinds.json has one event per kind in declaration order; each must decode
// into its typed struct, not Unknown or a generic Custom.
func TestAllKindsAreTyped(t *testing.T) {
	envs, err := aios.DecodeEnvelopes(readFixture(t, "all-kinds.json"))
	if err != nil {
		t.Fatal(err)
	}
	kinds := aios.KnownTypes()
	if len(envs) != 74 || len(kinds) != 74 {
		t.Fatalf("want 74 events and 74 kinds, have %d and %d", len(envs), len(kinds))
	}
	for i, env := range envs {
		if got := env.Payload.Type(); got != kinds[i] {
			t.Errorf("%s: type %q, want %q", env.EventID, got, kinds[i])
		}
		if _, ok := env.Payload.(*aios.Unknown); ok {
			t.Errorf("%s decoded as Unknown", env.EventID)
		}
		if len(env.PayloadExtra) != 0 {
			t.Errorf("%s: unexpected extra keys %v", env.EventID, env.PayloadExtra)
		}
	}
	if _, ok := envs[73].Payload.(*aios.PaymentSettled); !ok {
		t.Errorf("finance.payment_settled decoded as %T, want *aios.PaymentSettled", envs[73].Payload)
	}
	if st, ok := envs[46].Payload.(*aios.StateEstimated); !ok || st.State.Budget.ToolCallsRemaining != 45 {
		t.Errorf("StateEstimated decoded as %#v", envs[46].Payload)
	}
	// The kernel-only fields travel in metadata and have typed accessors.
	var withActor *aios.EventEnvelope
	for i := range envs {
		if _, ok := envs[i].Actor(); ok {
			withActor = &envs[i]
			break
		}
	}
	if withActor == nil {
		t.Fatal("no fixture event carries actor metadata")
	}
	if sch, ok := withActor.Schema(); !ok || sch.Name == "" {
		t.Errorf("%s: schema metadata %q not decoded", withActor.EventID, withActor.Metadata["schema"])
	}
	if withActor.AgentID() == "" {
		t.Errorf("%s: agent_id accessor empty: %v", withActor.EventID, withActor.Metadata)
	}
	traced := 0
	for i := range envs {
		if envs[i].TraceID() != "" && envs[i].SpanID() != "" {
			traced++
		}
	}
	if traced == 0 {
		t.Error("no fixture event has trace_id and span_id through the accessors")
	}
}

// An unknown payload type survives verbatim; the same event written in the
// reference's Custom wrapper form is read as Custom.
func TestForwardCompatibility(t *testing.T) {
	envs, err := aios.DecodeEnvelopes(readFixture(t, "forward-compat.json"))
	if err != nil {
		t.Fatal(err)
	}
	u, ok := envs[2].Payload.(*aios.Unknown)
	if !ok || u.Type() != "VisionResult" {
		t.Fatalf("VisionResult decoded as %T", envs[2].Payload)
	}
	tests := []struct {
		name, payload string
		wantType      string
	}{
		{"unknown type kept", `{"type":"AgentMetrics","cpu":0.5,"nested":{"b":1,"a":[1,2]}}`, "AgentMetrics"},
		{"no type key", `{"hello":"world"}`, ""},
		{"custom wrapper", `{"type":"Custom","event_type":"VisionResult","data":{"image_hash":"abc"}}`, "Custom"},
		{"known kind with extra keys", `{"type":"UserMessage","content":"hi","lang":"en","z":[1]}`, "UserMessage"},
		{"dotted type with extra data keys stays generic", `{"type":"Custom","event_type":"finance.payment_failed","data":{"error":"x","intent_id":"i","new":1}}`, "Custom"},
		{"typed subsystem event", `{"type":"Custom","event_type":"anima.identity_revoked","data":{"did":"did:key:z","reason":"lost","revoked_at":5}}`, "Custom"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := aios.UnmarshalPayload([]byte(tc.payload))
			if err != nil {
				t.Fatal(err)
			}
			if p.Type() != tc.wantType {
				t.Errorf("type %q, want %q", p.Type(), tc.wantType)
			}
			env := aios.EventEnvelope{EventID: "e", SessionID: "s", BranchID: "main", Timestamp: 1, Payload: p}
			// Extras of a known kind live on the envelope: decode through it.
			full := []byte(`{"event_id":"e","session_id":"s","branch_id":"main","seq":0,"timestamp":1,"payload":` + tc.payload + `,"metadata":{},"schema_version":1}`)
			if err := json.Unmarshal(full, &env); err != nil {
				t.Fatal(err)
			}
			out, err := aios.EncodeEnvelope(env)
			if err != nil {
				t.Fatal(err)
			}
			if !jsonEqual(t, out, full) {
				t.Errorf("round trip changed the event\n got %s\nwant %s", out, full)
			}
		})
	}
}

func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var va, vb any
	if err := json.Unmarshal(a, &va); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &vb); err != nil {
		t.Fatal(err)
	}
	return reflect.DeepEqual(va, vb)
}

// A known kind that is malformed is a typed error, never stored as something else.
func TestMalformedKnownPayload(t *testing.T) {
	tests := []struct{ name, payload, field string }{
		{"missing required field", `{"type":"UserMessage"}`, "content"},
		{"wrong JSON type", `{"type":"StepStarted","index":"one"}`, "index"},
		{"negative unsigned", `{"type":"StepStarted","index":-1}`, "index"},
		{"bad enum value", `{"type":"PhaseEntered","phase":"Deliberate"}`, "phase"},
		{"required null", `{"type":"SessionClosed","reason":null}`, "reason"},
		{"nested required", `{"type":"BudgetUpdated","reason":"r","budget":{"tokens_remaining":1}}`, "budget"},
		{"bad patch op", `{"type":"StatePatchCommitted","new_version":1,"patch":{"base_version":0,"ops":[{"op":"frobnicate","path":"/a"}]}}`, "patch"},
		{"custom without event_type", `{"type":"Custom","data":{}}`, "event_type"},
		{"payload not an object", `"UserMessage"`, ""},
		{"case-folded key is not the key", `{"type":"UserMessage","Content":"hi"}`, "content"},
		{"null in a string list", `{"type":"IntentRejected","intent_id":"i","reasons":["a",null]}`, "reasons"},
		{"number in a string list", `{"type":"IntentRejected","intent_id":"i","reasons":[1]}`, "reasons"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			full := `{"event_id":"e","session_id":"s","branch_id":"main","seq":0,"timestamp":1,"payload":` + tc.payload + `,"metadata":{},"schema_version":1}`
			var env aios.EventEnvelope
			err := json.Unmarshal([]byte(full), &env)
			if !errors.Is(err, aios.ErrMalformed) {
				t.Fatalf("err = %v, want ErrMalformed", err)
			}
			var de *aios.DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("err %T is not a *DecodeError", err)
			}
			if tc.field != "" && de.Field != tc.field {
				t.Errorf("field %q, want %q (%v)", de.Field, tc.field, err)
			}
		})
	}
}

func TestEnvelopeDefaultsAndValidation(t *testing.T) {
	var env aios.EventEnvelope
	raw := `{"event_id":"e","session_id":"s","branch_id":"b","timestamp":7,"payload":{"type":"ErrorRaised","message":"m"}}`
	if err := json.Unmarshal([]byte(raw), &env); err != nil {
		t.Fatal(err)
	}
	if env.SchemaVersion != 1 || env.Metadata == nil || env.Seq != 0 {
		t.Errorf("defaults not applied: %+v", env)
	}
	for _, bad := range []string{
		`{"session_id":"s","branch_id":"b","timestamp":7,"payload":{"type":"ErrorRaised","message":"m"}}`,
		`{"event_id":"e","session_id":"s","branch_id":"b","timestamp":-7,"payload":{"type":"ErrorRaised","message":"m"}}`,
		`{"event_id":"e","session_id":"s","branch_id":"b","timestamp":7,"payload":{"type":"ErrorRaised","message":"m"},"metadata":{"k":1}}`,
		// encoding/json would read null as "" and write that back
		`{"event_id":"e","session_id":"s","branch_id":"b","timestamp":7,"payload":{"type":"ErrorRaised","message":"m"},"metadata":{"k":null}}`,
		`{"event_id":"e","session_id":"s","branch_id":"b","timestamp":7,"payload":{"type":"ErrorRaised","message":"m"},"metadata":{"a":"\u00e9","k":null}}`,
		`[]`, `null`, `{`,
	} {
		if _, err := aios.DecodeEnvelope([]byte(bad)); !errors.Is(err, aios.ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", bad, err)
		}
	}
	empty := aios.EventEnvelope{Payload: &aios.UserMessage{}}
	if err := empty.Validate(); !errors.Is(err, aios.ErrInvalidEnvelope) {
		t.Errorf("Validate of empty envelope: %v", err)
	}
}

func TestHTMLIsNotEscaped(t *testing.T) {
	env := aios.EventEnvelope{EventID: "e", SessionID: "s", BranchID: "b", Timestamp: 1,
		Payload: &aios.UserMessage{Content: "a < b && c > d"}}
	b, err := aios.EncodeEnvelope(env)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(`"a < b && c > d"`)) {
		t.Errorf("content escaped: %s", b)
	}
}

func TestFloatEncoding(t *testing.T) {
	tests := []struct {
		in   any
		want string
	}{
		{aios.Float32(0.123456789), "0.12345679"},
		{aios.Float32(5), "5.0"},
		{aios.Float32(0), "0.0"},
		{aios.Float64(4.25), "4.25"},
		{aios.Float64(1e21), "1e+21"},
		{aios.Float64(-3), "-3.0"},
	}
	for _, tc := range tests {
		b, err := json.Marshal(tc.in)
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != tc.want {
			t.Errorf("%v encodes as %s, want %s", tc.in, b, tc.want)
		}
	}
}

// TestDecoderMatchesDecodeEnvelope: one Decoder over every fixture event
// (sessions, branches and runs interleaved) gives what DecodeEnvelope gives.
func TestDecoderMatchesDecodeEnvelope(t *testing.T) {
	var dec aios.Decoder
	for _, name := range fixtures {
		var items []json.RawMessage
		if err := json.Unmarshal(readFixture(t, name), &items); err != nil {
			t.Fatal(err)
		}
		for i, it := range items {
			want, wantErr := aios.DecodeEnvelope(it)
			got, err := dec.Decode(it)
			if (err == nil) != (wantErr == nil) || !reflect.DeepEqual(got, want) {
				t.Fatalf("%s event %d: Decoder gave %+v, %v; DecodeEnvelope %+v, %v", name, i, got, err, want, wantErr)
			}
		}
	}
}

// Nested objects match their keys exactly, as top-level ones do: a case-folded
// key is an unknown key (dropped, as the reference drops it), not the field.
func TestTokenUsageKeysMatchExactly(t *testing.T) {
	tests := []struct {
		usage string
		want  aios.TokenUsage
	}{
		{`{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}`, aios.TokenUsage{PromptTokens: 1, CompletionTokens: 2, TotalTokens: 3}},
		{`{}`, aios.TokenUsage{}},
		{`{"prompt_tokens":null,"total_tokens":4}`, aios.TokenUsage{TotalTokens: 4}},
		{`{"Prompt_Tokens":5}`, aios.TokenUsage{}},
		{`{"prompt_tokens":1,"PROMPT_TOKENS":7}`, aios.TokenUsage{PromptTokens: 1}},
		{`{"prompt_tokens":1,"extra":{"x":[1]}}`, aios.TokenUsage{PromptTokens: 1}},
	}
	for _, tc := range tests {
		p, err := aios.UnmarshalPayload([]byte(`{"type":"Message","role":"assistant","content":"c","token_usage":` + tc.usage + `}`))
		if err != nil {
			t.Errorf("%s: %v", tc.usage, err)
			continue
		}
		if got := p.(*aios.Message).TokenUsage; got == nil || *got != tc.want {
			t.Errorf("%s: got %+v, want %+v", tc.usage, got, tc.want)
		}
	}
	for _, bad := range []string{`{"prompt_tokens":-1}`, `{"prompt_tokens":4294967296}`, `[1]`, `{"total_tokens":"3"}`} {
		_, err := aios.UnmarshalPayload([]byte(`{"type":"Message","role":"assistant","content":"c","token_usage":` + bad + `}`))
		if !errors.Is(err, aios.ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", bad, err)
		}
	}
}
