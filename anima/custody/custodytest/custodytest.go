// Package custodytest is the conformance suite every custody backend must
// pass: each backend's test only says how to open one, and Run checks the
// rest against the real verifiers (did:key resolution, the JWS verifier,
// EIP-712 recovery, the rotation chain).
package custodytest

import (
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/anima/chain"
	"github.com/lifeos/life/anima/custody"
	"github.com/lifeos/life/anima/did"
	"github.com/lifeos/life/anima/eip712"
	"github.com/lifeos/life/anima/identity"
	"github.com/lifeos/life/anima/jws"
	"github.com/lifeos/life/anima/token"
)

// Open returns a fresh backend for one subtest.
type Open func(t *testing.T) custody.Custody

// Run runs the conformance suite against backends made by open.
func Run(t *testing.T, open Open) {
	ctx := context.Background()
	t.Run("Identity", func(t *testing.T) {
		c := open(t)
		k, err := did.Resolve(c.DID())
		if err != nil {
			t.Fatalf("DID %s: %v", c.DID(), err)
		}
		pub, err := c.PublicKey(ctx, aios.KeyAuth)
		if err != nil {
			t.Fatal(err)
		}
		if p, ok := pub.(*ecdsa.PublicKey); !ok || k.Type != did.P256 || !p.Equal(k.P256) {
			t.Fatalf("auth key %T does not match the DID", pub)
		}
		wpub, err := c.PublicKey(ctx, aios.KeyWallet)
		if err != nil {
			t.Fatal(err)
		}
		w, ok := wpub.(*btcec.PublicKey)
		if !ok || identity.Address(w) != c.WalletAddress() {
			t.Fatalf("wallet key %T does not give address %s", wpub, c.WalletAddress())
		}
		if _, err := identity.ParseAddress(c.WalletAddress()); err != nil {
			t.Fatal(err)
		}
		if _, err := c.PublicKey(ctx, "nope"); err == nil {
			t.Fatal("unknown purpose accepted")
		}
		if c.Backend() == "" {
			t.Fatal("empty backend name")
		}
		doc, err := c.IdentityDocument(ctx)
		if errors.Is(err, aios.ErrUnsupported) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		wd, _ := did.Encode(w)
		if doc.DID != c.DID() || doc.WalletAddress != c.WalletAddress() || doc.WalletDID != wd || doc.Document.ID != c.DID() {
			t.Fatalf("identity document %+v", doc)
		}
	})
	t.Run("SignJWS", func(t *testing.T) {
		c := open(t)
		for _, purpose := range []aios.KeyPurpose{aios.KeyAuth, aios.KeyWallet} {
			pub, _ := c.PublicKey(ctx, purpose)
			key, err := did.FromPublic(pub)
			if err != nil {
				t.Fatal(err)
			}
			tok, err := c.SignJWS(ctx, purpose, map[string]any{"typ": "JWT", "kid": key.DID()}, json.RawMessage(`{"x":1}`))
			if err != nil {
				t.Fatalf("%s: %v", purpose, err)
			}
			p, err := jws.Parse(tok)
			if err != nil {
				t.Fatal(err)
			}
			if err := p.Verify(key); err != nil {
				t.Fatalf("%s: %v", purpose, err)
			}
			if p.Header.Kid != key.DID() || string(p.Payload) != `{"x":1}` {
				t.Fatalf("%s: header %+v payload %s", purpose, p.Header, p.Payload)
			}
		}
		if _, err := c.SignJWS(ctx, aios.KeyAuth, map[string]any{"alg": "none"}, json.RawMessage(`{}`)); !errors.Is(err, custody.ErrBadRequest) {
			t.Fatalf("header alg none: %v", err)
		}
		if _, err := c.SignJWS(ctx, aios.KeyAuth, nil, json.RawMessage(`{not json`)); !errors.Is(err, custody.ErrBadRequest) {
			t.Fatalf("claims not JSON: %v", err)
		}
	})
	t.Run("SignDigest", func(t *testing.T) {
		c := open(t)
		digest := sha256.Sum256([]byte("life"))
		sig, err := c.SignDigest(ctx, aios.KeyAuth, digest[:])
		if err != nil {
			t.Fatal(err)
		}
		pub, _ := c.PublicKey(ctx, aios.KeyAuth)
		if len(sig) != 64 || !ecdsa.Verify(pub.(*ecdsa.PublicKey), digest[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
			t.Fatalf("auth signature %x does not verify", sig)
		}
		wsig, err := c.SignDigest(ctx, aios.KeyWallet, digest[:])
		if err != nil {
			t.Fatal(err)
		}
		addr, err := eip712.RecoverAddress(digest, wsig)
		if err != nil || addr != c.WalletAddress() {
			t.Fatalf("wallet signature recovers to %s (%v), want %s", addr, err, c.WalletAddress())
		}
		for _, bad := range [][]byte{nil, digest[:31], append(digest[:], 0)} {
			if _, err := c.SignDigest(ctx, aios.KeyWallet, bad); !errors.Is(err, custody.ErrBadRequest) {
				t.Fatalf("digest of %d bytes: %v", len(bad), err)
			}
		}
	})
	t.Run("SignTypedData", func(t *testing.T) {
		c := open(t)
		td := eip712.NewTransferWithAuthorization(
			eip712.Domain{Name: "USD Coin", Version: "2", ChainID: big.NewInt(8453), VerifyingContract: "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913"},
			eip712.TransferWithAuthorization{From: c.WalletAddress(), To: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C",
				Value: big.NewInt(10_000), ValidAfter: big.NewInt(0), ValidBefore: big.NewInt(2_000_000_000), Nonce: [32]byte{1}})
		sig, err := c.SignTypedData(ctx, td)
		if errors.Is(err, aios.ErrUnsupported) {
			t.Skip("backend does not sign typed data")
		}
		if err != nil {
			t.Fatal(err)
		}
		h, _ := td.Hash()
		if addr, err := eip712.RecoverAddress(h, sig); err != nil || addr != c.WalletAddress() {
			t.Fatalf("recovers to %s (%v)", addr, err)
		}
		bad := *td
		bad.PrimaryType = "Nope"
		if _, err := c.SignTypedData(ctx, &bad); err == nil {
			t.Fatal("invalid typed data signed")
		}
	})
	t.Run("Token", func(t *testing.T) {
		c := open(t)
		v := token.NewVerifier()
		for _, purpose := range []aios.KeyPurpose{aios.KeyAuth, aios.KeyWallet} {
			tok, err := token.Issue(ctx, c, purpose, token.Request{Audience: []string{"arcand"}, TTL: time.Minute}, aios.SystemClock{})
			if err != nil {
				t.Fatal(err)
			}
			claims, err := v.Verify(ctx, tok, "arcand")
			if err != nil {
				t.Fatalf("%s: %v", purpose, err)
			}
			if claims.Subject != c.DID() {
				t.Fatalf("sub %s", claims.Subject)
			}
		}
	})
	t.Run("Concurrent", func(t *testing.T) {
		c := open(t)
		var wg sync.WaitGroup
		errs := make(chan error, 16)
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				d := sha256.Sum256([]byte{byte(i)})
				if _, err := c.SignDigest(ctx, aios.KeyWallet, d[:]); err != nil {
					errs <- err
				}
				if _, err := c.SignJWS(ctx, aios.KeyAuth, nil, json.RawMessage(`{}`)); err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
	})
	t.Run("Rotate", func(t *testing.T) {
		c := open(t)
		old := c.DID()
		rot, err := c.Rotate(ctx)
		if errors.Is(err, aios.ErrUnsupported) {
			t.Skipf("backend %s does not rotate: %v", c.Backend(), err)
		}
		if err != nil {
			t.Fatal(err)
		}
		if rot.OldDID != old || rot.NewDID != c.DID() || old == c.DID() {
			t.Fatalf("rotation %s -> %s, custody now %s", rot.OldDID, rot.NewDID, c.DID())
		}
		var ps []aios.Payload
		for _, e := range rot.Events {
			ps = append(ps, e)
		}
		reg, err := chain.BuildPayloads(ps)
		if err != nil {
			t.Fatalf("rotation events do not verify: %v", err)
		}
		if cur, _, _ := reg.Current(old, 4); cur != c.DID() {
			t.Fatalf("chain leads to %s", cur)
		}
		if cur, _, _ := reg.Current(rot.OldWalletDID, 4); cur != rot.NewWalletDID {
			t.Fatalf("wallet chain leads to %s", cur)
		}
		wpub, _ := c.PublicKey(ctx, aios.KeyWallet)
		if wd, _ := did.Encode(wpub); wd != rot.NewWalletDID {
			t.Fatal("wallet key not rotated")
		}
	})
}
