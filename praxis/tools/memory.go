package tools

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"sort"
	"strings"

	"github.com/lifeos/life/aios"
)

var memoryName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

func noteFile(name string) (string, error) {
	if !memoryName.MatchString(name) || strings.Contains(name, "..") {
		return "", fmt.Errorf("invalid arguments: note name %q must match %s", name, memoryName)
	}
	return name + ".md", nil
}

type readMemory struct{ env *Env }

// ReadMemoryArgs are read_memory's arguments; without a name it lists notes.
type ReadMemoryArgs struct {
	Name string `json:"name,omitempty"`
}

// MemoryOutput is the result of read_memory and write_memory.
type MemoryOutput struct {
	Name        string   `json:"name,omitempty"`
	Content     *string  `json:"content,omitempty"`
	Notes       []string `json:"notes,omitempty"`
	Bytes       int      `json:"bytes,omitempty"`
	ContentHash string   `json:"content_hash,omitempty"`
}

func (t *readMemory) Spec() aios.ToolSpec {
	return spec(ReadMemory, "Read one of the agent's memory notes, or list them when no name is given.",
		`{"type":"object","properties":{"name":{"type":"string","pattern":"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"}},"additionalProperties":false}`,
		aios.ToolAnnotations{ReadOnly: true, Idempotent: true, Category: "memory"})
}

func (t *readMemory) Call(ctx context.Context, raw json.RawMessage) (aios.ToolResult, error) {
	var a ReadMemoryArgs
	if err := decodeArgs(raw, &a); err != nil {
		return fail(ctx, "", err)
	}
	if a.Name == "" {
		entries, err := t.env.Memory.ReadDir(".")
		if err != nil {
			return fail(ctx, t.env.Memory.SandboxID(), err)
		}
		out := MemoryOutput{Notes: []string{}}
		for _, e := range entries {
			if n, ok := strings.CutSuffix(e.Name(), ".md"); ok && e.Type().IsRegular() && memoryName.MatchString(n) {
				out.Notes = append(out.Notes, n)
			}
		}
		sort.Strings(out.Notes)
		return ok(out)
	}
	file, err := noteFile(a.Name)
	if err != nil {
		return fail(ctx, "", err)
	}
	b, err := readCapped(t.env.Memory, file, t.env.maxRead())
	if err != nil {
		return fail(ctx, t.env.Memory.SandboxID(), err)
	}
	s := string(b)
	return ok(MemoryOutput{Name: a.Name, Content: &s, Bytes: len(b)})
}

type writeMemory struct{ env *Env }

// WriteMemoryArgs are write_memory's arguments.
type WriteMemoryArgs struct {
	Name    string  `json:"name"`
	Content *string `json:"content"`
	Append  bool    `json:"append,omitempty"`
}

func (t *writeMemory) Spec() aios.ToolSpec {
	return spec(WriteMemory, "Write (or append to) one of the agent's memory notes.",
		`{"type":"object","properties":{"name":{"type":"string","pattern":"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"},"content":{"type":"string"},"append":{"type":"boolean"}},"required":["name","content"],"additionalProperties":false}`,
		aios.ToolAnnotations{Category: "memory"})
}

func (t *writeMemory) Call(ctx context.Context, raw json.RawMessage) (aios.ToolResult, error) {
	var a WriteMemoryArgs
	if err := decodeArgs(raw, &a); err != nil {
		return fail(ctx, "", err)
	}
	if a.Content == nil {
		return fail(ctx, "", errors.New("invalid arguments: content is required"))
	}
	file, err := noteFile(a.Name)
	if err != nil {
		return fail(ctx, "", err)
	}
	data := []byte(*a.Content)
	t.env.writeMu.Lock()
	defer t.env.writeMu.Unlock()
	if a.Append {
		old, err := readCapped(t.env.Memory, file, t.env.maxRead())
		switch {
		case err == nil:
			data = append(old, data...)
		case !errors.Is(err, fs.ErrNotExist):
			return fail(ctx, t.env.Memory.SandboxID(), err)
		}
	}
	if err := t.env.Memory.WriteFile(file, data, 0o600); err != nil {
		return fail(ctx, t.env.Memory.SandboxID(), err)
	}
	h := contentHash(data)
	return ok(MemoryOutput{Name: a.Name, Bytes: len(data), ContentHash: h},
		&aios.MemoryCommitted{Scope: aios.ScopeAgent, MemoryID: a.Name, CommittedRef: "blake3:" + h})
}
