package oracle

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/anima/custody"
	"github.com/lifeos/life/anima/jws"
)

// The wire protocol: one JSON object per line each way, a response for each
// request, in order.

// Operations.
const (
	OpDescribe      = "describe"
	OpSignJWS       = "sign_jws"
	OpSignDigest    = "sign_digest"
	OpSignTypedData = "sign_typed_data"
	OpRotate        = "rotate"
)

// MaxLine bounds one request or response line.
const MaxLine = 1 << 20

// Request is one call to the oracle.
type Request struct {
	ID        uint64          `json:"id"`
	Op        string          `json:"op"`
	Agent     string          `json:"agent"`
	Purpose   aios.KeyPurpose `json:"purpose,omitempty"`
	Header    map[string]any  `json:"header,omitempty"`
	Claims    json.RawMessage `json:"claims,omitempty"`
	Digest    []byte          `json:"digest,omitempty"`
	TypedData json.RawMessage `json:"typed_data,omitempty"`
}

// Error codes.
const (
	CodeDenied      = "denied"
	CodeBadRequest  = "bad_request"
	CodeUnsupported = "unsupported"
	CodeInternal    = "internal"
)

// WireError is an error as sent over the socket.
type WireError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Response answers one request.
type Response struct {
	ID     uint64          `json:"id"`
	OK     bool            `json:"ok"`
	Error  *WireError      `json:"error,omitempty"`
	Result json.RawMessage `json:"result,omitempty"`
}

// Description is the result of describe: the agent's public identity.
type Description struct {
	DID             string `json:"did"`
	WalletAddress   string `json:"wallet_address"`
	AuthPublicKey   []byte `json:"auth_public_key"`   // uncompressed P-256 point
	WalletPublicKey []byte `json:"wallet_public_key"` // compressed secp256k1 point
}

// ErrDenied matches a request the oracle refused for the caller's identity.
var ErrDenied = errors.New("oracle: permission denied")

// ErrRemote matches any other error reported by the oracle.
var ErrRemote = errors.New("oracle: remote error")

// asError turns a wire error into a Go error matching the right sentinel.
func (e *WireError) asError() error {
	switch e.Code {
	case CodeDenied:
		return fmt.Errorf("%w: %s", ErrDenied, e.Message)
	case CodeUnsupported:
		return fmt.Errorf("%w: %s", aios.ErrUnsupported, e.Message)
	case CodeBadRequest:
		return fmt.Errorf("%w: %w: %s", ErrRemote, custody.ErrBadRequest, e.Message)
	}
	return fmt.Errorf("%w (%s): %s", ErrRemote, e.Code, e.Message)
}

// DecodeRequest parses one request line strictly.
func DecodeRequest(line []byte) (*Request, error) {
	if len(line) > MaxLine {
		return nil, fmt.Errorf("request is %d bytes, at most %d", len(line), MaxLine)
	}
	// One object, no duplicate or case-variant keys (encoding/json would
	// let {"agent":"a","AGENT":"b"} name b), no unknown members.
	if err := jws.CheckFields(line, "id", "op", "agent", "purpose", "header", "claims", "digest", "typed_data"); err != nil {
		return nil, fmt.Errorf("request: %w", err)
	}
	var r Request
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("request: %w", err)
	}
	switch r.Op {
	case OpDescribe, OpSignJWS, OpSignDigest, OpSignTypedData, OpRotate:
	default:
		return nil, fmt.Errorf("request: unknown op %q", r.Op)
	}
	if r.Agent == "" {
		return nil, errors.New("request: no agent")
	}
	return &r, nil
}
