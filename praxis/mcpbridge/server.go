// Package mcpbridge joins praxis to the Model Context Protocol: a server
// that exposes a tool registry (the canonical tools under the same sandbox
// and policy) over stdio and streamable HTTP, and a client that consumes
// external MCP servers as namespaced aios tools.
package mcpbridge

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/praxis"
	"github.com/lifeos/life/praxis/tools"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

// ServerOptions configure [NewServer].
type ServerOptions struct {
	Name    string // default "praxis"
	Version string // default "0.1.0"
	// Gate judges every call; require_approval is refused (MCP has no
	// approval round trip here) and named in the error.
	Gate aios.PolicyGate
	// Journal receives the dispatcher's events for every call.
	Journal func(ctx context.Context, p aios.Payload) error
	Logger  *slog.Logger
}

// NewServer exposes every tool of reg as an MCP tool.
func NewServer(reg aios.ToolRegistry, opts ServerOptions) *server.MCPServer {
	if opts.Name == "" {
		opts.Name = "praxis"
	}
	if opts.Version == "" {
		opts.Version = "0.1.0"
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := server.NewMCPServer(opts.Name, opts.Version, server.WithToolCapabilities(false), server.WithRecovery())
	d := &praxis.Dispatcher{Tools: reg, Gate: opts.Gate, Journal: opts.Journal}
	for _, spec := range reg.Specs() {
		name := spec.Name
		s.AddTool(toMCPTool(spec), func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			args := req.Params.RawArguments
			if len(args) == 0 && req.Params.Arguments != nil {
				b, err := json.Marshal(req.Params.Arguments)
				if err != nil {
					return mcp.NewToolResultError("invalid arguments: " + err.Error()), nil
				}
				args = b
			}
			res, err := d.Call(ctx, aios.ToolCall{Name: name, Arguments: args})
			if err != nil {
				var de *praxis.DeniedError
				if errors.As(err, &de) {
					return errorResult(tools.ErrorOutput{Error: de.Error(), Rule: de.Decision.RuleID}), nil
				}
				if ctx.Err() != nil {
					return nil, ctx.Err()
				}
				log.Warn("tool call failed", "tool", name, "err", err)
				return errorResult(tools.ErrorOutput{Error: err.Error()}), nil
			}
			return toMCPResult(res), nil
		})
	}
	return s
}

func boolp(b bool) *bool { return &b }

func toMCPTool(spec aios.ToolSpec) mcp.Tool {
	a := spec.Annotations
	return mcp.Tool{
		Name:           spec.Name,
		Description:    spec.Description,
		RawInputSchema: spec.InputSchema,
		Annotations: mcp.ToolAnnotation{
			ReadOnlyHint:    boolp(a.ReadOnly),
			DestructiveHint: boolp(a.Destructive),
			IdempotentHint:  boolp(a.Idempotent),
			OpenWorldHint:   boolp(a.OpenWorld),
		},
	}
}

func errorResult(e tools.ErrorOutput) *mcp.CallToolResult {
	b, _ := json.Marshal(e)
	return toMCPResult(aios.ToolResult{Output: b, IsError: true})
}

// toMCPResult sends the output JSON as text, and as structured content when
// it is an object.
func toMCPResult(res aios.ToolResult) *mcp.CallToolResult {
	out := &mcp.CallToolResult{Content: []mcp.Content{mcp.NewTextContent(string(res.Output))}, IsError: res.IsError}
	if t := strings.TrimSpace(string(res.Output)); strings.HasPrefix(t, "{") {
		out.StructuredContent = json.RawMessage(res.Output)
	}
	return out
}

// ServeStdio serves s on r/w until ctx is done or the input ends; at the
// end of input it first answers every request already read.
func ServeStdio(ctx context.Context, s *server.MCPServer, r io.Reader, w io.Writer, errLog *slog.Logger) error {
	ss := server.NewStdioServer(s)
	if errLog != nil {
		ss.SetErrorLogger(slog.NewLogLogger(errLog.Handler(), slog.LevelError))
	}
	d := newDrain()
	err := ss.Listen(ctx, &drainReader{ctx: ctx, d: d, r: bufio.NewReader(r)}, &drainWriter{d: d, w: w})
	if err == nil || errors.Is(err, io.EOF) || errors.Is(err, context.Canceled) {
		return nil
	}
	return fmt.Errorf("mcpbridge: stdio: %w", err)
}

// MaxRequestBytes caps one HTTP request body: the MCP server reads a body
// whole before parsing it, so without a cap one request could exhaust memory.
// It leaves room for a write_file of a 10 MiB file, JSON-escaped.
const MaxRequestBytes = 32 << 20

// HTTPHandler is the streamable HTTP endpoint for s, at path (default /mcp).
// Bodies over [MaxRequestBytes] get a JSON-RPC parse error.
func HTTPHandler(s *server.MCPServer, path string) http.Handler {
	if path == "" {
		path = "/mcp"
	}
	mux := http.NewServeMux()
	mux.Handle(path, http.MaxBytesHandler(server.NewStreamableHTTPServer(s, server.WithEndpointPath(path)), MaxRequestBytes))
	return mux
}

// ServeHTTP serves s over streamable HTTP on ln until ctx is done, then
// shuts down gracefully.
func ServeHTTP(ctx context.Context, s *server.MCPServer, ln net.Listener, path string) error {
	hs := &http.Server{Handler: HTTPHandler(s, path), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("mcpbridge: http: %w", err)
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := hs.Shutdown(sctx); err != nil {
			return fmt.Errorf("mcpbridge: http shutdown: %w", err)
		}
		return nil
	}
}
