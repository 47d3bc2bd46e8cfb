// Package bench holds arcan's benchmarks and the scripted parts they share
// with the eino comparison in the nested module bench/eino: a provider that
// plays the same turn every time (one tool call, then an answer) and a
// no-op tool. Run them with
//
//	go test -run '^$' -bench . -benchtime 2s ./bench/        (from arcan/)
//	go test -run '^$' -bench . -benchtime 2s .                (from arcan/bench/eino, both stacks side by side)
package bench

import (
	"context"
	"encoding/json"
	"iter"

	"github.com/lifeos/life/aios"
)

// ScriptedProvider answers a user message with one call of the noop tool,
// and a tool result with a short answer: the same turn every time.
type ScriptedProvider struct{}

// Name returns "scripted".
func (ScriptedProvider) Name() string { return "scripted" }

var (
	callArgs = json.RawMessage(`{"x":1}`)
	usage    = aios.TokenUsage{PromptTokens: 20, CompletionTokens: 10, TotalTokens: 30}
)

// Stream plays the turn.
func (ScriptedProvider) Stream(_ context.Context, req aios.ChatRequest) iter.Seq2[aios.ProviderEvent, error] {
	return func(yield func(aios.ProviderEvent, error) bool) {
		if n := len(req.Messages); n > 0 && req.Messages[n-1].Role == aios.RoleTool {
			if !yield(aios.ProviderEvent{Kind: aios.ProviderTextDelta, Text: "The tool "}, nil) ||
				!yield(aios.ProviderEvent{Kind: aios.ProviderTextDelta, Text: "said ok."}, nil) {
				return
			}
			yield(aios.ProviderEvent{Kind: aios.ProviderDone, Finish: &aios.Finish{StopReason: "end_turn", Usage: usage}}, nil)
			return
		}
		if !yield(aios.ProviderEvent{Kind: aios.ProviderToolCall, ToolCall: &aios.ToolCall{ID: "call_1", Name: "noop", Arguments: callArgs}}, nil) {
			return
		}
		yield(aios.ProviderEvent{Kind: aios.ProviderDone, Finish: &aios.Finish{StopReason: "tool_use", Usage: usage}}, nil)
	}
}

// Noop is a tool that does nothing.
type Noop struct{}

// Spec describes the tool.
func (Noop) Spec() aios.ToolSpec {
	return aios.ToolSpec{Name: "noop", Description: "does nothing", InputSchema: json.RawMessage(`{"type":"object"}`), Annotations: aios.ToolAnnotations{ReadOnly: true, Idempotent: true}}
}

// Call returns {"ok":true}.
func (Noop) Call(context.Context, json.RawMessage) (aios.ToolResult, error) {
	return aios.ToolResult{Output: json.RawMessage(`{"ok":true}`)}, nil
}

// Tools is a registry of just Noop.
type Tools struct{}

// Tool finds noop.
func (Tools) Tool(name string) (aios.Tool, bool) {
	if name == "noop" {
		return Noop{}, true
	}
	return nil, false
}

// Specs lists noop.
func (Tools) Specs() []aios.ToolSpec { return []aios.ToolSpec{Noop{}.Spec()} }
