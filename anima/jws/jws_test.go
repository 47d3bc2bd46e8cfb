package jws

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"

	"github.com/lifeos/life/anima/did"
)

func keys(t *testing.T) (*ecdsa.PrivateKey, *btcec.PrivateKey) {
	t.Helper()
	p, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := btcec.NewPrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	return p, k
}

func TestSignVerifyBothAlgs(t *testing.T) {
	p, k := keys(t)
	pk := did.Key{Type: did.P256, P256: &p.PublicKey}
	kk := did.Key{Type: did.Secp256k1, Secp256k1: k.PubKey()}
	payload := []byte(`{"hello":"world"}`)
	es256, err := SignES256(p, map[string]any{"typ": "agent+jwt", "kid": pk.DID()}, payload)
	if err != nil {
		t.Fatal(err)
	}
	es256k, err := SignES256K(k, map[string]any{"typ": "agent+jwt", "kid": kk.DID()}, payload)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		tok  string
		key  did.Key
		ok   bool
	}{
		{"ES256", es256, pk, true},
		{"ES256K", es256k, kk, true},
		{"ES256 token, secp256k1 key", es256, kk, false},
		{"ES256K token, P-256 key", es256k, pk, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := Parse(tt.tok)
			if err != nil {
				t.Fatal(err)
			}
			if string(tok.Payload) != string(payload) || tok.Header.Typ != "agent+jwt" {
				t.Fatalf("parsed %+v", tok.Header)
			}
			err = tok.Verify(tt.key)
			if tt.ok != (err == nil) {
				t.Fatalf("verify: %v", err)
			}
			if err != nil && !errors.Is(err, ErrInvalid) {
				t.Fatalf("%v is not ErrInvalid", err)
			}
		})
	}
}

func TestES256KAcceptsHighS(t *testing.T) {
	_, k := keys(t)
	kk := did.Key{Type: did.Secp256k1, Secp256k1: k.PubKey()}
	tok, err := SignES256K(k, nil, []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(tok, ".")
	sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
	var s btcec.ModNScalar
	s.SetByteSlice(sig[32:])
	s.Negate() // n - s: the same signature, malleated to high S
	b := s.Bytes()
	copy(sig[32:], b[:])
	mall := parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(sig)
	p, err := Parse(mall)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Verify(kk); err != nil {
		t.Fatalf("high-S signature (as Node signs) rejected: %v", err)
	}
	// Our signer always writes low S.
	var own btcec.ModNScalar
	ownSig, _ := base64.RawURLEncoding.DecodeString(parts[2])
	own.SetByteSlice(ownSig[32:])
	if own.IsOverHalfOrder() {
		t.Fatal("SignES256K wrote a high S")
	}
}

func TestParseRejects(t *testing.T) {
	enc := base64.RawURLEncoding.EncodeToString
	for _, tt := range []struct{ name, tok string }{
		{"two parts", "a.b"},
		{"four parts", "a.b.c.d"},
		{"padded base64", enc([]byte(`{"alg":"ES256"}`)) + "=.e30.AA"},
		{"header not json", enc([]byte(`not json`)) + ".e30.AA"},
		{"header array", enc([]byte(`[1]`)) + ".e30.AA"},
		{"no alg", enc([]byte(`{"typ":"JWT"}`)) + ".e30.AA"},
		{"alg not string", enc([]byte(`{"alg":1}`)) + ".e30.AA"},
		{"duplicate alg", enc([]byte(`{"alg":"ES256","alg":"none"}`)) + ".e30.AA"},
		{"crit", enc([]byte(`{"alg":"ES256","crit":["b64"]}`)) + ".e30.AA"},
		{"trailing data", enc([]byte(`{"alg":"ES256"} {}`)) + ".e30.AA"},
		{"too big", strings.Repeat("a", MaxTokenSize+1)},
		{"alg and ALG", enc([]byte(`{"alg":"ES256","ALG":"none"}`)) + ".e30.AA"},
		{"lone Kid", enc([]byte(`{"alg":"ES256","Kid":"x"}`)) + ".e30.AA"},
		{"crit spelled CRIT", enc([]byte(`{"alg":"ES256","CRIT":["b64"]}`)) + ".e30.AA"},
		{"line break", enc([]byte(`{"alg":"ES256"}`)) + ".e30.AA\nAA"},
		{"carriage return", enc([]byte(`{"alg":"ES256"}`)) + "\r.e30.AAAA"},
		{"space", enc([]byte(`{"alg":"ES256"}`)) + ".e30.AA AA"},
		{"standard base64 alphabet", enc([]byte(`{"alg":"ES256"}`)) + ".e30.AA+/"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Parse(tt.tok); !errors.Is(err, ErrInvalid) {
				t.Fatalf("got %v", err)
			}
		})
	}
}

func TestHeaderAlgConflict(t *testing.T) {
	p, k := keys(t)
	if _, err := SignES256(p, map[string]any{"alg": "none"}, []byte(`{}`)); err == nil {
		t.Fatal("ES256 with alg none header accepted")
	}
	if _, err := SignES256K(k, map[string]any{"alg": "ES256"}, []byte(`{}`)); err == nil {
		t.Fatal("ES256K with alg ES256 header accepted")
	}
}

func FuzzParse(f *testing.F) {
	p, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	k, _ := btcec.NewPrivateKey()
	a, _ := SignES256(p, map[string]any{"typ": "agent+jwt"}, []byte(`{"a":1}`))
	b, _ := SignES256K(k, map[string]any{"kid": "x"}, []byte(`{"b":2}`))
	for _, s := range []string{a, b, "", "..", "e30.e30.", "eyJhbGciOiJub25lIn0.e30."} {
		f.Add(s)
	}
	pk := did.Key{Type: did.P256, P256: &p.PublicKey}
	kk := did.Key{Type: did.Secp256k1, Secp256k1: k.PubKey()}
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := Parse(s)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("%v is not ErrInvalid", err)
			}
			return
		}
		// Verification of arbitrary input never panics, and only the two
		// genuine tokens verify.
		for _, key := range []did.Key{pk, kk} {
			if tok.Verify(key) == nil && s != a && s != b {
				t.Fatalf("forged token verified: %q", s)
			}
		}
	})
}
