package aios

import (
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"io"
	"iter"
)

// The ports: small interfaces that the modules implement (lago the Journal
// and BlobStore, arcan the Providers, praxis the Tools, autonomic the Gate,
// anima the Custody and TokenVerifier). They are deliberately minimal.

// ErrNotFound is matched by port errors for a missing session, branch, blob,
// tool or key.
var ErrNotFound = errors.New("aios: not found")

// ErrUnsupported is matched by a port error when an implementation cannot do
// an operation at all (for example a custody backend that cannot sign
// EIP-712 data), as opposed to failing at it.
var ErrUnsupported = errors.New("aios: operation not supported by this backend")

// StreamID names one journal stream: a branch of a session.
type StreamID struct {
	Session string
	Branch  string
}

// ReadQuery selects events of one stream: seq in (After, Until], at most
// Limit of them. Until 0 means the head; Limit 0 means no limit.
type ReadQuery struct {
	Stream StreamID
	After  uint64
	Until  uint64
	Limit  int
}

// Journal is the append-only event log every state is replayed from.
type Journal interface {
	// Append durably stores events and returns the seq assigned to each, in
	// order. It returns only after the events are durable. Appending an
	// event_id that is already stored stores nothing and returns its first
	// seq. Invalid events fail the whole call and store nothing.
	Append(ctx context.Context, events ...EventEnvelope) ([]uint64, error)
	// Read yields the events of a stream in seq order.
	Read(ctx context.Context, q ReadQuery) iter.Seq2[EventEnvelope, error]
	// Head returns the last seq of a stream, 0 when it is empty.
	Head(ctx context.Context, stream StreamID) (uint64, error)
	// Subscribe yields every event with seq > after, first those stored,
	// then live ones as they are appended, with none missed or repeated in
	// between, until ctx is done or the consumer stops.
	Subscribe(ctx context.Context, stream StreamID, after uint64) iter.Seq2[EventEnvelope, error]
}

// BlobInfo describes a stored blob: its content hash (lowercase hex) and size.
type BlobInfo struct {
	Hash string
	Size int64
}

// BlobStore keeps content-addressed bytes.
type BlobStore interface {
	// Put stores r's bytes and returns their hash; storing the same bytes
	// twice keeps one copy.
	Put(ctx context.Context, r io.Reader) (BlobInfo, error)
	// Get opens a blob; reading it fails if the stored bytes do not match
	// their hash. A missing blob is ErrNotFound.
	Get(ctx context.Context, hash string) (io.ReadCloser, error)
	// Stat describes a blob without reading it.
	Stat(ctx context.Context, hash string) (BlobInfo, error)
}

// ChatRole is the role of a message sent to a provider.
type ChatRole string

const (
	RoleSystem    ChatRole = "system"
	RoleUser      ChatRole = "user"
	RoleAssistant ChatRole = "assistant"
	RoleTool      ChatRole = "tool"
)

// ToolCall is one call the model asked for.
type ToolCall struct {
	ID        string          `json:"id"`
	Name      string          `json:"name"`
	Arguments json.RawMessage `json:"arguments"`
}

// ChatMessage is one message of the conversation sent to a provider. An
// assistant message may carry ToolCalls; a tool message carries the result
// of the call named by ToolCallID.
type ChatMessage struct {
	Role       ChatRole   `json:"role"`
	Content    string     `json:"content,omitempty"`
	ToolCalls  []ToolCall `json:"tool_calls,omitempty"`
	ToolCallID string     `json:"tool_call_id,omitempty"`
	ToolName   string     `json:"tool_name,omitempty"`
	IsError    bool       `json:"is_error,omitempty"`
}

// ChatRequest is one provider call.
type ChatRequest struct {
	Model       string        `json:"model,omitempty"`
	System      string        `json:"system,omitempty"`
	Messages    []ChatMessage `json:"messages"`
	Tools       []ToolSpec    `json:"tools,omitempty"`
	MaxTokens   uint32        `json:"max_tokens,omitempty"`
	Temperature *float64      `json:"temperature,omitempty"`
	TopP        *float64      `json:"top_p,omitempty"`
}

// ProviderEventKind says what a [ProviderEvent] carries.
type ProviderEventKind string

const (
	// ProviderTextDelta carries a piece of assistant text in Text.
	ProviderTextDelta ProviderEventKind = "text_delta"
	// ProviderToolCall carries one complete tool call in ToolCall.
	ProviderToolCall ProviderEventKind = "tool_call"
	// ProviderDone ends the stream normally and carries Finish.
	ProviderDone ProviderEventKind = "done"
)

// Finish is how a provider call ended.
type Finish struct {
	StopReason string     `json:"stop_reason"` // end_turn, tool_use, max_tokens, ...
	Usage      TokenUsage `json:"usage"`
	Model      string     `json:"model,omitempty"`
	ResponseID string     `json:"response_id,omitempty"`
}

// ProviderEvent is one item of a provider's stream.
type ProviderEvent struct {
	Kind     ProviderEventKind
	Text     string
	ToolCall *ToolCall
	Finish   *Finish
}

// Provider is a language model behind a streaming API.
type Provider interface {
	// Name identifies the provider (mock, anthropic, openai, ...).
	Name() string
	// Stream calls the model. The sequence ends with a ProviderDone event,
	// or with an error: a failure mid-stream is yielded as an error, never
	// as a normal end.
	Stream(ctx context.Context, req ChatRequest) iter.Seq2[ProviderEvent, error]
}

// ToolAnnotations describe a tool's side effects, for policy and recovery.
type ToolAnnotations struct {
	ReadOnly    bool   `json:"read_only,omitempty"`
	Idempotent  bool   `json:"idempotent,omitempty"` // safe to re-run after a crash
	Destructive bool   `json:"destructive,omitempty"`
	OpenWorld   bool   `json:"open_world,omitempty"` // touches the network
	Category    string `json:"category,omitempty"`   // fs, exec, net, memory, ...
}

// ToolSpec is what a model is told about a tool.
type ToolSpec struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	InputSchema json.RawMessage `json:"input_schema"` // JSON Schema of the arguments
	Annotations ToolAnnotations `json:"annotations"`
}

// ToolResult is a tool's answer. Output is JSON; IsError marks a failure the
// model should see (bad arguments, a denied path) as opposed to a Go error,
// which means the call could not be made. Events are facts the runtime
// journals alongside the result (FileMutated, SandboxViolation, ...).
type ToolResult struct {
	Output  json.RawMessage
	IsError bool
	Events  []Payload
}

// Tool is one capability offered to the model.
type Tool interface {
	Spec() ToolSpec
	Call(ctx context.Context, args json.RawMessage) (ToolResult, error)
}

// ToolRegistry finds tools by name.
type ToolRegistry interface {
	Tool(name string) (Tool, bool)
	Specs() []ToolSpec
}

// PolicyRequest is a tool call put to the policy before it runs.
type PolicyRequest struct {
	Stream    StreamID
	RunID     string
	ToolName  string
	Category  string
	Arguments json.RawMessage
}

// PolicyGate decides whether a tool call may run, must wait for approval, or
// is denied.
type PolicyGate interface {
	Evaluate(ctx context.Context, req PolicyRequest) (PolicyDecision, error)
}

// Gate gives homeostatic advice before a turn (autonomic). The runtime treats
// it as advisory and fail-open: when the gate errs, it goes on with
// [OpenGating] and journals that it did.
type Gate interface {
	Decide(ctx context.Context, stream StreamID) (Gating, error)
}

// KeyPurpose names which of an identity's keys an operation uses.
type KeyPurpose string

const (
	// KeyAuth is the P-256 key behind the DID (ES256).
	KeyAuth KeyPurpose = "auth"
	// KeyWallet is the secp256k1 wallet key (ES256K, EIP-712).
	KeyWallet KeyPurpose = "wallet"
)

// Custody holds an agent's keys and signs with them; private keys never
// leave it. Backends that cannot do an operation return an error matching
// ErrUnsupported.
type Custody interface {
	// DID is the agent's did:key identifier (auth key).
	DID() string
	// PublicKey returns the public key for a purpose.
	PublicKey(ctx context.Context, purpose KeyPurpose) (crypto.PublicKey, error)
	// WalletAddress is the EIP-55 address of the wallet key.
	WalletAddress() string
	// SignJWS signs claims as a compact JWS with the purpose's key (ES256 for
	// auth, ES256K for wallet) and the given extra protected headers.
	SignJWS(ctx context.Context, purpose KeyPurpose, header map[string]any, claims json.RawMessage) (string, error)
	// SignDigest signs a 32-byte digest: ASN.1-free r||s for auth, 65-byte
	// r||s||v for wallet.
	SignDigest(ctx context.Context, purpose KeyPurpose, digest []byte) ([]byte, error)
	// Backend names the custody backend (in-process, vault, tpm, oracle, ...).
	Backend() string
}

// TokenClaims are the verified claims of an agent JWT.
type TokenClaims struct {
	Issuer    string   `json:"iss"`
	Subject   string   `json:"sub"`
	Audience  []string `json:"aud"`
	ID        string   `json:"jti"`
	IssuedAt  int64    `json:"iat"`
	ExpiresAt int64    `json:"exp"`
	NotBefore int64    `json:"nbf,omitempty"`
	DID       string   `json:"-"` // the kid the token was signed under
}

// ErrUnauthorized is matched by every token verification failure.
var ErrUnauthorized = errors.New("aios: unauthorized")

// TokenVerifier checks an agent JWT for an audience; every daemon uses one.
type TokenVerifier interface {
	Verify(ctx context.Context, token, audience string) (TokenClaims, error)
}
