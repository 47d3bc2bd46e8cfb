package anthropic

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/arcan/provider/providertest"
	"github.com/lifeos/life/arcan/provider/wire"
)

// A tool_use stream as the Messages API sends it, with the tool input split
// across several input_json_delta events and a ping in between.
const toolStream = `event: message_start
data: {"type":"message_start","message":{"id":"msg_01","type":"message","role":"assistant","content":[],"model":"claude-sonnet-4-5","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":472,"output_tokens":2}}}

event: content_block_start
data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}

event: ping
data: {"type": "ping"}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Okay, let me"}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" check."}}

event: content_block_stop
data: {"type":"content_block_stop","index":0}

event: content_block_start
data: {"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_01T1x","name":"read_file","input":{}}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":""}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"path\": \"READ"}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"ME.md\"}"}}

event: content_block_stop
data: {"type":"content_block_stop","index":1}

event: content_block_start
data: {"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"toolu_02","name":"list_dir","input":{}}}

event: content_block_stop
data: {"type":"content_block_stop","index":2}

event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":89}}

event: message_stop
data: {"type":"message_stop"}

`

const errorStream = `event: message_start
data: {"type":"message_start","message":{"id":"msg_02","type":"message","role":"assistant","content":[],"model":"claude-sonnet-4-5","usage":{"input_tokens":1,"output_tokens":1}}}

event: error
data: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}

`

func serve(t *testing.T, h http.HandlerFunc) (*Provider, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { n.Add(1); h(w, r) }))
	t.Cleanup(srv.Close)
	return New(Config{APIKey: "sk-ant-test", BaseURL: srv.URL, Retry: wire.Retry{Base: time.Millisecond, Cap: 2 * time.Second}}), &n
}

func sse(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, body)
	}
}

var hello = aios.ChatRequest{Messages: []aios.ChatMessage{{Role: aios.RoleUser, Content: "hi"}}}

func TestToolUseStream(t *testing.T) {
	p, _ := serve(t, sse(toolStream))
	r := providertest.Collect(context.Background(), p, hello)
	if r.Err != nil || r.Text != "Okay, let me check." || len(r.Calls) != 2 {
		t.Fatalf("%+v", r)
	}
	if c := r.Calls[0]; c.ID != "toolu_01T1x" || c.Name != "read_file" || string(c.Arguments) != `{"path": "README.md"}` {
		t.Fatalf("%+v %s", c, c.Arguments)
	}
	if string(r.Calls[1].Arguments) != "{}" {
		t.Fatalf("empty input: %s", r.Calls[1].Arguments)
	}
	f := r.Finish
	if f.StopReason != "tool_use" || f.Usage.PromptTokens != 472 || f.Usage.CompletionTokens != 89 || f.Usage.TotalTokens != 561 || f.Model != "claude-sonnet-4-5" || f.ResponseID != "msg_01" {
		t.Fatalf("%+v", f)
	}
}

// A tool_use whose streamed input is not JSON goes on as a JSON string
// (the runtime answers it with an error the model can correct); the run
// does not fail.
func TestMalformedToolInput(t *testing.T) {
	body := "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_02\",\"model\":\"claude-sonnet-4-5\",\"usage\":{\"input_tokens\":5,\"output_tokens\":1}}}\n\n" +
		"event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_bad\",\"name\":\"read_file\",\"input\":{}}}\n\n" +
		"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"path\\\": \"}}\n\n" +
		"event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n" +
		"event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\"},\"usage\":{\"output_tokens\":3}}\n\n" +
		"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"
	p, _ := serve(t, sse(body))
	r := providertest.Collect(context.Background(), p, hello)
	if r.Err != nil || len(r.Calls) != 1 || string(r.Calls[0].Arguments) != `"{\"path\": "` {
		t.Fatalf("%+v %v", r, r.Err)
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name    string
		h       func(calls *atomic.Int32) http.HandlerFunc
		want    error
		message string
		n       int32
	}{
		{"error event", func(*atomic.Int32) http.HandlerFunc { return sse(errorStream) }, wire.ErrStream, "Overloaded", 1},
		{"truncated", func(*atomic.Int32) http.HandlerFunc { return sse(strings.Split(toolStream, "event: message_delta")[0]) }, nil, "before message_stop", 1},
		{"529 overloaded retried", func(c *atomic.Int32) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				if c.Add(1) == 1 {
					w.WriteHeader(529)
					io.WriteString(w, `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`)
					return
				}
				sse(toolStream)(w, r)
			}
		}, nil, "", 2},
		{"429 retried with retry-after", func(c *atomic.Int32) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				if c.Add(1) == 1 {
					w.Header().Set("Retry-After", "0.05")
					w.WriteHeader(429)
					io.WriteString(w, `{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}`)
					return
				}
				sse(toolStream)(w, r)
			}
		}, nil, "", 2},
		{"invalid request", func(*atomic.Int32) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(400)
				io.WriteString(w, `{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: required"}}`)
			}
		}, nil, "max_tokens: required", 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int32
			p, n := serve(t, tc.h(&calls))
			r := providertest.Collect(context.Background(), p, hello)
			if tc.message == "" {
				if r.Err != nil || r.Finish == nil {
					t.Fatalf("%+v", r)
				}
			} else if r.Err == nil || !strings.Contains(r.Err.Error(), tc.message) || r.Finish != nil {
				t.Fatalf("%+v", r)
			}
			if tc.want != nil && !errors.Is(r.Err, tc.want) {
				t.Fatalf("%v is not %v", r.Err, tc.want)
			}
			if n.Load() != tc.n {
				t.Fatalf("%d requests, want %d", n.Load(), tc.n)
			}
		})
	}
}

func TestRequestEncoding(t *testing.T) {
	var body []byte
	var hdr http.Header
	p, _ := serve(t, func(w http.ResponseWriter, r *http.Request) {
		hdr = r.Header
		body, _ = io.ReadAll(r.Body)
		sse(toolStream)(w, r)
	})
	req := aios.ChatRequest{
		System: "sys",
		Messages: []aios.ChatMessage{
			{Role: aios.RoleUser, Content: "look"},
			{Role: aios.RoleAssistant, Content: "ok", ToolCalls: []aios.ToolCall{{ID: "t1", Name: "list_dir", Arguments: json.RawMessage(`{"path":"."}`)}, {ID: "t2", Name: "read_file", Arguments: json.RawMessage(`"{\"path\": "`)}}}, // malformed, kept as a string
			{Role: aios.RoleTool, ToolCallID: "t1", Content: "a\nb"},
			{Role: aios.RoleTool, ToolCallID: "t2", Content: "no such file", IsError: true},
			{Role: aios.RoleUser, Content: "thanks"},
		},
		Tools: []aios.ToolSpec{{Name: "list_dir", Description: "lists", InputSchema: json.RawMessage(`{"type":"object"}`)}},
	}
	if r := providertest.Collect(context.Background(), p, req); r.Err != nil {
		t.Fatal(r.Err)
	}
	if hdr.Get("x-api-key") != "sk-ant-test" || hdr.Get("anthropic-version") != APIVersion {
		t.Fatalf("headers %v", hdr)
	}
	want := `{"model":"claude-sonnet-4-5","max_tokens":4096,"system":"sys","messages":[{"role":"user","content":[{"type":"text","text":"look"}]},{"role":"assistant","content":[{"type":"text","text":"ok"},{"type":"tool_use","id":"t1","name":"list_dir","input":{"path":"."}},{"type":"tool_use","id":"t2","name":"read_file","input":{}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":"a\nb"},{"type":"tool_result","tool_use_id":"t2","content":"no such file","is_error":true},{"type":"text","text":"thanks"}]}],"tools":[{"name":"list_dir","description":"lists","input_schema":{"type":"object"}}],"stream":true}`
	if string(body) != want {
		t.Fatalf("body\n got %s\nwant %s", body, want)
	}
}

func TestCancellation(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	p, _ := serve(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, strings.Split(toolStream, "event: content_block_stop")[0])
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var err error
	for ev, e := range p.Stream(ctx, hello) {
		if e != nil {
			err = e
			break
		}
		if ev.Kind == aios.ProviderTextDelta {
			cancel()
		}
	}
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v", err)
	}
}
