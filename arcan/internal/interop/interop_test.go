// Package interop proves arcand's wire formats from the outside: the
// official `openai` npm client calls /v1/chat/completions, and the `ai`
// package parses the vercel-format run stream. The Go test starts node
// itself; it skips when node or the packages (npm ci in node/) are absent.
package interop

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lifeos/life/arcan/internal/stack"
	"github.com/lifeos/life/arcan/server"
)

func setup(t *testing.T) (*httptest.Server, string) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed; install Node.js 20+ to run the npm interop tests")
	}
	if _, err := os.Stat(filepath.Join("node", "node_modules", "openai")); err != nil {
		t.Skip("node/node_modules is missing; run `npm ci` in arcan/internal/interop/node")
	}
	ws := t.TempDir()
	os.WriteFile(filepath.Join(ws, "report.pdf"), []byte("%PDF"), 0o600)
	os.WriteFile(filepath.Join(ws, "todo.md"), []byte("- ship\n"), 0o600)
	st, err := stack.Open(stack.Options{Home: t.TempDir(), Workspace: ws, Provider: "mock", NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	srv, err := server.New(server.Config{Runtime: st.Runtime, Journal: st.Journal, Version: "interop"})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(func() { ts.Close(); srv.Close() })
	return ts, node
}

func runNode(t *testing.T, node string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, args...)
	cmd.Dir = "node"
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("node %v: %v\n%s", args, err, stderr)
	}
	return out
}

func TestOpenAIClient(t *testing.T) {
	ts, node := setup(t)
	out := runNode(t, node, "openai.mjs", ts.URL+"/v1", "What files are in this directory?")
	var got struct {
		Plain, PlainFinish, Streamed, Finish string
		PlainUsage, Usage                    *struct {
			TotalTokens int `json:"total_tokens"`
		}
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	for name, text := range map[string]string{"plain": got.Plain, "streamed": got.Streamed} {
		if !strings.Contains(text, "report.pdf") || !strings.Contains(text, "todo.md") {
			t.Errorf("%s answer lacks the files: %q", name, text)
		}
	}
	if got.PlainFinish != "stop" || got.Finish != "stop" || got.Usage == nil || got.Usage.TotalTokens == 0 || got.PlainUsage.TotalTokens == 0 {
		t.Fatalf("%s", out)
	}
}

func TestVercelAIPackage(t *testing.T) {
	ts, node := setup(t)
	resp, err := ts.Client().Post(ts.URL+"/v1/sessions", "application/json", strings.NewReader(`{"name":"vercel"}`))
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		SessionID string `json:"session_id"`
	}
	json.NewDecoder(resp.Body).Decode(&s)
	resp.Body.Close()
	out := runNode(t, node, "vercel.mjs", ts.URL+"/v1/sessions/"+s.SessionID+"/runs", "What files are in this directory?")
	var got struct {
		Role, Text string
		Tools      []struct{ Name, State string }
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if got.Role != "assistant" || !strings.Contains(got.Text, "report.pdf") {
		t.Fatalf("%s", out)
	}
	if len(got.Tools) != 1 || got.Tools[0].Name != "list_dir" || got.Tools[0].State != "output-available" {
		t.Fatalf("tool parts %s", out)
	}
}
