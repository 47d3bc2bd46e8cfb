package mcpbridge

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	"github.com/lifeos/life/praxis"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

func TestStdioEnv(t *testing.T) {
	host := map[string]string{
		"PATH": "/usr/bin", "HOME": "/home/u", "USER": "u", "TERM": "xterm",
		"SHELL":             "() { echo exported function; }",
		"ANTHROPIC_API_KEY": "sk-ant", "GITHUB_TOKEN": "ghp", "EMPTY": "",
	}
	lookup := func(k string) (string, bool) { v, ok := host[k]; return v, ok }
	for _, tc := range []struct {
		name string
		cfg  ServerConfig
		want []string
	}{
		{"defaults only", ServerConfig{}, []string{"HOME=/home/u", "PATH=/usr/bin", "TERM=xterm", "USER=u"}},
		{"configured env added", ServerConfig{Env: []string{"K=V", "PATH=/opt/bin"}},
			[]string{"HOME=/home/u", "PATH=/usr/bin", "TERM=xterm", "USER=u", "K=V", "PATH=/opt/bin"}},
		{"passthrough of set names only", ServerConfig{EnvPassthrough: []string{"GITHUB_TOKEN", "EMPTY", "UNSET"}},
			[]string{"HOME=/home/u", "PATH=/usr/bin", "TERM=xterm", "USER=u", "GITHUB_TOKEN=ghp", "EMPTY="}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := stdioEnv(tc.cfg, lookup); !slices.Equal(got, tc.want) {
				t.Fatalf("env %q, want %q", got, tc.want)
			}
		})
	}
}

// TestStdioServerEnvironment starts this test binary as a stdio server with
// secrets in praxis's environment: the server sees only the default set,
// the configured env and the variables passed through by name.
func TestStdioServerEnvironment(t *testing.T) {
	root, _ := testWorkspace(t)
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("ANTHROPIC_API_KEY", "sk-ant-do-not-leak")
	t.Setenv("PRAXIS_TEST_SECRET", "do-not-leak")
	t.Setenv("PRAXIS_TEST_PASSED", "passed-through")
	t.Setenv("SHELL", "() { echo exported function; }")
	exe, err := os.Executable()
	must(t, err)
	c, err := NewClient(ServerConfig{
		Namespace: "local", Command: exe, Timeout: 20 * time.Second,
		Env:            []string{serverEnv + "=" + root, "CONFIGURED=from-config"},
		EnvPassthrough: []string{"PRAXIS_TEST_PASSED", "PRAXIS_TEST_UNSET"},
	}, nil)
	must(t, err)
	defer c.Close()
	reg := praxis.NewRegistry()
	_, err = c.Attach(t.Context(), reg)
	must(t, err)
	tl, ok := reg.Tool("local__env")
	if !ok {
		t.Fatalf("tools %v", reg.Specs())
	}
	res, err := tl.Call(t.Context(), nil)
	must(t, err)
	var out struct{ Env []string }
	must(t, json.Unmarshal(res.Output, &out))
	got := map[string]string{}
	for _, kv := range out.Env {
		k, v, _ := strings.Cut(kv, "=")
		got[k] = v
	}
	want := map[string]string{
		"HOME": home, "PATH": os.Getenv("PATH"), serverEnv: root,
		"CONFIGURED": "from-config", "PRAXIS_TEST_PASSED": "passed-through",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("server's %s = %q, want %q", k, got[k], v)
		}
	}
	allowed := []string{"LOGNAME", "TERM", "USER"} // the rest of the default set, when the host has them
	for k := range got {
		if _, ok := want[k]; !ok && !slices.Contains(allowed, k) {
			t.Errorf("server got %s=%q", k, got[k])
		}
	}
}

func TestCapReader(t *testing.T) {
	for _, tc := range []struct {
		name string
		mode capMode
		in   string
		over bool
	}{
		{"line within cap", capLine, "0123456789\n", false},
		{"lines together over cap", capLine, "0123456\n0123456\n0123456\n", false},
		{"line over cap", capLine, "0123456789ab\n", true},
		{"line without end over cap", capLine, "0123456789ab", true},
		{"event of short lines over cap", capEvent, "data: 01\ndata: 23\ndata: 45\n\n", true},
		{"events within cap", capEvent, "data: 0\n\ndata: 1\n\ndata: 2\r\n\r\ndata: 3\n\n", false},
		{"one-byte line is not a blank line", capEvent, "data: 0\nx\ndata: 1\n\n", true},
		{"whole within cap", capWhole, "0123456789", false},
		{"whole over cap in lines", capWhole, "01234\n01234\n", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			called := 0
			// One byte per read: the state must carry across reads.
			r := newCapReader(io.NopCloser(iotest.OneByteReader(strings.NewReader(tc.in))), 10, tc.mode, func() { called++ })
			got, err := io.ReadAll(r)
			if over := errors.Is(err, ErrMessageTooLarge); over != tc.over || (!over && err != nil) {
				t.Fatalf("err %v, want over %v", err, tc.over)
			}
			if tc.over {
				if n, err := r.Read(make([]byte, 8)); n != 0 || !errors.Is(err, ErrMessageTooLarge) {
					t.Fatalf("read after the cap: %d %v", n, err)
				}
			}
			if tc.over && called != 1 || !tc.over && (called != 0 || string(got) != tc.in) {
				t.Fatalf("over called %d times, read %q", called, got)
			}
		})
	}
}

// TestStdioMessageCap: a stdio server that writes a line with no end fails
// that call with ErrMessageTooLarge, and the next calls reconnect.
func TestStdioMessageCap(t *testing.T) {
	root, _ := testWorkspace(t)
	exe, err := os.Executable()
	must(t, err)
	c, err := NewClient(ServerConfig{Namespace: "local", Command: exe, Env: []string{serverEnv + "=" + root},
		Timeout: 20 * time.Second, MaxMessageBytes: 1 << 20}, nil)
	must(t, err)
	defer c.Close()
	reg := praxis.NewRegistry()
	_, err = c.Attach(t.Context(), reg)
	must(t, err)
	flood, _ := reg.Tool("local__flood")
	read, _ := reg.Tool("local__read_file")
	if flood == nil || read == nil {
		t.Fatalf("tools %v", reg.Specs())
	}
	res, err := flood.Call(t.Context(), nil)
	if err != nil || !res.IsError || !strings.Contains(string(res.Output), ErrMessageTooLarge.Error()) {
		t.Fatalf("flood: %v %s", err, res.Output)
	}
	res, err = read.Call(t.Context(), json.RawMessage(`{"path":"hello.txt"}`))
	if err != nil || res.IsError || !strings.Contains(string(res.Output), "hello") {
		t.Fatalf("after the flood: %v %s", err, res.Output)
	}
}

// floodServer serves a real MCP server, except for the calls it floods:
// tool "flood_sse" gets an SSE event that never ends (many short data
// lines), and tools/list, once listFlood is set, a JSON body that never ends.
type floodServer struct {
	next      http.Handler
	listFlood atomic.Bool
}

func (f *floodServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	var m struct {
		Method string
		Params struct{ Name string }
	}
	_ = json.Unmarshal(body, &m)
	var head, line string
	switch {
	case m.Method == "tools/call" && m.Params.Name == "flood_sse":
		w.Header().Set("Content-Type", "text/event-stream")
		head, line = "event: message\n", "data: "+strings.Repeat("x", 1000)+"\n"
	case m.Method == "tools/list" && f.listFlood.Load():
		w.Header().Set("Content-Type", "application/json")
		head, line = `{"jsonrpc":"2.0","id":2,"result":{"tools":[],"pad":"`, strings.Repeat("x", 1000)
	default:
		f.next.ServeHTTP(w, r)
		return
	}
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, head)
	for range floodBytes / len(line) {
		if _, err := io.WriteString(w, line); err != nil {
			return // the client stopped reading
		}
	}
	select {
	case <-r.Context().Done():
	case <-time.After(30 * time.Second):
	}
}

// TestHTTPMessageCap: a result body, an SSE event and a tools/list body
// over the cap fail with ErrMessageTooLarge, and the server's other tools
// keep working.
func TestHTTPMessageCap(t *testing.T) {
	s := server.NewMCPServer("big", "1")
	text := func(s string) server.ToolHandlerFunc {
		return func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return mcp.NewToolResultText(s), nil
		}
	}
	s.AddTool(mcp.NewTool("big"), text(strings.Repeat("y", 2<<20)))
	s.AddTool(mcp.NewTool("small"), text("ok"))
	s.AddTool(mcp.NewTool("flood_sse"), text("never sent"))
	fs := &floodServer{next: server.NewStreamableHTTPServer(s)}
	ts := httptest.NewServer(fs)
	defer ts.Close()
	c, err := NewClient(ServerConfig{Namespace: "big", URL: ts.URL + "/mcp", Timeout: 20 * time.Second, MaxMessageBytes: 1 << 20}, nil)
	must(t, err)
	defer c.Close()
	reg := praxis.NewRegistry()
	_, err = c.Attach(t.Context(), reg)
	must(t, err)
	small, _ := reg.Tool("big__small")
	for _, name := range []string{"big__big", "big__flood_sse"} {
		tl, _ := reg.Tool(name)
		res, err := tl.Call(t.Context(), nil)
		if err != nil || !res.IsError || !strings.Contains(string(res.Output), ErrMessageTooLarge.Error()) {
			t.Fatalf("%s: %v %.300s", name, err, res.Output)
		}
		res, err = small.Call(t.Context(), nil)
		if err != nil || res.IsError || !strings.Contains(string(res.Output), "ok") {
			t.Fatalf("after %s: %v %s", name, err, res.Output)
		}
	}
	fs.listFlood.Store(true)
	if _, err := c.Tools(t.Context()); !errors.Is(err, ErrMessageTooLarge) || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("flooded tools/list: %v", err)
	}
}
