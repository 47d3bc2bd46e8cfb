package stack

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/praxis"
	"github.com/lifeos/life/praxis/mcpbridge"
)

type shout struct{}

func (shout) Spec() aios.ToolSpec {
	return aios.ToolSpec{Name: "shout", Description: "upper-cases text", InputSchema: json.RawMessage(`{"type":"object","properties":{"text":{"type":"string"}}}`), Annotations: aios.ToolAnnotations{ReadOnly: true}}
}

func (shout) Call(_ context.Context, args json.RawMessage) (aios.ToolResult, error) {
	var a struct{ Text string }
	json.Unmarshal(args, &a)
	out, _ := json.Marshal(map[string]string{"text": strings.ToUpper(a.Text)})
	return aios.ToolResult{Output: out}, nil
}

// A real MCP server (praxis's, over streamable HTTP) named once in the
// servers file and once in a skill's front matter.
func TestMCPFromConfigAndSkill(t *testing.T) {
	reg := praxis.NewRegistry()
	reg.Register(shout{})
	ts := httptest.NewServer(mcpbridge.HTTPHandler(mcpbridge.NewServer(reg, mcpbridge.ServerOptions{}), "/mcp"))
	defer ts.Close()

	home, ws := t.TempDir(), t.TempDir()
	os.WriteFile(filepath.Join(home, MCPFile), []byte(`{"servers":[{"namespace":"ext","url":"`+ts.URL+`/mcp"}]}`), 0o600)
	os.MkdirAll(filepath.Join(ws, ".skills", "loud"), 0o700)
	os.WriteFile(filepath.Join(ws, ".skills", "loud", "SKILL.md"), []byte("---\nname: loud\ndescription: Says things loudly\nmcp_servers:\n  - namespace: skilled\n    url: "+ts.URL+"/mcp\n  - namespace: ext\n    url: "+ts.URL+"/mcp\n---\nUse the shout tool.\n"), 0o600)

	st, err := Open(Options{Home: home, Workspace: ws, NoSync: true, Gate: "off", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var names []string
	for _, s := range st.Registry.Specs() {
		names = append(names, s.Name)
	}
	joined := strings.Join(names, ",")
	for _, want := range []string{"list_dir", "ext" + mcpbridge.Separator + "shout", "skilled" + mcpbridge.Separator + "shout"} {
		if !strings.Contains(joined, want) {
			t.Fatalf("tools %v lack %s", names, want)
		}
	}
	tool, _ := st.Registry.Tool("skilled" + mcpbridge.Separator + "shout")
	res, err := tool.Call(context.Background(), json.RawMessage(`{"text":"hi"}`))
	if err != nil || res.IsError || !strings.Contains(string(res.Output), "HI") {
		t.Fatalf("%s %v", res.Output, err)
	}
}

func TestMCPBadConfig(t *testing.T) {
	home := t.TempDir()
	os.WriteFile(filepath.Join(home, MCPFile), []byte(`{"servers":[{"namespace":"x"}]}`), 0o600)
	if _, err := Open(Options{Home: home, Workspace: t.TempDir(), Gate: "off"}); err == nil {
		t.Fatal("server without command or url accepted")
	}
	if _, err := Open(Options{Home: t.TempDir(), Workspace: t.TempDir(), MCP: "/does/not/exist.json", Gate: "off"}); err == nil {
		t.Fatal("missing explicit MCP file accepted")
	}
	// An unreachable server is skipped, not fatal.
	home = t.TempDir()
	os.WriteFile(filepath.Join(home, MCPFile), []byte(`{"servers":[{"namespace":"gone","url":"http://127.0.0.1:1/mcp","timeout_ms":500}]}`), 0o600)
	st, err := Open(Options{Home: home, Workspace: t.TempDir(), Gate: "off", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
}
