package tools

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"time"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/praxis/sandbox"
)

type bashTool struct{ env *Env }

// BashArgs are bash's arguments.
type BashArgs struct {
	Command   string `json:"command"`
	Cwd       string `json:"cwd,omitempty"`
	TimeoutMs int64  `json:"timeout_ms,omitempty"`
}

func (t *bashTool) Spec() aios.ToolSpec {
	o := t.env.Runner.Options()
	return spec(Bash, "Run a bash command in the workspace sandbox; returns exit code, stdout, stderr (capped) and the isolation tier that actually ran.",
		`{"type":"object","properties":{"command":{"type":"string"},"cwd":{"type":"string","description":"working directory relative to the workspace"},"timeout_ms":{"type":"integer","minimum":1}},"required":["command"],"additionalProperties":false}`,
		aios.ToolAnnotations{Destructive: true, OpenWorld: o.Tier != sandbox.TierIsolated || o.Network || o.Fallback, Category: "exec"})
}

func (t *bashTool) Call(ctx context.Context, raw json.RawMessage) (aios.ToolResult, error) {
	var a BashArgs
	if err := decodeArgs(raw, &a); err != nil {
		return fail(ctx, "", err)
	}
	if a.Command == "" || a.TimeoutMs < 0 {
		return fail(ctx, "", errors.New("invalid arguments: command is required; timeout_ms must be positive"))
	}
	// A huge timeout_ms means "as long as allowed", not a product that
	// wraps around to a few microseconds; the runner caps it anyway.
	timeout := time.Duration(math.MaxInt64)
	if a.TimeoutMs < int64(timeout/time.Millisecond) {
		timeout = time.Duration(a.TimeoutMs) * time.Millisecond
	}
	req := sandbox.Request{Shell: a.Command, Dir: a.Cwd, Timeout: timeout}
	sid := t.env.Runner.Options().SandboxID
	res, err := t.env.Runner.Run(ctx, req)
	if err != nil {
		return fail(ctx, sid, err)
	}
	ev := res.Event(sid, req.Command())
	return aios.ToolResult{Output: jsonOut(res), IsError: res.ExitCode != 0 || res.TimedOut, Events: []aios.Payload{ev}}, nil
}
