package token

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/anima/chain"
	"github.com/lifeos/life/anima/custody"
	"github.com/lifeos/life/anima/did"
	"github.com/lifeos/life/anima/jws"
)

// fakeClock is a settable clock for tests.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

func newCustody(t *testing.T, clock aios.Clock) *custody.InProcess {
	t.Helper()
	c, err := custody.Generate(custody.WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func issue(t *testing.T, c aios.Custody, purpose aios.KeyPurpose, clock aios.Clock, aud string, ttl time.Duration) string {
	t.Helper()
	tok, err := Issue(context.Background(), c, purpose, Request{Audience: []string{aud}, TTL: ttl}, clock)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// forge signs arbitrary header and claims with an auth key, for tests of
// what the issuer would never produce.
func forge(t *testing.T, c *custody.InProcess, header map[string]any, claims any) string {
	t.Helper()
	b, _ := json.Marshal(claims)
	alg, _ := header["alg"].(string)
	tok, err := jws.Compact(alg, header, b, func(d [32]byte) ([]byte, error) {
		return c.SignDigest(context.Background(), aios.KeyAuth, d[:])
	})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func validClaims(c *custody.InProcess, now time.Time) map[string]any {
	pub, _ := c.PublicKey(context.Background(), aios.KeyAuth)
	k, _ := did.FromPublic(pub)
	return map[string]any{"iss": k.Thumbprint(), "sub": c.DID(), "aud": "lagod", "jti": "j1",
		"iat": now.Unix(), "exp": now.Add(10 * time.Minute).Unix()}
}

func with(m map[string]any, kv ...any) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
		} else {
			out[kv[i].(string)] = kv[i+1]
		}
	}
	return out
}

func TestIssueAndVerify(t *testing.T) {
	clock := &fakeClock{t: t0}
	c := newCustody(t, clock)
	v := NewVerifier(WithClock(clock))
	ctx := context.Background()
	for _, purpose := range []aios.KeyPurpose{aios.KeyAuth, aios.KeyWallet} {
		t.Run(string(purpose), func(t *testing.T) {
			tok := issue(t, c, purpose, clock, "lagod", 5*time.Minute)
			parsed, err := jws.Parse(tok)
			if err != nil {
				t.Fatal(err)
			}
			wantAlg := map[aios.KeyPurpose]string{aios.KeyAuth: "ES256", aios.KeyWallet: "ES256K"}[purpose]
			if parsed.Header.Alg != wantAlg || parsed.Header.Typ != Type {
				t.Fatalf("header %+v", parsed.Header)
			}
			claims, err := v.Verify(ctx, tok, "lagod")
			if err != nil {
				t.Fatal(err)
			}
			if claims.Subject != c.DID() || claims.Audience[0] != "lagod" || claims.ExpiresAt-claims.IssuedAt != 300 {
				t.Fatalf("claims %+v", claims)
			}
			if claims.DID != parsed.Header.Kid {
				t.Fatalf("DID %s, kid %s", claims.DID, parsed.Header.Kid)
			}
		})
	}
}

func TestVerifyRejects(t *testing.T) {
	clock := &fakeClock{t: t0}
	c := newCustody(t, clock)
	other := newCustody(t, clock)
	v := NewVerifier(WithClock(clock))
	good := validClaims(c, t0)
	hdr := map[string]any{"alg": "ES256", "typ": Type, "kid": c.DID()}
	valid := forge(t, c, hdr, good)
	if _, err := v.Verify(context.Background(), valid, "lagod"); err != nil {
		t.Fatalf("baseline token rejected: %v", err)
	}
	parts := strings.Split(valid, ".")
	b64 := base64.RawURLEncoding
	unsigned := func(h map[string]any, sig []byte) string {
		hb, _ := json.Marshal(h)
		return b64.EncodeToString(hb) + "." + parts[1] + "." + b64.EncodeToString(sig)
	}
	hs256 := func() string {
		hb, _ := json.Marshal(with(hdr, "alg", "HS256"))
		in := b64.EncodeToString(hb) + "." + parts[1]
		m := hmac.New(sha256.New, []byte(c.DID())) // key confusion: the public DID as secret
		m.Write([]byte(in))
		return in + "." + b64.EncodeToString(m.Sum(nil))
	}()
	walletDID, _ := custody.PurposeDID(context.Background(), c, aios.KeyWallet)
	sigBytes, _ := b64.DecodeString(parts[2])
	sigBytes[5] ^= 0x01
	tampered := parts[0] + "." + parts[1] + "." + b64.EncodeToString(sigBytes)
	claims2, _ := b64.DecodeString(parts[1])
	claims2 = []byte(strings.Replace(string(claims2), `"sub":"`, `"sub":"x`, 1))
	tamperedClaims := parts[0] + "." + b64.EncodeToString(claims2) + "." + parts[2]

	tests := []struct {
		name  string
		token string
		aud   string
		is    error
	}{
		{"empty", "", "lagod", jws.ErrInvalid},
		{"garbage", "a.b", "lagod", jws.ErrInvalid},
		{"alg none", unsigned(with(hdr, "alg", "none"), nil), "lagod", ErrAlgorithm},
		{"alg HS256", hs256, "lagod", ErrAlgorithm},
		{"alg RS256", unsigned(with(hdr, "alg", "RS256"), make([]byte, 256)), "lagod", ErrAlgorithm},
		{"alg ES256K on a P-256 key", unsigned(with(hdr, "alg", "ES256K"), sigBytes), "lagod", ErrAlgorithm},
		{"alg ES256 on a secp256k1 key", forge(t, c, with(hdr, "kid", walletDID), good), "lagod", ErrAlgorithm},
		{"tampered signature", tampered, "lagod", jws.ErrInvalid},
		{"tampered claims", tamperedClaims, "lagod", jws.ErrInvalid},
		{"wrong typ", forge(t, c, with(hdr, "typ", "JWT"), good), "lagod", nil},
		{"no kid", forge(t, c, with(hdr, "kid", nil), good), "lagod", nil},
		{"kid of another key", forge(t, c, with(hdr, "kid", other.DID()), good), "lagod", jws.ErrInvalid},
		{"kid with a foreign fragment", forge(t, c, with(hdr, "kid", c.DID()+"#key-1"), good), "lagod", did.ErrInvalid},
		{"kid not a did:key", forge(t, c, with(hdr, "kid", "did:web:evil"), good), "lagod", did.ErrInvalid},
		{"crit header", forge(t, c, with(hdr, "crit", []string{"exp"}), good), "lagod", jws.ErrInvalid},
		{"wrong audience", valid, "arcand", ErrAudience},
		{"no audience asked", valid, "", ErrAudience},
		{"iss not the thumbprint", forge(t, c, hdr, with(good, "iss", "someone")), "lagod", nil},
		{"expired", forge(t, c, hdr, with(good, "iat", t0.Add(-30*time.Minute).Unix(), "exp", t0.Add(-2*time.Minute).Unix())), "lagod", ErrExpired},
		{"lifetime too long", forge(t, c, hdr, with(good, "exp", t0.Add(2*time.Hour).Unix())), "lagod", nil},
		{"exp before iat", forge(t, c, hdr, with(good, "exp", t0.Add(-time.Second).Unix())), "lagod", nil},
		{"iat in the future", forge(t, c, hdr, with(good, "iat", t0.Add(10*time.Minute).Unix(), "exp", t0.Add(20*time.Minute).Unix())), "lagod", nil},
		{"nbf in the future", forge(t, c, hdr, with(good, "nbf", t0.Add(5*time.Minute).Unix())), "lagod", nil},
		{"no exp", forge(t, c, hdr, with(good, "exp", nil)), "lagod", nil},
		{"no jti", forge(t, c, hdr, with(good, "jti", nil)), "lagod", nil},
		{"aud wrong type", forge(t, c, hdr, with(good, "aud", 7)), "lagod", nil},
		{"negative iat", forge(t, c, hdr, with(good, "iat", -1)), "lagod", nil},
		// encoding/json matches fields case-insensitively; other parsers
		// read only the exact names, so case variants are refused.
		{"exp spelled EXP", forge(t, c, hdr, with(good, "exp", nil, "EXP", t0.Add(10*time.Minute).Unix())), "lagod", nil},
		{"aud and Aud", forge(t, c, hdr, with(good, "Aud", "arcand")), "lagod", nil},
		{"kid and KID", forge(t, c, with(hdr, "KID", other.DID()), good), "lagod", jws.ErrInvalid},
		{"kid spelled with a Kelvin sign", forge(t, c, with(hdr, "kid", nil, "\u212aid", c.DID()), good), "lagod", jws.ErrInvalid},
		// base64 decoding skips line breaks: the same signature spelled
		// differently must not verify.
		{"line break in the signature", parts[0] + "." + parts[1] + "." + parts[2][:8] + "\n" + parts[2][8:], "lagod", jws.ErrInvalid},
		{"CRLF in the payload", parts[0] + "." + parts[1][:4] + "\r\n" + parts[1][4:] + "." + parts[2], "lagod", jws.ErrInvalid},
		{"padded signature", valid + "==", "lagod", jws.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := v.Verify(context.Background(), tt.token, tt.aud)
			if err == nil {
				t.Fatal("accepted")
			}
			if !errors.Is(err, aios.ErrUnauthorized) {
				t.Fatalf("%v does not match aios.ErrUnauthorized", err)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Fatalf("%v does not match %v", err, tt.is)
			}
		})
	}
}

func TestKidAsDIDURL(t *testing.T) {
	clock := &fakeClock{t: t0}
	c := newCustody(t, clock)
	tok := forge(t, c, map[string]any{"alg": "ES256", "typ": Type, "kid": c.DID() + "#" + did.Fragment(c.DID())}, validClaims(c, t0))
	claims, err := NewVerifier(WithClock(clock)).Verify(context.Background(), tok, "lagod")
	if err != nil || claims.DID != c.DID() {
		t.Fatalf("DID URL kid: %v %s", err, claims.DID)
	}
}

func TestDuplicateClaimKeysRejected(t *testing.T) {
	clock := &fakeClock{t: t0}
	c := newCustody(t, clock)
	good := validClaims(c, t0)
	b, _ := json.Marshal(good)
	dup := strings.Replace(string(b), "{", `{"aud":"arcand",`, 1)
	tok, err := c.SignJWS(context.Background(), aios.KeyAuth, map[string]any{"typ": Type, "kid": c.DID()}, json.RawMessage(dup))
	if err != nil {
		t.Fatal(err)
	}
	_, err = NewVerifier(WithClock(clock)).Verify(context.Background(), tok, "arcand")
	if !errors.Is(err, aios.ErrUnauthorized) {
		t.Fatalf("duplicate aud accepted: %v", err)
	}
}

func TestSkewTolerance(t *testing.T) {
	clock := &fakeClock{t: t0}
	c := newCustody(t, clock)
	tok := issue(t, c, aios.KeyAuth, clock, "lagod", time.Minute)
	v := NewVerifier(WithClock(clock), WithSkew(30*time.Second))
	clock.Add(80 * time.Second) // 20 s past exp, inside the skew
	if _, err := v.Verify(context.Background(), tok, "lagod"); err != nil {
		t.Fatalf("inside skew: %v", err)
	}
	clock.Add(20 * time.Second) // 40 s past exp
	if _, err := v.Verify(context.Background(), tok, "lagod"); !errors.Is(err, ErrExpired) {
		t.Fatalf("past skew: %v", err)
	}
}

func TestSkewOnIatAndNbf(t *testing.T) {
	clock := &fakeClock{t: t0}
	c := newCustody(t, clock)
	hdr := map[string]any{"alg": "ES256", "typ": Type, "kid": c.DID()}
	good := validClaims(c, t0)
	v := NewVerifier(WithClock(clock), WithSkew(30*time.Second))
	for _, tt := range []struct {
		name   string
		claims map[string]any
		ok     bool
	}{
		{"iat 20 s ahead", with(good, "iat", t0.Add(20*time.Second).Unix()), true},
		{"iat 40 s ahead", with(good, "iat", t0.Add(40*time.Second).Unix()), false},
		{"nbf 20 s ahead", with(good, "nbf", t0.Add(20*time.Second).Unix()), true},
		{"nbf 40 s ahead", with(good, "nbf", t0.Add(40*time.Second).Unix()), false},
		{"exp 20 s ago", with(good, "iat", t0.Add(-5*time.Minute).Unix(), "exp", t0.Add(-20*time.Second).Unix()), true},
		{"exp 40 s ago", with(good, "iat", t0.Add(-5*time.Minute).Unix(), "exp", t0.Add(-40*time.Second).Unix()), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := v.Verify(context.Background(), forge(t, c, hdr, tt.claims), "lagod")
			if (err == nil) != tt.ok {
				t.Fatalf("ok=%v, got %v", tt.ok, err)
			}
		})
	}
}

// rotate rotates c at the clock's time and returns the events.
func rotate(t *testing.T, c *custody.InProcess) []aios.Payload {
	t.Helper()
	rot, err := c.Rotate(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []aios.Payload
	for _, e := range rot.Events {
		out = append(out, e)
	}
	return out
}

// Identity A rotates to B, then B to C. Tokens issued by A before the first
// rotation stay valid until they expire; tokens A signs afterwards are not;
// C's tokens are valid, and the chain walk leads every key to C.
func TestRotationChainABC(t *testing.T) {
	clock := &fakeClock{t: t0}
	ctx := context.Background()
	c := newCustody(t, clock)
	didA := c.DID()
	// A private copy of A's keys, to mint tokens after A is rotated away
	// (as a thief of the old key would).
	sealed, err := c.Seal([]byte("pw"), testParams)
	if err != nil {
		t.Fatal(err)
	}
	seedA, _ := sealed.Open([]byte("pw"))
	thief, _ := custody.NewInProcess(seedA, custody.WithClock(clock))

	tokA := issue(t, c, aios.KeyAuth, clock, "lagod", 30*time.Minute)
	walletTokA := issue(t, c, aios.KeyWallet, clock, "lagod", 30*time.Minute)
	clock.Add(time.Minute)
	var events []aios.Payload
	events = append(events, rotate(t, c)...) // A -> B
	didB := c.DID()
	clock.Add(time.Minute)
	tokB := issue(t, c, aios.KeyAuth, clock, "lagod", 30*time.Minute)
	clock.Add(time.Minute)
	events = append(events, rotate(t, c)...) // B -> C
	didC := c.DID()
	clock.Add(time.Minute)
	tokC := issue(t, c, aios.KeyAuth, clock, "lagod", 30*time.Minute)
	lateA := issue(t, thief, aios.KeyAuth, clock, "lagod", 30*time.Minute)
	lateWalletA := issue(t, thief, aios.KeyWallet, clock, "lagod", 30*time.Minute)

	reg, err := chain.BuildPayloads(events)
	if err != nil {
		t.Fatal(err)
	}
	v := NewVerifier(WithClock(clock), WithRegistry(reg))
	for _, tt := range []struct {
		name    string
		tok     string
		ok      bool
		current string
		hops    int
	}{
		{"A before rotation", tokA, true, didC, 2},
		{"A wallet before rotation", walletTokA, true, "", 2},
		{"B before its rotation", tokB, true, didC, 1},
		{"C", tokC, true, didC, 0},
		{"A after rotation (stolen key)", lateA, false, "", 0},
		{"A wallet after rotation", lateWalletA, false, "", 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r, err := v.VerifyDetail(ctx, tt.tok, "lagod")
			if !tt.ok {
				if !errors.Is(err, ErrRotated) || !errors.Is(err, aios.ErrUnauthorized) {
					t.Fatalf("want ErrRotated, got %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.current != "" && r.CurrentDID != tt.current {
				t.Fatalf("current %s, want %s", r.CurrentDID, tt.current)
			}
			if r.Hops != tt.hops {
				t.Fatalf("hops %d, want %d", r.Hops, tt.hops)
			}
		})
	}
	if h := reg.History(didB, 16); len(h) != 3 || h[0] != didA || h[1] != didB || h[2] != didC {
		t.Fatalf("history %v", h)
	}

	// A hop limit shorter than the chain fails closed.
	short := NewVerifier(WithClock(clock), WithRegistry(reg), WithMaxHops(1))
	if _, err := short.Verify(ctx, tokA, "lagod"); !errors.Is(err, chain.ErrTooManyHops) {
		t.Fatalf("hop limit: %v", err)
	}

	// Revoking the current identity invalidates the whole chain's tokens.
	if err := v.Apply(aios.EventEnvelope{Payload: &aios.IdentityRevoked{DID: didC, Reason: "compromised", RevokedAt: aios.Micros(clock.Now())}}); err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{tokA, tokB, tokC} {
		if _, err := v.Verify(ctx, tok, "lagod"); !errors.Is(err, ErrRevoked) {
			t.Fatalf("after revoking C: %v", err)
		}
	}
}

func TestRevokedKeyRejected(t *testing.T) {
	clock := &fakeClock{t: t0}
	c := newCustody(t, clock)
	tok := issue(t, c, aios.KeyAuth, clock, "lagod", 10*time.Minute)
	v := NewVerifier(WithClock(clock))
	if _, err := v.Verify(context.Background(), tok, "lagod"); err != nil {
		t.Fatal(err)
	}
	if err := v.Apply(aios.EventEnvelope{Payload: &aios.IdentityRevoked{DID: c.DID(), Reason: "lost laptop", RevokedAt: aios.Micros(t0)}}); err != nil {
		t.Fatal(err)
	}
	_, err := v.Verify(context.Background(), tok, "lagod")
	if !errors.Is(err, ErrRevoked) || !errors.Is(err, aios.ErrUnauthorized) {
		t.Fatalf("revoked key accepted: %v", err)
	}
	if !strings.Contains(err.Error(), "lost laptop") {
		t.Fatalf("reason missing from %q", err)
	}
}

func TestApplyRejectsForgedRotation(t *testing.T) {
	clock := &fakeClock{t: t0}
	victim := newCustody(t, clock)
	attacker := newCustody(t, clock)
	// The attacker signs a "rotation" of the victim's DID to its own key.
	proof, err := chain.NewProof(context.Background(), attacker, aios.KeyAuth, victim.DID(), attacker.DID(), t0)
	if err != nil {
		t.Fatal(err)
	}
	v := NewVerifier(WithClock(clock))
	err = v.Apply(aios.EventEnvelope{Payload: &aios.IdentityRotated{OldDID: victim.DID(), NewDID: attacker.DID(),
		RotatedAt: aios.Micros(t0), RotationProofJWS: proof}})
	if !errors.Is(err, chain.ErrInvalid) {
		t.Fatalf("forged rotation applied: %v", err)
	}
	if v.Registry().Status(victim.DID()).RotatedTo != "" {
		t.Fatal("registry changed by a failed Apply")
	}
}

func TestConcurrentVerify(t *testing.T) {
	clock := &fakeClock{t: t0}
	c := newCustody(t, clock)
	v := NewVerifier(WithClock(clock))
	toks := []string{issue(t, c, aios.KeyAuth, clock, "a", time.Minute), issue(t, c, aios.KeyWallet, clock, "a", time.Minute)}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 20 {
				if _, err := v.Verify(context.Background(), toks[(i+j)%2], "a"); err != nil {
					errs <- err
					return
				}
				if j == 10 {
					_ = v.Apply(aios.EventEnvelope{Payload: &aios.IdentityRevoked{DID: "did:key:zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme", Reason: "x"}})
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func TestIssueValidates(t *testing.T) {
	c := newCustody(t, aios.SystemClock{})
	ctx := context.Background()
	if _, err := Issue(ctx, c, aios.KeyAuth, Request{TTL: time.Minute}, aios.SystemClock{}); err == nil {
		t.Fatal("no audience accepted")
	}
	if _, err := Issue(ctx, c, aios.KeyAuth, Request{Audience: []string{"a"}}, aios.SystemClock{}); err == nil {
		t.Fatal("no TTL accepted")
	}
	if _, err := Issue(ctx, c, aios.KeyAuth, Request{Audience: []string{"a"}, TTL: 999 * time.Millisecond}, aios.SystemClock{}); err == nil {
		t.Fatal("a TTL under a second (exp == iat, never valid) accepted")
	}
	if _, err := Issue(ctx, c, aios.KeyAuth, Request{Audience: []string{"a", ""}, TTL: time.Minute}, aios.SystemClock{}); err == nil {
		t.Fatal("an empty audience accepted")
	}
	for _, nbf := range []time.Time{time.Now().Add(time.Hour), time.Unix(-5, 0)} {
		if _, err := Issue(ctx, c, aios.KeyAuth, Request{Audience: []string{"a"}, TTL: time.Minute, NotBefore: nbf}, aios.SystemClock{}); err == nil {
			t.Fatalf("not-before %v (never valid) accepted", nbf)
		}
	}
	nbf := time.Now().Add(-time.Second)
	if tok, err := Issue(ctx, c, aios.KeyAuth, Request{Audience: []string{"a"}, TTL: time.Minute, NotBefore: nbf}, aios.SystemClock{}); err != nil {
		t.Fatal(err)
	} else if claims, err := NewVerifier().Verify(ctx, tok, "a"); err != nil || claims.NotBefore != nbf.Unix() {
		t.Fatalf("a token with nbf: %+v %v", claims, err)
	}
	if _, err := Issue(ctx, c, "root", Request{Audience: []string{"a"}, TTL: time.Minute}, aios.SystemClock{}); !errors.Is(err, custody.ErrBadRequest) {
		t.Fatalf("bad purpose: %v", err)
	}
}
