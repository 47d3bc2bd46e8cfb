package eino

import (
	"context"
	"testing"

	"github.com/cloudwego/eino/components/model"
	"github.com/cloudwego/eino/components/tool"
	"github.com/cloudwego/eino/compose"
	"github.com/cloudwego/eino/flow/agent/react"
	"github.com/cloudwego/eino/schema"

	"github.com/lifeos/life/arcan/bench"
)

// fakeModel plays the scripted turn: a tool call, then an answer once the
// tool's result is in the input.
type fakeModel struct{}

func (fakeModel) reply(in []*schema.Message) *schema.Message {
	if n := len(in); n > 0 && in[n-1].Role == schema.Tool {
		m := schema.AssistantMessage("The tool said ok.", nil)
		m.ResponseMeta = &schema.ResponseMeta{FinishReason: "stop", Usage: &schema.TokenUsage{PromptTokens: 20, CompletionTokens: 10, TotalTokens: 30}}
		return m
	}
	m := schema.AssistantMessage("", []schema.ToolCall{{ID: "call_1", Function: schema.FunctionCall{Name: "noop", Arguments: `{"x":1}`}}})
	m.ResponseMeta = &schema.ResponseMeta{FinishReason: "tool_calls", Usage: &schema.TokenUsage{PromptTokens: 20, CompletionTokens: 10, TotalTokens: 30}}
	return m
}

func (f fakeModel) Generate(_ context.Context, in []*schema.Message, _ ...model.Option) (*schema.Message, error) {
	return f.reply(in), nil
}

func (f fakeModel) Stream(_ context.Context, in []*schema.Message, _ ...model.Option) (*schema.StreamReader[*schema.Message], error) {
	return schema.StreamReaderFromArray([]*schema.Message{f.reply(in)}), nil
}

func (f fakeModel) WithTools([]*schema.ToolInfo) (model.ToolCallingChatModel, error) { return f, nil }

type noop struct{}

func (noop) Info(context.Context) (*schema.ToolInfo, error) {
	return &schema.ToolInfo{Name: "noop", Desc: "does nothing"}, nil
}

func (noop) InvokableRun(context.Context, string, ...tool.Option) (string, error) {
	return `{"ok":true}`, nil
}

func newAgent(tb testing.TB) *react.Agent {
	a, err := react.NewAgent(context.Background(), &react.AgentConfig{
		ToolCallingModel: fakeModel{},
		ToolsConfig:      compose.ToolsNodeConfig{Tools: []tool.BaseTool{noop{}}},
		MaxStep:          16,
	})
	if err != nil {
		tb.Fatal(err)
	}
	return a
}

func TestEinoTurn(t *testing.T) {
	out, err := newAgent(t).Generate(context.Background(), []*schema.Message{schema.UserMessage("use the tool")})
	if err != nil || out.Content != "The tool said ok." {
		t.Fatalf("%v %+v", err, out)
	}
}

// BenchmarkTurn compares one scripted turn: eino's ReAct agent (state in
// memory), arcan on the lago journal without and with fsync, and arcan on
// an in-memory fake journal (the loop alone).
func BenchmarkTurn(b *testing.B) {
	b.Run("eino-react", func(b *testing.B) {
		a := newAgent(b)
		ctx := context.Background()
		in := []*schema.Message{schema.UserMessage("use the tool")}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := a.Generate(ctx, in); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("arcan-journal=fake", func(b *testing.B) { bench.BenchTurns(b, bench.OpenFake()) })
	b.Run("arcan-lago-fsync=false", func(b *testing.B) { bench.BenchTurn(b, false) })
	b.Run("arcan-lago-fsync=true", func(b *testing.B) { bench.BenchTurn(b, true) })
}
