// Package interop checks lagod's SSE formats with the official npm clients
// (openai, @anthropic-ai/sdk, ai). .ci/run installs them with `npm ci` in node/; the test skips
// when node or node_modules is absent.
package interop

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/lago/server"
	"github.com/lifeos/life/lago/store"
)

func nodeOrSkip(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed: skipping the npm client interop test")
	}
	for _, pkg := range []string{"openai", "ai"} {
		if _, err := os.Stat(filepath.Join("node", "node_modules", pkg, "package.json")); err != nil {
			t.Skipf("node/node_modules/%s missing: run `npm ci` in lago/internal/interop/node (CI does)", pkg)
		}
	}
	return node
}

func u32(v uint32) *uint32 { return &v }

// run is a stored agent run: text, a tool round trip, more text.
func run(session string) []aios.EventEnvelope {
	payloads := []aios.Payload{
		&aios.UserMessage{Content: "weather in Paris?"},
		&aios.RunStarted{Provider: "mock", MaxIterations: 4},
		&aios.StepStarted{Index: 0},
		&aios.AssistantTextDelta{Delta: "Let me ", Index: u32(0)},
		&aios.AssistantTextDelta{Delta: "check.", Index: u32(0)},
		&aios.ToolCallRequested{CallID: "call_1", ToolName: "weather", Arguments: json.RawMessage(`{"city":"Paris"}`)},
		&aios.ToolCallCompleted{ToolRunID: "tr_1", CallID: "call_1", ToolName: "weather", Result: json.RawMessage(`{"output":"sunny","status":"success"}`), DurationMs: 3, Status: aios.SpanStatus("ok")},
		&aios.StepFinished{Index: 0, StopReason: "tool_use", DirectiveCount: 2},
		&aios.StepStarted{Index: 1},
		&aios.AssistantTextDelta{Delta: "It is sunny.", Index: u32(0)},
		&aios.StepFinished{Index: 1, StopReason: "end_turn", DirectiveCount: 1},
		&aios.RunFinished{Reason: "completed", TotalIterations: 2, Usage: &aios.TokenUsage{PromptTokens: 12, CompletionTokens: 8, TotalTokens: 20}},
	}
	out := make([]aios.EventEnvelope, len(payloads))
	for i, p := range payloads {
		out[i] = aios.EventEnvelope{EventID: fmt.Sprintf("%s-%d", session, i), SessionID: session, BranchID: "main", RunID: "run-1",
			Timestamp: 1700000000000000 + uint64(i), Payload: p, Metadata: map[string]string{}, SchemaVersion: 1}
	}
	return out
}

func serve(t *testing.T) (*httptest.Server, *store.Store) {
	t.Helper()
	st, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(server.New(server.Config{Store: st}))
	t.Cleanup(func() { srv.CloseClientConnections(); srv.Close(); st.Close() })
	if _, err := st.Journal.Append(context.Background(), run("s")...); err != nil {
		t.Fatal(err)
	}
	return srv, st
}

func runNode(t *testing.T, node, mode, url string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "interop.mjs", mode, url)
	cmd.Dir = "node"
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node %s: %v\n%s", mode, err, stderr.String())
	}
	return out
}

func TestOpenAIClientParsesStream(t *testing.T) {
	node := nodeOrSkip(t)
	srv, _ := serve(t)
	out := runNode(t, node, "openai", srv.URL+"/v1/sessions/s/events/stream?format=openai&model=mock-1")
	var res struct {
		Chunks int `json:"chunks"`
		Final  struct {
			ID      string `json:"id"`
			Model   string `json:"model"`
			Choices []struct {
				FinishReason string `json:"finish_reason"`
				Message      struct {
					Role      string `json:"role"`
					Content   string `json:"content"`
					ToolCalls []struct {
						ID       string `json:"id"`
						Function struct{ Name, Arguments string }
					} `json:"tool_calls"`
				} `json:"message"`
			} `json:"choices"`
			Usage *struct {
				TotalTokens int `json:"total_tokens"`
			} `json:"usage"`
		} `json:"final"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	f := res.Final
	if len(f.Choices) != 1 {
		t.Fatalf("final %s", out)
	}
	c := f.Choices[0]
	if c.Message.Role != "assistant" || c.Message.Content != "Let me check.It is sunny." || c.FinishReason != "stop" {
		t.Fatalf("message %+v", c)
	}
	if len(c.Message.ToolCalls) != 1 || c.Message.ToolCalls[0].ID != "call_1" || c.Message.ToolCalls[0].Function.Name != "weather" ||
		c.Message.ToolCalls[0].Function.Arguments != `{"city":"Paris"}` {
		t.Fatalf("tool calls %+v", c.Message.ToolCalls)
	}
	if f.ID != "chatcmpl-run-1" || f.Model != "mock-1" || f.Usage == nil || f.Usage.TotalTokens != 20 {
		t.Fatalf("final %s", out)
	}
}

func TestVercelAIClientParsesStream(t *testing.T) {
	node := nodeOrSkip(t)
	srv, _ := serve(t)
	out := runNode(t, node, "vercel", srv.URL+"/v1/sessions/s/events/stream?format=vercel")
	var res struct {
		Message struct {
			ID    string            `json:"id"`
			Role  string            `json:"role"`
			Parts []json.RawMessage `json:"parts"`
		} `json:"message"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	m := res.Message
	if m.ID != "msg-run-1" || m.Role != "assistant" {
		t.Fatalf("message %s", out)
	}
	var kinds, texts []string
	var tool struct {
		Type, ToolCallID, State string
		Input                   map[string]string
		Output                  map[string]string
	}
	for _, p := range m.Parts {
		var part struct{ Type, Text string }
		json.Unmarshal(p, &part)
		kinds = append(kinds, part.Type)
		if part.Type == "text" {
			texts = append(texts, part.Text)
		}
		if part.Type == "tool-weather" {
			json.Unmarshal(p, &tool)
		}
	}
	want := []string{"step-start", "text", "tool-weather", "step-start", "text"}
	if strings.Join(kinds, ",") != strings.Join(want, ",") {
		t.Fatalf("parts %v, want %v\n%s", kinds, want, out)
	}
	if strings.Join(texts, "|") != "Let me check.|It is sunny." {
		t.Fatalf("texts %v", texts)
	}
	if tool.ToolCallID != "call_1" || tool.State != "output-available" || tool.Input["city"] != "Paris" || tool.Output["output"] != "sunny" {
		t.Fatalf("tool part %+v", tool)
	}
}

func TestAnthropicClientParsesStream(t *testing.T) {
	node := nodeOrSkip(t)
	if _, err := os.Stat(filepath.Join("node", "node_modules", "@anthropic-ai", "sdk", "package.json")); err != nil {
		t.Skip("node/node_modules/@anthropic-ai/sdk missing: run `npm ci` in lago/internal/interop/node")
	}
	srv, _ := serve(t)
	out := runNode(t, node, "anthropic", srv.URL+"/v1/sessions/s/events/stream?format=anthropic&model=mock-1")
	var res struct {
		Final struct {
			ID         string `json:"id"`
			Role       string `json:"role"`
			Model      string `json:"model"`
			StopReason string `json:"stop_reason"`
			Content    []struct {
				Type  string            `json:"type"`
				Text  string            `json:"text"`
				ID    string            `json:"id"`
				Name  string            `json:"name"`
				Input map[string]string `json:"input"`
			} `json:"content"`
			Usage struct {
				OutputTokens int `json:"output_tokens"`
			} `json:"usage"`
		} `json:"final"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	f := res.Final
	if f.ID != "msg_run-1" || f.Role != "assistant" || f.Model != "mock-1" || f.StopReason != "end_turn" || f.Usage.OutputTokens != 8 {
		t.Fatalf("message %s", out)
	}
	if len(f.Content) != 3 || f.Content[0].Text != "Let me check." || f.Content[1].Type != "tool_use" ||
		f.Content[1].Name != "weather" || f.Content[1].Input["city"] != "Paris" || f.Content[2].Text != "It is sunny." {
		t.Fatalf("content %s", out)
	}
}
