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
)

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

func gen(t *testing.T) *custody.InProcess {
	t.Helper()
	c, err := custody.Generate()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func rotation(t *testing.T, from, to *custody.InProcess, at time.Time) *aios.IdentityRotated {
	t.Helper()
	proof, err := chain.NewProof(context.Background(), from, aios.KeyAuth, from.DID(), to.DID(), at)
	if err != nil {
		t.Fatal(err)
	}
	return &aios.IdentityRotated{OldDID: from.DID(), NewDID: to.DID(), RotatedAt: aios.Micros(at), RotationProofJWS: proof}
}

func TestChainValidAndPure(t *testing.T) {
	a, b, c := gen(t), gen(t), gen(t)
	events := []aios.Payload{
		&aios.SoulGenesis{DID: a.DID()}, // other events are ignored
		rotation(t, a, b, t0),
		rotation(t, b, c, t0.Add(time.Hour)),
	}
	r1, err := chain.BuildPayloads(events)
	if err != nil {
		t.Fatal(err)
	}
	r2, _ := chain.BuildPayloads(events)
	for _, d := range []string{a.DID(), b.DID(), c.DID()} {
		if r1.Status(d) != r2.Status(d) {
			t.Fatal("the same events gave different registries")
		}
		cur, _, err := r1.Current(d, 8)
		if err != nil || cur != c.DID() {
			t.Fatalf("current of %s = %s, %v", d, cur, err)
		}
	}
	if st := r1.Status(a.DID()); st.RotatedTo != b.DID() || st.RotatedAt != aios.Micros(t0) {
		t.Fatalf("status %+v", st)
	}
	// Replaying the same event is harmless.
	if _, err := r1.With(events[1]); err != nil {
		t.Fatalf("replay: %v", err)
	}
}

func TestChainRejects(t *testing.T) {
	a, b, c := gen(t), gen(t), gen(t)
	ab := rotation(t, a, b, t0)
	badProof := *ab
	badProof.RotationProofJWS = rotation(t, b, c, t0).RotationProofJWS // signed by the wrong key
	wrongSub := *ab
	wrongSub.NewDID = c.DID()
	skewed := *ab
	skewed.RotatedAt = aios.Micros(t0.Add(time.Hour))
	selfRot := *ab
	selfRot.NewDID = a.DID()
	walletDID, _ := custody.PurposeDID(context.Background(), a, aios.KeyWallet)
	crossType := *ab
	crossType.NewDID = walletDID
	claimsOnly, _ := json.Marshal(map[string]any{"iss": a.DID(), "sub": b.DID(), "type": "something.else", "iat": t0.Unix()})
	wrongTypeProof, _ := a.SignJWS(context.Background(), aios.KeyAuth, map[string]any{"kid": a.DID()}, claimsOnly)
	wrongType := *ab
	wrongType.RotationProofJWS = wrongTypeProof

	// A lone "SUB": encoding/json would read it as sub; other parsers see no sub.
	caseClaims, _ := json.Marshal(map[string]any{"iss": a.DID(), "SUB": b.DID(), "type": chain.ProofType, "iat": t0.Unix()})
	caseProof, _ := a.SignJWS(context.Background(), aios.KeyAuth, map[string]any{"kid": a.DID()}, caseClaims)
	caseVariant := *ab
	caseVariant.RotationProofJWS = caseProof
	// rotated_at past int64 wrapped to -1 µs, next to a proof iat of 0.
	epochProof, _ := chain.NewProof(context.Background(), a, aios.KeyAuth, a.DID(), b.DID(), time.Unix(0, 0))
	overflow := aios.IdentityRotated{OldDID: a.DID(), NewDID: b.DID(), RotatedAt: math.MaxUint64, RotationProofJWS: epochProof}

	tests := []struct {
		name   string
		events []aios.Payload
	}{
		{"proof sub spelled SUB", []aios.Payload{&caseVariant}},
		{"rotated_at beyond int64", []aios.Payload{&overflow}},
		{"proof signed by another key", []aios.Payload{&badProof}},
		{"proof for another new DID", []aios.Payload{&wrongSub}},
		{"proof iat far from rotated_at", []aios.Payload{&skewed}},
		{"proof type claim", []aios.Payload{&wrongType}},
		{"rotation to itself", []aios.Payload{&selfRot}},
		{"P-256 to secp256k1", []aios.Payload{&crossType}},
		{"fork", []aios.Payload{ab, rotation(t, a, c, t0)}},
		{"cycle", []aios.Payload{ab, rotation(t, b, a, t0)}},
		{"rotation after revocation", []aios.Payload{&aios.IdentityRevoked{DID: a.DID(), Reason: "x"}, ab}},
		{"bad DID in revocation", []aios.Payload{&aios.IdentityRevoked{DID: "did:web:x"}}},
		{"malformed rotation event", []aios.Payload{&aios.Custom{EventType: aios.EventIdentityRotated, Data: json.RawMessage(`{"old_did":1}`)}}},
		{"malformed revocation event", []aios.Payload{&aios.Custom{EventType: aios.EventIdentityRevoked, Data: json.RawMessage(`{}`)}}},
		{"empty proof", []aios.Payload{&aios.IdentityRotated{OldDID: a.DID(), NewDID: b.DID(), RotatedAt: aios.Micros(t0)}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := chain.BuildPayloads(tt.events)
			var ee *chain.EventError
			if !errors.Is(err, chain.ErrInvalid) || !errors.As(err, &ee) {
				t.Fatalf("accepted or wrong error: %v", err)
			}
			if ee.Index != len(tt.events)-1 {
				t.Fatalf("error names event %d, want %d", ee.Index, len(tt.events)-1)
			}
		})
	}
}

func TestBuildFromEnvelopeJSON(t *testing.T) {
	a, b := gen(t), gen(t)
	env := aios.EventEnvelope{EventID: "01JD0000000000000000000000", SessionID: "s", BranchID: "main", Seq: 1,
		Timestamp: aios.Micros(t0), Payload: rotation(t, a, b, t0), Metadata: map[string]string{}, SchemaVersion: 1}
	raw, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	var back aios.EventEnvelope
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	if _, ok := back.Payload.(*aios.IdentityRotated); !ok {
		t.Fatalf("decoded as %T", back.Payload)
	}
	r, err := chain.Build([]aios.EventEnvelope{back})
	if err != nil {
		t.Fatal(err)
	}
	if r.Status(a.DID()).RotatedTo != b.DID() {
		t.Fatal("rotation lost through JSON")
	}
}

func TestHopLimit(t *testing.T) {
	ids := []*custody.InProcess{gen(t)}
	var events []aios.Payload
	for i := range 5 {
		ids = append(ids, gen(t))
		events = append(events, rotation(t, ids[i], ids[i+1], t0))
	}
	r, err := chain.BuildPayloads(events)
	if err != nil {
		t.Fatal(err)
	}
	if _, hops, err := r.Current(ids[0].DID(), 5); err != nil || hops != 5 {
		t.Fatalf("5 hops: %d, %v", hops, err)
	}
	if _, _, err := r.Current(ids[0].DID(), 4); !errors.Is(err, chain.ErrTooManyHops) {
		t.Fatalf("limit 4: %v", err)
	}
}
