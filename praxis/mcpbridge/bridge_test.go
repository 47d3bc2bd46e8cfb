package mcpbridge

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/praxis"
	"github.com/lifeos/life/praxis/policy"
	"github.com/lifeos/life/praxis/sandbox"
	"github.com/lifeos/life/praxis/skills"
	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

const serverEnv = "PRAXIS_MCPBRIDGE_TEST_SERVER"

// crashTool kills the server process: a stand-in for an MCP server crash.
type crashTool struct{}

func (crashTool) Spec() aios.ToolSpec {
	return aios.ToolSpec{Name: "crash", InputSchema: json.RawMessage(`{"type":"object"}`)}
}
func (crashTool) Call(context.Context, json.RawMessage) (aios.ToolResult, error) {
	os.Exit(3)
	return aios.ToolResult{}, nil
}

// envTool reports the server process's environment.
type envTool struct{}

func (envTool) Spec() aios.ToolSpec {
	return aios.ToolSpec{Name: "env", InputSchema: json.RawMessage(`{"type":"object"}`)}
}
func (envTool) Call(context.Context, json.RawMessage) (aios.ToolResult, error) {
	b, err := json.Marshal(map[string][]string{"env": os.Environ()})
	return aios.ToolResult{Output: b}, err
}

// floodBytes is how much floodTool writes: past the tests' cap, and bounded
// so that a client without a cap fails the test by timeout, not by
// exhausting the machine's memory.
const floodBytes = 4 << 20

// floodTool writes one line that never ends to stdout: a broken or
// malicious server.
type floodTool struct{}

func (floodTool) Spec() aios.ToolSpec {
	return aios.ToolSpec{Name: "flood", InputSchema: json.RawMessage(`{"type":"object"}`)}
}
func (floodTool) Call(ctx context.Context, _ json.RawMessage) (aios.ToolResult, error) {
	if _, err := os.Stdout.WriteString("\n" + `{"jsonrpc":"2.0","id":1,"result":{"pad":"`); err != nil {
		os.Exit(4)
	}
	chunk := bytes.Repeat([]byte("x"), 64<<10)
	for range floodBytes / len(chunk) {
		if _, err := os.Stdout.Write(chunk); err != nil {
			os.Exit(4) // the client stopped reading
		}
	}
	<-ctx.Done()
	return aios.ToolResult{}, ctx.Err()
}

// TestMain lets the test binary act as a stdio MCP server (and Landlock helper).
func TestMain(m *testing.M) {
	sandbox.MaybeRunHelper()
	if dir := os.Getenv(serverEnv); dir != "" {
		reg, err := praxis.NewCanonicalRegistry(dir, praxis.Options{})
		if err != nil {
			panic(err)
		}
		_ = reg.Register(crashTool{}, envTool{}, floodTool{})
		if err := ServeStdio(context.Background(), NewServer(reg, ServerOptions{}), os.Stdin, os.Stdout, nil); err != nil {
			panic(err)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func testWorkspace(t *testing.T) (string, string) {
	t.Helper()
	base := t.TempDir()
	root := filepath.Join(base, "ws")
	must(t, os.MkdirAll(root, 0o755))
	must(t, os.MkdirAll(filepath.Join(base, "outside"), 0o755))
	must(t, os.WriteFile(filepath.Join(base, "outside", "secret.txt"), []byte("TOP SECRET"), 0o600))
	must(t, os.WriteFile(filepath.Join(root, "hello.txt"), []byte("hello\nworld\n"), 0o644))
	must(t, os.Symlink(filepath.Join(base, "outside"), filepath.Join(root, "escape")))
	return root, base
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func canonical(t *testing.T, root string) *praxis.Canonical {
	reg, err := praxis.NewCanonicalRegistry(root, praxis.Options{})
	must(t, err)
	t.Cleanup(func() { _ = reg.Close() })
	return reg
}

func text(res *mcp.CallToolResult) string {
	var parts []string
	for _, c := range res.Content {
		if tc, ok := mcp.AsTextContent(c); ok {
			parts = append(parts, tc.Text)
		}
	}
	return strings.Join(parts, "")
}

func TestServerInProcess(t *testing.T) {
	root, _ := testWorkspace(t)
	reg := canonical(t, root)
	gate, _ := policy.NewGate(policy.Config{Rules: []policy.Rule{{ID: "no-shell-here", Tool: "bash", Decision: aios.PolicyDeny, Reason: "test"}}}, reg)
	var journaled []string
	srv := NewServer(reg, ServerOptions{Gate: gate, Journal: func(_ context.Context, p aios.Payload) error {
		journaled = append(journaled, p.Type())
		return nil
	}})
	cl, err := client.NewInProcessClient(srv)
	must(t, err)
	defer cl.Close()
	ctx := t.Context()
	must(t, cl.Start(ctx))
	_, err = cl.Initialize(ctx, mcp.InitializeRequest{})
	must(t, err)
	lt, err := cl.ListTools(ctx, mcp.ListToolsRequest{})
	must(t, err)
	var names []string
	for _, tl := range lt.Tools {
		names = append(names, tl.Name)
	}
	slices.Sort(names)
	want := []string{"bash", "edit_file", "glob", "grep", "list_dir", "read_file", "read_memory", "write_file", "write_memory"}
	if !slices.Equal(names, want) {
		t.Fatalf("tools %v", names)
	}
	callT := func(name string, args map[string]any) *mcp.CallToolResult {
		req := mcp.CallToolRequest{}
		req.Params.Name = name
		req.Params.Arguments = args
		res, err := cl.CallTool(ctx, req)
		must(t, err)
		return res
	}
	res := callT("read_file", map[string]any{"path": "hello.txt"})
	if res.IsError || !strings.Contains(text(res), "world") {
		t.Fatalf("read_file: %+v", res)
	}
	res = callT("read_file", map[string]any{"path": "escape/secret.txt"})
	if !res.IsError || !strings.Contains(text(res), sandbox.RuleSymlinkEscape) || strings.Contains(text(res), "TOP SECRET") {
		t.Fatalf("denial: %s", text(res))
	}
	res = callT("bash", map[string]any{"command": "echo hi"})
	if !res.IsError || !strings.Contains(text(res), "no-shell-here") {
		t.Fatalf("policy denial: %s", text(res))
	}
	if !slices.Contains(journaled, "SandboxViolation") || !slices.Contains(journaled, "PolicyEvaluated") {
		t.Fatalf("journal %v", journaled)
	}
}

func TestHTTPClientServer(t *testing.T) {
	root, _ := testWorkspace(t)
	reg := canonical(t, root)
	ts := httptest.NewServer(HTTPHandler(NewServer(reg, ServerOptions{}), "/mcp"))
	defer ts.Close()
	c, err := NewClient(ServerConfig{Namespace: "ws", URL: ts.URL + "/mcp", Timeout: 10 * time.Second}, nil)
	must(t, err)
	defer c.Close()
	local := praxis.NewRegistry()
	tools, err := c.Attach(t.Context(), local)
	must(t, err)
	if len(tools) != 9 {
		t.Fatalf("%d tools", len(tools))
	}
	rf, ok := local.Tool("ws__read_file")
	if !ok || !rf.Spec().Annotations.ReadOnly || rf.Spec().Annotations.Category != "mcp" {
		t.Fatalf("namespaced read_file: %+v", rf)
	}
	res, err := rf.Call(t.Context(), json.RawMessage(`{"path":"hello.txt"}`))
	must(t, err)
	var out struct{ Content string }
	must(t, json.Unmarshal(res.Output, &out))
	if res.IsError || !strings.Contains(out.Content, "hello") {
		t.Fatalf("remote read: %s", res.Output)
	}
	res, err = rf.Call(t.Context(), json.RawMessage(`{"path":"../outside/secret.txt"}`))
	must(t, err)
	if !res.IsError || !strings.Contains(string(res.Output), sandbox.RuleOutsideWorkspace) {
		t.Fatalf("remote denial: %s", res.Output)
	}
	// Server gone: an error result, not a hang or a Go error.
	addr := ts.Listener.Addr().String()
	ts.Close()
	res, err = rf.Call(t.Context(), json.RawMessage(`{"path":"hello.txt"}`))
	if err != nil || !res.IsError {
		t.Fatalf("after server stop: %v %s", err, res.Output)
	}
	// Server back on the same address (a restart): the next call reconnects.
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("cannot rebind %s to test the restart: %v", addr, err)
	}
	ts2 := httptest.NewUnstartedServer(HTTPHandler(NewServer(reg, ServerOptions{}), "/mcp"))
	ts2.Listener = ln
	ts2.Start()
	defer ts2.Close()
	res, err = rf.Call(t.Context(), json.RawMessage(`{"path":"hello.txt"}`))
	if err != nil || res.IsError || !strings.Contains(string(res.Output), "hello") {
		t.Fatalf("after server restart: %v %s", err, res.Output)
	}
}

// TestHTTPOversizedBody: a body over MaxRequestBytes is refused before it is
// parsed (a valid initialize padded past the cap would otherwise succeed),
// and the server keeps serving.
func TestHTTPOversizedBody(t *testing.T) {
	root, _ := testWorkspace(t)
	ts := httptest.NewServer(HTTPHandler(NewServer(canonical(t, root), ServerOptions{}), "/mcp"))
	defer ts.Close()
	initialize := func(pad int) (int, string) {
		body := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-03-26","capabilities":{},"clientInfo":{"name":"t","version":"1"},"pad":"` +
			strings.Repeat("x", pad) + `"}}`
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, ts.URL+"/mcp", strings.NewReader(body))
		must(t, err)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return resp.StatusCode, string(b)
	}
	if code, out := initialize(MaxRequestBytes + 1); code == http.StatusOK && strings.Contains(out, `"result"`) {
		t.Fatalf("oversized body served: %d %.200s", code, out)
	}
	if code, out := initialize(10); code != http.StatusOK || !strings.Contains(out, `"result"`) {
		t.Fatalf("after an oversized body: %d %.200s", code, out)
	}
}

// TestStdioCrashAndReconnect runs this test binary as a stdio MCP server,
// crashes it through a tool, and checks that the next call reconnects.
func TestStdioCrashAndReconnect(t *testing.T) {
	root, _ := testWorkspace(t)
	exe, err := os.Executable()
	must(t, err)
	c, err := NewClient(ServerConfig{Namespace: "local", Command: exe, Env: []string{serverEnv + "=" + root}, Timeout: 10 * time.Second}, nil)
	must(t, err)
	defer c.Close()
	reg := praxis.NewRegistry()
	_, err = c.Attach(t.Context(), reg)
	must(t, err)
	crash, _ := reg.Tool("local__crash")
	read, _ := reg.Tool("local__read_file")
	if crash == nil || read == nil {
		t.Fatalf("tools %v", reg.Specs())
	}
	start := time.Now()
	res, err := crash.Call(t.Context(), nil)
	if err != nil || !res.IsError || !strings.Contains(string(res.Output), "unavailable") {
		t.Fatalf("crash call: %v %s", err, res.Output)
	}
	if time.Since(start) > 9*time.Second {
		t.Fatalf("crash detected only by timeout")
	}
	res, err = read.Call(t.Context(), json.RawMessage(`{"path":"hello.txt"}`))
	if err != nil || res.IsError || !strings.Contains(string(res.Output), "hello") {
		t.Fatalf("after reconnect: %v %s", err, res.Output)
	}
}

func TestServerConfigValidate(t *testing.T) {
	for _, c := range []ServerConfig{
		{Namespace: "", Command: "x"},
		{Namespace: "a__b", Command: "x"},
		{Namespace: "ok"},
		{Namespace: "ok", Command: "x", URL: "http://h"},
		{Namespace: "ok", URL: "ftp://h"},
		{Namespace: "ok", URL: "http://"},
		{Namespace: "ok", Command: "x", Env: []string{"NOEQUALS"}},
		{Namespace: "ok", Command: "x", EnvPassthrough: []string{"K=V"}},
		{Namespace: "ok", Command: "x", EnvPassthrough: []string{"NUL\x00"}},
	} {
		if _, err := NewClient(c, nil); err == nil {
			t.Fatalf("config %+v accepted", c)
		}
	}
	c, err := NewClient(ServerConfig{Namespace: "dead", Command: "/nonexistent/praxis-mcp", Timeout: 2 * time.Second}, nil)
	must(t, err)
	if _, err := c.Tools(t.Context()); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("dead server: %v", err)
	}
}

func TestSkillsAsPrompts(t *testing.T) {
	root, _ := testWorkspace(t)
	must(t, os.MkdirAll(filepath.Join(root, ".skills", "deploy"), 0o755))
	must(t, os.WriteFile(filepath.Join(root, ".skills", "deploy", "SKILL.md"), []byte("---\nname: deploy\ndescription: Ship it\n---\nRun the pipeline.\n"), 0o644))
	sreg, errs := skills.Load(skills.DefaultSources(root)...)
	if len(errs) != 0 {
		t.Fatal(errs)
	}
	srv := NewServer(canonical(t, root), ServerOptions{})
	AddSkills(srv, sreg)
	cl, err := client.NewInProcessClient(srv)
	must(t, err)
	defer cl.Close()
	must(t, cl.Start(t.Context()))
	_, err = cl.Initialize(t.Context(), mcp.InitializeRequest{})
	must(t, err)
	lp, err := cl.ListPrompts(t.Context(), mcp.ListPromptsRequest{})
	must(t, err)
	if len(lp.Prompts) != 1 || lp.Prompts[0].Name != "deploy" || lp.Prompts[0].Description != "Ship it" {
		t.Fatalf("prompts %+v", lp.Prompts)
	}
	req := mcp.GetPromptRequest{}
	req.Params.Name = "deploy"
	gp, err := cl.GetPrompt(t.Context(), req)
	must(t, err)
	if len(gp.Messages) != 1 || gp.Messages[0].Content.(mcp.TextContent).Text != "Run the pipeline.\n" {
		t.Fatalf("prompt %+v", gp)
	}
}

// TestRemoteToolNames: a server listing tools whose names cannot be
// offered (spaces, too long, listed twice) still attaches with the rest, and
// a result whose structured content is null falls back to its text.
func TestRemoteToolNames(t *testing.T) {
	s := server.NewMCPServer("odd", "1")
	hi := func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{mcp.NewTextContent("hi")}, RawStructuredContent: json.RawMessage("null")}, nil
	}
	for _, name := range []string{"good", "has space", strings.Repeat("x", 200), "ünïcode", "null_sc"} {
		s.AddTool(mcp.NewTool(name), hi)
	}
	ts := httptest.NewServer(server.NewStreamableHTTPServer(s))
	defer ts.Close()
	c, err := NewClient(ServerConfig{Namespace: "odd", URL: ts.URL + "/mcp", Timeout: 10 * time.Second}, nil)
	must(t, err)
	defer c.Close()
	reg := praxis.NewRegistry()
	got, err := c.Attach(t.Context(), reg)
	must(t, err)
	var names []string
	for _, tl := range got {
		names = append(names, tl.Spec().Name)
	}
	slices.Sort(names)
	if strings.Join(names, ",") != "odd__good,odd__null_sc" {
		t.Fatalf("attached %v", names)
	}
	tl, _ := reg.Tool("odd__null_sc")
	res, err := tl.Call(t.Context(), nil)
	must(t, err)
	if res.IsError || string(res.Output) != `{"text":"hi"}` {
		t.Fatalf("null structured content: %s", res.Output)
	}
	// Listed twice: the first is kept.
	kept := c.usable([]mcp.Tool{{Name: "a", Description: "1"}, {Name: "a", Description: "2"}, {Name: "b"}})
	if len(kept) != 2 || kept[0].Description != "1" || kept[1].Name != "b" {
		t.Fatalf("usable %+v", kept)
	}
}

// FuzzFromMCPResult: whatever result a remote server sends, the aios
// output is valid JSON (the journal and the providers need it).
func FuzzFromMCPResult(f *testing.F) {
	for _, s := range []string{
		`{"content":[{"type":"text","text":"hi"}]}`,
		`{"content":[{"type":"text","text":"{\"a\":1}"}],"isError":true}`,
		`{"content":[{"type":"text","text":"{not json"}],"structuredContent":null}`,
		`{"content":[],"structuredContent":{"x":[1,2]}}`,
		`{"content":[{"type":"image","data":"AA==","mimeType":"image/png"},{"type":"text","text":" {\"b\":2} "}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var res mcp.CallToolResult
		if err := json.Unmarshal(raw, &res); err != nil {
			return
		}
		if out := fromMCPResult(&res); !json.Valid(out.Output) {
			t.Fatalf("output %q from %q", out.Output, raw)
		}
	})
}

// TestStdioAnswersBeforeEOF: requests piped in followed by the end of input
// ("printf ... | praxis mcp serve") are all answered, slow ones included,
// instead of being cancelled when the input ends.
func TestStdioAnswersBeforeEOF(t *testing.T) {
	root, _ := testWorkspace(t)
	in := strings.Join([]string{
		`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-03-26","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`,
		`{"jsonrpc":"2.0","method":"notifications/initialized"}`,
		`not json`,
		`{"jsonrpc":"2.0","id":{"odd":1},"method":"ping"}`,
		`{"jsonrpc":"2.0","id":"slow","method":"tools/call","params":{"name":"bash","arguments":{"command":"sleep 0.3; echo slept"}}}`,
		`{"jsonrpc":"2.0","id":3.0,"method":"tools/call","params":{"name":"read_file","arguments":{"path":"hello.txt"}}}`,
	}, "\n") // the last line has no newline
	var out bytes.Buffer
	done := make(chan error, 1)
	go func() {
		done <- ServeStdio(t.Context(), NewServer(canonical(t, root), ServerOptions{}), strings.NewReader(in), &out, nil)
	}()
	select {
	case err := <-done:
		must(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("ServeStdio did not return after the end of input")
	}
	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var m struct {
			ID     json.RawMessage `json:"id"`
			Result json.RawMessage `json:"result"`
		}
		must(t, json.Unmarshal([]byte(line), &m))
		got[string(m.ID)] = string(m.Result)
	}
	if !strings.Contains(got[`"slow"`], `slept`) || !strings.Contains(got[`3`], `hello`) {
		t.Fatalf("answers %v", got)
	}
}

// TestRemoteCallTimeout: a remote tool that never answers gives an error
// result after the configured timeout, not a hang, and the next call
// reconnects and works.
func TestRemoteCallTimeout(t *testing.T) {
	s := server.NewMCPServer("slow", "1")
	s.AddTool(mcp.NewTool("hang"), func(ctx context.Context, _ mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		select {
		case <-ctx.Done():
		case <-time.After(20 * time.Second):
		}
		return mcp.NewToolResultText("late"), nil
	})
	s.AddTool(mcp.NewTool("fast"), func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return mcp.NewToolResultText("quick"), nil
	})
	ts := httptest.NewServer(server.NewStreamableHTTPServer(s))
	defer ts.Close()
	c, err := NewClient(ServerConfig{Namespace: "slow", URL: ts.URL + "/mcp", Timeout: 300 * time.Millisecond}, nil)
	must(t, err)
	defer c.Close()
	reg := praxis.NewRegistry()
	_, err = c.Attach(t.Context(), reg)
	must(t, err)
	hang, _ := reg.Tool("slow__hang")
	start := time.Now()
	res, err := hang.Call(t.Context(), nil)
	if err != nil || !res.IsError || time.Since(start) > 10*time.Second {
		t.Fatalf("hanging call: %v %s after %v", err, res.Output, time.Since(start))
	}
	fast, _ := reg.Tool("slow__fast")
	res, err = fast.Call(t.Context(), nil)
	if err != nil || res.IsError || !strings.Contains(string(res.Output), "quick") {
		t.Fatalf("call after a timeout: %v %s", err, res.Output)
	}
}

// brokenWriter is a client that has gone away.
type brokenWriter struct{}

func (brokenWriter) Write([]byte) (int, error) { return 0, io.ErrClosedPipe }

// TestStdioEOFWithClientGone: when answers cannot be written, the end of
// input does not wait for them.
func TestStdioEOFWithClientGone(t *testing.T) {
	root, _ := testWorkspace(t)
	in := `{"jsonrpc":"2.0","id":1,"method":"ping"}` + "\n" +
		`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"bash","arguments":{"command":"sleep 0.2"}}}` + "\n"
	done := make(chan error, 1)
	go func() {
		done <- ServeStdio(t.Context(), NewServer(canonical(t, root), ServerOptions{}), strings.NewReader(in), brokenWriter{}, nil)
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("ServeStdio waits for answers no client can read")
	}
}
