package policy

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/lago/journal"
)

// fakeClock is a settable clock for the rate limiter tests.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func setup(t *testing.T, q Quotas) (*journal.Journal, *Engine, *fakeClock) {
	t.Helper()
	j, err := journal.Open(filepath.Join(t.TempDir(), "j.db"), journal.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	c := &fakeClock{t: time.Unix(1700000000, 0)}
	return j, New(j, q, nil, c), c
}

func refusals(t *testing.T, j *journal.Journal) int {
	n := 0
	for e, err := range j.Read(context.Background(), aios.ReadQuery{Stream: SystemStream}) {
		if err != nil {
			t.Fatal(err)
		}
		if c, ok := e.Payload.(*aios.Custom); ok && c.EventType == EventRefused {
			n++
		}
	}
	return n
}

func TestRoles(t *testing.T) {
	ctx := context.Background()
	j, e, _ := setup(t, Quotas{})
	// a session no role is granted on is closed, and nobody can grant one
	if err := e.Authorize(ctx, "anyone", "s", Read); !errors.Is(err, ErrForbidden) {
		t.Fatalf("ungranted session: %v", err)
	}
	if err := e.Grant(ctx, "anyone", "s", "anyone", Owner); !errors.Is(err, ErrForbidden) {
		t.Fatalf("grant on an ungranted session: %v", err)
	}
	if err := e.Claim(ctx, "alice", "s"); err != nil {
		t.Fatal(err)
	}
	if err := e.Claim(ctx, "mallory", "s"); !errors.Is(err, ErrForbidden) {
		t.Fatalf("second claim: %v", err)
	}
	if err := e.Grant(ctx, "alice", "s", "bob", Writer); err != nil {
		t.Fatal(err)
	}
	if err := e.Grant(ctx, "alice", "s", "carol", Reader); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		who    string
		action Action
		ok     bool
	}{
		{"alice", Admin, true}, {"alice", Write, true}, {"bob", Write, true}, {"bob", Admin, false},
		{"carol", Read, true}, {"carol", Write, false}, {"mallory", Read, false},
	}
	for _, tt := range tests {
		err := e.Authorize(ctx, tt.who, "s", tt.action)
		var r *Refusal
		if tt.ok != (err == nil) || (!tt.ok && (!errors.As(err, &r) || r.Status != http.StatusForbidden || !errors.Is(err, ErrForbidden))) {
			t.Errorf("%s %s: %v", tt.who, tt.action, err)
		}
	}
	if err := e.Grant(ctx, "bob", "s", "bob", Owner); !errors.Is(err, ErrForbidden) {
		t.Fatalf("writer granted owner: %v", err)
	}
	if n := refusals(t, j); n != 7 {
		t.Fatalf("%d refusals journaled, want 7", n)
	}
	// the operator's grant needs no role
	if err := e.GrantAsOperator(ctx, "t", "ops", Owner); err != nil {
		t.Fatal(err)
	}
	if err := e.Authorize(ctx, "ops", "t", Admin); err != nil {
		t.Fatal(err)
	}
	// a fresh engine rebuilds the ACL from the journal
	e2 := New(j, Quotas{}, nil, nil)
	if r, _ := e2.Role(ctx, "s", "bob"); r != Writer {
		t.Fatalf("reloaded role %q", r)
	}
}

func TestEventRate(t *testing.T) {
	ctx := context.Background()
	j, e, c := setup(t, Quotas{EventsPerMinute: 60})
	if err := e.ChargeEvents(ctx, "t", 60); err != nil {
		t.Fatal(err)
	}
	err := e.ChargeEvents(ctx, "t", 1)
	if !errors.Is(err, ErrQuota) {
		t.Fatalf("over rate: %v", err)
	}
	if err := e.ChargeEvents(ctx, "other", 1); err != nil {
		t.Fatalf("other tenant limited: %v", err)
	}
	c.add(10 * time.Second) // refills 10
	if err := e.ChargeEvents(ctx, "t", 10); err != nil {
		t.Fatalf("after refill: %v", err)
	}
	if err := e.ChargeEvents(ctx, "t", 1); !errors.Is(err, ErrQuota) {
		t.Fatalf("refill overshoot: %v", err)
	}
	if n := refusals(t, j); n != 2 {
		t.Fatalf("%d refusals journaled", n)
	}
}

func TestBlobQuota(t *testing.T) {
	ctx := context.Background()
	j, e, _ := setup(t, Quotas{BlobBytes: 100})
	if err := e.ChargeBlob(ctx, "t", "h1", 60); err != nil {
		t.Fatal(err)
	}
	if err := e.ChargeBlob(ctx, "t", "h1", 60); err != nil {
		t.Fatalf("same blob charged twice: %v", err)
	}
	if r, _ := e.Remaining(ctx, "t"); r != 40 {
		t.Fatalf("remaining %d", r)
	}
	if err := e.ChargeBlob(ctx, "t", "h2", 41); !errors.Is(err, ErrQuota) {
		t.Fatalf("over quota: %v", err)
	}
	e2 := New(j, Quotas{BlobBytes: 100}, nil, nil)
	if u, _ := e2.BlobUsage(ctx, "t"); u != 60 {
		t.Fatalf("usage after reload %d", u)
	}
}

// TestACLCacheHoldsOnlySessions: asking about sessions that do not exist
// caches nothing (one entry per name asked would grow without bound); a
// grant on a new session is seen at once.
func TestACLCacheHoldsOnlySessions(t *testing.T) {
	ctx := context.Background()
	_, e, _ := setup(t, Quotas{})
	for i := range 50 {
		if r, err := e.Role(ctx, fmt.Sprint("nope-", i), "p"); err != nil || r != "" {
			t.Fatalf("role %q %v", r, err)
		}
	}
	if n := len(e.acls); n != 0 {
		t.Fatalf("%d ACLs cached for sessions that do not exist", n)
	}
	if err := e.GrantAsOperator(ctx, "new", "p", Reader); err != nil {
		t.Fatal(err)
	}
	if r, err := e.Role(ctx, "new", "p"); err != nil || r != Reader {
		t.Fatalf("role after grant %q %v", r, err)
	}
	if err := e.Authorize(ctx, "p", "new", Read); err != nil {
		t.Fatal(err)
	}
}
