// Package jws signs and parses compact JSON Web Signatures for the two
// algorithms agents use: ES256 (P-256, through go-jose) and ES256K
// (secp256k1, by hand: go-jose does not support it, and the part needed is
// small). Parsing is strict: three base64url parts, a JSON object header
// without duplicate keys, a bounded size, and no "crit" extensions.
package jws

import (
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"

	"github.com/btcsuite/btcd/btcec/v2"
	becdsa "github.com/btcsuite/btcd/btcec/v2/ecdsa"
	jose "github.com/go-jose/go-jose/v4"

	"github.com/lifeos/life/anima/did"
)

// Supported algorithms.
const (
	ES256  = "ES256"
	ES256K = "ES256K"
)

// MaxTokenSize bounds the compact tokens Parse accepts.
const MaxTokenSize = 16 << 10

// ErrInvalid is matched by every parse or verification failure.
var ErrInvalid = errors.New("jws: invalid token")

func invalid(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, a...)...)
}

var b64 = base64.RawURLEncoding

// Header holds the protected header members the verifier looks at; JSON is
// the whole decoded header.
type Header struct {
	Alg  string
	Typ  string
	Kid  string
	JSON []byte
}

// Token is a parsed, not yet verified, compact JWS.
type Token struct {
	Header       Header
	Payload      []byte
	Signature    []byte
	SigningInput string // base64url(header) "." base64url(payload)
	Compact      string
}

// Parse splits and decodes a compact JWS without verifying it.
func Parse(token string) (*Token, error) {
	if len(token) > MaxTokenSize {
		return nil, invalid("token is %d bytes, at most %d", len(token), MaxTokenSize)
	}
	// base64 decoding skips \r and \n, so without this check a signature
	// with line breaks added would still verify: the same token under
	// another spelling, which defeats caches and replay checks keyed on it.
	for i := 0; i < len(token); i++ {
		if c := token[i]; !isB64URL(c) && c != '.' {
			return nil, invalid("byte %q at %d is not base64url", c, i)
		}
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, invalid("compact JWS has %d parts, want 3", len(parts))
	}
	hdr, err := b64.Strict().DecodeString(parts[0])
	if err != nil {
		return nil, invalid("header is not base64url: %v", err)
	}
	payload, err := b64.Strict().DecodeString(parts[1])
	if err != nil {
		return nil, invalid("payload is not base64url: %v", err)
	}
	sig, err := b64.Strict().DecodeString(parts[2])
	if err != nil {
		return nil, invalid("signature is not base64url: %v", err)
	}
	if err := CheckFields(hdr, "alg", "typ", "kid", "crit"); err != nil {
		return nil, invalid("header: %v", err)
	}
	var w struct {
		Alg, Typ, Kid *string
		Crit          json.RawMessage
	}
	if err := json.Unmarshal(hdr, &w); err != nil {
		return nil, invalid("header: %v", err)
	}
	h := Header{JSON: hdr}
	for _, f := range []struct {
		src *string
		dst *string
	}{{w.Alg, &h.Alg}, {w.Typ, &h.Typ}, {w.Kid, &h.Kid}} {
		if f.src != nil {
			*f.dst = *f.src
		}
	}
	if h.Alg == "" {
		return nil, invalid("header has no alg")
	}
	if w.Crit != nil {
		return nil, invalid("header has crit extensions, none are supported")
	}
	return &Token{Header: h, Payload: payload, Signature: sig,
		SigningInput: parts[0] + "." + parts[1], Compact: token}, nil
}

func isB64URL(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_'
}

// CheckObject checks that b is one JSON object whose top-level keys are
// unique, without decoding it: a single pass that tracks nesting and
// strings. Syntax errors inside values are left to json.Unmarshal.
func CheckObject(b []byte) error {
	_, err := objectKeys(b)
	return err
}

// CheckFields is CheckObject that also refuses a top-level key that differs
// from one of fields only in case. encoding/json matches struct fields
// case-insensitively, so {"alg":"ES256","ALG":"none"} would be read as alg
// "none" (the last match wins) and a lone "EXP" as exp, where other JOSE
// parsers read exactly "alg" and "exp".
func CheckFields(b []byte, fields ...string) error {
	keys, err := objectKeys(b)
	if err != nil {
		return err
	}
	for _, k := range keys {
		for _, f := range fields {
			if k != f && strings.EqualFold(k, f) {
				return fmt.Errorf("key %q is a case variant of %q", k, f)
			}
		}
	}
	return nil
}

// objectKeys returns the top-level keys of the JSON object b, refusing
// duplicates.
func objectKeys(b []byte) ([]string, error) {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return nil, errors.New("not a JSON object")
	}
	var keys []string // objects here have a handful of keys
	depth := 0
	expectKey := false
	for ; i < len(b); i++ {
		switch c := b[i]; c {
		case '"':
			end := i + 1
			for end < len(b) && b[end] != '"' {
				if b[end] == '\\' {
					end++
				}
				end++
			}
			if end >= len(b) {
				return nil, errors.New("unterminated string")
			}
			if depth == 1 && expectKey {
				var k string
				if err := json.Unmarshal(b[i:end+1], &k); err != nil {
					return nil, fmt.Errorf("object key: %w", err)
				}
				for _, seen := range keys {
					if seen == k {
						return nil, fmt.Errorf("duplicate key %q", k)
					}
				}
				keys = append(keys, k)
				expectKey = false
			}
			i = end
		case '{', '[':
			depth++
			expectKey = c == '{' && depth == 1
		case '}', ']':
			depth--
			if depth == 0 {
				if j := skipSpace(b, i+1); j != len(b) {
					return nil, errors.New("trailing data after the object")
				}
				return keys, nil
			}
		case ',':
			expectKey = depth == 1
		}
	}
	return nil, errors.New("unterminated object")
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// DecodeObject decodes a JSON object, rejecting duplicate keys (which
// encoding/json would silently resolve to the last one) and trailing data.
func DecodeObject(b []byte) (map[string]json.RawMessage, error) {
	if err := CheckObject(b); err != nil {
		return nil, err
	}
	var out map[string]json.RawMessage
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// Verify checks the token's signature with key. The alg must be the one of
// the key's curve (ES256 for P-256, ES256K for secp256k1); anything else,
// including none, HS*, RS* and mismatches, is rejected.
func (t *Token) Verify(key did.Key) error {
	if t.Header.Alg != key.Type.Alg() {
		return invalid("alg %q does not match a %s key", t.Header.Alg, key.Type)
	}
	switch key.Type {
	case did.P256:
		return verifyES256(key.P256, t.SigningInput, t.Signature)
	case did.Secp256k1:
		return verifyES256K(key.Secp256k1, t.SigningInput, t.Signature)
	}
	return invalid("unsupported key type")
}

// verifyES256 checks r||s with crypto/ecdsa directly: Parse has already
// done strictly what go-jose's parser would, and parsing twice cost a fifth
// of a verification.
func verifyES256(pub *ecdsa.PublicKey, signingInput string, sig []byte) error {
	if len(sig) != 64 {
		return invalid("ES256 signature is %d bytes, want 64", len(sig))
	}
	r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
	digest := sha256.Sum256([]byte(signingInput))
	if !ecdsa.Verify(pub, digest[:], r, s) {
		return invalid("ES256 signature does not verify")
	}
	return nil
}

func verifyES256K(pub *btcec.PublicKey, signingInput string, sig []byte) error {
	if len(sig) != 64 {
		return invalid("ES256K signature is %d bytes, want 64", len(sig))
	}
	var r, s btcec.ModNScalar
	if r.SetByteSlice(sig[:32]) || r.IsZero() || s.SetByteSlice(sig[32:]) || s.IsZero() {
		return invalid("ES256K signature r or s out of range")
	}
	// A high S is accepted: RFC 8812 does not forbid it and common signers
	// (Node's crypto, so panva/jose) produce it half the time. Our own
	// signer always writes low S.
	digest := sha256.Sum256([]byte(signingInput))
	if !becdsa.NewSignature(&r, &s).Verify(digest[:], pub) {
		return invalid("ES256K signature does not verify")
	}
	return nil
}

// SignES256 signs payload with a P-256 key through go-jose. header holds
// extra protected members (typ, kid, ...); alg is set here.
func SignES256(key *ecdsa.PrivateKey, header map[string]any, payload []byte) (string, error) {
	opts := new(jose.SignerOptions)
	for k, v := range header {
		if k == "alg" {
			if v != ES256 {
				return "", fmt.Errorf("jws: header alg %v conflicts with ES256", v)
			}
			continue
		}
		opts.WithHeader(jose.HeaderKey(k), v)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, opts)
	if err != nil {
		return "", fmt.Errorf("jws: %w", err)
	}
	obj, err := signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("jws: sign: %w", err)
	}
	return obj.CompactSerialize()
}

// SignES256K signs payload with a secp256k1 key: r||s over SHA-256 of the
// signing input, low-S, deterministic (RFC 6979).
func SignES256K(key *btcec.PrivateKey, header map[string]any, payload []byte) (string, error) {
	return Compact(ES256K, header, payload, func(digest [32]byte) ([]byte, error) {
		compact := becdsa.SignCompact(key, digest[:], false) // recovery byte || r || s
		return compact[1:], nil
	})
}

// Compact builds a compact JWS with alg and the extra header members,
// calling sign with SHA-256 of the signing input. Backends that sign
// digests (the custody oracle, hardware keys) use it for both algorithms;
// sign must return the 64-byte r||s.
func Compact(alg string, header map[string]any, payload []byte, sign func(digest [32]byte) ([]byte, error)) (string, error) {
	h := make(map[string]any, len(header)+1)
	for k, v := range header {
		h[k] = v
	}
	if v, ok := h["alg"]; ok && v != alg {
		return "", fmt.Errorf("jws: header alg %v conflicts with %s", v, alg)
	}
	h["alg"] = alg
	hb, err := json.Marshal(h)
	if err != nil {
		return "", fmt.Errorf("jws: encode header: %w", err)
	}
	input := b64.EncodeToString(hb) + "." + b64.EncodeToString(payload)
	sig, err := sign(sha256.Sum256([]byte(input)))
	if err != nil {
		return "", fmt.Errorf("jws: sign: %w", err)
	}
	if len(sig) != 64 {
		return "", fmt.Errorf("jws: signer returned %d bytes, want 64 (r||s)", len(sig))
	}
	return input + "." + b64.EncodeToString(sig), nil
}
