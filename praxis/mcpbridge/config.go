package mcpbridge

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// ErrBadConfig is matched by every servers-file error.
var ErrBadConfig = errors.New("mcpbridge: bad servers config")

// serverEntry is one server as written in a servers file.
type serverEntry struct {
	ServerConfig
	TimeoutMs int64 `json:"timeout_ms,omitempty"`
}

// ParseServers reads a servers file, strictly:
//
//	{"servers": [{"namespace": "gh", "command": "npx", "args": ["..."], "env": ["K=V"],
//	              "env_passthrough": ["GITHUB_TOKEN"], "timeout_ms": 30000},
//	             {"namespace": "docs", "url": "http://127.0.0.1:9000/mcp", "headers": {"Authorization": "..."}}]}
//
// A command's environment is the safe default set, the variables named in
// env_passthrough (when set) and env; nothing else of praxis's.
func ParseServers(b []byte) ([]ServerConfig, error) {
	var doc struct {
		Servers []serverEntry `json:"servers"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadConfig, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: trailing data", ErrBadConfig)
	}
	seen := map[string]bool{}
	out := make([]ServerConfig, 0, len(doc.Servers))
	for i, e := range doc.Servers {
		if e.TimeoutMs < 0 || e.TimeoutMs > int64(time.Hour/time.Millisecond) {
			return nil, fmt.Errorf("%w: server %d: timeout_ms out of range", ErrBadConfig, i)
		}
		c := e.ServerConfig
		c.Timeout = time.Duration(e.TimeoutMs) * time.Millisecond
		if err := c.Validate(); err != nil {
			return nil, fmt.Errorf("%w: server %d: %v", ErrBadConfig, i, err)
		}
		if seen[c.Namespace] {
			return nil, fmt.Errorf("%w: namespace %q repeated", ErrBadConfig, c.Namespace)
		}
		seen[c.Namespace] = true
		out = append(out, c)
	}
	return out, nil
}
