package mock

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/arcan/provider/providertest"
)

var tools = []aios.ToolSpec{{Name: ListDir}, {Name: ReadFile}, {Name: WriteFile}}

func collect(t *testing.T, req aios.ChatRequest) (string, []aios.ToolCall, *aios.Finish) {
	t.Helper()
	r := providertest.Collect(context.Background(), New(), req)
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	if r.Finish == nil {
		t.Fatal("no done event")
	}
	return r.Text, r.Calls, r.Finish
}

func user(s string) aios.ChatMessage { return aios.ChatMessage{Role: aios.RoleUser, Content: s} }

func TestRules(t *testing.T) {
	tests := []struct {
		name     string
		msgs     []aios.ChatMessage
		tools    []aios.ToolSpec
		wantTool string
		wantArgs string
		wantText string
	}{
		{"list", []aios.ChatMessage{user("What files are in this directory?")}, tools, ListDir, `{"path":"."}`, ""},
		{"read", []aios.ChatMessage{user("Please read the file notes.txt")}, tools, ReadFile, `{"path":"notes.txt"}`, ""},
		{"show path", []aios.ChatMessage{user("show me src/main.go")}, tools, ReadFile, `{"path":"src/main.go"}`, ""},
		{"no tools offered", []aios.ChatMessage{user("list files")}, nil, "", "", "mock provider"},
		{"plain", []aios.ChatMessage{user("hello")}, tools, "", "", `You said: "hello"`},
		{"empty", nil, tools, "", "", "Hello"},
		{"summary of list", []aios.ChatMessage{user("ls"), {Role: aios.RoleAssistant, ToolCalls: []aios.ToolCall{{ID: "1", Name: ListDir}}},
			{Role: aios.RoleTool, ToolName: ListDir, ToolCallID: "1", Content: `{"entries":[{"name":"a.go"},{"name":"docs","is_dir":true}]}`}}, tools, "", "", "2 entries: a.go, docs/."},
		{"summary of strings", []aios.ChatMessage{{Role: aios.RoleTool, ToolName: ListDir, Content: `["x","y"]`}}, tools, "", "", "x, y"},
		{"summary of text", []aios.ChatMessage{{Role: aios.RoleTool, ToolName: ListDir, Content: "x\ny\n"}}, tools, "", "", "x, y"},
		{"file content", []aios.ChatMessage{{Role: aios.RoleTool, ToolName: ReadFile, Content: `{"content":"hi there"}`}}, tools, "", "", "hi there"},
		{"hashline rows unwrapped", []aios.ChatMessage{{Role: aios.RoleTool, ToolName: ReadFile, Content: `{"content":"   1 d4bc92c4 | go 1.26\n   2 ad6c9751 | \n"}`}}, tools, "", "", "contains:\ngo 1.26\n\n"},
		{"write", []aios.ChatMessage{user(`write "hello world" to notes.txt`)}, tools, WriteFile, `{"content":"hello world\n","path":"notes.txt"}`, ""},
		{"write without tool", []aios.ChatMessage{user("write hi to a.txt")}, []aios.ToolSpec{{Name: ReadFile}}, "", "", "You said"},
		{"written", []aios.ChatMessage{{Role: aios.RoleTool, ToolName: WriteFile, Content: `{"path":"a"}`}}, tools, "", "", "written"},
		{"tool error", []aios.ChatMessage{{Role: aios.RoleTool, ToolName: ReadFile, IsError: true, Content: "no such file"}}, tools, "", "", "failed: no such file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			text, calls, fin := collect(t, aios.ChatRequest{Messages: tc.msgs, Tools: tc.tools})
			if tc.wantTool != "" {
				if len(calls) != 1 || calls[0].Name != tc.wantTool || string(calls[0].Arguments) != tc.wantArgs || fin.StopReason != "tool_use" {
					t.Fatalf("calls %+v stop %s", calls, fin.StopReason)
				}
				return
			}
			if len(calls) != 0 || !strings.Contains(text, tc.wantText) || fin.StopReason != "end_turn" {
				t.Fatalf("text %q calls %v", text, calls)
			}
			if fin.Usage.TotalTokens != fin.Usage.PromptTokens+fin.Usage.CompletionTokens {
				t.Fatalf("usage %+v", fin.Usage)
			}
		})
	}
}

func TestDeterministicAndCancellable(t *testing.T) {
	req := aios.ChatRequest{Messages: []aios.ChatMessage{user("hello there")}}
	a, _, _ := collect(t, req)
	b, _, _ := collect(t, req)
	if a != b {
		t.Fatal("not deterministic")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var gotErr error
	for _, err := range New().Stream(ctx, req) {
		if err != nil {
			gotErr = err
		}
	}
	if gotErr == nil {
		t.Fatal("cancelled stream did not fail")
	}
}

func Example() {
	req := aios.ChatRequest{
		Messages: []aios.ChatMessage{{Role: aios.RoleUser, Content: "What files are in this directory?"}},
		Tools:    []aios.ToolSpec{{Name: "list_dir"}},
	}
	for ev, err := range New().Stream(context.Background(), req) {
		if err != nil {
			panic(err)
		}
		if ev.Kind == aios.ProviderToolCall {
			args, _ := json.Marshal(ev.ToolCall.Arguments)
			fmt.Println(ev.ToolCall.Name, string(args))
		}
	}
	// Output: list_dir {"path":"."}
}

func FuzzRespond(f *testing.F) {
	f.Add("list files", "")
	f.Add("read the file a.txt", `{"content":"   1 abcd1234 | x"}`)
	f.Add(`write "x" to y`, `{"entries":[{"name":"a","type":"dir"}]}`)
	f.Add("", "[1,{},\"s\"]")
	f.Fuzz(func(t *testing.T, prompt, toolOut string) {
		for _, name := range []string{ListDir, ReadFile, WriteFile, "other"} {
			msgs := []aios.ChatMessage{user(prompt)}
			if toolOut != "" {
				msgs = append(msgs, aios.ChatMessage{Role: aios.RoleTool, ToolName: name, Content: toolOut})
			}
			for ev, err := range New().Stream(context.Background(), aios.ChatRequest{Messages: msgs, Tools: tools}) {
				if err != nil {
					t.Fatal(err)
				}
				if ev.Kind == aios.ProviderToolCall && !json.Valid(ev.ToolCall.Arguments) {
					t.Fatalf("invalid arguments %s", ev.ToolCall.Arguments)
				}
			}
		}
	})
}
