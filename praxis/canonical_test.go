package praxis_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/praxis"
	"github.com/lifeos/life/praxis/hashline"
	"github.com/lifeos/life/praxis/sandbox"
	"github.com/lifeos/life/praxis/tools"
)

func TestMain(m *testing.M) {
	sandbox.MaybeRunHelper()
	os.Exit(m.Run())
}

func workspace(t *testing.T, opts praxis.Options) (*praxis.Canonical, string) {
	t.Helper()
	base := t.TempDir()
	root := filepath.Join(base, "ws")
	files := map[string]string{
		"main.go":          "package main\n\nfunc main() {\n\tprintln(\"hi\")\n}\n",
		"docs/readme.md":   "# Title\r\nSome text\r\n",
		"docs/deep/x.go":   "package deep // TODO later\n",
		".env":             "TOKEN=secret\n",
		"bin.dat":          "\x00\x01\x02",
		"../outside/s.txt": "TOP SECRET\n",
	}
	for name, body := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(filepath.Join(base, "outside"), filepath.Join(root, "escape")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(root, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	if opts.Deny == nil {
		opts.Deny = []string{"**/.env"}
	}
	c, err := praxis.NewCanonicalRegistry(root, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c, root
}

func call(t *testing.T, r aios.ToolRegistry, name, args string) (aios.ToolResult, map[string]any) {
	t.Helper()
	tool, ok := r.Tool(name)
	if !ok {
		t.Fatalf("no tool %s", name)
	}
	res, err := tool.Call(t.Context(), json.RawMessage(args))
	if err != nil {
		t.Fatalf("%s(%s): %v", name, args, err)
	}
	var out map[string]any
	if err := json.Unmarshal(res.Output, &out); err != nil {
		t.Fatalf("%s output not JSON: %s", name, res.Output)
	}
	return res, out
}

func TestCanonicalNames(t *testing.T) {
	c, _ := workspace(t, praxis.Options{})
	var names []string
	for _, s := range c.Specs() {
		names = append(names, s.Name)
		var schema map[string]any
		if err := json.Unmarshal(s.InputSchema, &schema); err != nil || schema["type"] != "object" {
			t.Fatalf("%s schema: %v", s.Name, err)
		}
		if s.Annotations.Category == "" {
			t.Fatalf("%s has no category", s.Name)
		}
	}
	want := []string{"read_file", "write_file", "edit_file", "list_dir", "glob", "grep", "bash", "read_memory", "write_memory"}
	if !slices.Equal(names, want) {
		t.Fatalf("names %v", names)
	}
	c2, _ := workspace(t, praxis.Options{NoShell: true, MemoryDir: "-"})
	if len(c2.Specs()) != 6 {
		t.Fatalf("without shell and memory: %d tools", len(c2.Specs()))
	}
}

func TestToolResults(t *testing.T) {
	c, _ := workspace(t, praxis.Options{})
	tests := []struct {
		tool, args string
		isErr      bool
		rule       string
		contains   string
	}{
		{"read_file", `{"path":"main.go"}`, false, "", hashline.FormatLine(3, "func main() {")},
		{"read_file", `{"path":"main.go","offset":2,"limit":1}`, false, "", `"start_line":3`},
		{"read_file", `{"path":"docs/readme.md"}`, false, "", hashline.FormatLine(1, "# Title")},
		{"read_file", `{"path":"../outside/s.txt"}`, true, sandbox.RuleOutsideWorkspace, ""},
		{"read_file", `{"path":"escape/s.txt"}`, true, sandbox.RuleSymlinkEscape, ""},
		{"read_file", `{"path":"/etc/passwd"}`, true, sandbox.RuleOutsideWorkspace, ""},
		{"read_file", `{"path":".env"}`, true, sandbox.RuleDeniedPath, ""},
		{"read_file", `{"path":"bin.dat"}`, true, "", "binary"},
		{"read_file", `{"path":"docs"}`, true, "", "directory"},
		{"read_file", `{"path":"missing"}`, true, "", "no such file"},
		{"read_file", `{"path":"fifo"}`, true, "", "not a regular file"},
		{"read_file", `{}`, true, "", "path is required"},
		{"read_file", `{"path":"main.go","bogus":1}`, true, "", "unknown field"},
		{"read_file", `[1]`, true, "", "invalid arguments"},
		{"write_file", `{"path":"new/dir/f.txt","content":"x"}`, false, "", `"bytes":1`},
		{"write_file", `{"path":"escape/pwned","content":"x"}`, true, sandbox.RuleSymlinkEscape, ""},
		{"write_file", `{"path":"f.txt"}`, true, "", "content"},
		{"list_dir", `{}`, false, "", `"name":"docs","type":"dir"`},
		{"list_dir", `{"path":"escape"}`, true, sandbox.RuleSymlinkEscape, ""},
		{"glob", `{"pattern":"**/*.go"}`, false, "", `["docs/deep/x.go","main.go"]`},
		{"glob", `{"pattern":"*.md","path":"docs"}`, false, "", `["docs/readme.md"]`},
		{"glob", `{"pattern":"**/.env"}`, false, "", `"matches":[]`},
		{"glob", `{"pattern":"[bad"}`, true, "", "bad glob"},
		{"glob", `{"pattern":"*","path":"../outside"}`, true, sandbox.RuleOutsideWorkspace, ""},
		{"grep", `{"pattern":"TODO|println"}`, false, "", `"line":4`},
		{"grep", `{"pattern":"todo","ignore_case":true,"glob":"**/*.go"}`, false, "", `"path":"docs/deep/x.go","line":1`},
		{"grep", `{"pattern":"secret"}`, false, "", `"matches":[]`},
		{"grep", `{"pattern":"("}`, true, "", "pattern"},
		{"grep", `{"pattern":"a","path":"escape"}`, true, sandbox.RuleSymlinkEscape, ""},
		{"bash", `{"command":"echo hello; exit 0"}`, false, "", `"stdout":"hello\n"`},
		{"bash", `{"command":"exit 4"}`, true, "", `"exit_code":4`},
		{"bash", `{"command":"pwd","cwd":"docs"}`, false, "", `/ws/docs\n`},
		{"bash", `{"command":"pwd","cwd":"../outside"}`, true, sandbox.RuleDirOutside, ""},
		{"bash", `{"command":""}`, true, "", "command is required"},
		// timeout_ms*1e6 wraps to 448 µs here: must mean "the longest allowed".
		{"bash", `{"command":"sleep 0.1; echo done","timeout_ms":18446744073710}`, false, "", `"stdout":"done\n"`},
		{"write_memory", `{"name":"plan","content":"step 1\n"}`, false, "", `"name":"plan"`},
		{"write_memory", `{"name":"plan","content":"step 2\n","append":true}`, false, "", `"bytes":14`},
		{"read_memory", `{"name":"plan"}`, false, "", `"content":"step 1\nstep 2\n"`},
		{"read_memory", `{}`, false, "", `"notes":["plan"]`},
		{"read_memory", `{"name":"../../etc/passwd"}`, true, "", "note name"},
		{"write_memory", `{"name":"a/b","content":"x"}`, true, "", "note name"},
		{"read_file", `{"path":".praxis/memory/plan.md"}`, true, sandbox.RuleDeniedPath, ""},
	}
	for _, tt := range tests {
		t.Run(tt.tool+tt.args, func(t *testing.T) {
			res, _ := call(t, c, tt.tool, tt.args)
			if res.IsError != tt.isErr {
				t.Fatalf("IsError = %v: %s", res.IsError, res.Output)
			}
			out := string(res.Output)
			if tt.contains != "" && !strings.Contains(out, jsonish(tt.contains)) && !strings.Contains(out, tt.contains) {
				t.Fatalf("output %s lacks %q", out, tt.contains)
			}
			if tt.rule != "" {
				var eo tools.ErrorOutput
				_ = json.Unmarshal(res.Output, &eo)
				if eo.Rule != tt.rule || len(res.Events) != 1 {
					t.Fatalf("rule %q events %v, want %s: %s", eo.Rule, res.Events, tt.rule, out)
				}
				v, ok := res.Events[0].(*aios.SandboxViolation)
				if !ok || v.ViolationType != tt.rule {
					t.Fatalf("event %#v", res.Events[0])
				}
				if strings.Contains(out, "TOP SECRET") || strings.Contains(out, "root:") {
					t.Fatalf("refusal leaks content: %s", out)
				}
			}
		})
	}
}

// jsonish renders s as it appears inside a JSON string.
func jsonish(s string) string {
	b, _ := json.Marshal(s)
	return string(b[1 : len(b)-1])
}

func TestReadFileCaps(t *testing.T) {
	c, root := workspace(t, praxis.Options{})
	long := strings.Repeat("x", 10000)
	var sb strings.Builder
	for range 100 {
		sb.WriteString(long + "\n")
	}
	if err := os.WriteFile(filepath.Join(root, "big.txt"), []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	res, out := call(t, c, "read_file", `{"path":"big.txt"}`)
	content := out["content"].(string)
	if res.IsError || len(content) > 256<<10 || out["truncated"] != true || !strings.Contains(content, "more bytes in this line") {
		t.Fatalf("caps: len %d truncated %v", len(content), out["truncated"])
	}
	end := int(out["end_line"].(float64))
	if end < 50 || end >= 100 || strings.Count(content, "\n") != end {
		t.Fatalf("end_line %d, rows %d", end, strings.Count(content, "\n"))
	}
	if !strings.HasPrefix(content, hashline.FormatLine(1, long)[:20]) {
		t.Fatal("tag of a cut line must be the whole line's tag")
	}
}

// TestSearchSkipsCommandHome: after a build has filled the commands' HOME
// with caches, glob and grep over the workspace still find only the
// agent's files, unless asked to search the HOME itself.
func TestSearchSkipsCommandHome(t *testing.T) {
	c, root := workspace(t, praxis.Options{})
	cached := filepath.Join(root, filepath.FromSlash(sandbox.HomeDir), "go", "pkg", "mod", "dep.go")
	if err := os.MkdirAll(filepath.Dir(cached), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cached, []byte("package dep // TODO cached\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ tool, args, want, not string }{
		{"glob", `{"pattern":"**/*.go"}`, `"main.go"`, "dep.go"},
		{"grep", `{"pattern":"TODO"}`, `"docs/deep/x.go"`, "dep.go"},
		{"grep", `{"pattern":"TODO","path":".praxis/home"}`, `dep.go`, "docs/deep"},
		{"glob", `{"pattern":"**/*.go","path":".praxis/home/go"}`, `dep.go`, "main.go"},
	} {
		res, _ := call(t, c, tc.tool, tc.args)
		if res.IsError || !strings.Contains(string(res.Output), tc.want) || strings.Contains(string(res.Output), tc.not) {
			t.Errorf("%s %s: %s", tc.tool, tc.args, res.Output)
		}
	}
}

// TestReadFileWindow: offset and limit at and past the ends, up to the
// largest integers, give a window inside the file.
func TestReadFileWindow(t *testing.T) {
	c, _ := workspace(t, praxis.Options{}) // main.go has 5 lines
	for _, tc := range []struct {
		args              string
		start, end, lines int
	}{
		{`{"path":"main.go"}`, 1, 5, 5},
		{`{"path":"main.go","offset":3,"limit":1}`, 4, 4, 1},
		{`{"path":"main.go","offset":4}`, 5, 5, 1},
		{`{"path":"main.go","offset":1,"limit":9223372036854775807}`, 2, 5, 4},
		{`{"path":"main.go","offset":9223372036854775807,"limit":9223372036854775807}`, 5, 5, 0},
		{`{"path":"main.go","offset":50}`, 5, 5, 0},
	} {
		res, out := call(t, c, "read_file", tc.args)
		if res.IsError {
			t.Fatalf("%s: %s", tc.args, res.Output)
		}
		start, end, rows := int(out["start_line"].(float64)), int(out["end_line"].(float64)), strings.Count(out["content"].(string), "\n")
		if start != tc.start || end != tc.end || rows != tc.lines || int(out["total_lines"].(float64)) != 5 {
			t.Errorf("%s: start %d end %d rows %d, want %d %d %d", tc.args, start, end, rows, tc.start, tc.end, tc.lines)
		}
	}
}

func TestEditFileFlow(t *testing.T) {
	c, root := workspace(t, praxis.Options{})
	_, out := call(t, c, "read_file", `{"path":"docs/readme.md"}`)
	content := out["content"].(string)
	tag := strings.Fields(strings.Split(content, "\n")[1])[1]
	args, _ := json.Marshal(map[string]any{"path": "./docs/../docs/readme.md", "ops": []map[string]any{{"op": "replace_line", "tag": tag, "text": "Other text"}}})
	res, out := call(t, c, "edit_file", string(args))
	if res.IsError {
		t.Fatalf("edit: %s", res.Output)
	}
	b, _ := os.ReadFile(filepath.Join(root, "docs/readme.md"))
	if string(b) != "# Title\r\nOther text\r\n" {
		t.Fatalf("file %q", b)
	}
	fm, ok := res.Events[0].(*aios.FileMutated)
	if !ok || fm.Path != "docs/readme.md" || fm.ContentHash != out["content_hash"] {
		t.Fatalf("events %#v", res.Events)
	}
	if !strings.Contains(out["content"].(string), hashline.FormatLine(2, "Other text")) {
		t.Fatalf("changed lines %q", out["content"])
	}
	// The same edit again is stale: the agent must re-read.
	res, out = call(t, c, "edit_file", string(args))
	if !res.IsError || !strings.Contains(out["error"].(string), "re-read") {
		t.Fatalf("stale edit: %s", res.Output)
	}
	b2, _ := os.ReadFile(filepath.Join(root, "docs/readme.md"))
	if string(b2) != string(b) {
		t.Fatal("stale edit changed the file")
	}
	for _, bad := range []string{`{"path":"bin.dat","ops":[{"op":"delete_line","tag":"00000000"}]}`, `{"path":"docs/readme.md","ops":[]}`, `{"path":"docs/readme.md","ops":[{"op":"explode","tag":"00000000"}]}`, `{"path":"escape/s.txt","ops":[{"op":"delete_line","tag":"00000000"}]}`} {
		if res, _ := call(t, c, "edit_file", bad); !res.IsError {
			t.Fatalf("%s accepted", bad)
		}
	}
}

// TestCustomMemoryDirInsideWorkspace: notes inside the workspace are denied
// to the file tools, whatever the dir's name (glob characters included) and
// even on the first run through a symlinked root, before the dir exists.
func TestCustomMemoryDirInsideWorkspace(t *testing.T) {
	for _, tc := range []struct{ name, mem, rel string }{
		{"custom", "notes", "notes"},
		{"glob characters", "no[t]es*", "no[t]es*"},
		{"default, root through a symlink", "", ".praxis/memory"},
		{"custom, root through a symlink", "sub/notes", "sub/notes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			real := t.TempDir()
			root := real
			if strings.Contains(tc.name, "symlink") {
				root = filepath.Join(t.TempDir(), "link")
				if err := os.Symlink(real, root); err != nil {
					t.Fatal(err)
				}
			}
			mem := ""
			if tc.mem != "" {
				mem = filepath.Join(root, tc.mem)
			}
			c, err := praxis.NewCanonicalRegistry(root, praxis.Options{MemoryDir: mem, NoShell: true})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if res, _ := call(t, c, "write_memory", `{"name":"n","content":"x"}`); res.IsError {
				t.Fatalf("write_memory: %s", res.Output)
			}
			args, _ := json.Marshal(map[string]string{"path": tc.rel + "/n.md"})
			res, out := call(t, c, "read_file", string(args))
			if !res.IsError || out["rule"] != sandbox.RuleDeniedPath {
				t.Fatalf("memory reachable through read_file: %s", res.Output)
			}
		})
	}
}

func TestReadOnlyWorkspace(t *testing.T) {
	c, _ := workspace(t, praxis.Options{ReadOnly: true})
	for _, tc := range []struct{ tool, args string }{
		{"write_file", `{"path":"a","content":"x"}`},
		{"edit_file", `{"path":"main.go","ops":[{"op":"delete_line","tag":"00000000"}]}`},
	} {
		res, out := call(t, c, tc.tool, tc.args)
		if !res.IsError || out["rule"] != sandbox.RuleReadOnly {
			t.Fatalf("%s: %s", tc.tool, res.Output)
		}
	}
}

func TestCancelledCallIsGoError(t *testing.T) {
	c, _ := workspace(t, praxis.Options{})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	tool, _ := c.Tool("bash")
	if _, err := tool.Call(ctx, json.RawMessage(`{"command":"sleep 5"}`)); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
}
