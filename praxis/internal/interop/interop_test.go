package interop

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lifeos/life/praxis"
	"github.com/lifeos/life/praxis/mcpbridge"
)

// nodeDir returns the harness dir, skipping when node or the SDK is absent.
func nodeDir(t *testing.T) (string, string) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed: skipping MCP TypeScript SDK interop")
	}
	dir, err := filepath.Abs("node")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@modelcontextprotocol", "sdk", "package.json")); err != nil {
		t.Skipf("MCP TypeScript SDK not installed: run `npm ci` in %s", dir)
	}
	return node, dir
}

// buildPraxis builds the real praxis binary.
func buildPraxis(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "praxis")
	cmd := exec.CommandContext(t.Context(), "go", "build", "-o", bin, "./cmd/praxis")
	cmd.Dir = filepath.Join("..", "..")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build praxis: %v\n%s", err, out)
	}
	return bin
}

func workspace(t *testing.T) string {
	t.Helper()
	base := t.TempDir()
	root := filepath.Join(base, "ws")
	for _, d := range []string{root, filepath.Join(base, "outside")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(base, "outside", "secret.txt"), []byte("TOP SECRET\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "hello.txt"), []byte("hello from go\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(base, "outside"), filepath.Join(root, "escape")); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, ".skills", "greet"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, ".skills", "greet", "SKILL.md"), []byte("---\nname: greet\ndescription: Say hello\n---\nSay hello politely.\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return root
}

type call struct {
	IsError    bool            `json:"isError"`
	Text       string          `json:"text"`
	Structured json.RawMessage `json:"structured"`
}

type report struct {
	Server struct{ Name string }
	Tools  []struct {
		Name       string
		ReadOnly   *bool
		SchemaType string
	}
	Calls   map[string]call
	Prompts []struct {
		Name, Description string
	}
	PromptText string
}

func checkReport(t *testing.T, root string, out []byte) {
	t.Helper()
	var r report
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("node output: %v\n%s", err, out)
	}
	var names []string
	for _, tl := range r.Tools {
		names = append(names, tl.Name)
		if tl.SchemaType != "object" {
			t.Errorf("%s schema type %q", tl.Name, tl.SchemaType)
		}
	}
	slices.Sort(names)
	if want := []string{"bash", "edit_file", "glob", "grep", "list_dir", "read_file", "read_memory", "write_file", "write_memory"}; !slices.Equal(names, want) {
		t.Fatalf("tools seen by the SDK: %v", names)
	}
	c := r.Calls
	if c["read"].IsError || !strings.Contains(c["read"].Text, "hello from go") {
		t.Errorf("read: %+v", c["read"])
	}
	for _, k := range []string{"denied", "symlink"} {
		if !c[k].IsError || strings.Contains(c[k].Text, "TOP SECRET") {
			t.Errorf("%s: %+v", k, c[k])
		}
	}
	if !strings.Contains(c["denied"].Text, "path_outside_workspace") || !strings.Contains(c["symlink"].Text, "symlink_escape") {
		t.Errorf("denials do not name the rule: %+v", c)
	}
	if c["write"].IsError {
		t.Errorf("write: %+v", c["write"])
	}
	if b, err := os.ReadFile(filepath.Join(root, "from-node.txt")); err != nil || string(b) != "written by the TypeScript SDK\n" {
		t.Errorf("file written through MCP: %q %v", b, err)
	}
	if !strings.Contains(c["grep"].Text, "from-node.txt") {
		t.Errorf("grep: %+v", c["grep"])
	}
	if c["bash"].IsError || !strings.Contains(c["bash"].Text, `"stdout":"42\n"`) {
		t.Errorf("bash: %+v", c["bash"])
	}
	if !c["badargs"].IsError {
		t.Errorf("bad arguments accepted: %+v", c["badargs"])
	}
	if len(r.Prompts) != 1 || r.Prompts[0].Name != "greet" || r.Prompts[0].Description != "Say hello" || r.PromptText != "Say hello politely.\n" {
		t.Errorf("skills as prompts: %+v %q", r.Prompts, r.PromptText)
	}
}

// TestSDKClientStdio: the TypeScript SDK client spawns `praxis mcp serve`.
func TestSDKClientStdio(t *testing.T) {
	node, dir := nodeDir(t)
	bin := buildPraxis(t)
	root := workspace(t)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "client.mjs", "stdio", bin, "mcp", "serve", "--workspace", root, "--log-level", "warn")
	cmd.Dir = dir
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node client: %v\n%s", err, out)
	}
	checkReport(t, root, out)
}

// TestSDKClientHTTP: the TypeScript SDK client over streamable HTTP.
func TestSDKClientHTTP(t *testing.T) {
	node, dir := nodeDir(t)
	bin := buildPraxis(t)
	root := workspace(t)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	srv := exec.CommandContext(ctx, bin, "mcp", "serve", "--workspace", root, "--http", "127.0.0.1:0", "--log-level", "warn")
	stderr, err := srv.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = srv.Process.Kill(); _ = srv.Wait() }()
	sc := bufio.NewScanner(stderr)
	url := ""
	for sc.Scan() {
		if u, ok := strings.CutPrefix(sc.Text(), "listening on "); ok {
			url = u
			break
		}
	}
	if url == "" {
		t.Fatal("server did not report its address")
	}
	go func() {
		for sc.Scan() {
		}
	}()
	cmd := exec.CommandContext(ctx, node, "client.mjs", "http", url)
	cmd.Dir = dir
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node client: %v\n%s", err, out)
	}
	checkReport(t, root, out)
}

// TestSDKServer: praxis's MCP client consumes a TypeScript SDK server over
// stdio, including its crash and the reconnect after it.
func TestSDKServer(t *testing.T) {
	node, dir := nodeDir(t)
	c, err := mcpbridge.NewClient(mcpbridge.ServerConfig{Namespace: "node", Command: node, Args: []string{filepath.Join(dir, "server.mjs")}, Timeout: 20 * time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	reg := praxis.NewRegistry()
	if _, err := c.Attach(t.Context(), reg); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range reg.Specs() {
		names = append(names, s.Name)
	}
	slices.Sort(names)
	if want := []string{"node__add", "node__crash", "node__echo", "node__fail"}; !slices.Equal(names, want) {
		t.Fatalf("tools %v", names)
	}
	echo, _ := reg.Tool("node__echo")
	if a := echo.Spec().Annotations; !a.ReadOnly || a.OpenWorld {
		t.Fatalf("echo annotations %+v", a)
	}
	tests := []struct {
		tool, args string
		isErr      bool
		want       string
	}{
		{"node__echo", `{"text":"ping"}`, false, `{"text":"ping"}`},
		{"node__add", `{"a":2,"b":40}`, false, `{"sum":42}`},
		{"node__fail", `{}`, true, "it failed on purpose"},
		{"node__add", `{"a":"x"}`, true, ""},
		{"node__crash", `{}`, true, "unavailable"},
		{"node__echo", `{"text":"after crash"}`, false, `{"text":"after crash"}`},
	}
	for _, tt := range tests {
		tool, _ := reg.Tool(tt.tool)
		res, err := tool.Call(t.Context(), json.RawMessage(tt.args))
		if err != nil {
			t.Fatalf("%s: %v", tt.tool, err)
		}
		if res.IsError != tt.isErr || !strings.Contains(string(res.Output), tt.want) {
			t.Fatalf("%s(%s) = %v %s", tt.tool, tt.args, res.IsError, res.Output)
		}
	}
}

// TestSDKThroughProxy: SDK client -> praxis mcp serve --servers -> SDK
// server; the proxied tool is namespaced and answers.
func TestSDKThroughProxy(t *testing.T) {
	node, dir := nodeDir(t)
	bin := buildPraxis(t)
	root := workspace(t)
	servers := filepath.Join(t.TempDir(), "servers.json")
	cfg, _ := json.Marshal(map[string]any{"servers": []map[string]any{{"namespace": "node", "command": node, "args": []string{filepath.Join(dir, "server.mjs")}}}})
	if err := os.WriteFile(servers, cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "proxy.mjs", bin, "mcp", "serve", "--workspace", root, "--servers", servers, "--log-level", "warn")
	cmd.Dir = dir
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node proxy client: %v\n%s", err, out)
	}
	var r struct {
		Tools []string
		Echo  struct {
			IsError bool `json:"isError"`
			Content []struct{ Text string }
		}
	}
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if !slices.Contains(r.Tools, "node__echo") || !slices.Contains(r.Tools, "read_file") || len(r.Tools) != 13 {
		t.Fatalf("tools %v", r.Tools)
	}
	if r.Echo.IsError || len(r.Echo.Content) != 1 || !strings.Contains(r.Echo.Content[0].Text, "through praxis") {
		t.Fatalf("echo %+v", r.Echo)
	}
}
