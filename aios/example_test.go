package aios_test

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/lifeos/life/aios"
)

type exampleClock struct{}

func (exampleClock) Now() time.Time { return time.UnixMicro(1700000000000000) }

// Build an event, encode it in the wire form Rust and Go agents share, and
// decode it back into its typed payload.
func ExampleEncodeEnvelope() {
	env := aios.EventEnvelope{
		EventID:       "01HF7YAT3V0000000000000000",
		SessionID:     "S1",
		BranchID:      "main",
		Timestamp:     aios.Micros(exampleClock{}.Now()),
		Payload:       &aios.ToolCallRequested{CallID: "c1", ToolName: "read_file", Arguments: json.RawMessage(`{"path":"README.md"}`)},
		SchemaVersion: aios.CurrentSchemaVersion,
	}
	b, _ := aios.EncodeEnvelope(env)
	fmt.Println(string(b))

	back, _ := aios.DecodeEnvelope(b)
	call := back.Payload.(*aios.ToolCallRequested)
	fmt.Println(call.ToolName, string(call.Arguments))
	// Output:
	// {"event_id":"01HF7YAT3V0000000000000000","session_id":"S1","branch_id":"main","seq":0,"timestamp":1700000000000000,"payload":{"type":"ToolCallRequested","call_id":"c1","tool_name":"read_file","arguments":{"path":"README.md"}},"metadata":{},"schema_version":1}
	// read_file {"path":"README.md"}
}

// A payload type this build does not know is kept verbatim.
func ExampleUnmarshalPayload() {
	p, _ := aios.UnmarshalPayload([]byte(`{"type":"VisionResult","labels":["cat"]}`))
	fmt.Printf("%T %s\n", p, p.Type())
	b, _ := aios.MarshalPayload(p)
	fmt.Println(string(b))
	// Output:
	// *aios.Unknown VisionResult
	// {"type":"VisionResult","labels":["cat"]}
}

// Subsystem events are typed in Go and travel as the reference's Custom form.
func ExampleSubsystemEvent() {
	b, _ := aios.MarshalPayload(&aios.IdentityRevoked{DID: "did:key:zDnae", Reason: "key lost", RevokedAt: 1})
	fmt.Println(string(b))
	// Output:
	// {"type":"Custom","event_type":"anima.identity_revoked","data":{"did":"did:key:zDnae","reason":"key lost","revoked_at":1}}
}

func ExampleState_Apply() {
	s := aios.NewState()
	err := s.Apply(aios.StatePatch{BaseVersion: 0, Ops: []aios.PatchOp{
		{Op: aios.OpSet, Path: "/plan/step", Value: json.RawMessage(`1`)},
		{Op: aios.OpAppend, Path: "/files", Values: []json.RawMessage{json.RawMessage(`"README.md"`)}},
	}})
	doc, _ := json.Marshal(s)
	fmt.Println(err, s.Version, string(doc))
	// A patch computed against an older version is refused.
	fmt.Println(s.Apply(aios.StatePatch{BaseVersion: 0}))
	// Output:
	// <nil> 1 {"files":["README.md"],"plan":{"step":1}}
	// aios: state version conflict: patch base 0, state at 1
}

func ExampleNewULIDGenerator() {
	ids := aios.NewULIDGenerator(nil, nil)
	a, b := ids.NewID(), ids.NewID()
	fmt.Println(len(a), a < b)
	// Output: 26 true
}

// A Decoder reads the envelopes of a stream, sharing the ids that repeat.
func ExampleDecoder() {
	var dec aios.Decoder
	for _, raw := range []string{
		`{"event_id":"E1","session_id":"S1","branch_id":"main","seq":1,"timestamp":1,"payload":{"type":"UserMessage","content":"hi"}}`,
		`{"event_id":"E2","session_id":"S1","branch_id":"main","seq":2,"timestamp":2,"payload":{"type":"UserMessage","content":"and again"}}`,
	} {
		e, err := dec.Decode([]byte(raw))
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(e.Seq, e.SessionID, e.Payload.Type())
	}
	// Output:
	// 1 S1 UserMessage
	// 2 S1 UserMessage
}

// Validate is what a journal asks before it stores an event: here a zero
// enum, which would be written as "" and then refused by every reader.
func ExampleEventEnvelope_Validate() {
	env := aios.EventEnvelope{EventID: "e1", SessionID: "S1", BranchID: "main", Timestamp: 1,
		Payload: &aios.ToolCallCompleted{ToolRunID: "r1", ToolName: "read_file", Result: json.RawMessage(`{}`)}}
	fmt.Println(env.Validate())
	env.Payload.(*aios.ToolCallCompleted).Status = aios.SpanOK
	fmt.Println(env.Validate())
	// Output:
	// aios: invalid envelope e1: [ToolCallCompleted field status: "" is not one of [ok error timeout cancelled]]
	// <nil>
}

// DecodeEnvelopes reads the conformance fixtures' and `lago import`'s form,
// a JSON array of envelopes.
func ExampleDecodeEnvelopes() {
	envs, err := aios.DecodeEnvelopes([]byte(`[{"event_id":"e1","session_id":"S1","branch_id":"main","timestamp":1,"payload":{"type":"UserMessage","content":"hi"}}]`))
	fmt.Println(len(envs), envs[0].Payload.Type(), err)
	_, err = aios.DecodeEnvelopes([]byte(`null`))
	fmt.Println(err)
	// Output:
	// 1 UserMessage <nil>
	// aios: decode envelope array: not a JSON array
}
