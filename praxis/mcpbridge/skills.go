package mcpbridge

import (
	"context"
	"fmt"

	"github.com/lifeos/life/praxis/skills"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

// AddSkills offers every skill of reg as an MCP prompt: listed with its
// description, its body loaded from disk when a client gets it.
func AddSkills(s *server.MCPServer, reg *skills.Registry) {
	for _, sk := range reg.List() {
		name := sk.Name
		s.AddPrompt(mcp.NewPrompt(name, mcp.WithPromptDescription(sk.Description)),
			func(ctx context.Context, _ mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
				body, err := reg.Body(name)
				if err != nil {
					return nil, fmt.Errorf("mcpbridge: skill %q: %w", name, err)
				}
				return mcp.NewGetPromptResult(sk.Description, []mcp.PromptMessage{
					mcp.NewPromptMessage(mcp.RoleUser, mcp.NewTextContent(body)),
				}), nil
			})
	}
}
