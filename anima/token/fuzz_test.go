package token

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/anima/custody"
	"github.com/lifeos/life/anima/identity"
)

func FuzzVerify(f *testing.F) {
	clock := &fakeClock{t: t0}
	c, err := custody.NewInProcess(identity.Seed{7}, custody.WithClock(clock))
	if err != nil {
		f.Fatal(err)
	}
	for _, p := range []aios.KeyPurpose{aios.KeyAuth, aios.KeyWallet} {
		tok, err := Issue(context.Background(), c, p, Request{Audience: []string{"a"}, TTL: time.Minute, ID: "j"}, clock)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(tok)
	}
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	v := NewVerifier(WithClock(clock))
	f.Fuzz(func(t *testing.T, tok string) {
		_, err := v.Verify(context.Background(), tok, "a")
		if err != nil && !errors.Is(err, aios.ErrUnauthorized) {
			t.Fatalf("failure %v does not match aios.ErrUnauthorized", err)
		}
	})
}

func FuzzParseClaims(f *testing.F) {
	f.Add([]byte(`{"iss":"a","sub":"b","aud":"c","jti":"d","iat":1,"exp":2}`))
	f.Add([]byte(`{"iss":"a","sub":"b","aud":["c","e"],"jti":"d","iat":1.5,"exp":2e3,"nbf":0}`))
	f.Add([]byte(`{"iat":"1"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := parseClaims(b)
		if err != nil {
			return
		}
		if c.Issuer == "" || c.Subject == "" || c.ID == "" || len(c.Audience) == 0 || c.IssuedAt < 0 || c.ExpiresAt < 0 {
			t.Fatalf("accepted incomplete claims %+v from %q", c, b)
		}
	})
}
