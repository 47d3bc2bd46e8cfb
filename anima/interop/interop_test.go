package interop

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/anima/custody"
	"github.com/lifeos/life/anima/did"
	"github.com/lifeos/life/anima/identity"
	"github.com/lifeos/life/anima/token"
)

func node(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed; the panva/jose interop test needs Node.js 20+")
	}
	// Tests never touch the network: .ci/run installs the client with npm ci.
	if _, err := os.Stat(filepath.Join("node_modules", "jose")); err != nil {
		t.Skip("anima/interop/node_modules is missing: run `npm ci` in anima/interop (.ci/run does)")
	}
	return bin
}

type verifyReq struct {
	Token string  `json:"token"`
	JWK   did.JWK `json:"jwk"`
	Alg   string  `json:"alg"`
	Aud   string  `json:"aud"`
}

type privJWK struct {
	did.JWK
	D string `json:"d"`
}

type signReq struct {
	JWK privJWK `json:"jwk"`
	Alg string  `json:"alg"`
	Kid string  `json:"kid"`
	Sub string  `json:"sub"`
	Aud string  `json:"aud"`
	TTL int     `json:"ttl"`
}

func TestJoseInterop(t *testing.T) {
	bin := node(t)
	ctx := context.Background()
	seed := identity.Seed{42}
	c, err := custody.NewInProcess(seed)
	if err != nil {
		t.Fatal(err)
	}
	keys, _ := identity.Derive(seed)
	var in struct {
		Verify []verifyReq `json:"verify"`
		Sign   []signReq   `json:"sign"`
	}
	b64 := base64.RawURLEncoding
	for _, tc := range []struct {
		purpose aios.KeyPurpose
		alg     string
		kid     string
		d       []byte
	}{
		{aios.KeyAuth, "ES256", keys.DID(), keys.Auth.D.FillBytes(make([]byte, 32))},
		{aios.KeyWallet, "ES256K", keys.WalletDID(), keys.Wallet.Serialize()},
	} {
		tok, err := token.Issue(ctx, c, tc.purpose, token.Request{Audience: []string{"lagod"}, TTL: 10 * time.Minute}, aios.SystemClock{})
		if err != nil {
			t.Fatal(err)
		}
		k, err := did.Resolve(tc.kid)
		if err != nil {
			t.Fatal(err)
		}
		in.Verify = append(in.Verify, verifyReq{Token: tok, JWK: k.JWK(), Alg: tc.alg, Aud: "lagod"})
		// The same token for another audience must fail there too.
		in.Verify = append(in.Verify, verifyReq{Token: tok, JWK: k.JWK(), Alg: tc.alg, Aud: "arcand"})
		// Several signatures per alg: Node does not normalize ES256K's S,
		// so some will be high-S, which the verifier must accept.
		for range 4 {
			in.Sign = append(in.Sign, signReq{JWK: privJWK{JWK: k.JWK(), D: b64.EncodeToString(tc.d)}, Alg: tc.alg,
				Kid: tc.kid, Sub: c.DID(), Aud: "lagod", TTL: 300})
		}
	}
	payload, _ := json.Marshal(in)
	cmd := exec.Command(bin, "interop.mjs")
	cmd.Stdin = bytes.NewReader(payload)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, stderr.String())
	}
	var res struct {
		Verified []struct {
			OK              bool   `json:"ok"`
			Kid             string `json:"kid"`
			IssIsThumbprint bool   `json:"iss_is_thumbprint"`
			Error           string `json:"error"`
		} `json:"verified"`
		Signed []string `json:"signed"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("node output %q: %v", out, err)
	}
	for i, v := range res.Verified {
		wantOK := i%2 == 0 // even: right audience
		if v.OK != wantOK {
			t.Errorf("jose verify #%d (%s): ok=%v, want %v: %s", i, in.Verify[i].Alg, v.OK, wantOK, v.Error)
		}
		if v.OK && !v.IssIsThumbprint {
			t.Errorf("jose verify #%d: iss is not jose's RFC 7638 thumbprint", i)
		}
	}
	v := token.NewVerifier()
	for i, tok := range res.Signed {
		claims, err := v.Verify(ctx, tok, "lagod")
		if err != nil {
			t.Errorf("anima rejects jose token #%d (%s): %v", i, in.Sign[i].Alg, err)
			continue
		}
		if claims.DID != in.Sign[i].Kid || claims.Subject != c.DID() {
			t.Errorf("claims %+v", claims)
		}
		if _, err := v.Verify(ctx, tok, "arcand"); err == nil {
			t.Errorf("jose token #%d accepted for another audience", i)
		}
	}
}
