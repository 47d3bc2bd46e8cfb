// Package bench measures anima's JWS signing and token verification against
// the raw library calls they wrap (go-jose for ES256, btcec for ES256K), in
// the same run, so the overhead is a ratio rather than a machine-dependent
// number.
package bench

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"sort"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	becdsa "github.com/btcsuite/btcd/btcec/v2/ecdsa"
	jose "github.com/go-jose/go-jose/v4"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/anima/custody"
	"github.com/lifeos/life/anima/did"
	"github.com/lifeos/life/anima/identity"
	"github.com/lifeos/life/anima/jws"
	"github.com/lifeos/life/anima/token"
)

// Case is one measured operation: ours and the raw baseline.
type Case struct {
	Name     string
	Anima    func() error // one operation
	Baseline func() error
	Target   float64 // the ratio anima/baseline must stay under
}

// Cases builds the four cases with a fixed identity.
func Cases() ([]Case, error) {
	ctx := context.Background()
	seed := identity.Seed{1, 2, 3}
	c, err := custody.NewInProcess(seed)
	if err != nil {
		return nil, err
	}
	keys, err := identity.Derive(seed)
	if err != nil {
		return nil, err
	}
	claims := json.RawMessage(`{"iss":"x","sub":"y","aud":["lagod"],"jti":"1","iat":1,"exp":2}`)
	hdr := map[string]any{"typ": token.Type, "kid": c.DID()}

	// Tokens for the verify cases; iat is now so they stay valid.
	v := token.NewVerifier()
	es256Tok, err := token.Issue(ctx, c, aios.KeyAuth, token.Request{Audience: []string{"lagod"}, TTL: time.Hour}, aios.SystemClock{})
	if err != nil {
		return nil, err
	}
	es256kTok, err := token.Issue(ctx, c, aios.KeyWallet, token.Request{Audience: []string{"lagod"}, TTL: time.Hour}, aios.SystemClock{})
	if err != nil {
		return nil, err
	}
	parsedA, err := jws.Parse(es256Tok)
	if err != nil {
		return nil, err
	}
	parsedK, err := jws.Parse(es256kTok)
	if err != nil {
		return nil, err
	}
	// The baseline uses the key as the verifier holds it: parsed from the
	// compressed point of the DID.
	wk, err := did.Resolve(keys.WalletDID())
	if err != nil {
		return nil, err
	}
	walletPub := wk.Secp256k1

	joseSigner, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: keys.Auth},
		(&jose.SignerOptions{}).WithType(token.Type).WithHeader("kid", c.DID()))
	if err != nil {
		return nil, err
	}
	authPub := &keys.Auth.PublicKey
	digestA := sha256.Sum256([]byte(parsedA.SigningInput))
	digestK := sha256.Sum256([]byte(parsedK.SigningInput))
	errVerify := errors.New("raw verify failed")
	signAuth := func() error { _, err := c.SignJWS(ctx, aios.KeyAuth, hdr, claims); return err }
	verifyA := func() error { _, err := v.Verify(ctx, es256Tok, "lagod"); return err }
	return []Case{
		{Name: "sign ES256 (JWS)", Target: 1.2, Anima: signAuth,
			Baseline: func() error { // crypto/ecdsa over a precomputed digest
				_, _, err := ecdsa.Sign(rand.Reader, keys.Auth, digestA[:])
				return err
			}},
		{Name: "sign ES256 (JWS) vs go-jose", Target: 1.2, Anima: signAuth,
			Baseline: func() error { // go-jose, the signer reused
				o, err := joseSigner.Sign(claims)
				if err != nil {
					return err
				}
				_, err = o.CompactSerialize()
				return err
			}},
		{Name: "sign ES256K (JWS)", Target: 1.2,
			Anima: func() error { _, err := c.SignJWS(ctx, aios.KeyWallet, hdr, claims); return err },
			Baseline: func() error { // btcec over a precomputed digest
				_ = becdsa.SignCompact(keys.Wallet, digestK[:], false)
				return nil
			}},
		{Name: "verify ES256 (agent JWT)", Target: 1.2, Anima: verifyA,
			Baseline: func() error { // crypto/ecdsa: r, s from bytes, precomputed digest
				r := new(big.Int).SetBytes(parsedA.Signature[:32])
				s := new(big.Int).SetBytes(parsedA.Signature[32:])
				if !ecdsa.Verify(authPub, digestA[:], r, s) {
					return errVerify
				}
				return nil
			}},
		{Name: "verify ES256 (agent JWT) vs go-jose", Target: 1.2, Anima: verifyA,
			Baseline: func() error { // go-jose parse + verify, key known
				o, err := jose.ParseSignedCompact(es256Tok, []jose.SignatureAlgorithm{jose.ES256})
				if err != nil {
					return err
				}
				_, err = o.Verify(authPub)
				return err
			}},
		{Name: "verify ES256K (agent JWT)", Target: 1.2,
			Anima: func() error { _, err := v.Verify(ctx, es256kTok, "lagod"); return err },
			Baseline: func() error { // btcec: r, s from bytes, precomputed digest
				var r, s btcec.ModNScalar
				r.SetByteSlice(parsedK.Signature[:32])
				s.SetByteSlice(parsedK.Signature[32:])
				if !becdsa.NewSignature(&r, &s).Verify(digestK[:], walletPub) {
					return errVerify
				}
				return nil
			}},
	}, nil
}

// Bench turns an operation into a benchmark body.
func Bench(op func() error) func(b *testing.B) {
	return func(b *testing.B) {
		for b.Loop() {
			if err := op(); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// Row is one line of the report.
type Row struct {
	Name                  string
	AnimaOps, BaselineOps float64 // operations per second
	Ratio, Target         float64 // anima time / baseline time
	AnimaNs, BaselineNs   float64
}

// Run measures every case and returns the rows. The machine is shared and
// its load comes in bursts, so the two sides are timed one operation each,
// alternately, for samples pairs, and each side's 20th-percentile time
// counts: both see the same load, and preemption only ever adds time.
func Run(samples int) ([]Row, error) {
	cases, err := Cases()
	if err != nil {
		return nil, err
	}
	if samples < 10 {
		samples = 10
	}
	var rows []Row
	for _, c := range cases {
		for range 20 { // warm up caches and the key cache
			if err := c.Anima(); err != nil {
				return nil, fmt.Errorf("bench %s: %w", c.Name, err)
			}
			if err := c.Baseline(); err != nil {
				return nil, fmt.Errorf("bench %s baseline: %w", c.Name, err)
			}
		}
		as, bs := make([]float64, samples), make([]float64, samples)
		for i := range samples {
			t0 := time.Now()
			if err := c.Anima(); err != nil {
				return nil, fmt.Errorf("bench %s: %w", c.Name, err)
			}
			t1 := time.Now()
			if err := c.Baseline(); err != nil {
				return nil, fmt.Errorf("bench %s baseline: %w", c.Name, err)
			}
			t2 := time.Now()
			as[i], bs[i] = float64(t1.Sub(t0).Nanoseconds()), float64(t2.Sub(t1).Nanoseconds())
		}
		an, bn := percentile(as, 0.2), percentile(bs, 0.2)
		rows = append(rows, Row{Name: c.Name, AnimaNs: an, BaselineNs: bn, AnimaOps: 1e9 / an,
			BaselineOps: 1e9 / bn, Ratio: an / bn, Target: c.Target})
	}
	return rows, nil
}

func percentile(v []float64, p float64) float64 {
	sort.Float64s(v)
	return v[int(p*float64(len(v)-1))]
}

// Print writes the rows as a table.
func Print(w io.Writer, rows []Row) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "operation\tanima ops/s\tbaseline ops/s\tratio (time)\ttarget\t")
	for _, r := range rows {
		ok := "ok"
		if r.Ratio > r.Target {
			ok = "OVER"
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%.0f\t%.2fx\t<= %.1fx %s\t\n", r.Name, r.AnimaOps, r.BaselineOps, r.Ratio, r.Target, ok)
	}
	tw.Flush()
}
