// Package anthropic is a provider for the Anthropic Messages API, streaming,
// with tool use.
package anthropic

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"os"
	"strings"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/arcan/provider/wire"
)

// Defaults.
const (
	DefaultBaseURL   = "https://api.anthropic.com"
	DefaultModel     = "claude-sonnet-4-5"
	DefaultMaxTokens = 4096
	APIVersion       = "2023-06-01"
)

// Config configures the provider.
type Config struct {
	APIKey     string // ANTHROPIC_API_KEY when empty
	BaseURL    string // ANTHROPIC_BASE_URL when empty, then DefaultBaseURL
	Model      string // ANTHROPIC_MODEL when empty, then DefaultModel
	MaxTokens  uint32 // when the request sets none (the API requires one)
	HTTPClient *http.Client
	Retry      wire.Retry
}

// Provider talks to /v1/messages with stream=true.
type Provider struct {
	cfg Config
}

// New fills cfg from the environment where it is empty.
func New(cfg Config) *Provider {
	if cfg.APIKey == "" {
		cfg.APIKey = os.Getenv("ANTHROPIC_API_KEY")
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = os.Getenv("ANTHROPIC_BASE_URL")
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	if cfg.Model == "" {
		cfg.Model = os.Getenv("ANTHROPIC_MODEL")
	}
	if cfg.Model == "" {
		cfg.Model = DefaultModel
	}
	if cfg.MaxTokens == 0 {
		cfg.MaxTokens = DefaultMaxTokens
	}
	return &Provider{cfg: cfg}
}

// Name returns "anthropic".
func (*Provider) Name() string { return "anthropic" }

type (
	block struct {
		Type      string          `json:"type"`
		Text      string          `json:"text,omitempty"`
		ID        string          `json:"id,omitempty"`
		Name      string          `json:"name,omitempty"`
		Input     json.RawMessage `json:"input,omitempty"`
		ToolUseID string          `json:"tool_use_id,omitempty"`
		Content   string          `json:"content,omitempty"`
		IsError   bool            `json:"is_error,omitempty"`
	}
	message struct {
		Role    string  `json:"role"`
		Content []block `json:"content"`
	}
	tool struct {
		Name        string          `json:"name"`
		Description string          `json:"description,omitempty"`
		InputSchema json.RawMessage `json:"input_schema"`
	}
	request struct {
		Model       string    `json:"model"`
		MaxTokens   uint32    `json:"max_tokens"`
		System      string    `json:"system,omitempty"`
		Messages    []message `json:"messages"`
		Tools       []tool    `json:"tools,omitempty"`
		Stream      bool      `json:"stream"`
		Temperature *float64  `json:"temperature,omitempty"`
		TopP        *float64  `json:"top_p,omitempty"`
	}
	usage struct {
		InputTokens  uint32 `json:"input_tokens"`
		OutputTokens uint32 `json:"output_tokens"`
	}
	event struct {
		Type    string `json:"type"`
		Index   int    `json:"index"`
		Message *struct {
			ID    string `json:"id"`
			Model string `json:"model"`
			Usage usage  `json:"usage"`
		} `json:"message"`
		ContentBlock *block `json:"content_block"`
		Delta        *struct {
			Type        string `json:"type"`
			Text        string `json:"text"`
			PartialJSON string `json:"partial_json"`
			StopReason  string `json:"stop_reason"`
		} `json:"delta"`
		Usage *usage `json:"usage"`
		Error *struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		} `json:"error"`
	}
)

// EncodeRequest is the wire body for req. Tool results become tool_result
// blocks of a user message, and consecutive messages of one role are merged,
// since the API wants user and assistant turns to alternate.
func (p *Provider) EncodeRequest(req aios.ChatRequest) ([]byte, error) {
	w := request{Model: p.cfg.Model, MaxTokens: p.cfg.MaxTokens, System: req.System, Stream: true, Temperature: req.Temperature, TopP: req.TopP}
	if req.Model != "" {
		w.Model = req.Model
	}
	if req.MaxTokens > 0 {
		w.MaxTokens = req.MaxTokens
	}
	add := func(role string, b ...block) {
		if n := len(w.Messages); n > 0 && w.Messages[n-1].Role == role {
			w.Messages[n-1].Content = append(w.Messages[n-1].Content, b...)
			return
		}
		w.Messages = append(w.Messages, message{Role: role, Content: b})
	}
	for _, m := range req.Messages {
		switch m.Role {
		case aios.RoleSystem:
			w.System = strings.TrimSpace(w.System + "\n\n" + m.Content)
		case aios.RoleUser:
			add("user", block{Type: "text", Text: m.Content})
		case aios.RoleAssistant:
			var bs []block
			if m.Content != "" {
				bs = append(bs, block{Type: "text", Text: m.Content})
			}
			for _, c := range m.ToolCalls {
				in := c.Arguments
				if len(in) == 0 || in[0] != '{' {
					// The API takes only an object; malformed input the
					// model sent is quoted in the call's error result.
					in = json.RawMessage("{}")
				}
				bs = append(bs, block{Type: "tool_use", ID: c.ID, Name: c.Name, Input: in})
			}
			if len(bs) > 0 {
				add("assistant", bs...)
			}
		case aios.RoleTool:
			add("user", block{Type: "tool_result", ToolUseID: m.ToolCallID, Content: m.Content, IsError: m.IsError})
		}
	}
	for _, s := range req.Tools {
		schema := s.InputSchema
		if len(schema) == 0 {
			schema = json.RawMessage(`{"type":"object"}`)
		}
		w.Tools = append(w.Tools, tool{Name: s.Name, Description: s.Description, InputSchema: schema})
	}
	return json.Marshal(w)
}

// Stream calls the model; see aios.Provider.
func (p *Provider) Stream(ctx context.Context, req aios.ChatRequest) iter.Seq2[aios.ProviderEvent, error] {
	return func(yield func(aios.ProviderEvent, error) bool) {
		body, err := p.EncodeRequest(req)
		if err != nil {
			yield(aios.ProviderEvent{}, fmt.Errorf("anthropic: encode request: %w", err))
			return
		}
		h := http.Header{}
		h.Set("x-api-key", p.cfg.APIKey)
		h.Set("anthropic-version", APIVersion)
		resp, err := wire.Post(ctx, p.cfg.HTTPClient, "anthropic", p.cfg.BaseURL+"/v1/messages", h, body, p.cfg.Retry, wire.DecodeErrorBody)
		if err != nil {
			yield(aios.ProviderEvent{}, err)
			return
		}
		defer resp.Body.Close()
		decode(ctx, resp, yield)
	}
}

type toolBlock struct {
	id, name string
	json     strings.Builder
}

func decode(ctx context.Context, resp *http.Response, yield func(aios.ProviderEvent, error) bool) {
	fail := func(err error) {
		if c := context.Cause(ctx); c != nil {
			err = c
		}
		yield(aios.ProviderEvent{}, err)
	}
	tools := map[int]*toolBlock{}
	var fin aios.Finish
	for ev, err := range wire.ReadSSE(resp.Body) {
		if err != nil {
			fail(fmt.Errorf("anthropic: %w", err))
			return
		}
		var e event
		if err := json.Unmarshal([]byte(ev.Data), &e); err != nil {
			fail(fmt.Errorf("anthropic: bad event %.200q: %w", ev.Data, err))
			return
		}
		switch e.Type {
		case "message_start":
			if e.Message != nil {
				fin.ResponseID, fin.Model = e.Message.ID, e.Message.Model
				fin.Usage.PromptTokens = e.Message.Usage.InputTokens
				fin.Usage.CompletionTokens = e.Message.Usage.OutputTokens
			}
		case "content_block_start":
			if e.ContentBlock == nil {
				continue
			}
			switch e.ContentBlock.Type {
			case "tool_use":
				tools[e.Index] = &toolBlock{id: e.ContentBlock.ID, name: e.ContentBlock.Name}
			case "text":
				if e.ContentBlock.Text != "" && !yield(aios.ProviderEvent{Kind: aios.ProviderTextDelta, Text: e.ContentBlock.Text}, nil) {
					return
				}
			}
		case "content_block_delta":
			if e.Delta == nil {
				continue
			}
			switch e.Delta.Type {
			case "text_delta":
				if e.Delta.Text != "" && !yield(aios.ProviderEvent{Kind: aios.ProviderTextDelta, Text: e.Delta.Text}, nil) {
					return
				}
			case "input_json_delta":
				if tb := tools[e.Index]; tb != nil {
					tb.json.WriteString(e.Delta.PartialJSON)
				}
			}
		case "content_block_stop":
			tb := tools[e.Index]
			if tb == nil {
				continue
			}
			delete(tools, e.Index)
			args := json.RawMessage(tb.json.String())
			if len(strings.TrimSpace(string(args))) == 0 {
				args = json.RawMessage("{}")
			}
			if !json.Valid(args) {
				// The model's malformed input goes on as a JSON string: the
				// runtime answers the call with an error the model can
				// correct, instead of the whole run failing.
				args, _ = json.Marshal(string(args))
			}
			if !yield(aios.ProviderEvent{Kind: aios.ProviderToolCall, ToolCall: &aios.ToolCall{ID: tb.id, Name: tb.name, Arguments: args}}, nil) {
				return
			}
		case "message_delta":
			if e.Delta != nil && e.Delta.StopReason != "" {
				fin.StopReason = e.Delta.StopReason
			}
			if e.Usage != nil {
				fin.Usage.CompletionTokens = e.Usage.OutputTokens
				if e.Usage.InputTokens > 0 {
					fin.Usage.PromptTokens = e.Usage.InputTokens
				}
			}
		case "message_stop":
			fin.Usage.TotalTokens = fin.Usage.PromptTokens + fin.Usage.CompletionTokens
			if fin.StopReason == "" {
				fin.StopReason = "end_turn"
			}
			yield(aios.ProviderEvent{Kind: aios.ProviderDone, Finish: &fin}, nil)
			return
		case "error":
			ae := &wire.APIError{Provider: "anthropic"}
			if e.Error != nil {
				ae.Type, ae.Message = e.Error.Type, e.Error.Message
			}
			fail(ae)
			return
		}
	}
	fail(errors.New("anthropic: stream ended before message_stop"))
}
