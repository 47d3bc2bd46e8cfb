package stack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/lifeos/life/praxis"
	"github.com/lifeos/life/praxis/mcpbridge"
	"github.com/lifeos/life/praxis/skills"
)

// MCPFile is the servers file read from the data directory when present
// (praxis's format: {"servers":[{"namespace":..., "command"|"url":...}]}).
const MCPFile = "mcp.json"

// SkillMCPKey is the skill front-matter key that names MCP servers, in the
// same shape as the servers file's list.
const SkillMCPKey = "mcp_servers"

// MCPServers collects the MCP servers named in the config file (path, or
// home/mcp.json when path is "") and in the front matter of the
// workspace's skills. A bad file is an error; a bad skill is skipped with
// a warning, as is a namespace named twice (the first wins).
func MCPServers(path, home, workspace string, log *slog.Logger) ([]mcpbridge.ServerConfig, error) {
	explicit := path != ""
	if !explicit {
		path = filepath.Join(home, MCPFile)
	}
	var out []mcpbridge.ServerConfig
	seen := map[string]bool{}
	raw, err := os.ReadFile(path)
	switch {
	case err == nil:
		cfgs, err := mcpbridge.ParseServers(raw)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrConfig, path, err)
		}
		for _, c := range cfgs {
			seen[c.Namespace] = true
			out = append(out, c)
		}
	case !errors.Is(err, os.ErrNotExist) || explicit:
		return nil, fmt.Errorf("%w: MCP servers file: %w", ErrConfig, err)
	}
	reg, errs := skills.Load(skills.DefaultSources(workspace)...)
	for _, e := range errs {
		log.Warn("skill skipped", "err", e)
	}
	for _, s := range reg.List() {
		v, ok := s.Metadata[SkillMCPKey]
		if !ok {
			continue
		}
		doc, _ := json.Marshal(map[string]any{"servers": v})
		cfgs, err := mcpbridge.ParseServers(doc)
		if err != nil {
			log.Warn("skill names bad MCP servers", "skill", s.Name, "err", err)
			continue
		}
		for _, c := range cfgs {
			if seen[c.Namespace] {
				log.Warn("MCP namespace named twice; keeping the first", "namespace", c.Namespace, "skill", s.Name)
				continue
			}
			seen[c.Namespace] = true
			out = append(out, c)
		}
	}
	return out, nil
}

// AttachMCP starts (or connects to) each server through praxis's MCP
// client and registers its tools. A server that cannot be reached is
// logged and left out, so one broken server does not stop the agent.
func AttachMCP(ctx context.Context, cfgs []mcpbridge.ServerConfig, reg *praxis.Registry, log *slog.Logger) []io.Closer {
	var closers []io.Closer
	for _, c := range cfgs {
		cl, err := mcpbridge.NewClient(c, log)
		if err != nil {
			log.Warn("MCP server skipped", "namespace", c.Namespace, "err", err)
			continue
		}
		actx, cancel := context.WithTimeout(ctx, 30*time.Second)
		ts, err := cl.Attach(actx, reg)
		cancel()
		if err != nil {
			log.Warn("MCP server unavailable", "namespace", c.Namespace, "err", err)
			cl.Close()
			continue
		}
		log.Info("MCP server attached", "namespace", c.Namespace, "tools", len(ts))
		closers = append(closers, cl)
	}
	return closers
}
