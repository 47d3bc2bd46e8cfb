// Package jws signs and parses compact JSON Web Signatures for the two
// algorithms agents use: ES256 (P-256, through go-jose) and ES256K
// (secp256k1, by hand: go-jose does not support it, and the part needed is
// small). Parsing is strict: three base64url parts, a JSON object header
// without duplicate keys, a bounded size, and no "crit" extensions.
package jws

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
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

// Header holds the protected header members the verifier looks at; Raw has
// all of them.
type Header struct {
	Alg string
	Typ string
	Kid string
	Raw map[string]json.RawMessage
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
	raw, err := DecodeObject(hdr)
	if err != nil {
		return nil, invalid("header: %v", err)
	}
	h := Header{Raw: raw}
	for name, dst := range map[string]*string{"alg": &h.Alg, "typ": &h.Typ, "kid": &h.Kid} {
		if v, ok := raw[name]; ok {
			if err := json.Unmarshal(v, dst); err != nil {
				return nil, invalid("header %s is not a string", name)
			}
		}
	}
	if h.Alg == "" {
		return nil, invalid("header has no alg")
	}
	if _, ok := raw["crit"]; ok {
		return nil, invalid("header has crit extensions, none are supported")
	}
	return &Token{Header: h, Payload: payload, Signature: sig,
		SigningInput: parts[0] + "." + parts[1], Compact: token}, nil
}

// DecodeObject decodes a JSON object, rejecting duplicate keys (which
// encoding/json would silently resolve to the last one) and trailing data.
func DecodeObject(b []byte) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, errors.New("not a JSON object")
	}
	out := map[string]json.RawMessage{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, ok := tok.(string)
		if !ok {
			return nil, errors.New("object key is not a string")
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		if _, dup := out[key]; dup {
			return nil, fmt.Errorf("duplicate key %q", key)
		}
		out[key] = v
	}
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err == nil {
		return nil, errors.New("trailing data after the object")
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
		obj, err := jose.ParseSignedCompact(t.Compact, []jose.SignatureAlgorithm{jose.ES256})
		if err != nil {
			return invalid("%v", err)
		}
		if _, err := obj.Verify(key.P256); err != nil {
			return invalid("ES256 signature: %v", err)
		}
		return nil
	case did.Secp256k1:
		return verifyES256K(key.Secp256k1, t.SigningInput, t.Signature)
	}
	return invalid("unsupported key type")
}

func verifyES256K(pub *btcec.PublicKey, signingInput string, sig []byte) error {
	if len(sig) != 64 {
		return invalid("ES256K signature is %d bytes, want 64", len(sig))
	}
	var r, s btcec.ModNScalar
	if r.SetByteSlice(sig[:32]) || r.IsZero() || s.SetByteSlice(sig[32:]) || s.IsZero() {
		return invalid("ES256K signature r or s out of range")
	}
	if s.IsOverHalfOrder() {
		return invalid("ES256K signature has a high S (malleable)")
	}
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
