package openai

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

// Chunks as the OpenAI API streams them.
const (
	textStream = `data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}

data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"Hello"},"finish_reason":null}]}

data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":" world"},"finish_reason":null}]}

data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}

data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11}}

data: [DONE]

`
	toolStream = `data: {"id":"c2","model":"gpt-4o-mini","choices":[{"index":0,"delta":{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_a","type":"function","function":{"name":"read_file","arguments":""}}]},"finish_reason":null}]}

data: {"id":"c2","model":"gpt-4o-mini","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_b","type":"function","function":{"name":"list_dir","arguments":""}}]},"finish_reason":null}]}

data: {"id":"c2","model":"gpt-4o-mini","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"pa"}}]},"finish_reason":null}]}

data: {"id":"c2","model":"gpt-4o-mini","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"function":{"arguments":"{\"path\":\".\"}"}}]},"finish_reason":null}]}

data: {"id":"c2","model":"gpt-4o-mini","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"th\": \"a.txt\"}"}}]},"finish_reason":null}]}

data: {"id":"c2","model":"gpt-4o-mini","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}

data: [DONE]

`
	errorStream = `data: {"id":"c3","model":"m","choices":[{"index":0,"delta":{"content":"partial"},"finish_reason":null}]}

data: {"error":{"message":"The server had an error while processing your request.","type":"server_error"}}

`
	truncatedStream = `data: {"id":"c4","model":"m","choices":[{"index":0,"delta":{"content":"cut"},"finish_reason":null}]}

`
)

func serve(t *testing.T, h http.HandlerFunc) (*Provider, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		h(w, r)
	}))
	t.Cleanup(srv.Close)
	return New(Config{APIKey: "sk-test", BaseURL: srv.URL + "/v1", Model: "gpt-4o-mini", Retry: wire.Retry{Base: time.Millisecond, Cap: 2 * time.Second}}), &n
}

func sse(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, body)
	}
}

var hello = aios.ChatRequest{Messages: []aios.ChatMessage{{Role: aios.RoleUser, Content: "hi"}}}

func TestStreams(t *testing.T) {
	tests := []struct {
		name  string
		body  string
		check func(t *testing.T, r providertest.Result)
	}{
		{"text", textStream, func(t *testing.T, r providertest.Result) {
			if r.Err != nil || r.Text != "Hello world" || r.Finish.StopReason != "end_turn" || r.Finish.Usage.TotalTokens != 11 || r.Finish.Model != "gpt-4o-mini" {
				t.Fatalf("%+v %+v", r, r.Finish)
			}
		}},
		{"tool calls split across chunks", toolStream, func(t *testing.T, r providertest.Result) {
			if r.Err != nil || len(r.Calls) != 2 || r.Finish.StopReason != "tool_use" {
				t.Fatalf("%+v", r)
			}
			if c := r.Calls[0]; c.ID != "call_a" || c.Name != "read_file" || string(c.Arguments) != `{"path": "a.txt"}` {
				t.Fatalf("call 0 %+v %s", c, c.Arguments)
			}
			if c := r.Calls[1]; c.ID != "call_b" || c.Name != "list_dir" || string(c.Arguments) != `{"path":"."}` {
				t.Fatalf("call 1 %+v", c)
			}
		}},
		{"malformed arguments go on as a string", `data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_x","function":{"name":"read_file","arguments":"{\"path\": "}}]},"finish_reason":"tool_calls"}]}

data: [DONE]

`, func(t *testing.T, r providertest.Result) {
			if r.Err != nil || len(r.Calls) != 1 || string(r.Calls[0].Arguments) != `"{\"path\": "` {
				t.Fatalf("%+v", r)
			}
		}},
		{"error event", errorStream, func(t *testing.T, r providertest.Result) {
			if !errors.Is(r.Err, wire.ErrStream) || !strings.Contains(r.Err.Error(), "server_error") || r.Finish != nil {
				t.Fatalf("%+v", r)
			}
		}},
		{"truncated", truncatedStream, func(t *testing.T, r providertest.Result) {
			if r.Err == nil || r.Finish != nil {
				t.Fatalf("truncated stream ended normally: %+v", r)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, _ := serve(t, sse(tc.body))
			tc.check(t, providertest.Collect(context.Background(), p, hello))
		})
	}
}

func TestRequestEncoding(t *testing.T) {
	var got map[string]any
	var auth string
	p, _ := serve(t, func(w http.ResponseWriter, r *http.Request) {
		auth = r.Header.Get("Authorization")
		if r.URL.Path != "/v1/chat/completions" {
			t.Errorf("path %s", r.URL.Path)
		}
		json.NewDecoder(r.Body).Decode(&got)
		sse(textStream)(w, r)
	})
	req := aios.ChatRequest{
		System: "be brief",
		Messages: []aios.ChatMessage{
			{Role: aios.RoleUser, Content: "read a.txt"},
			{Role: aios.RoleAssistant, ToolCalls: []aios.ToolCall{{ID: "call_a", Name: "read_file", Arguments: json.RawMessage(`{"path":"a.txt"}`)}}},
			{Role: aios.RoleTool, ToolCallID: "call_a", ToolName: "read_file", Content: "contents"},
			// Malformed arguments, kept as a JSON string, go back as the model sent them.
			{Role: aios.RoleAssistant, ToolCalls: []aios.ToolCall{{ID: "call_b", Name: "read_file", Arguments: json.RawMessage(`"{\"path\": "`)}}},
			{Role: aios.RoleTool, ToolCallID: "call_b", ToolName: "read_file", Content: "error: arguments must be a JSON object", IsError: true},
		},
		Tools:     []aios.ToolSpec{{Name: "read_file", Description: "reads", InputSchema: json.RawMessage(`{"type":"object"}`)}},
		MaxTokens: 100,
	}
	if r := providertest.Collect(context.Background(), p, req); r.Err != nil {
		t.Fatal(r.Err)
	}
	if auth != "Bearer sk-test" || got["stream"] != true || got["max_tokens"] != float64(100) {
		t.Fatalf("auth %q body %v", auth, got)
	}
	raw, _ := json.Marshal(got["messages"])
	want := `[{"content":"be brief","role":"system"},{"content":"read a.txt","role":"user"},{"content":null,"role":"assistant","tool_calls":[{"function":{"arguments":"{\"path\":\"a.txt\"}","name":"read_file"},"id":"call_a","type":"function"}]},{"content":"contents","role":"tool","tool_call_id":"call_a"},{"content":null,"role":"assistant","tool_calls":[{"function":{"arguments":"{\"path\": ","name":"read_file"},"id":"call_b","type":"function"}]},{"content":"error: arguments must be a JSON object","role":"tool","tool_call_id":"call_b"}]`
	if string(raw) != want {
		t.Fatalf("messages\n got %s\nwant %s", raw, want)
	}
}

func TestRetries(t *testing.T) {
	t.Run("429 honours Retry-After", func(t *testing.T) {
		var calls atomic.Int32
		p, n := serve(t, func(w http.ResponseWriter, r *http.Request) {
			if calls.Add(1) == 1 {
				w.Header().Set("Retry-After", "1")
				w.WriteHeader(http.StatusTooManyRequests)
				io.WriteString(w, `{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}`)
				return
			}
			sse(textStream)(w, r)
		})
		start := time.Now()
		r := providertest.Collect(context.Background(), p, hello)
		if r.Err != nil || r.Text != "Hello world" || n.Load() != 2 {
			t.Fatalf("%+v after %d requests", r, n.Load())
		}
		if el := time.Since(start); el < 900*time.Millisecond {
			t.Fatalf("retried after %s, Retry-After said 1s", el)
		}
	})
	t.Run("Retry-After beyond the cap is not retried early", func(t *testing.T) {
		p, n := serve(t, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "3600")
			w.WriteHeader(http.StatusTooManyRequests)
			io.WriteString(w, `{"error":{"message":"quota","type":"requests"}}`)
		})
		start := time.Now()
		r := providertest.Collect(context.Background(), p, hello)
		var ae *wire.APIError
		if !errors.Is(r.Err, wire.ErrRateLimited) || !errors.As(r.Err, &ae) || ae.RetryAfter != time.Hour || n.Load() != 1 {
			t.Fatalf("%v after %d requests", r.Err, n.Load())
		}
		if el := time.Since(start); el > time.Second {
			t.Fatalf("gave up after %s", el)
		}
	})
	t.Run("5xx backoff then success", func(t *testing.T) {
		var calls atomic.Int32
		p, n := serve(t, func(w http.ResponseWriter, r *http.Request) {
			if calls.Add(1) <= 2 {
				http.Error(w, `{"error":{"message":"bad gateway","type":"server_error"}}`, http.StatusBadGateway)
				return
			}
			sse(textStream)(w, r)
		})
		if r := providertest.Collect(context.Background(), p, hello); r.Err != nil || n.Load() != 3 {
			t.Fatalf("%+v after %d requests", r, n.Load())
		}
	})
	t.Run("5xx gives up", func(t *testing.T) {
		p, n := serve(t, func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, `{"error":{"message":"down","type":"server_error"}}`, http.StatusServiceUnavailable)
		})
		r := providertest.Collect(context.Background(), p, hello)
		var ae *wire.APIError
		if !errors.Is(r.Err, wire.ErrServer) || !errors.As(r.Err, &ae) || ae.Message != "down" || n.Load() != 4 {
			t.Fatalf("%v after %d requests", r.Err, n.Load())
		}
	})
	t.Run("400 not retried", func(t *testing.T) {
		p, n := serve(t, func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"error":{"message":"bad model","type":"invalid_request_error"}}`)
		})
		r := providertest.Collect(context.Background(), p, hello)
		if r.Err == nil || !strings.Contains(r.Err.Error(), "bad model") || n.Load() != 1 {
			t.Fatalf("%v after %d requests", r.Err, n.Load())
		}
	})
	t.Run("401 is ErrAuth", func(t *testing.T) {
		p, _ := serve(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusUnauthorized) })
		if r := providertest.Collect(context.Background(), p, hello); !errors.Is(r.Err, wire.ErrAuth) {
			t.Fatal(r.Err)
		}
	})
}

func TestCancellation(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	p, _ := serve(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: {\"id\":\"x\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"first\"}}]}\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var got []string
	var err error
	for ev, e := range p.Stream(ctx, hello) {
		if e != nil {
			err = e
			break
		}
		got = append(got, ev.Text)
		cancel()
	}
	if !errors.Is(err, context.Canceled) || len(got) != 1 {
		t.Fatalf("got %v err %v", got, err)
	}
}
