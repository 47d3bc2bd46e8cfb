package aios_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/lifeos/life/aios"
)

// TestTaxonomyEncodingRules: each numbered rule of TAXONOMY.md ("Serde rules
// that matter") on a payload that exercises it, decoded and re-encoded.
func TestTaxonomyEncodingRules(t *testing.T) {
	tests := []struct{ rule, in, want string }{
		{"1 type first, fields in table order", `{"content":"c","role":"user","type":"Message"}`, `{"type":"Message","role":"user","content":"c"}`},
		{"2 nested enum snake_case", `{"type":"PolicyEvaluated","tool_name":"t","decision":"require_approval"}`, `{"type":"PolicyEvaluated","tool_name":"t","decision":"require_approval"}`},
		{"3 null optional is no value", `{"type":"Message","role":"a","content":"c","model":null,"token_usage":null}`, `{"type":"Message","role":"a","content":"c"}`},
		{"3 optional index 0 is a value", `{"type":"TextDelta","delta":"d","index":0}`, `{"type":"TextDelta","delta":"d","index":0}`},
		{"3 optional score 0 is a value", `{"type":"WorldModelRollout","trajectory_ref":"r","score":0}`, `{"type":"WorldModelRollout","trajectory_ref":"r","score":0.0}`},
		{"3 missing reasons written as []", `{"type":"IntentRejected","intent_id":"i"}`, `{"type":"IntentRejected","intent_id":"i","reasons":[]}`},
		{"3 null reasons written as []", `{"type":"IntentRejected","intent_id":"i","reasons":null}`, `{"type":"IntentRejected","intent_id":"i","reasons":[]}`},
		{"3 zero counters written", `{"type":"RunFinished","reason":"r","total_iterations":1,"usage":{"total_tokens":3}}`,
			`{"type":"RunFinished","reason":"r","total_iterations":1,"usage":{"prompt_tokens":0,"completion_tokens":0,"total_tokens":3}}`},
		{"4 ids are bare strings", `{"type":"SandboxDestroyed","sandbox_id":""}`, `{"type":"SandboxDestroyed","sandbox_id":""}`},
		{"5 exit_code is signed", `{"type":"SandboxExecuted","sandbox_id":"s","command":"c","exit_code":-2147483648,"duration_ms":18446744073709551615}`,
			`{"type":"SandboxExecuted","sandbox_id":"s","command":"c","exit_code":-2147483648,"duration_ms":18446744073709551615}`},
		{"5 f32 single precision", `{"type":"HiveArtifactShared","hive_task_id":"h","source_session_id":"s","score":0.123456789,"mutation_summary":"m"}`,
			`{"type":"HiveArtifactShared","hive_task_id":"h","source_session_id":"s","score":0.12345679,"mutation_summary":"m"}`},
		{"5 integer accepted, float written", `{"type":"KnowledgeSearched","query":"q","result_count":1,"top_relevance":5,"duration_ms":2}`,
			`{"type":"KnowledgeSearched","query":"q","result_count":1,"top_relevance":5.0,"duration_ms":2}`},
		{"5 exponent accepted", `{"type":"KnowledgeSearched","query":"q","result_count":1,"top_relevance":2.5E-1,"duration_ms":2}`,
			`{"type":"KnowledgeSearched","query":"q","result_count":1,"top_relevance":0.25,"duration_ms":2}`},
		{"6 free json kept", `{"type":"ExternalSignal","signal_type":"s","data":{"a":[1,2.50,"\u00e9"],"b":null}}`,
			`{"type":"ExternalSignal","signal_type":"s","data":{"a":[1,2.50,"\u00e9"],"b":null}}`},
		{"8 custom unchanged", `{"type":"Custom","event_type":"x.y","data":{"k":1}}`, `{"type":"Custom","event_type":"x.y","data":{"k":1}}`},
		{"8 unknown kind byte for byte", `{"type":"VisionResult","z":1.0e+02,"a":"\u00e9\/","n":-0,"o":{"y":[],"x":{}}}`,
			`{"type":"VisionResult","z":1.0e+02,"a":"\u00e9\/","n":-0,"o":{"y":[],"x":{}}}`},
		{"8 unknown kind compacted", "{ \"type\" : \"VisionResult\" ,\n \"s\" : \"a b\" }", `{"type":"VisionResult","s":"a b"}`},
	}
	for _, tc := range tests {
		t.Run(tc.rule, func(t *testing.T) {
			p, err := aios.UnmarshalPayload([]byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			got, err := aios.MarshalPayload(p)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}

// The envelope's rules: key order, u64 seq and timestamp in full, the
// defaults of schema_version and metadata, optional run_id and parent_id.
func TestTaxonomyEnvelopeRules(t *testing.T) {
	const p = `{"type":"UserMessage","content":"c"}`
	tests := []struct{ name, in, want string }{
		{"defaults", `{"payload":` + p + `,"timestamp":1,"branch_id":"b","session_id":"s","event_id":"e"}`,
			`{"event_id":"e","session_id":"s","branch_id":"b","seq":0,"timestamp":1,"payload":` + p + `,"metadata":{},"schema_version":1}`},
		{"u64 in full", `{"event_id":"e","session_id":"s","branch_id":"b","seq":18446744073709551615,"timestamp":18446744073709551615,"payload":` + p + `,"schema_version":255}`,
			`{"event_id":"e","session_id":"s","branch_id":"b","seq":18446744073709551615,"timestamp":18446744073709551615,"payload":` + p + `,"metadata":{},"schema_version":255}`},
		{"optional ids in place, metadata sorted", `{"parent_id":"p","run_id":"r","event_id":"e","session_id":"s","branch_id":"b","timestamp":2,"payload":` + p + `,"metadata":{"z":"1","a":"2"}}`,
			`{"event_id":"e","session_id":"s","branch_id":"b","run_id":"r","seq":0,"timestamp":2,"parent_id":"p","payload":` + p + `,"metadata":{"a":"2","z":"1"},"schema_version":1}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, err := aios.DecodeEnvelope([]byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			got, err := aios.EncodeEnvelope(e)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("\n got %s\nwant %s", got, tc.want)
			}
		})
	}
	for _, bad := range []string{
		`{"event_id":"e","session_id":"s","branch_id":"b","seq":18446744073709551616,"timestamp":1,"payload":` + p + `}`,
		`{"event_id":"e","session_id":"s","branch_id":"b","seq":-1,"timestamp":1,"payload":` + p + `}`,
		`{"event_id":"e","session_id":"s","branch_id":"b","timestamp":1.5,"payload":` + p + `}`,
		`{"event_id":"e","session_id":"s","branch_id":"b","timestamp":1e6,"payload":` + p + `}`,
		`{"event_id":"e","session_id":"s","branch_id":"b","timestamp":"1","payload":` + p + `}`,
		`{"event_id":"e","session_id":"s","branch_id":"b","timestamp":1,"payload":` + p + `,"schema_version":256}`,
	} {
		if _, err := aios.DecodeEnvelope([]byte(bad)); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
}

// Bytes that are not UTF-8 inside strings are accepted on input, as
// encoding/json accepts them, but never written: the event would not be
// JSON (RFC 8259) and serde_json would refuse the whole stream. Known
// fields, free json, extra keys and unknown kinds all write U+FFFD.
func TestEncodedEventsAreUTF8(t *testing.T) {
	for _, p := range []string{
		"{\"type\":\"UserMessage\",\"content\":\"a\xffb\"}",
		"{\"type\":\"VisionResult\",\"a\":\"\xff\xfe ok\",\"\xc3\":1}",
		"{\"type\":\"ToolCallRequested\",\"call_id\":\"c\",\"tool_name\":\"t\",\"arguments\":{\"a\":[\"\xed\xa0\x80\"]},\"extra\":\"\xc3\"}",
		"{\"type\":\"Custom\",\"event_type\":\"x\",\"data\":\"\xf0\x9f\x98\"}",
	} {
		e, err := aios.DecodeEnvelope([]byte(`{"event_id":"e","session_id":"s","branch_id":"b","timestamp":1,"payload":` + p + `,"metadata":{"k":"` + "\xff" + `"}}`))
		if err != nil {
			t.Errorf("%q: %v", p, err)
			continue
		}
		out, err := aios.EncodeEnvelope(e)
		if err != nil {
			t.Fatal(err)
		}
		if !utf8.Valid(out) || !json.Valid(out) {
			t.Errorf("%q encodes as %q", p, out)
		}
		if !strings.Contains(string(out), `\ufffd`) && !strings.Contains(string(out), "\ufffd") {
			t.Errorf("%q: no replacement character in %s", p, out)
		}
	}
}

// An event built in Go that would encode to JSON this package refuses to
// decode fails Validate and EncodeEnvelope instead: a journal would store it
// and then fail on every read of its stream.
func TestUndecodableEventsAreRefused(t *testing.T) {
	raw := func(s string) json.RawMessage { return json.RawMessage(s) }
	tests := []struct {
		name  string
		p     aios.Payload
		extra map[string]json.RawMessage
	}{
		{"zero enum", &aios.PolicyEvaluated{ToolName: "t"}, nil},
		{"misspelt enum", &aios.PhaseEntered{Phase: "Deliberate"}, nil},
		{"enum in a nested struct", &aios.StateEstimated{Mode: aios.ModeExplore}, nil},
		{"second enum of a kind", &aios.ModeChanged{From: aios.ModeExplore, To: "bogus"}, nil},
		{"typed nil payload", (*aios.UserMessage)(nil), nil},
		{"nil subsystem event", (*aios.PaymentSettled)(nil), nil},
		{"provenance without its id", &aios.StatePatchCommitted{Patch: aios.StatePatch{Provenance: []aios.ProvenanceRef{{Kind: "event"}}}}, nil},
		{"unknown patch op", &aios.StatePatchCommitted{Patch: aios.StatePatch{Ops: []aios.PatchOp{{Op: "frobnicate", Path: "/a"}}}}, nil},
		{"unknown that reads back as a known kind", &aios.Unknown{TypeName: "X", Raw: raw(`{"type":"UserMessage"}`)}, nil},
		{"unknown that reads back as Custom", &aios.Unknown{TypeName: "X", Raw: raw(`{"type":"Custom","event_type":"e","data":1}`)}, nil},
		{"unknown not an object", &aios.Unknown{TypeName: "X", Raw: raw(`[1]`)}, nil},
		{"extra key type", &aios.UserMessage{Content: "c"}, map[string]json.RawMessage{"type": raw(`"ErrorRaised"`)}},
		{"extra key that is a field", &aios.UserMessage{Content: "c"}, map[string]json.RawMessage{"content": raw(`5`)}},
		{"extra key that is a Custom field", &aios.PaymentSettled{IntentID: "i"}, map[string]json.RawMessage{"data": raw(`{}`)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := aios.EventEnvelope{EventID: "e", SessionID: "s", BranchID: "b", Timestamp: 1, Payload: tc.p, PayloadExtra: tc.extra}
			if err := e.Validate(); !errors.Is(err, aios.ErrInvalidEnvelope) {
				t.Errorf("Validate: %v, want ErrInvalidEnvelope", err)
			}
			if b, err := aios.EncodeEnvelope(e); err == nil {
				_, derr := aios.DecodeEnvelope(b)
				t.Errorf("encoded as %s (decodes: %v)", b, derr)
			} else if !errors.Is(err, aios.ErrInvalidEnvelope) {
				t.Errorf("EncodeEnvelope: %v, want ErrInvalidEnvelope", err)
			}
		})
	}
	// What does decode again is still accepted.
	for _, p := range []aios.Payload{
		&aios.IntentProposed{IntentID: "i", Kind: "k"}, // optional enum left out
		&aios.StateEstimated{State: aios.AgentStateVector{RiskLevel: aios.RiskLow}, Mode: aios.ModeVerify},
		&aios.Unknown{TypeName: "X", Raw: raw(`{"type":"X","a":1}`)},
		&aios.Unknown{Raw: raw(`{"a":1}`)},
		&aios.PaymentSettled{IntentID: "i"},
		&aios.StatePatchCommitted{Patch: aios.StatePatch{Provenance: []aios.ProvenanceRef{{Kind: "blob", BlobID: "h"}}}},
	} {
		e := aios.EventEnvelope{EventID: "e", SessionID: "s", BranchID: "b", Timestamp: 1, Payload: p,
			PayloadExtra: map[string]json.RawMessage{"x_extra": raw(`1`)}}
		if _, ok := p.(*aios.Unknown); ok {
			e.PayloadExtra = nil
		}
		if err := e.Validate(); err != nil {
			t.Errorf("%T: %v", p, err)
		}
		b, err := aios.EncodeEnvelope(e)
		if err != nil {
			t.Errorf("%T: %v", p, err)
			continue
		}
		if _, err := aios.DecodeEnvelope(b); err != nil {
			t.Errorf("%T: %s does not decode: %v", p, b, err)
		}
	}
}

// Keys are compared after unescaping, a repeated key takes its last value
// (as encoding/json does), and string escapes, surrogate pairs included,
// decode alike in the envelope and the payload, with or without a Decoder.
func TestEscapedAndRepeatedKeys(t *testing.T) {
	const plain = `{"event_id":"e","session_id":"s","branch_id":"b","run_id":"r","seq":2,"timestamp":3,"payload":{"type":"Message","role":"user","content":"😀 é"},"metadata":{"agent_id":"a"},"schema_version":1}`
	same := []string{
		`{"ev\u0065nt_id":"e","session\u005fid":"s","\u0062ranch_id":"b","run_id":"r","seq":2,"timestamp":3,"payload":{"\u0074ype":"Message","rol\u0065":"user","content":"\ud83d\ude00 \u00e9"},"metadata":{"agent\u005fid":"a"},"schema_version":1}`,
		`{"event_id":"x","event_id":"e","session_id":"s","branch_id":"b","run_id":"r","seq":9,"seq":2,"timestamp":3,"payload":{"type":"Message","role":"user","content":"😀 é"},"metadata":{"agent_id":"z","agent_id":"a"},"schema_version":1}`,
		`{"event_id":"e","session_id":"s","branch_id":"b","run_id":"r","seq":2,"timestamp":3,"payload":{"type":"UserMessage","type":"Message","role":"user","content":"x","content":"😀 é"},"metadata":{"agent_id":"a"},"schema_version":1}`,
		"\t{ \"event_id\" : \"e\" ,\n\"session_id\":\"s\",\"branch_id\":\"b\",\"run_id\":\"r\",\"seq\":2,\"timestamp\":3,\"payload\": { \"type\" : \"Message\" , \"role\":\"user\",\"content\":\"😀 \\u00E9\" } ,\"metadata\":{ \"agent_id\" : \"a\" },\"schema_version\":1 }\r\n",
	}
	want, err := aios.DecodeEnvelope([]byte(plain))
	if err != nil {
		t.Fatal(err)
	}
	wantBytes, _ := aios.EncodeEnvelope(want)
	var dec aios.Decoder
	for _, in := range same {
		for _, decode := range []func([]byte) (aios.EventEnvelope, error){aios.DecodeEnvelope, dec.Decode} {
			got, err := decode([]byte(in))
			if err != nil {
				t.Errorf("%s: %v", in, err)
				continue
			}
			if b, _ := aios.EncodeEnvelope(got); string(b) != string(wantBytes) {
				t.Errorf("%s\n got %s\nwant %s", in, b, wantBytes)
			}
		}
	}
	// A lone surrogate is U+FFFD, as encoding/json decodes it.
	e, err := aios.DecodeEnvelope([]byte(`{"event_id":"e","session_id":"s","branch_id":"b","timestamp":3,"payload":{"type":"UserMessage","content":"a\ud800b\udc00"}}`))
	if err != nil || e.Payload.(*aios.UserMessage).Content != "a\ufffdb\ufffd" {
		t.Fatalf("lone surrogates: %+v, %v", e.Payload, err)
	}
}

// The actor and schema metadata are JSON text as serde_json writes it, and
// an actor without a valid type is no actor.
func TestActorAndSchemaMetadata(t *testing.T) {
	var e aios.EventEnvelope
	e.SetActor(aios.Actor{Type: aios.ActorSystem, Component: "a<b>&c"})
	if got := e.Metadata[aios.MetaActor]; got != `{"type":"system","component":"a<b>&c"}` {
		t.Errorf("actor metadata %s", got)
	}
	if a, ok := e.Actor(); !ok || a.Component != "a<b>&c" {
		t.Errorf("actor %+v %v", a, ok)
	}
	e.SetSchema(aios.EventSchema{Name: "aios-protocol", Version: "<1>"})
	if got := e.Metadata[aios.MetaSchema]; got != `{"name":"aios-protocol","version":"<1>"}` {
		t.Errorf("schema metadata %s", got)
	}
	for _, bad := range []string{`{"component":"x"}`, `{"type":"robot"}`, `{"type":""}`, `"system"`, `{`} {
		e.Metadata[aios.MetaActor] = bad
		if a, ok := e.Actor(); ok {
			t.Errorf("%s read as actor %+v", bad, a)
		}
	}
}
