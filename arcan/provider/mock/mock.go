// Package mock is a deterministic provider that needs no model and no key.
// It follows fixed rules over the conversation, so tests and the quick start
// exercise the whole loop (streaming, tool calls, tool results) offline:
//
//   - a prompt asking to list files (list, files, directory, folder, ls)
//     yields a list_dir call, then a summary naming the entries it returned;
//   - a prompt asking to read, show, cat or open a file yields a read_file
//     call, then the file's content;
//   - "write TEXT to FILE" yields a write_file call (a tool that changes
//     things, so the approval path can be tried without a model);
//   - anything else gets a plain answer that says what the mock can do.
//
// Tool calls are only made for tools the request offers.
package mock

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"regexp"
	"slices"
	"strings"

	"github.com/lifeos/life/aios"
)

// Tool names the rules use.
const (
	ListDir   = "list_dir"
	ReadFile  = "read_file"
	WriteFile = "write_file"
)

// Provider is the mock provider. The zero value is ready to use.
type Provider struct {
	// Model is reported in Finish.Model (default "mock-1").
	Model string
}

// New returns a mock provider.
func New() *Provider { return &Provider{} }

// Name returns "mock".
func (*Provider) Name() string { return "mock" }

var (
	readRe  = regexp.MustCompile(`(?i)\b(?:read|show|cat|open|print|display)\b(?:\s+(?:me|the|file|contents?|of))*\s+["'\x60]?([\w./\\~-]*[\w~-])`)
	listRe  = regexp.MustCompile(`(?i)\b(list|files|directory|folder|ls|dir)\b`)
	writeRe = regexp.MustCompile(`(?is)^\s*write\s+["']?(.+?)["']?\s+(?:to|into)\s+(?:the\s+file\s+)?["'\x60]?([\w./~-]*[\w~-])["'\x60]?\s*[.!]?\s*$`)
	// hashline rows ("   3 6fde1034 | text") as praxis's read_file renders them.
	hashRowRe = regexp.MustCompile(`(?m)^\s*\d+ [0-9a-f]{4,16} \| ?`)
)

// Stream answers req by the rules above, streaming text word by word.
func (p *Provider) Stream(ctx context.Context, req aios.ChatRequest) iter.Seq2[aios.ProviderEvent, error] {
	return func(yield func(aios.ProviderEvent, error) bool) {
		text, calls := p.respond(req)
		for _, w := range chunks(text) {
			if err := ctx.Err(); err != nil {
				yield(aios.ProviderEvent{}, err)
				return
			}
			if !yield(aios.ProviderEvent{Kind: aios.ProviderTextDelta, Text: w}, nil) {
				return
			}
		}
		for i := range calls {
			if !yield(aios.ProviderEvent{Kind: aios.ProviderToolCall, ToolCall: &calls[i]}, nil) {
				return
			}
		}
		stop := "end_turn"
		if len(calls) > 0 {
			stop = "tool_use"
		}
		model := p.Model
		if model == "" {
			model = "mock-1"
		}
		in := uint32(0)
		for _, m := range req.Messages {
			in += uint32(len(m.Content)/4 + 1)
		}
		out := uint32(len(text)/4 + len(calls)*8)
		if req.MaxTokens > 0 && out > req.MaxTokens {
			out = req.MaxTokens
		}
		yield(aios.ProviderEvent{Kind: aios.ProviderDone, Finish: &aios.Finish{
			StopReason: stop, Model: model,
			Usage: aios.TokenUsage{PromptTokens: in, CompletionTokens: out, TotalTokens: in + out},
		}}, nil)
	}
}

func (p *Provider) respond(req aios.ChatRequest) (string, []aios.ToolCall) {
	n := len(req.Messages)
	if n == 0 {
		return "Hello. I am the mock provider; ask me to list the files here or to read a file.", nil
	}
	if req.Messages[n-1].Role == aios.RoleTool {
		return summarize(req.Messages), nil
	}
	var last string
	for i := n - 1; i >= 0; i-- {
		if req.Messages[i].Role == aios.RoleUser {
			last = req.Messages[i].Content
			break
		}
	}
	offered := func(name string) bool {
		return slices.ContainsFunc(req.Tools, func(s aios.ToolSpec) bool { return s.Name == name })
	}
	callNo := 0
	for _, m := range req.Messages {
		callNo += len(m.ToolCalls)
	}
	id := fmt.Sprintf("call_mock_%d", callNo+1)
	if m := writeRe.FindStringSubmatch(last); m != nil && offered(WriteFile) {
		args, _ := json.Marshal(map[string]string{"path": m[2], "content": m[1] + "\n"})
		return "I will write " + m[2] + ".", []aios.ToolCall{{ID: id, Name: WriteFile, Arguments: args}}
	}
	if m := readRe.FindStringSubmatch(last); m != nil && offered(ReadFile) && !isFiller(m[1]) {
		args, _ := json.Marshal(map[string]string{"path": m[1]})
		return "I will read " + m[1] + ".", []aios.ToolCall{{ID: id, Name: ReadFile, Arguments: args}}
	}
	if listRe.MatchString(last) && offered(ListDir) {
		return "Let me look at the directory.", []aios.ToolCall{{ID: id, Name: ListDir, Arguments: json.RawMessage(`{"path":"."}`)}}
	}
	return fmt.Sprintf("You said: %q. I am the mock provider (no model behind me): ask me to list the files here, or to read a file by name.", strings.TrimSpace(last)), nil
}

func isFiller(w string) bool {
	switch strings.ToLower(w) {
	case "a", "an", "the", "file", "files", "it", "this", "that", "me", "directory":
		return true
	}
	return false
}

// summarize answers from the tool results after the last assistant message.
func summarize(msgs []aios.ChatMessage) string {
	i := len(msgs)
	for i > 0 && msgs[i-1].Role == aios.RoleTool {
		i--
	}
	var parts []string
	for _, m := range msgs[i:] {
		switch {
		case m.IsError:
			parts = append(parts, fmt.Sprintf("The %s tool failed: %s", m.ToolName, m.Content))
		case m.ToolName == ListDir:
			names := entryNames(m.Content)
			if len(names) == 0 {
				parts = append(parts, "The directory is empty.")
			} else {
				parts = append(parts, fmt.Sprintf("The directory contains %d entries: %s.", len(names), strings.Join(names, ", ")))
			}
		case m.ToolName == ReadFile:
			parts = append(parts, "The file contains:\n"+fileText(m.Content))
		case m.ToolName == WriteFile:
			parts = append(parts, "Done: the file is written.")
		default:
			parts = append(parts, fmt.Sprintf("The %s tool returned: %s", m.ToolName, m.Content))
		}
	}
	return strings.Join(parts, "\n")
}

// entryNames pulls file names out of a list_dir result, whatever its
// shape: a JSON array of names or of objects with "name" (or "path"),
// an object holding such an array, or plain text with one name a line.
func entryNames(content string) []string {
	var v any
	if err := json.Unmarshal([]byte(content), &v); err != nil {
		var out []string
		for _, l := range strings.Split(content, "\n") {
			if l = strings.TrimSpace(l); l != "" {
				out = append(out, l)
			}
		}
		return out
	}
	var out []string
	var walk func(any, bool)
	walk = func(v any, inList bool) {
		switch x := v.(type) {
		case []any:
			for _, e := range x {
				walk(e, true)
			}
		case map[string]any:
			if inList {
				for _, k := range []string{"name", "path", "file"} {
					if s, ok := x[k].(string); ok {
						if d, _ := x["is_dir"].(bool); d || x["type"] == "dir" || x["type"] == "directory" {
							s += "/"
						}
						out = append(out, s)
						return
					}
				}
			}
			keys := make([]string, 0, len(x))
			for k := range x {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			for _, k := range keys {
				if _, ok := x[k].([]any); ok {
					walk(x[k], false)
				}
			}
		case string:
			if inList {
				out = append(out, x)
			}
		}
	}
	walk(v, false)
	return out
}

// fileText unwraps a read_file result that is JSON with a content field.
func fileText(content string) string {
	var v map[string]any
	if json.Unmarshal([]byte(content), &v) == nil {
		for _, k := range []string{"content", "text", "data"} {
			if s, ok := v[k].(string); ok {
				return hashRowRe.ReplaceAllString(s, "")
			}
		}
	}
	return content
}

// chunks splits text into words with their trailing space, like a model's
// token stream.
func chunks(text string) []string {
	var out []string
	for len(text) > 0 {
		i := strings.IndexByte(text, ' ')
		if i < 0 {
			out = append(out, text)
			break
		}
		out = append(out, text[:i+1])
		text = text[i+1:]
	}
	return out
}
