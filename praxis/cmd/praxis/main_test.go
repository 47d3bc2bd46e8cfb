package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestServeFlagErrors(t *testing.T) {
	ws := t.TempDir()
	badPolicy := filepath.Join(t.TempDir(), "policy.json")
	if err := os.WriteFile(badPolicy, []byte(`{"default":"perhaps"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"mcp", "serve"}, `required flag(s) "workspace"`},
		{[]string{"mcp", "serve", "--workspace", filepath.Join(ws, "missing")}, "is not a directory"},
		{[]string{"mcp", "serve", "--workspace", ws, "--tier", "paranoid"}, "--tier"},
		{[]string{"mcp", "serve", "--workspace", ws, "--timeout", "0s"}, "--timeout"},
		{[]string{"mcp", "serve", "--workspace", ws, "--log-level", "loud"}, "--log-level"},
		{[]string{"mcp", "serve", "--workspace", ws, "--policy", badPolicy}, "bad config"},
		{[]string{"mcp", "serve", "--workspace", ws, "--policy", filepath.Join(ws, "none.json")}, "--policy"},
		{[]string{"mcp", "serve", "--workspace", ws, "--deny", "[bad"}, "bad deny pattern"},
		{[]string{"mcp", "serve", "--workspace", ws, "--http", "256.0.0.1:bad"}, "--http"},
		{[]string{"mcp", "serve", "--workspace", ws, "extra"}, "unknown command"},
		{[]string{"mcp", "serve", "--workspace", ws, "--http", "0.0.0.0:0"}, "--allow-remote"},
		{[]string{"mcp", "serve", "--workspace", ws, "--http", ":0"}, "--allow-remote"},
		{[]string{"mcp", "serve", "--workspace", ws, "--http", "nohostport"}, "--http"},
		{[]string{"mcp", "serve", "--workspace", ws, "--servers", badPolicy}, "bad servers config"},
		{[]string{"mcp", "serve", "--workspace", ws, "--servers", filepath.Join(ws, "none.json")}, "--servers"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			cmd := newRoot()
			cmd.SetArgs(tt.args)
			cmd.SetOut(os.Stderr)
			cmd.SetErr(os.Stderr)
			err := cmd.ExecuteContext(t.Context())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
	// A refused start leaves the workspace as it was.
	if entries, _ := os.ReadDir(ws); len(entries) != 0 {
		t.Fatalf("workspace touched: %v", entries)
	}
}
