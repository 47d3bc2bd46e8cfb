// Package openai is a provider for any OpenAI-compatible Chat Completions
// API (OpenAI, Ollama, vLLM, ...), streaming, with tool calls.
package openai

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"os"
	"sort"
	"strings"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/arcan/provider/wire"
)

// DefaultBaseURL is used when neither Config.BaseURL nor OPENAI_BASE_URL is set.
const DefaultBaseURL = "https://api.openai.com/v1"

// Config configures the provider.
type Config struct {
	APIKey     string // OPENAI_API_KEY when empty; optional for local servers
	BaseURL    string // OPENAI_BASE_URL when empty, then DefaultBaseURL
	Model      string // OPENAI_MODEL when empty, then gpt-4o-mini; a request's Model wins
	HTTPClient *http.Client
	Retry      wire.Retry
	Name       string // reported by Name (default "openai")
}

// Provider talks to /chat/completions with stream=true.
type Provider struct {
	cfg Config
}

// New fills cfg from the environment where it is empty.
func New(cfg Config) *Provider {
	if cfg.APIKey == "" {
		cfg.APIKey = os.Getenv("OPENAI_API_KEY")
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = os.Getenv("OPENAI_BASE_URL")
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	if cfg.Model == "" {
		cfg.Model = os.Getenv("OPENAI_MODEL")
	}
	if cfg.Model == "" {
		cfg.Model = "gpt-4o-mini"
	}
	if cfg.Name == "" {
		cfg.Name = "openai"
	}
	return &Provider{cfg: cfg}
}

// Name returns the configured name.
func (p *Provider) Name() string { return p.cfg.Name }

type (
	wireFunction struct {
		Name      string `json:"name,omitempty"`
		Arguments string `json:"arguments"`
	}
	wireToolCall struct {
		Index    *int         `json:"index,omitempty"`
		ID       string       `json:"id,omitempty"`
		Type     string       `json:"type,omitempty"`
		Function wireFunction `json:"function"`
	}
	wireMessage struct {
		Role       string         `json:"role"`
		Content    *string        `json:"content"`
		ToolCalls  []wireToolCall `json:"tool_calls,omitempty"`
		ToolCallID string         `json:"tool_call_id,omitempty"`
	}
	wireTool struct {
		Type     string `json:"type"`
		Function struct {
			Name        string          `json:"name"`
			Description string          `json:"description,omitempty"`
			Parameters  json.RawMessage `json:"parameters"`
		} `json:"function"`
	}
	wireRequest struct {
		Model         string        `json:"model"`
		Messages      []wireMessage `json:"messages"`
		Tools         []wireTool    `json:"tools,omitempty"`
		Stream        bool          `json:"stream"`
		StreamOptions struct {
			IncludeUsage bool `json:"include_usage"`
		} `json:"stream_options"`
		MaxTokens   uint32   `json:"max_tokens,omitempty"`
		Temperature *float64 `json:"temperature,omitempty"`
		TopP        *float64 `json:"top_p,omitempty"`
	}
	wireChunk struct {
		ID      string `json:"id"`
		Model   string `json:"model"`
		Choices []struct {
			Delta struct {
				Content   *string        `json:"content"`
				ToolCalls []wireToolCall `json:"tool_calls"`
			} `json:"delta"`
			FinishReason *string `json:"finish_reason"`
		} `json:"choices"`
		Usage *struct {
			PromptTokens     uint32 `json:"prompt_tokens"`
			CompletionTokens uint32 `json:"completion_tokens"`
			TotalTokens      uint32 `json:"total_tokens"`
		} `json:"usage"`
		Error *struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		} `json:"error"`
	}
)

func str(s string) *string { return &s }

// EncodeRequest is the wire body for req (exported for tests and tools).
func (p *Provider) EncodeRequest(req aios.ChatRequest) ([]byte, error) {
	w := wireRequest{Model: p.cfg.Model, Stream: true, MaxTokens: req.MaxTokens, Temperature: req.Temperature, TopP: req.TopP}
	w.StreamOptions.IncludeUsage = true
	if req.Model != "" {
		w.Model = req.Model
	}
	if req.System != "" {
		w.Messages = append(w.Messages, wireMessage{Role: "system", Content: str(req.System)})
	}
	for _, m := range req.Messages {
		switch m.Role {
		case aios.RoleAssistant:
			wm := wireMessage{Role: "assistant"}
			if m.Content != "" || len(m.ToolCalls) == 0 {
				wm.Content = str(m.Content)
			}
			for _, c := range m.ToolCalls {
				args := string(c.Arguments)
				var raw string
				switch {
				case args == "":
					args = "{}"
				case args[0] == '"' && json.Unmarshal(c.Arguments, &raw) == nil:
					args = raw // malformed arguments the model sent, kept as a JSON string: as it sent them
				}
				wm.ToolCalls = append(wm.ToolCalls, wireToolCall{ID: c.ID, Type: "function", Function: wireFunction{Name: c.Name, Arguments: args}})
			}
			w.Messages = append(w.Messages, wm)
		case aios.RoleTool:
			w.Messages = append(w.Messages, wireMessage{Role: "tool", Content: str(m.Content), ToolCallID: m.ToolCallID})
		default:
			w.Messages = append(w.Messages, wireMessage{Role: string(m.Role), Content: str(m.Content)})
		}
	}
	for _, s := range req.Tools {
		var t wireTool
		t.Type = "function"
		t.Function.Name, t.Function.Description, t.Function.Parameters = s.Name, s.Description, s.InputSchema
		if len(t.Function.Parameters) == 0 {
			t.Function.Parameters = json.RawMessage(`{"type":"object"}`)
		}
		w.Tools = append(w.Tools, t)
	}
	return json.Marshal(w)
}

// Stream calls the model; see aios.Provider.
func (p *Provider) Stream(ctx context.Context, req aios.ChatRequest) iter.Seq2[aios.ProviderEvent, error] {
	return func(yield func(aios.ProviderEvent, error) bool) {
		body, err := p.EncodeRequest(req)
		if err != nil {
			yield(aios.ProviderEvent{}, fmt.Errorf("%s: encode request: %w", p.cfg.Name, err))
			return
		}
		h := http.Header{}
		if p.cfg.APIKey != "" {
			h.Set("Authorization", "Bearer "+p.cfg.APIKey)
		}
		resp, err := wire.Post(ctx, p.cfg.HTTPClient, p.cfg.Name, p.cfg.BaseURL+"/chat/completions", h, body, p.cfg.Retry, wire.DecodeErrorBody)
		if err != nil {
			yield(aios.ProviderEvent{}, err)
			return
		}
		defer resp.Body.Close()
		p.decode(ctx, resp, yield)
	}
}

type pendingCall struct {
	id, name string
	args     strings.Builder
}

func (p *Provider) decode(ctx context.Context, resp *http.Response, yield func(aios.ProviderEvent, error) bool) {
	calls := map[int]*pendingCall{}
	fin := aios.Finish{}
	var finished, done bool
	for ev, err := range wire.ReadSSE(resp.Body) {
		if err != nil {
			yield(aios.ProviderEvent{}, p.streamErr(ctx, err))
			return
		}
		data := strings.TrimSpace(ev.Data)
		if data == "[DONE]" {
			done = true
			break
		}
		var c wireChunk
		if err := json.Unmarshal([]byte(data), &c); err != nil {
			yield(aios.ProviderEvent{}, fmt.Errorf("%s: bad chunk %.200q: %w", p.cfg.Name, data, err))
			return
		}
		if c.Error != nil {
			yield(aios.ProviderEvent{}, &wire.APIError{Provider: p.cfg.Name, Type: c.Error.Type, Message: c.Error.Message})
			return
		}
		if c.Model != "" {
			fin.Model = c.Model
		}
		if c.ID != "" {
			fin.ResponseID = c.ID
		}
		if c.Usage != nil {
			fin.Usage = aios.TokenUsage{PromptTokens: c.Usage.PromptTokens, CompletionTokens: c.Usage.CompletionTokens, TotalTokens: c.Usage.TotalTokens}
		}
		for _, ch := range c.Choices {
			if ch.Delta.Content != nil && *ch.Delta.Content != "" {
				if !yield(aios.ProviderEvent{Kind: aios.ProviderTextDelta, Text: *ch.Delta.Content}, nil) {
					return
				}
			}
			for _, tc := range ch.Delta.ToolCalls {
				i := len(calls)
				if tc.Index != nil {
					i = *tc.Index
				} else if tc.ID == "" && len(calls) > 0 {
					i = len(calls) - 1 // continuation without an index: the last call
				}
				pc := calls[i]
				if pc == nil {
					pc = &pendingCall{}
					calls[i] = pc
				}
				if tc.ID != "" {
					pc.id = tc.ID
				}
				if tc.Function.Name != "" {
					pc.name = tc.Function.Name
				}
				pc.args.WriteString(tc.Function.Arguments)
			}
			if ch.FinishReason != nil && *ch.FinishReason != "" {
				fin.StopReason = stopReason(*ch.FinishReason)
				finished = true
			}
		}
	}
	if !done && !finished {
		yield(aios.ProviderEvent{}, p.streamErr(ctx, errors.New("stream ended before [DONE]")))
		return
	}
	idx := make([]int, 0, len(calls))
	for i := range calls {
		idx = append(idx, i)
	}
	sort.Ints(idx)
	for _, i := range idx {
		pc := calls[i]
		args := json.RawMessage(pc.args.String())
		if len(args) == 0 {
			args = json.RawMessage("{}")
		}
		if !json.Valid(args) {
			// The model's malformed arguments go on as a JSON string: the
			// runtime answers the call with an error the model can
			// correct, instead of the whole run failing.
			args, _ = json.Marshal(string(args))
		}
		if !yield(aios.ProviderEvent{Kind: aios.ProviderToolCall, ToolCall: &aios.ToolCall{ID: pc.id, Name: pc.name, Arguments: args}}, nil) {
			return
		}
	}
	if fin.StopReason == "" {
		fin.StopReason = "end_turn"
	}
	yield(aios.ProviderEvent{Kind: aios.ProviderDone, Finish: &fin}, nil)
}

func (p *Provider) streamErr(ctx context.Context, err error) error {
	if c := context.Cause(ctx); c != nil {
		return c
	}
	return fmt.Errorf("%s: %w", p.cfg.Name, err)
}

// stopReason maps OpenAI finish reasons to the runtime's names.
func stopReason(r string) string {
	switch r {
	case "stop":
		return "end_turn"
	case "tool_calls", "function_call":
		return "tool_use"
	case "length":
		return "max_tokens"
	}
	return r
}
