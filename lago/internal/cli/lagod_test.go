package cli

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/lago/store"
)

// fakeVerifier is a unit-test fake: it records what Apply folds and, like
// anima's verifier, applies a batch all or nothing. A revocation whose
// reason is "bad" is rejected; Verify admits a token equal to a known DID.
type fakeVerifier struct {
	applied []aios.EventEnvelope
}

func (f *fakeVerifier) Apply(evs ...aios.EventEnvelope) error {
	for _, e := range evs {
		if r, ok := e.Payload.(*aios.IdentityRevoked); ok && r.Reason == "bad" {
			return errors.New("fake: bad event")
		}
		if c, ok := e.Payload.(*aios.Custom); ok && c.EventType == aios.EventIdentityRevoked {
			return errors.New("fake: malformed event")
		}
	}
	f.applied = append(f.applied, evs...)
	return nil
}

func (f *fakeVerifier) Verify(_ context.Context, token, audience string) (aios.TokenClaims, error) {
	if audience != "lagod" || !strings.HasPrefix(token, "did:") {
		return aios.TokenClaims{}, aios.ErrUnauthorized
	}
	return aios.TokenClaims{DID: token, Subject: token}, nil
}

func TestLagodFlagErrors(t *testing.T) {
	withV := LagodOptions{NewVerifier: func() Verifier { return &fakeVerifier{} }}
	dir := t.TempDir()
	tests := []struct {
		name string
		opts LagodOptions
		args []string
		msg  string
	}{
		{"auth without a verifier", LagodOptions{}, []string{"--data", dir, "--auth"}, "no token verifier"},
		{"audience without auth", withV, []string{"--data", dir, "--auth-audience", "x"}, "need --auth"},
		{"did without auth", withV, []string{"--data", dir, "--auth-did", "did:key:z1"}, "need --auth"},
		{"empty audience", withV, []string{"--data", dir, "--auth", "--auth-audience", ""}, "must be non-empty"},
		{"audience with a space", withV, []string{"--data", dir, "--auth", "--auth-audience", "a b"}, "without spaces"},
		{"not a DID", withV, []string{"--data", dir, "--auth", "--auth-did", "alice"}, "is not a DID"},
		{"DID without id", withV, []string{"--data", dir, "--auth", "--auth-did", "did:key:"}, "is not a DID"},
		{"empty DID", withV, []string{"--data", dir, "--auth", "--auth-did", ""}, "is not a DID"},
		{"remote without auth", withV, []string{"--data", dir, "--addr", "0.0.0.0"}, "not loopback"},
		{"remote auth, no verifier", LagodOptions{}, []string{"--data", dir, "--addr", "0.0.0.0", "--auth"}, "no token verifier"},
		{"no data", withV, []string{"--auth"}, "--data"},
		{"telemetry refused", LagodOptions{Telemetry: func(context.Context, *slog.Logger) (LagodTelemetry, error) {
			return LagodTelemetry{}, errors.New("fake: OTEL_TRACES_SAMPLER_ARG bad")
		}}, []string{"--data", dir}, "telemetry: fake: OTEL_TRACES_SAMPLER_ARG"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := MainLagod(context.Background(), tt.args, &out, &errb, tt.opts)
			if code != 2 || !strings.Contains(errb.String(), tt.msg) {
				t.Fatalf("exit %d, stderr %q, want 2 and %q", code, errb.String(), tt.msg)
			}
			if out.Len() != 0 {
				t.Fatalf("stdout %q", out.String())
			}
		})
	}
}

func TestAllowList(t *testing.T) {
	a := newAllowList(&fakeVerifier{}, []string{"did:key:alice"})
	tests := []struct {
		token, aud string
		ok         bool
	}{
		{"did:key:alice", "lagod", true},
		{"did:key:bob", "lagod", false},   // valid but not listed
		{"did:key:alice", "other", false}, // the inner verifier's refusal stands
		{"garbage", "lagod", false},
	}
	for _, tt := range tests {
		c, err := a.Verify(context.Background(), tt.token, tt.aud)
		if tt.ok != (err == nil) {
			t.Errorf("%s/%s: %v", tt.token, tt.aud, err)
		}
		if err != nil && (!errors.Is(err, aios.ErrUnauthorized) || c.DID != "") {
			t.Errorf("%s/%s: refusal %v with claims %+v", tt.token, tt.aud, err, c)
		}
	}
}

func TestApplyIdentityEvents(t *testing.T) {
	ctx := context.Background()
	clock := aios.SystemClock{}
	ids := aios.NewULIDGenerator(clock, nil)
	ev := func(session, branch string, p aios.Payload) aios.EventEnvelope {
		return aios.NewEnvelope(ids, clock, session, branch, p)
	}
	rot := func(from, to string) *aios.IdentityRotated {
		return &aios.IdentityRotated{OldDID: from, NewDID: to, RotatedAt: 1, RotationProofJWS: "p"}
	}
	rev := func(did, reason string) *aios.IdentityRevoked {
		return &aios.IdentityRevoked{DID: did, Reason: reason, RevokedAt: 2}
	}
	tests := []struct {
		name    string
		appends [][]aios.EventEnvelope // one Append each, in this order
		fork    bool                   // fork s/main at seq 1 into s/b after the appends
		after   []aios.EventEnvelope   // appended after the fork
		want    []string               // DIDs (old DID for rotations) in the order applied
		skipped int
	}{
		{name: "empty journal"},
		{
			name: "only other events",
			appends: [][]aios.EventEnvelope{{ev("s", "main", &aios.UserMessage{Content: "anima.identity_revoked"}),
				ev("s", "main", &aios.Custom{EventType: "anima.soul_genesis", Data: []byte(`{}`)})}},
		},
		{
			name: "append order across sessions",
			appends: [][]aios.EventEnvelope{
				{ev("b", "main", rot("did:key:1", "did:key:2"))},
				{ev("a", "main", rot("did:key:2", "did:key:3"))},
				{ev("b", "main", rev("did:key:9", "lost"))},
			},
			want: []string{"did:key:1", "did:key:2", "did:key:9"},
		},
		{
			name: "bad events are skipped, the rest applied",
			appends: [][]aios.EventEnvelope{
				{ev("s", "main", rev("did:key:1", "lost"))},
				{ev("t", "main", rev("did:key:2", "bad"))},
				{ev("t", "main", &aios.Custom{EventType: aios.EventIdentityRevoked, Data: []byte(`{"did":5}`)})},
				{ev("s", "main", rev("did:key:3", "lost"))},
			},
			want:    []string{"did:key:1", "did:key:3"},
			skipped: 2,
		},
		{
			name:    "a fork does not repeat its parent's events",
			appends: [][]aios.EventEnvelope{{ev("s", "main", rev("did:key:1", "lost"))}},
			fork:    true,
			after:   []aios.EventEnvelope{ev("s", "b", rev("did:key:2", "lost"))},
			want:    []string{"did:key:1", "did:key:2"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := store.Open(t.TempDir(), store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			for _, evs := range tt.appends {
				if _, err := st.Journal.Append(ctx, evs...); err != nil {
					t.Fatal(err)
				}
			}
			if tt.fork {
				if _, err := st.Journal.Fork(ctx, ids, clock, aios.StreamID{Session: "s", Branch: "main"}, "b", 1); err != nil {
					t.Fatal(err)
				}
				if _, err := st.Journal.Append(ctx, tt.after...); err != nil {
					t.Fatal(err)
				}
			}
			v := &fakeVerifier{}
			var logs bytes.Buffer
			n, skipped, err := applyIdentityEvents(ctx, st.Journal, v, slog.New(slog.NewTextHandler(&logs, nil)))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range v.applied {
				switch p := e.Payload.(type) {
				case *aios.IdentityRotated:
					got = append(got, p.OldDID)
				case *aios.IdentityRevoked:
					got = append(got, p.DID)
				default:
					t.Fatalf("applied a %T", p)
				}
				if e.Seq == 0 {
					t.Errorf("event without seq: %+v", e)
				}
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") || n != len(tt.want) || skipped != tt.skipped {
				t.Fatalf("applied %v (n %d, skipped %d), want %v (skipped %d)", got, n, skipped, tt.want, tt.skipped)
			}
			if c := strings.Count(logs.String(), "identity event ignored"); c != tt.skipped {
				t.Fatalf("%d warnings for %d skipped:\n%s", c, tt.skipped, logs.String())
			}
		})
	}
}

func TestApplyIdentityEventsCanceled(t *testing.T) {
	st, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ids := aios.NewULIDGenerator(aios.SystemClock{}, nil)
	if _, err := st.Journal.Append(context.Background(), aios.NewEnvelope(ids, aios.SystemClock{}, "s", "main",
		&aios.IdentityRevoked{DID: "did:key:1", Reason: "lost", RevokedAt: 1})); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := applyIdentityEvents(ctx, st.Journal, &fakeVerifier{}, slog.Default()); !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
}
