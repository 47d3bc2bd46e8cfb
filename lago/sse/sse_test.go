package sse

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/lifeos/life/aios"
)

func u32(v uint32) *uint32 { return &v }

// Run builds a run of events as arcan journals it: text, a tool round trip,
// more text, finish with usage. Exported to the package tests only.
func sampleRun() []aios.EventEnvelope {
	payloads := []aios.Payload{
		&aios.UserMessage{Content: "weather?"},
		&aios.RunStarted{Provider: "mock", MaxIterations: 4},
		&aios.StepStarted{Index: 0},
		&aios.AssistantTextDelta{Delta: "Let me ", Index: u32(0)},
		&aios.AssistantTextDelta{Delta: "check.", Index: u32(0)},
		&aios.ToolCallRequested{CallID: "call_1", ToolName: "weather", Arguments: json.RawMessage(`{"city":"Paris"}`)},
		&aios.ToolCallCompleted{ToolRunID: "run_1", CallID: "call_1", ToolName: "weather", Result: json.RawMessage(`{"output":"sunny","status":"success"}`), DurationMs: 3, Status: aios.SpanStatus("ok")},
		&aios.StepFinished{Index: 0, StopReason: "tool_use", DirectiveCount: 2},
		&aios.StepStarted{Index: 1},
		&aios.TextDelta{Delta: "It is sunny <3 & warm."},
		&aios.StepFinished{Index: 1, StopReason: "end_turn", DirectiveCount: 1},
		&aios.RunFinished{Reason: "completed", TotalIterations: 2, Usage: &aios.TokenUsage{PromptTokens: 10, CompletionTokens: 7, TotalTokens: 17}},
		&aios.UserMessage{Content: "after the run"},
	}
	out := make([]aios.EventEnvelope, len(payloads))
	for i, p := range payloads {
		out[i] = aios.EventEnvelope{
			EventID: fmt.Sprintf("E%02d", i+1), SessionID: "s", BranchID: "main", RunID: "R1",
			Seq: uint64(i + 1), Timestamp: 1700000000000000 + uint64(i), Payload: p,
			Metadata: map[string]string{}, SchemaVersion: 1,
		}
	}
	return out
}

// parseSSE is a small test-side reader of an event stream.
func parseSSE(t testing.TB, raw string) []Message {
	t.Helper()
	var out []Message
	var cur Message
	var data []string
	has := false
	sc := bufio.NewScanner(strings.NewReader(raw))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			if has {
				cur.Data = []byte(strings.Join(data, "\n"))
				out = append(out, cur)
			}
			cur, data, has = Message{}, nil, false
			continue
		}
		if strings.HasPrefix(line, ":") {
			continue
		}
		k, v, _ := strings.Cut(line, ":")
		v = strings.TrimPrefix(v, " ")
		has = true
		switch k {
		case "id":
			cur.ID = v
		case "event":
			cur.Event = v
		case "data":
			data = append(data, v)
		}
	}
	return out
}

func encodeAll(t testing.TB, format string, evs []aios.EventEnvelope) (string, Encoder) {
	t.Helper()
	enc, err := New(format, Options{Model: "mock-1"})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	enc.Header(rec.Header())
	w := NewWriter(rec)
	for _, e := range evs {
		if enc.Done() {
			break
		}
		msgs, err := enc.Encode(e)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Write(msgs...); err != nil {
			t.Fatal(err)
		}
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("content type %q", ct)
	}
	return rec.Body.String(), enc
}

func types(t testing.TB, msgs []Message) []string {
	var out []string
	for _, m := range msgs {
		if string(m.Data) == "[DONE]" {
			out = append(out, "[DONE]")
			continue
		}
		var v map[string]any
		if err := json.Unmarshal(m.Data, &v); err != nil {
			t.Fatalf("data not JSON: %s", m.Data)
		}
		if s, ok := v["type"].(string); ok {
			out = append(out, s)
		} else if s, ok := v["object"].(string); ok {
			out = append(out, s)
		} else {
			out = append(out, "?")
		}
	}
	return out
}

func TestFormats(t *testing.T) {
	evs := sampleRun()
	tests := []struct {
		format string
		types  []string
		check  func(t *testing.T, msgs []Message)
	}{
		{"vercel", []string{"start", "start-step", "text-start", "text-delta", "text-delta", "text-end",
			"tool-input-start", "tool-input-delta", "tool-input-available", "tool-output-available", "finish-step",
			"start-step", "text-start", "text-delta", "text-end", "finish-step", "finish", "[DONE]"}, nil},
		{"anthropic", []string{"message_start", "content_block_start", "content_block_delta", "content_block_delta",
			"content_block_stop", "content_block_start", "content_block_delta", "content_block_stop",
			"content_block_start", "content_block_delta", "content_block_stop", "message_delta", "message_stop"},
			func(t *testing.T, msgs []Message) {
				for _, m := range msgs {
					var v map[string]any
					json.Unmarshal(m.Data, &v)
					if m.Event != v["type"] {
						t.Fatalf("event %q carries type %v", m.Event, v["type"])
					}
				}
			}},
		{"openai", []string{"chat.completion.chunk", "chat.completion.chunk", "chat.completion.chunk", "chat.completion.chunk",
			"chat.completion.chunk", "chat.completion.chunk", "chat.completion.chunk", "[DONE]"},
			func(t *testing.T, msgs []Message) {
				var text strings.Builder
				for _, m := range msgs[:len(msgs)-1] {
					var c struct {
						Choices []struct {
							Delta struct {
								Content string `json:"content"`
							} `json:"delta"`
							FinishReason *string `json:"finish_reason"`
						} `json:"choices"`
						Usage *struct{ TotalTokens int } `json:"usage"`
					}
					json.Unmarshal(m.Data, &c)
					for _, ch := range c.Choices {
						text.WriteString(ch.Delta.Content)
					}
				}
				if text.String() != "Let me check.It is sunny <3 & warm." {
					t.Fatalf("text %q", text.String())
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			body, enc := encodeAll(t, tt.format, evs)
			if !enc.Done() {
				t.Fatal("encoder not done after RunFinished")
			}
			msgs := parseSSE(t, body)
			if got := types(t, msgs); !reflect.DeepEqual(got, tt.types) {
				t.Fatalf("types\n got %v\nwant %v", got, tt.types)
			}
			// ids: strictly increasing seqs, only on the last message of an event
			var last uint64
			for _, m := range msgs {
				if m.ID == "" {
					continue
				}
				n, err := ParseLastEventID(m.ID)
				if err != nil || n <= last {
					t.Fatalf("id %q after %d", m.ID, last)
				}
				last = n
			}
			if last != 12 {
				t.Fatalf("last id %d, want 12 (RunFinished)", last)
			}
			if tt.check != nil {
				tt.check(t, msgs)
			}
		})
	}
}

func TestLagoFormat(t *testing.T) {
	evs := sampleRun()
	body, enc := encodeAll(t, "lago", evs)
	if enc.Done() {
		t.Fatal("lago format ends")
	}
	msgs := parseSSE(t, body)
	if len(msgs) != len(evs) {
		t.Fatalf("%d messages", len(msgs))
	}
	for i, m := range msgs {
		e, err := aios.DecodeEnvelope(m.Data)
		if err != nil || e.EventID != evs[i].EventID || m.ID != fmt.Sprint(i+1) || m.Event != evs[i].Payload.Type() {
			t.Fatalf("message %d: %+v %v", i, m, err)
		}
	}
	unjournaled := sampleRun()[0]
	unjournaled.Seq = 0
	if msgs, _ := (&Lago{}).Encode(unjournaled); msgs[0].ID != "" {
		t.Fatalf("seq 0 got id %q", msgs[0].ID)
	}
	raw := (&Lago{}).EncodeRaw(7, []byte(`{"x":1}`))
	if raw[0].ID != "7" || string(raw[0].Data) != `{"x":1}` {
		t.Fatalf("raw %+v", raw)
	}
}

func TestVercelHeaderAndErrors(t *testing.T) {
	enc, _ := New("vercel", Options{})
	rec := httptest.NewRecorder()
	enc.Header(rec.Header())
	if rec.Header().Get("x-vercel-ai-ui-message-stream") != "v1" {
		t.Fatal("missing UI message stream header")
	}
	if _, err := New("grpc", Options{}); !errors.Is(err, ErrUnknownFormat) {
		t.Fatalf("err %v", err)
	}
	evs := sampleRun()[:4]
	evs = append(evs, aios.EventEnvelope{Seq: 5, Payload: &aios.RunErrored{Error: "provider down"}})
	for _, f := range []string{"vercel", "openai", "anthropic"} {
		body, e := encodeAll(t, f, evs)
		if !e.Done() || !strings.Contains(body, "provider down") {
			t.Fatalf("%s: error not rendered: %s", f, body)
		}
	}
}

func TestWriterFraming(t *testing.T) {
	tests := []struct {
		msg  Message
		want string
	}{
		{Message{ID: "1", Data: []byte("x")}, "id: 1\ndata: x\n\n"},
		{Message{Event: "e", Data: []byte("a\nb\r\nc")}, "event: e\ndata: a\ndata: b\ndata: c\n\n"},
		{Message{ID: "1\n2", Event: "a\rb", Data: nil}, "id: 12\nevent: ab\ndata: \n\n"},
	}
	for _, tt := range tests {
		var b bytes.Buffer
		AppendMessage(&b, tt.msg)
		if b.String() != tt.want {
			t.Errorf("%+v framed %q, want %q", tt.msg, b.String(), tt.want)
		}
	}
}

func FuzzFraming(f *testing.F) {
	f.Add("1", "ev", []byte("line1\nline2"))
	f.Add("", "", []byte("\r\n\r"))
	f.Fuzz(func(t *testing.T, id, event string, data []byte) {
		var b bytes.Buffer
		AppendMessage(&b, Message{ID: id, Event: event, Data: data})
		msgs := parseSSE(t, b.String())
		if len(msgs) != 1 {
			t.Fatalf("%d messages from %q", len(msgs), b.String())
		}
		norm := strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(string(data))
		if string(msgs[0].Data) != norm {
			t.Fatalf("data %q, want %q", msgs[0].Data, norm)
		}
	})
}

// FuzzEncoders runs stored events of any shape a client may append
// through every format: no panic, and every message's data is JSON (the
// clients parse each one), ids only on journaled events.
func FuzzEncoders(f *testing.F) {
	for _, e := range sampleRun() {
		b, _ := aios.EncodeEnvelope(e)
		f.Add(b, b)
	}
	f.Add([]byte(`{"event_id":"e","session_id":"s","branch_id":"main","seq":3,"timestamp":1,"payload":{"type":"ToolCallRequested","call_id":"c","tool_name":"t","arguments":{"a":[1,"\u2028"]}},"metadata":{},"schema_version":1}`),
		[]byte(`{"event_id":"f","session_id":"s","branch_id":"main","seq":4,"timestamp":1,"payload":{"type":"RunErrored","error":"boom\n\r"},"metadata":{},"schema_version":1}`))
	f.Fuzz(func(t *testing.T, a, b []byte) {
		var evs []aios.EventEnvelope
		for _, raw := range [][]byte{a, b} {
			if e, err := aios.DecodeEnvelope(raw); err == nil {
				evs = append(evs, e)
			}
		}
		for _, format := range Formats {
			enc, err := New(format, Options{})
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			for _, e := range evs {
				msgs, err := enc.Encode(e)
				if err != nil {
					continue
				}
				for _, m := range msgs {
					if m.ID != "" && m.ID != fmt.Sprint(e.Seq) {
						t.Fatalf("%s: id %q on seq %d", format, m.ID, e.Seq)
					}
					AppendMessage(&out, m)
				}
			}
			for _, m := range parseSSE(t, out.String()) {
				if !json.Valid(m.Data) && !(format == "openai" && string(m.Data) == "[DONE]") && !(format == "vercel" && string(m.Data) == "[DONE]") {
					t.Fatalf("%s: data %q is not JSON", format, m.Data)
				}
			}
		}
	})
}

func FuzzParseLastEventID(f *testing.F) {
	for _, s := range []string{"", "0", "42", " 7 ", "-1", "x", "18446744073709551616"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseLastEventID(s)
		if err == nil && strings.TrimSpace(s) != "" && fmt.Sprint(n) != strings.TrimLeft(strings.TrimSpace(s), "+") {
			if strings.TrimLeft(strings.TrimSpace(s), "0") != fmt.Sprint(n) && n != 0 {
				t.Fatalf("%q parsed as %d", s, n)
			}
		}
	})
}

func ExampleNew() {
	enc, _ := New("vercel", Options{})
	w := NewWriter(os.Stdout)
	for _, e := range sampleRun()[1:5] {
		msgs, _ := enc.Encode(e)
		w.Write(msgs...)
	}
	// Output:
	// id: 2
	// data: {"messageId":"msg-R1","type":"start"}
	//
	// id: 3
	// data: {"type":"start-step"}
	//
	// data: {"id":"text-1","type":"text-start"}
	//
	// id: 4
	// data: {"delta":"Let me ","id":"text-1","type":"text-delta"}
	//
	// id: 5
	// data: {"delta":"check.","id":"text-1","type":"text-delta"}
}
