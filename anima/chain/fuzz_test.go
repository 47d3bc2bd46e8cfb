package chain_test

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/anima/chain"
	"github.com/lifeos/life/anima/custody"
	"github.com/lifeos/life/anima/identity"
	"github.com/lifeos/life/anima/jws"
)

// FuzzRotation feeds arbitrary proofs and rotated_at values for a fixed
// rotation between two known identities: a rotation event comes from a
// journal anyone with write access can append to.
func FuzzRotation(f *testing.F) {
	a, err := custody.NewInProcess(identity.Seed{1})
	if err != nil {
		f.Fatal(err)
	}
	b, err := custody.NewInProcess(identity.Seed{2})
	if err != nil {
		f.Fatal(err)
	}
	proof, err := chain.NewProof(context.Background(), a, aios.KeyAuth, a.DID(), b.DID(), t0)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(proof, aios.Micros(t0))
	f.Add("", uint64(0))
	f.Fuzz(func(t *testing.T, proof string, rotatedAt uint64) {
		ev := &aios.IdentityRotated{OldDID: a.DID(), NewDID: b.DID(), RotatedAt: rotatedAt, RotationProofJWS: proof}
		reg, err := chain.BuildPayloads([]aios.Payload{ev})
		if err != nil {
			if !errors.Is(err, chain.ErrInvalid) {
				t.Fatalf("%v does not match ErrInvalid", err)
			}
			return
		}
		// Only a proof by a's key, close to rotated_at, is accepted.
		if verr := chain.VerifyProof(proof, a.DID(), b.DID(), rotatedAt); verr != nil {
			t.Fatalf("registry accepted what VerifyProof refuses: %v", verr)
		}
		// rotated_at is a real time near the proof's iat.
		tok, err := jws.Parse(proof)
		if err != nil {
			t.Fatal(err)
		}
		var c chain.ProofClaims
		if err := json.Unmarshal(tok.Payload, &c); err != nil {
			t.Fatal(err)
		}
		if rotatedAt > math.MaxInt64 {
			t.Fatalf("rotated_at %d accepted", rotatedAt)
		}
		at, iat := time.UnixMicro(int64(rotatedAt)), time.Unix(c.IssuedAt, 0)
		if d := at.Sub(iat); d > chain.ProofSkew || d < -chain.ProofSkew {
			t.Fatalf("proof issued at %v accepted for rotated_at %v", iat, at)
		}
		if cur, _, _ := reg.Current(a.DID(), 4); cur != b.DID() {
			t.Fatalf("current %s", cur)
		}
	})
}
