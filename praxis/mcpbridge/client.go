package mcpbridge

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/praxis/tools"
	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
)

// Separator joins a server's namespace and its tool name.
const Separator = "__"

var namespaceRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]{0,31}$`)

// ErrUnavailable is matched when an external server cannot be reached.
var ErrUnavailable = errors.New("mcpbridge: server unavailable")

// ServerConfig names one external MCP server: a command (stdio) or a URL
// (streamable HTTP).
type ServerConfig struct {
	// Namespace prefixes the server's tool names ("{ns}__{tool}").
	Namespace string   `json:"namespace"`
	Command   string   `json:"command,omitempty"`
	Args      []string `json:"args,omitempty"`
	// Env (KEY=VALUE) and EnvPassthrough (names of host variables, passed
	// when set) are added to a stdio server's environment, which otherwise
	// holds only HOME, LOGNAME, PATH, SHELL, TERM and USER (on POSIX):
	// praxis's own secrets are not handed to every server.
	Env            []string          `json:"env,omitempty"`
	EnvPassthrough []string          `json:"env_passthrough,omitempty"`
	URL            string            `json:"url,omitempty"`
	Headers        map[string]string `json:"headers,omitempty"`
	// Timeout caps each call (default 60 s) and the connection (default 30 s).
	Timeout time.Duration `json:"-"`
	// Category of the exposed tools for policy (default "mcp").
	Category string `json:"category,omitempty"`
	// MaxMessageBytes caps one message from the server (a stdio line, an
	// HTTP body, an SSE event; default MaxRequestBytes): a bigger one fails
	// with ErrMessageTooLarge instead of exhausting memory.
	MaxMessageBytes int64 `json:"-"`
}

// Validate checks the config.
func (c ServerConfig) Validate() error {
	if !namespaceRe.MatchString(c.Namespace) {
		return fmt.Errorf("mcpbridge: namespace %q must match %s", c.Namespace, namespaceRe)
	}
	if (c.Command == "") == (c.URL == "") {
		return fmt.Errorf("mcpbridge: server %q needs exactly one of command or url", c.Namespace)
	}
	if c.URL != "" {
		u, err := url.Parse(c.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("mcpbridge: server %q: bad url %q", c.Namespace, c.URL)
		}
	}
	for _, e := range c.Env {
		if k, _, ok := strings.Cut(e, "="); !ok || k == "" {
			return fmt.Errorf("mcpbridge: server %q: env entry %q is not KEY=VALUE", c.Namespace, e)
		}
	}
	for _, k := range c.EnvPassthrough {
		if k == "" || strings.ContainsAny(k, "=\x00") {
			return fmt.Errorf("mcpbridge: server %q: env_passthrough entry %q is not a variable name", c.Namespace, k)
		}
	}
	return nil
}

// Client is a connection to one external MCP server that survives the
// server's crash: a failed call returns an error result and drops the
// connection, and the next call reconnects.
type Client struct {
	cfg ServerConfig
	log *slog.Logger

	mu sync.Mutex
	s  *session // nil when disconnected
}

// session is one connection to the server.
type session struct {
	*client.Client
	// over is set when the server sent a message over the cap, which
	// mcp-go reports only as a closed transport or a failed read.
	over atomic.Bool
}

// NewClient makes a client; it connects on first use.
func NewClient(cfg ServerConfig, log *slog.Logger) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 60 * time.Second
	}
	if cfg.Category == "" {
		cfg.Category = "mcp"
	}
	if cfg.MaxMessageBytes <= 0 {
		cfg.MaxMessageBytes = MaxRequestBytes
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Client{cfg: cfg, log: log}, nil
}

// conn returns a live connection, connecting when needed.
func (c *Client) conn(ctx context.Context) (*session, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.s != nil {
		return c.s, nil
	}
	ctx, cancel := context.WithTimeout(ctx, min(c.cfg.Timeout, 30*time.Second))
	defer cancel()
	s := &session{}
	over := func() { s.over.Store(true) }
	var tr transport.Interface
	var err error
	if c.cfg.URL != "" {
		hc := &http.Client{Transport: capTransport{base: http.DefaultTransport, limit: c.cfg.MaxMessageBytes, over: over}}
		tr, err = transport.NewStreamableHTTP(c.cfg.URL, transport.WithHTTPHeaders(c.cfg.Headers),
			transport.WithHTTPBasicClient(hc), transport.WithHTTPLogger(c.log))
	} else {
		env := stdioEnv(c.cfg, os.LookupEnv)
		tr, err = startStdio(c.cfg, env, c.cfg.MaxMessageBytes, over, c.log)
	}
	if err == nil {
		s.Client = client.NewClient(tr)
		// The transport keeps this context for the connection's life (the
		// server's requests to the client): it must outlive the connect
		// timeout.
		err = s.Start(context.WithoutCancel(ctx))
	}
	if err == nil {
		req := mcp.InitializeRequest{}
		req.Params.ClientInfo = mcp.Implementation{Name: "praxis", Version: "0.1.0"}
		_, err = s.Initialize(ctx, req)
	}
	if err != nil {
		if s.Client != nil {
			_ = s.Close()
		}
		return nil, c.failure(s, "", err)
	}
	c.s = s
	return s, nil
}

// failure is the error for a failed exchange (op, "" or "what: ") with
// the server.
func (c *Client) failure(s *session, op string, err error) error {
	if s.over.Load() {
		return fmt.Errorf("%w: %s: %s%w (cap %d bytes)", ErrUnavailable, c.cfg.Namespace, op, ErrMessageTooLarge, c.cfg.MaxMessageBytes)
	}
	return fmt.Errorf("%w: %s: %s%v", ErrUnavailable, c.cfg.Namespace, op, err)
}

// drop closes a broken connection so the next call reconnects.
func (c *Client) drop(broken *session) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.s == broken && broken != nil {
		_ = broken.Close()
		c.s = nil
	}
}

// Close ends the connection (and a stdio server process).
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.s == nil {
		return nil
	}
	err := c.s.Close()
	c.s = nil
	return err
}

// Tools lists the server's tools as aios tools named "{ns}__{tool}".
func (c *Client) Tools(ctx context.Context) ([]aios.Tool, error) {
	cl, err := c.conn(ctx)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	res, err := cl.ListTools(ctx, mcp.ListToolsRequest{})
	if err != nil {
		c.drop(cl)
		return nil, c.failure(cl, "list tools: ", err)
	}
	out := make([]aios.Tool, 0, len(res.Tools))
	for _, t := range c.usable(res.Tools) {
		out = append(out, &remoteTool{c: c, remote: t.Name, spec: c.spec(t)})
	}
	return out, nil
}

// remoteName is what a remote tool's name must look like to be offered
// under "{ns}__": what the registry and the model providers accept.
var remoteName = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

// maxToolName is the registry's limit on a whole (namespaced) name.
const maxToolName = 128

// usable drops, with a warning, remote tools whose names cannot be offered
// (bad characters, too long, listed twice): one odd tool must not make the
// registry refuse the whole server.
func (c *Client) usable(ts []mcp.Tool) []mcp.Tool {
	seen := map[string]bool{}
	out := make([]mcp.Tool, 0, len(ts))
	for _, t := range ts {
		why := ""
		switch {
		case !remoteName.MatchString(t.Name):
			why = "bad characters in the name"
		case len(c.cfg.Namespace)+len(Separator)+len(t.Name) > maxToolName:
			why = "name too long"
		case seen[t.Name]:
			why = "listed twice"
		}
		if why != "" {
			c.log.Warn("remote tool skipped", "server", c.cfg.Namespace, "tool", t.Name, "why", why)
			continue
		}
		seen[t.Name] = true
		out = append(out, t)
	}
	return out
}

func (c *Client) spec(t mcp.Tool) aios.ToolSpec {
	schema := t.RawInputSchema
	if len(schema) == 0 {
		schema, _ = json.Marshal(t.InputSchema)
	}
	deref := func(b *bool) bool { return b != nil && *b }
	a := t.Annotations
	return aios.ToolSpec{
		Name:        c.cfg.Namespace + Separator + t.Name,
		Description: t.Description,
		InputSchema: schema,
		Annotations: aios.ToolAnnotations{
			ReadOnly: deref(a.ReadOnlyHint), Idempotent: deref(a.IdempotentHint),
			// MCP's defaults: destructive and open-world unless said otherwise.
			Destructive: a.DestructiveHint == nil || *a.DestructiveHint,
			OpenWorld:   a.OpenWorldHint == nil || *a.OpenWorldHint,
			Category:    c.cfg.Category,
		},
	}
}

type remoteTool struct {
	c      *Client
	remote string
	spec   aios.ToolSpec
}

func (t *remoteTool) Spec() aios.ToolSpec { return t.spec }

// Call forwards the call with the configured timeout. A transport failure
// (server crashed, timed out) is an error result; the next call reconnects.
func (t *remoteTool) Call(ctx context.Context, args json.RawMessage) (aios.ToolResult, error) {
	if len(args) == 0 {
		args = json.RawMessage(`{}`)
	}
	if !json.Valid(args) {
		return errOut("invalid arguments: not JSON"), nil
	}
	cl, err := t.c.conn(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return aios.ToolResult{}, ctx.Err()
		}
		return errOut(err.Error()), nil
	}
	cctx, cancel := context.WithTimeout(ctx, t.c.cfg.Timeout)
	defer cancel()
	req := mcp.CallToolRequest{}
	req.Params.Name = t.remote
	req.Params.Arguments = args
	res, err := cl.CallTool(cctx, req)
	if err != nil {
		if ctx.Err() != nil {
			return aios.ToolResult{}, ctx.Err()
		}
		if isProtocolError(err) && !cl.over.Load() {
			// The server answered: the connection is fine.
			return errOut(fmt.Sprintf("%s: %v", t.spec.Name, err)), nil
		}
		t.c.drop(cl)
		err = t.c.failure(cl, "", err)
		t.c.log.Warn("mcp server call failed; will reconnect", "server", t.c.cfg.Namespace, "err", err)
		return errOut(err.Error()), nil
	}
	return fromMCPResult(res), nil
}

// isProtocolError reports a JSON-RPC error answer (unknown tool, bad
// params), as opposed to a dead transport.
func isProtocolError(err error) bool {
	for _, sentinel := range []error{mcp.ErrMethodNotFound, mcp.ErrInvalidParams, mcp.ErrInvalidRequest, mcp.ErrInternalError, mcp.ErrResourceNotFound} {
		if errors.Is(err, sentinel) {
			return true
		}
	}
	return false
}

func errOut(msg string) aios.ToolResult {
	b, _ := json.Marshal(tools.ErrorOutput{Error: msg})
	return aios.ToolResult{Output: b, IsError: true}
}

// RemoteOutput is a remote result without structured content.
type RemoteOutput struct {
	Text string `json:"text"`
}

func fromMCPResult(res *mcp.CallToolResult) aios.ToolResult {
	// Structured content "null" says nothing; the text content does.
	if sc := bytes.TrimSpace(res.RawStructuredContent); len(sc) > 0 && string(sc) != "null" && json.Valid(sc) {
		return aios.ToolResult{Output: res.RawStructuredContent, IsError: res.IsError}
	}
	var parts []string
	for _, c := range res.Content {
		if tc, ok := mcp.AsTextContent(c); ok {
			parts = append(parts, tc.Text)
		}
	}
	text := strings.Join(parts, "\n")
	// Our own servers send the output JSON as text; keep it as JSON.
	if t := strings.TrimSpace(text); strings.HasPrefix(t, "{") && json.Valid([]byte(t)) {
		return aios.ToolResult{Output: json.RawMessage(t), IsError: res.IsError}
	}
	b, _ := json.Marshal(RemoteOutput{Text: text})
	return aios.ToolResult{Output: b, IsError: res.IsError}
}

// Registrar is where Attach puts remote tools (a *praxis.Registry).
type Registrar interface {
	Register(ts ...aios.Tool) error
}

// Attach connects to the server, lists its tools and registers them.
func (c *Client) Attach(ctx context.Context, reg Registrar) ([]aios.Tool, error) {
	ts, err := c.Tools(ctx)
	if err != nil {
		return nil, err
	}
	if err := reg.Register(ts...); err != nil {
		return nil, fmt.Errorf("mcpbridge: %s: %w", c.cfg.Namespace, err)
	}
	return ts, nil
}
