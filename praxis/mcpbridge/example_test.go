package mcpbridge_test

import (
	"context"
	"fmt"
	"os"

	"github.com/lifeos/life/praxis"
	"github.com/lifeos/life/praxis/mcpbridge"
	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"
)

func ExampleNewServer() {
	root, _ := os.MkdirTemp("", "ws")
	defer os.RemoveAll(root)
	reg, _ := praxis.NewCanonicalRegistry(root, praxis.Options{NoShell: true, MemoryDir: "-"})
	defer reg.Close()
	srv := mcpbridge.NewServer(reg, mcpbridge.ServerOptions{})
	// Serve it with mcpbridge.ServeStdio or mcpbridge.ServeHTTP; here an
	// in-process client calls it.
	cl, _ := client.NewInProcessClient(srv)
	defer cl.Close()
	ctx := context.Background()
	_ = cl.Start(ctx)
	_, _ = cl.Initialize(ctx, mcp.InitializeRequest{})
	req := mcp.CallToolRequest{}
	req.Params.Name = "read_file"
	req.Params.Arguments = map[string]any{"path": "/etc/passwd"}
	res, _ := cl.CallTool(ctx, req)
	fmt.Println(res.IsError, res.Content[0].(mcp.TextContent).Text)
	// Output:
	// true {"error":"sandbox: path_outside_workspace: \"/etc/passwd\"","rule":"path_outside_workspace"}
}
