package praxis_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/praxis"
	"github.com/lifeos/life/praxis/hashline"
	"github.com/lifeos/life/praxis/policy"
	"github.com/lifeos/life/praxis/sandbox"
)

// noop is a fake tool for dispatch tests: it returns {} and one event.
type noop struct {
	name string
	err  error
}

func (n noop) Spec() aios.ToolSpec {
	return aios.ToolSpec{Name: n.name, InputSchema: json.RawMessage(`{"type":"object"}`), Annotations: aios.ToolAnnotations{ReadOnly: true, Category: "test"}}
}
func (n noop) Call(context.Context, json.RawMessage) (aios.ToolResult, error) {
	if n.err != nil {
		return aios.ToolResult{}, n.err
	}
	return aios.ToolResult{Output: json.RawMessage(`{}`), Events: []aios.Payload{&aios.FileMutated{Path: "x", ContentHash: "h"}}}, nil
}

func types(ps []aios.Payload) string {
	var s []string
	for _, p := range ps {
		s = append(s, p.Type())
	}
	return strings.Join(s, ",")
}

func TestDispatcher(t *testing.T) {
	reg := praxis.NewRegistry()
	if err := reg.Register(noop{name: "ok"}, noop{name: "boom", err: errors.New("kaput")}, noop{name: "gated"}); err != nil {
		t.Fatal(err)
	}
	if err := reg.Register(noop{name: "ok"}); !errors.Is(err, praxis.ErrDuplicateTool) {
		t.Fatalf("duplicate: %v", err)
	}
	if err := reg.Register(noop{name: "bad name"}); err == nil {
		t.Fatal("bad name accepted")
	}
	gate, _ := policy.NewGate(policy.Config{Rules: []policy.Rule{
		{ID: "gated-approval", Tool: "gated", Decision: aios.PolicyRequireApproval},
		{ID: "boom-ok", Tool: "boom", Decision: aios.PolicyAllow},
	}}, reg)
	tests := []struct {
		tool   string
		events string
		err    error
	}{
		{"ok", "ToolCallRequested,PolicyEvaluated,ToolCallStarted,FileMutated,ToolCallCompleted", nil},
		{"boom", "ToolCallRequested,PolicyEvaluated,ToolCallStarted,ToolCallFailed", nil},
		{"gated", "ToolCallRequested,PolicyEvaluated", praxis.ErrApprovalRequired},
		{"nope", "ToolCallRequested,ToolCallFailed", praxis.ErrUnknownTool},
	}
	for _, tt := range tests {
		t.Run(tt.tool, func(t *testing.T) {
			var got []aios.Payload
			d := &praxis.Dispatcher{Tools: reg, Gate: gate, Journal: func(_ context.Context, p aios.Payload) error {
				got = append(got, p)
				return nil
			}}
			_, err := d.Call(t.Context(), aios.ToolCall{ID: "c1", Name: tt.tool})
			if tt.err != nil && !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if types(got) != tt.events {
				t.Fatalf("events %s, want %s", types(got), tt.events)
			}
		})
	}
	// A journal failure stops the call before the tool runs.
	ran := false
	reg.Register(toolFunc{"spy", func() { ran = true }})
	d := &praxis.Dispatcher{Tools: reg, Journal: func(_ context.Context, p aios.Payload) error {
		if p.Type() == "ToolCallStarted" {
			return errors.New("disk full")
		}
		return nil
	}}
	if _, err := d.Call(t.Context(), aios.ToolCall{Name: "spy"}); err == nil || ran {
		t.Fatalf("journal failure: err=%v ran=%v", err, ran)
	}
	if !reg.Remove("spy") || reg.Remove("spy") {
		t.Fatal("remove")
	}
}

type toolFunc struct {
	name string
	f    func()
}

func (t toolFunc) Spec() aios.ToolSpec { return aios.ToolSpec{Name: t.name} }
func (t toolFunc) Call(context.Context, json.RawMessage) (aios.ToolResult, error) {
	t.f()
	return aios.ToolResult{Output: json.RawMessage(`{}`)}, nil
}

// BenchmarkDispatch: a no-op tool through the policy gate and a journal hook
// that encodes each event (what a journal append costs before the disk),
// against calling the tool directly in the same run.
func BenchmarkDispatch(b *testing.B) {
	reg := praxis.NewRegistry()
	_ = reg.Register(noop{name: "noop"})
	gate, _ := policy.NewGate(policy.Config{Rules: []policy.Rule{{ID: "r", Category: "fs", Decision: aios.PolicyAllow}}}, reg)
	tool, _ := reg.Tool("noop")
	args := json.RawMessage(`{"x":1}`)
	b.Run("direct", func(b *testing.B) {
		for b.Loop() {
			if _, err := tool.Call(context.Background(), args); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("dispatch-gate-only", func(b *testing.B) {
		d := &praxis.Dispatcher{Tools: reg, Gate: gate}
		for b.Loop() {
			if _, err := d.Call(context.Background(), aios.ToolCall{ID: "c", Name: "noop", Arguments: args}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("dispatch", func(b *testing.B) {
		d := &praxis.Dispatcher{Tools: reg, Gate: gate, Journal: func(_ context.Context, p aios.Payload) error {
			_, err := aios.MarshalPayload(p)
			return err
		}}
		for b.Loop() {
			if _, err := d.Call(context.Background(), aios.ToolCall{ID: "c", Name: "noop", Arguments: args}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkHashline10k: tag a 10,000-line file and apply one edit per 100
// lines, against only splitting the file into lines.
func BenchmarkHashline10k(b *testing.B) {
	var sb strings.Builder
	for i := range 10000 {
		fmt.Fprintf(&sb, "\tline %d of a reasonably long Go source file, x := y + %d\n", i, i)
	}
	src := []byte(sb.String())
	b.SetBytes(int64(len(src)))
	b.Run("split-baseline", func(b *testing.B) {
		for b.Loop() {
			_ = strings.Split(string(src), "\n")
		}
	})
	b.Run("parse+tags", func(b *testing.B) {
		for b.Loop() {
			_ = hashline.Parse(src).Tags()
		}
	})
	b.Run("tags+apply100", func(b *testing.B) {
		text := "replaced"
		for b.Loop() {
			d := hashline.Parse(src)
			tags := d.Tags()
			ops := make([]hashline.Op, 0, 100)
			for i := 0; i < 10000; i += 100 {
				ops = append(ops, hashline.Op{Op: hashline.OpReplaceLine, Tag: tags[i], Text: &text})
			}
			out, err := hashline.Apply(d, ops)
			if err != nil {
				b.Fatal(err)
			}
			_ = out.Bytes()
		}
	})
}

// BenchmarkSpawn: the runner's spawn latency per tier against a plain
// exec.Command of the same program in the same run.
func BenchmarkSpawn(b *testing.B) {
	root := b.TempDir()
	fsp, err := sandbox.NewFsPolicy(root, sandbox.FsOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer fsp.Close()
	b.Run("exec.Command", func(b *testing.B) {
		for b.Loop() {
			cmd := exec.Command("/bin/true")
			cmd.Dir = root
			if err := cmd.Run(); err != nil {
				b.Fatal(err)
			}
		}
	})
	exe, _ := os.Executable()
	for _, tier := range []sandbox.Tier{sandbox.TierNone, sandbox.TierRestricted, sandbox.TierIsolated} {
		r, _ := sandbox.NewRunner(fsp, sandbox.RunnerOptions{Tier: tier, Limits: sandbox.DefaultLimits(), Helper: []string{exe}})
		if tier == sandbox.TierIsolated {
			if bw, ll, why := r.Isolation(context.Background()); !bw && !ll {
				b.Logf("isolated tier unavailable here: %v", why)
				continue
			}
		}
		b.Run("runner-"+string(tier), func(b *testing.B) {
			for b.Loop() {
				res, err := r.Run(context.Background(), sandbox.Request{Argv: []string{"/bin/true"}})
				if err != nil || res.ExitCode != 0 {
					b.Fatal(err, res)
				}
			}
		})
	}
}

func ExampleNewCanonicalRegistry() {
	root, _ := os.MkdirTemp("", "praxis-example")
	defer os.RemoveAll(root)
	_ = os.WriteFile(filepath.Join(root, "hello.txt"), []byte("hello\n"), 0o644)
	reg, err := praxis.NewCanonicalRegistry(root, praxis.Options{Tier: sandbox.TierRestricted})
	if err != nil {
		panic(err)
	}
	defer reg.Close()
	tool, _ := reg.Tool("read_file")
	res, _ := tool.Call(context.Background(), json.RawMessage(`{"path":"hello.txt"}`))
	var out struct{ Content string }
	_ = json.Unmarshal(res.Output, &out)
	fmt.Print(out.Content)
	res, _ = tool.Call(context.Background(), json.RawMessage(`{"path":"../etc/passwd"}`))
	fmt.Println(res.IsError, res.Events[0].(*aios.SandboxViolation).ViolationType)
	// Output:
	//    1 7feab20a | hello
	// true path_outside_workspace
}

// TestConcurrentDispatch runs canonical tools from many goroutines through
// one dispatcher and gate (run with -race).
func TestConcurrentDispatch(t *testing.T) {
	c, _ := workspace(t, praxis.Options{})
	gate, _ := policy.NewGate(policy.Config{}, c)
	var mu sync.Mutex
	count := map[string]int{}
	d := &praxis.Dispatcher{Tools: c, Gate: gate, Journal: func(_ context.Context, p aios.Payload) error {
		mu.Lock()
		count[p.Type()]++
		mu.Unlock()
		return nil
	}}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 10 {
				name := fmt.Sprintf("f%d-%d.txt", i, j)
				calls := []aios.ToolCall{
					{Name: "write_file", Arguments: json.RawMessage(fmt.Sprintf(`{"path":%q,"content":"x%d"}`, name, j))},
					{Name: "read_file", Arguments: json.RawMessage(fmt.Sprintf(`{"path":%q}`, name))},
					{Name: "grep", Arguments: json.RawMessage(`{"pattern":"x","max_results":5}`)},
				}
				for _, cl := range calls {
					if res, err := d.Call(t.Context(), cl); err != nil || res.IsError {
						t.Errorf("%s: %v %s", cl.Name, err, res.Output)
					}
				}
				if j == 5 && i%2 == 0 {
					_ = gate.SetCapability(policy.CapExec, i%4 == 0, "flip")
				}
			}
		})
	}
	wg.Wait()
	if count["ToolCallCompleted"] != 240 || count["FileMutated"] != 80 {
		t.Fatalf("journal counts %v", count)
	}
}
