package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/arcan/runtime"
)

// SessionHeader names the session a chat completion continues; the answer
// always carries it, so a client can continue the same agent session.
const SessionHeader = "X-Arcan-Session"

// ChatCompletionRequest is the OpenAI Chat Completions request. Sampling
// and tool fields are accepted and ignored: the agent uses its own model
// settings and tools.
type ChatCompletionRequest struct {
	Model         string                  `json:"model"`
	Messages      []ChatCompletionMessage `json:"messages"`
	Stream        bool                    `json:"stream,omitempty"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options,omitempty"`
	User string `json:"user,omitempty"`
}

// ChatCompletionMessage is one message; content is a string or an array of
// {type:"text", text} parts.
type ChatCompletionMessage struct {
	Role       string          `json:"role"`
	Content    json.RawMessage `json:"content"`
	Name       string          `json:"name,omitempty"`
	ToolCallID string          `json:"tool_call_id,omitempty"`
}

// ChatCompletion is the non-streaming answer.
type ChatCompletion struct {
	ID      string                 `json:"id"`
	Object  string                 `json:"object"`
	Created int64                  `json:"created"`
	Model   string                 `json:"model"`
	Choices []ChatCompletionChoice `json:"choices"`
	Usage   ChatCompletionUsage    `json:"usage"`
}

// ChatCompletionChoice is the one choice.
type ChatCompletionChoice struct {
	Index        int                   `json:"index"`
	Message      ChatCompletionMessage `json:"message"`
	FinishReason string                `json:"finish_reason"`
}

// ChatCompletionUsage counts tokens of the whole agent run.
type ChatCompletionUsage struct {
	PromptTokens     uint32 `json:"prompt_tokens"`
	CompletionTokens uint32 `json:"completion_tokens"`
	TotalTokens      uint32 `json:"total_tokens"`
}

func messageText(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, nil
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if err := json.Unmarshal(raw, &parts); err != nil {
		return "", badRequest("message content must be a string or an array of text parts")
	}
	var b strings.Builder
	for _, p := range parts {
		if p.Type != "text" {
			return "", badRequest("content part type %q is not supported (text only)", p.Type)
		}
		b.WriteString(p.Text)
	}
	return b.String(), nil
}

func (s *Server) chatCompletions(w http.ResponseWriter, r *http.Request) {
	var req ChatCompletionRequest
	// Lenient on unknown fields: OpenAI clients send many optional ones.
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 8<<20))
	if err := decodeJSON(dec, &req); err != nil {
		writeErr(w, err)
		return
	}
	if len(req.Messages) == 0 {
		writeErr(w, badRequest("messages is empty"))
		return
	}
	last := req.Messages[len(req.Messages)-1]
	if last.Role != "user" {
		writeErr(w, badRequest("the last message must be from the user (got %q)", last.Role))
		return
	}
	input, err := messageText(last.Content)
	if err != nil {
		writeErr(w, err)
		return
	}
	if strings.TrimSpace(input) == "" {
		writeErr(w, badRequest("the last user message is empty"))
		return
	}
	ctx := r.Context()
	var st aios.StreamID
	if id := r.Header.Get(SessionHeader); id != "" {
		if err := validID("session", id); err != nil {
			writeErr(w, err)
			return
		}
		st = aios.StreamID{Session: id, Branch: runtime.DefaultBranch}
		if err := s.exists(ctx, st); err != nil {
			writeErr(w, err)
			return
		}
	} else {
		// A new session seeded with the history the client sent.
		var history []aios.Payload
		for _, m := range req.Messages[:len(req.Messages)-1] {
			text, err := messageText(m.Content)
			if err != nil {
				writeErr(w, err)
				return
			}
			switch m.Role {
			case "system", "developer", "user", "assistant":
				role := m.Role
				if role == "developer" {
					role = "system"
				}
				history = append(history, &aios.Message{Role: role, Content: text})
			case "tool":
				// Results of tools the client ran are not the agent's; keep them as context.
				history = append(history, &aios.Message{Role: "user", Content: fmt.Sprintf("[tool %s result] %s", m.ToolCallID, text)})
			default:
				writeErr(w, badRequest("message role %q", m.Role))
				return
			}
		}
		id, err := s.cfg.Runtime.CreateSession(ctx, "chat.completions", nil)
		if err != nil {
			writeErr(w, err)
			return
		}
		st = aios.StreamID{Session: id, Branch: runtime.DefaultBranch}
		if len(history) > 0 {
			if err := s.cfg.Runtime.Append(ctx, st, history...); err != nil {
				writeErr(w, err)
				return
			}
		}
	}
	w.Header().Set(SessionHeader, st.Session)
	model := req.Model
	if model == "" {
		model = s.cfg.Runtime.Provider().Name()
	}
	id, created := s.ids.NewID(), time.Now().Unix()
	if req.Stream {
		sw := newSSE(w, FormatOpenAI)
		enc := &openaiEnc{sw: sw, id: "chatcmpl-" + id, created: created, model: model, usage: req.StreamOptions != nil && req.StreamOptions.IncludeUsage}
		sep := false
		res, err := s.cfg.Runtime.Run(ctx, st, runtime.RunOptions{
			Input: input,
			OnDelta: func(t string) {
				if sep {
					enc.delta("\n\n")
					sep = false
				}
				enc.delta(t)
			},
			OnEvent: func(e aios.EventEnvelope) {
				if m, ok := e.Payload.(*aios.AssistantMessageCommitted); ok && m.Content != "" {
					sep = true
				}
			},
		})
		s.metrics.run(res.Status)
		enc.done(res, err)
		return
	}
	var texts []string
	res, err := s.cfg.Runtime.Run(ctx, st, runtime.RunOptions{Input: input, OnEvent: func(e aios.EventEnvelope) {
		if m, ok := e.Payload.(*aios.AssistantMessageCommitted); ok && m.Content != "" {
			texts = append(texts, m.Content)
		}
	}})
	s.metrics.run(res.Status)
	if err != nil {
		writeErr(w, err)
		return
	}
	finish := "stop"
	if res.Status != runtime.StatusCompleted {
		finish = "length"
	}
	content, _ := json.Marshal(strings.Join(texts, "\n\n"))
	writeJSON(w, http.StatusOK, ChatCompletion{
		ID: "chatcmpl-" + id, Object: "chat.completion", Created: created, Model: model,
		Choices: []ChatCompletionChoice{{Index: 0, Message: ChatCompletionMessage{Role: "assistant", Content: content}, FinishReason: finish}},
		Usage:   ChatCompletionUsage{PromptTokens: res.Usage.PromptTokens, CompletionTokens: res.Usage.CompletionTokens, TotalTokens: res.Usage.TotalTokens},
	})
}
