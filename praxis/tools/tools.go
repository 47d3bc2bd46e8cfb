// Package tools holds the canonical tools: read_file, write_file, edit_file,
// list_dir, glob, grep, bash, read_memory and write_memory. Each implements
// aios.Tool, validates its arguments strictly, goes through the sandbox, and
// returns structured JSON; refusals are error results carrying the
// SandboxViolation event, never the refused content.
package tools

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/praxis/sandbox"
	"github.com/zeebo/blake3"
)

// Canonical tool names: part of the command-line and MCP contract.
const (
	ReadFile    = "read_file"
	WriteFile   = "write_file"
	EditFile    = "edit_file"
	ListDir     = "list_dir"
	Glob        = "glob"
	Grep        = "grep"
	Bash        = "bash"
	ReadMemory  = "read_memory"
	WriteMemory = "write_memory"
)

// Names lists the canonical tools in a stable order.
var Names = []string{ReadFile, WriteFile, EditFile, ListDir, Glob, Grep, Bash, ReadMemory, WriteMemory}

// Env is what the tools work on.
type Env struct {
	FS     *sandbox.FsPolicy // the workspace
	Memory *sandbox.FsPolicy // the agent's memory dir; nil disables the memory tools
	Runner *sandbox.Runner   // nil disables bash
	// MaxReadBytes caps the files read_file, edit_file and grep open (default 10 MiB).
	MaxReadBytes int64
	// MaxResults caps list_dir, glob and grep results (default 1000, grep 200).
	MaxResults int

	// writeMu serializes the tools that write, so that an edit_file or an
	// append never writes over a change made after its own read (parallel
	// tool calls of one agent). Other processes are not covered.
	writeMu sync.Mutex
}

func (e *Env) maxRead() int64 {
	if e.MaxReadBytes > 0 {
		return e.MaxReadBytes
	}
	return 10 << 20
}

func (e *Env) maxResults(def int) int {
	if e.MaxResults > 0 {
		return e.MaxResults
	}
	return def
}

// All returns the canonical tools for env, leaving out bash without a
// runner and the memory tools without a memory dir.
func All(env *Env) []aios.Tool {
	ts := []aios.Tool{&readFile{env}, &writeFile{env}, &editFile{env}, &listDir{env}, &globTool{env}, &grepTool{env}}
	if env.Runner != nil {
		ts = append(ts, &bashTool{env})
	}
	if env.Memory != nil {
		ts = append(ts, &readMemory{env}, &writeMemory{env})
	}
	return ts
}

// decodeArgs reads args strictly into v; an empty body counts as {}.
func decodeArgs(raw json.RawMessage, v any) error {
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		raw = json.RawMessage(`{}`)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("invalid arguments: %w", err)
	}
	if dec.More() {
		return errors.New("invalid arguments: trailing data")
	}
	return nil
}

func jsonOut(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		b, _ = json.Marshal(map[string]string{"error": "encode result: " + err.Error()})
	}
	return b
}

// ok is a successful result.
func ok(v any, events ...aios.Payload) (aios.ToolResult, error) {
	return aios.ToolResult{Output: jsonOut(v), Events: events}, nil
}

// ErrorOutput is the JSON of an error result.
type ErrorOutput struct {
	Error string `json:"error"`
	Rule  string `json:"rule,omitempty"` // the sandbox rule that refused the call
}

// fail turns err into an error result the model sees. A sandbox refusal
// carries its rule and a SandboxViolation event. Cancellation is a Go error:
// the call could not be made.
func fail(ctx context.Context, sandboxID string, err error) (aios.ToolResult, error) {
	if ctx.Err() != nil {
		return aios.ToolResult{}, ctx.Err()
	}
	if v, ok := sandbox.AsViolation(err); ok {
		return aios.ToolResult{Output: jsonOut(ErrorOutput{Error: v.Error(), Rule: v.Rule}), IsError: true, Events: []aios.Payload{v.Event(sandboxID)}}, nil
	}
	return aios.ToolResult{Output: jsonOut(ErrorOutput{Error: err.Error()}), IsError: true}, nil
}

func contentHash(b []byte) string {
	sum := blake3.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func isBinary(b []byte) bool {
	return bytes.IndexByte(b[:min(len(b), 8000)], 0) >= 0
}

func spec(name, desc, schema string, ann aios.ToolAnnotations) aios.ToolSpec {
	return aios.ToolSpec{Name: name, Description: desc, InputSchema: json.RawMessage(schema), Annotations: ann}
}
