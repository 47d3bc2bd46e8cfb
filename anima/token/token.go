// Package token issues agent JWTs and holds the one canonical verifier that
// every Life-Go daemon uses.
//
// An agent JWT is a compact JWS with the protected header {typ "agent+jwt",
// alg ES256 or ES256K, kid = the signing key's did:key} and the claims iss
// (RFC 7638 thumbprint of that key), sub, aud, jti, iat, exp and optional
// nbf. The verifier accepts ES256 and ES256K only, resolves the key from kid,
// and checks the signature, iss, exp, nbf, iat skew, the TTL bound, the
// audience, revocation, and the rotation chain: a token signed by a key that
// has since been rotated away is valid only if it was issued before the
// rotation. Since exp - iat is bounded by the maximum TTL, a stolen old key
// can mint nothing valid once rotated_at + max TTL has passed.
package token

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/anima/chain"
	"github.com/lifeos/life/anima/did"
	"github.com/lifeos/life/anima/jws"
)

// Type is the typ header of an agent JWT.
const Type = "agent+jwt"

// Defaults of the verifier.
const (
	DefaultMaxTTL  = time.Hour
	DefaultSkew    = time.Minute
	DefaultMaxHops = 16
)

// Request describes a token to issue.
type Request struct {
	Subject   string        // default: the custody's auth DID
	Audience  []string      // required
	TTL       time.Duration // required, at most the verifier's max TTL to be accepted
	ID        string        // jti; random when empty
	NotBefore time.Time     // optional
}

// Claims is the JSON form of agent JWT claims as issued.
type claimsWire struct {
	Iss string   `json:"iss"`
	Sub string   `json:"sub"`
	Aud []string `json:"aud"`
	Jti string   `json:"jti"`
	Iat int64    `json:"iat"`
	Exp int64    `json:"exp"`
	Nbf int64    `json:"nbf,omitempty"`
}

// Issue signs an agent JWT with the custody's key for purpose (auth: ES256,
// wallet: ES256K) at the clock's time.
func Issue(ctx context.Context, c aios.Custody, purpose aios.KeyPurpose, req Request, clock aios.Clock) (string, error) {
	if len(req.Audience) == 0 {
		return "", errors.New("token: issue: no audience")
	}
	for _, a := range req.Audience {
		if a == "" {
			return "", errors.New("token: issue: empty audience")
		}
	}
	// iat and exp are whole seconds: a shorter TTL gives exp == iat, a
	// token no verifier accepts.
	if req.TTL < time.Second {
		return "", fmt.Errorf("token: issue: TTL %v is under a second", req.TTL)
	}
	pub, err := c.PublicKey(ctx, purpose)
	if err != nil {
		return "", fmt.Errorf("token: issue: %w", err)
	}
	key, err := did.FromPublic(pub)
	if err != nil {
		return "", fmt.Errorf("token: issue: %w", err)
	}
	if req.ID == "" {
		var b [16]byte
		if _, err := rand.Read(b[:]); err != nil {
			return "", fmt.Errorf("token: issue: jti: %w", err)
		}
		req.ID = hex.EncodeToString(b[:])
	}
	if req.Subject == "" {
		req.Subject = c.DID()
	}
	now := clock.Now()
	cw := claimsWire{Iss: key.Thumbprint(), Sub: req.Subject, Aud: req.Audience, Jti: req.ID,
		Iat: now.Unix(), Exp: now.Add(req.TTL).Unix()}
	if !req.NotBefore.IsZero() {
		cw.Nbf = req.NotBefore.Unix()
		// Either would make a token no verifier ever accepts.
		if cw.Nbf < 0 || cw.Nbf >= cw.Exp {
			return "", fmt.Errorf("token: issue: not-before %v is not between 1970 and the expiry", req.NotBefore)
		}
	}
	claims, err := json.Marshal(cw)
	if err != nil {
		return "", fmt.Errorf("token: issue: %w", err)
	}
	return c.SignJWS(ctx, purpose, map[string]any{"typ": Type, "kid": key.DID()}, claims)
}

// Error is a verification failure; it matches aios.ErrUnauthorized and the
// underlying cause.
type Error struct {
	Reason string
	Err    error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return "token: unauthorized: " + e.Reason + ": " + e.Err.Error()
	}
	return "token: unauthorized: " + e.Reason
}

// Unwrap makes the error match aios.ErrUnauthorized and its cause.
func (e *Error) Unwrap() []error {
	if e.Err != nil {
		return []error{aios.ErrUnauthorized, e.Err}
	}
	return []error{aios.ErrUnauthorized}
}

// Sentinel causes callers may branch on (all also match aios.ErrUnauthorized).
var (
	ErrExpired   = errors.New("token expired")
	ErrRevoked   = errors.New("key revoked")
	ErrRotated   = errors.New("key rotated away before the token was issued")
	ErrAudience  = errors.New("audience mismatch")
	ErrAlgorithm = errors.New("algorithm not accepted")
)

func deny(reason string, err error) error { return &Error{Reason: reason, Err: err} }

// Verifier is the canonical agent JWT verifier. It is safe for concurrent
// use; its registry of rotations and revocations can be replaced at any time.
type Verifier struct {
	clock   aios.Clock
	maxTTL  time.Duration
	skew    time.Duration
	maxHops int

	registry atomic.Pointer[chain.Registry]
	mu       sync.Mutex // serializes Apply
	keys     keyCache
}

// Option configures a Verifier.
type Option func(*Verifier)

// WithClock sets the verifier's clock.
func WithClock(c aios.Clock) Option { return func(v *Verifier) { v.clock = c } }

// WithMaxTTL bounds exp - iat.
func WithMaxTTL(d time.Duration) Option { return func(v *Verifier) { v.maxTTL = d } }

// WithSkew sets the clock skew allowed on exp, nbf and iat.
func WithSkew(d time.Duration) Option { return func(v *Verifier) { v.skew = d } }

// WithMaxHops bounds the rotation chain walk.
func WithMaxHops(n int) Option { return func(v *Verifier) { v.maxHops = n } }

// WithRegistry starts the verifier with a registry.
func WithRegistry(r *chain.Registry) Option { return func(v *Verifier) { v.registry.Store(r) } }

// NewVerifier returns a verifier with the defaults and an empty registry.
func NewVerifier(opts ...Option) *Verifier {
	v := &Verifier{clock: aios.SystemClock{}, maxTTL: DefaultMaxTTL, skew: DefaultSkew, maxHops: DefaultMaxHops}
	v.registry.Store(chain.Empty())
	for _, o := range opts {
		o(v)
	}
	return v
}

// SetRegistry replaces the rotation and revocation state.
func (v *Verifier) SetRegistry(r *chain.Registry) { v.registry.Store(r) }

// Registry returns the current rotation and revocation state.
func (v *Verifier) Registry() *chain.Registry { return v.registry.Load() }

// Apply folds more journal events into the registry. An invalid event fails
// the call and changes nothing.
func (v *Verifier) Apply(events ...aios.EventEnvelope) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	ps := make([]aios.Payload, len(events))
	for i := range events {
		ps[i] = events[i].Payload
	}
	next, err := v.registry.Load().With(ps...)
	if err != nil {
		return err
	}
	v.registry.Store(next)
	return nil
}

// Result is a verified token with where its key stands in the chain.
type Result struct {
	Claims     aios.TokenClaims
	CurrentDID string // the DID the signing key's chain leads to now
	Hops       int    // rotations between the signing key and CurrentDID
}

var _ aios.TokenVerifier = (*Verifier)(nil)

// Verify checks token for audience; every failure matches
// aios.ErrUnauthorized.
func (v *Verifier) Verify(ctx context.Context, token, audience string) (aios.TokenClaims, error) {
	r, err := v.VerifyDetail(ctx, token, audience)
	return r.Claims, err
}

// VerifyDetail is Verify that also reports the chain position.
func (v *Verifier) VerifyDetail(ctx context.Context, token, audience string) (Result, error) {
	if err := ctx.Err(); err != nil {
		return Result{}, deny("context", err)
	}
	if audience == "" {
		return Result{}, deny("verifier called without an audience", ErrAudience)
	}
	tok, err := jws.Parse(token)
	if err != nil {
		return Result{}, deny("malformed token", err)
	}
	if tok.Header.Alg != jws.ES256 && tok.Header.Alg != jws.ES256K {
		return Result{}, deny(fmt.Sprintf("alg %q", tok.Header.Alg), ErrAlgorithm)
	}
	if !strings.EqualFold(tok.Header.Typ, Type) {
		return Result{}, deny(fmt.Sprintf("typ %q, want %q", tok.Header.Typ, Type), nil)
	}
	if tok.Header.Kid == "" {
		return Result{}, deny("no kid", nil)
	}
	kid, err := kidDID(tok.Header.Kid)
	if err != nil {
		return Result{}, deny("kid", err)
	}
	key, err := v.keys.resolve(kid)
	if err != nil {
		return Result{}, deny("kid", err)
	}
	if key.Type.Alg() != tok.Header.Alg {
		return Result{}, deny(fmt.Sprintf("alg %s with a %s key", tok.Header.Alg, key.Type), ErrAlgorithm)
	}
	if err := tok.Verify(key.Key); err != nil {
		return Result{}, deny("signature", err)
	}
	c, err := parseClaims(tok.Payload)
	if err != nil {
		return Result{}, deny("claims", err)
	}
	c.DID = kid
	if c.Issuer != key.thumbprint {
		return Result{}, deny("iss is not the thumbprint of the kid's key", nil)
	}
	if err := v.checkTimes(c); err != nil {
		return Result{}, err
	}
	if !contains(c.Audience, audience) {
		return Result{}, deny(fmt.Sprintf("token is not for %q", audience), ErrAudience)
	}
	return v.checkChain(c)
}

func (v *Verifier) checkTimes(c aios.TokenClaims) error {
	now := v.clock.Now()
	skew := int64(v.skew / time.Second)
	n := now.Unix()
	switch {
	case c.ExpiresAt <= c.IssuedAt:
		return deny("exp is not after iat", nil)
	case c.ExpiresAt-c.IssuedAt > int64(v.maxTTL/time.Second):
		return deny(fmt.Sprintf("lifetime %ds exceeds the maximum %v", c.ExpiresAt-c.IssuedAt, v.maxTTL), nil)
	case n > c.ExpiresAt+skew:
		return deny("exp passed", ErrExpired)
	case c.IssuedAt > n+skew:
		return deny("iat is in the future", nil)
	case c.NotBefore != 0 && c.NotBefore > n+skew:
		return deny("nbf not reached", nil)
	}
	return nil
}

func (v *Verifier) checkChain(c aios.TokenClaims) (Result, error) {
	reg := v.registry.Load()
	rec := reg.Status(c.DID)
	if rec.Revoked {
		return Result{}, deny(fmt.Sprintf("%s revoked: %s", c.DID, rec.Reason), ErrRevoked)
	}
	if rec.RotatedTo != "" && c.IssuedAt*1_000_000 >= int64(rec.RotatedAt) {
		return Result{}, deny(fmt.Sprintf("%s rotated to %s", c.DID, rec.RotatedTo), ErrRotated)
	}
	cur, hops, err := reg.Current(c.DID, v.maxHops)
	if err != nil {
		return Result{}, deny("rotation chain", err)
	}
	if cur != c.DID && reg.Status(cur).Revoked {
		return Result{}, deny(fmt.Sprintf("current identity %s revoked", cur), ErrRevoked)
	}
	return Result{Claims: c, CurrentDID: cur, Hops: hops}, nil
}

// kidDID accepts a kid that is a did:key, or its DID URL with the key's own
// fragment (did:key:zX#zX), as some issuers write it.
func kidDID(kid string) (string, error) {
	d, frag, ok := strings.Cut(kid, "#")
	if ok && frag != did.Fragment(d) {
		return "", fmt.Errorf("%w: kid fragment %q is not the key's", did.ErrInvalid, frag)
	}
	return d, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// parseClaims decodes the claims strictly: an object without duplicate keys,
// with string iss, sub, jti, aud a string or array of strings, and
// NumericDates as JSON numbers (fractions are truncated).
func parseClaims(b []byte) (aios.TokenClaims, error) {
	var c aios.TokenClaims
	if err := jws.CheckFields(b, "iss", "sub", "jti", "aud", "iat", "exp", "nbf"); err != nil {
		return c, fmt.Errorf("claims: %w", err)
	}
	var w struct {
		Iss, Sub, Jti *string
		Aud           json.RawMessage
		Iat, Exp, Nbf json.RawMessage
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return c, fmt.Errorf("claims: %w", err)
	}
	for _, f := range []struct {
		name string
		src  *string
		dst  *string
	}{{"iss", w.Iss, &c.Issuer}, {"sub", w.Sub, &c.Subject}, {"jti", w.Jti, &c.ID}} {
		if f.src == nil || *f.src == "" {
			return c, fmt.Errorf("claims: %s missing or empty", f.name)
		}
		*f.dst = *f.src
	}
	for _, f := range []struct {
		name     string
		raw      json.RawMessage
		dst      *int64
		required bool
	}{{"iat", w.Iat, &c.IssuedAt, true}, {"exp", w.Exp, &c.ExpiresAt, true}, {"nbf", w.Nbf, &c.NotBefore, false}} {
		if f.raw == nil {
			if f.required {
				return c, fmt.Errorf("claims: %s missing", f.name)
			}
			continue
		}
		n, err := numericDate(f.raw)
		if err != nil {
			return c, fmt.Errorf("claims: %s: %w", f.name, err)
		}
		*f.dst = n
	}
	if w.Aud == nil {
		return c, errors.New("claims: aud missing")
	}
	var one string
	if json.Unmarshal(w.Aud, &one) == nil {
		c.Audience = []string{one}
	} else if err := json.Unmarshal(w.Aud, &c.Audience); err != nil {
		return c, errors.New("claims: aud is not a string or array of strings")
	}
	if len(c.Audience) == 0 || c.Audience[0] == "" {
		return c, errors.New("claims: aud is empty")
	}
	return c, nil
}

// numericDate reads a JSON number of seconds in [0, 2^53].
func numericDate(raw json.RawMessage) (int64, error) {
	s := string(raw)
	if s == "" || s[0] == '"' || s == "null" {
		return 0, errors.New("not a number")
	}
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		if i < 0 || i > 1<<53 {
			return 0, errors.New("out of range")
		}
		return i, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || f < 0 || f > 1<<53 {
		return 0, errors.New("not a valid NumericDate")
	}
	return int64(f), nil
}

// keyCache keeps resolved kids: decompressing a point costs a square root,
// a sizeable part of a verification.
type keyCache struct {
	mu sync.Mutex
	m  map[string]cachedKey
}

type cachedKey struct {
	did.Key
	thumbprint string
}

const keyCacheSize = 4096

func (kc *keyCache) resolve(d string) (cachedKey, error) {
	kc.mu.Lock()
	k, ok := kc.m[d]
	kc.mu.Unlock()
	if ok {
		return k, nil
	}
	key, err := did.Resolve(d)
	if err != nil {
		return cachedKey{}, err
	}
	k = cachedKey{Key: key, thumbprint: key.Thumbprint()}
	kc.mu.Lock()
	if kc.m == nil || len(kc.m) >= keyCacheSize {
		kc.m = make(map[string]cachedKey) // dropping all is simple and bounded
	}
	kc.m[d] = k
	kc.mu.Unlock()
	return k, nil
}
