package mcpbridge_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"time"

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

func ExampleClient_Attach() {
	root, _ := os.MkdirTemp("", "ws")
	defer os.RemoveAll(root)
	_ = os.WriteFile(root+"/hello.txt", []byte("hi\n"), 0o644)
	remote, _ := praxis.NewCanonicalRegistry(root, praxis.Options{NoShell: true, MemoryDir: "-"})
	defer remote.Close()
	ts := httptest.NewServer(mcpbridge.HTTPHandler(mcpbridge.NewServer(remote, mcpbridge.ServerOptions{}), "/mcp"))
	defer ts.Close()

	// The external server's tools join a local registry as "{ns}__{tool}".
	c, _ := mcpbridge.NewClient(mcpbridge.ServerConfig{Namespace: "ws", URL: ts.URL + "/mcp", Timeout: 10 * time.Second}, nil)
	defer c.Close()
	local := praxis.NewRegistry()
	ctx := context.Background()
	if _, err := c.Attach(ctx, local); err != nil {
		fmt.Println(err)
		return
	}
	rf, _ := local.Tool("ws__read_file")
	res, _ := rf.Call(ctx, json.RawMessage(`{"path":"hello.txt"}`))
	var out struct{ Content string }
	_ = json.Unmarshal(res.Output, &out)
	fmt.Print(out.Content)
	// Output:
	//    1 e18dae19 | hi
}
