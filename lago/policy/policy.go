// Package policy is lago's access control and quotas: roles on sessions
// (owner, writer, reader) and per-tenant limits on events per minute and
// stored blob bytes. Grants, refusals and blob charges are journaled, so
// the policy state is a fold of the journal like everything else.
package policy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"sync"
	"time"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/lago/journal"
)

// Role is a principal's role on a session.
type Role string

const (
	Owner  Role = "owner"
	Writer Role = "writer"
	Reader Role = "reader"
)

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return r == Owner || r == Writer || r == Reader }

// Action is what a request does to a session.
type Action string

const (
	Read  Action = "read"
	Write Action = "write"
	Admin Action = "admin" // grant roles, merge branches
)

// Allows reports whether r permits a.
func (r Role) Allows(a Action) bool {
	switch r {
	case Owner:
		return true
	case Writer:
		return a == Read || a == Write
	case Reader:
		return a == Read
	}
	return false
}

// Errors matched by a *Refusal.
var (
	ErrForbidden = errors.New("policy: forbidden")
	ErrQuota     = errors.New("policy: quota exceeded")
)

// Refusal is a denied request: Status is 403 or 429.
type Refusal struct {
	Status    int
	Reason    string
	Principal string
	Session   string
}

func (r *Refusal) Error() string { return fmt.Sprintf("policy: %d: %s", r.Status, r.Reason) }

// Unwrap returns ErrForbidden or ErrQuota.
func (r *Refusal) Unwrap() error {
	if r.Status == http.StatusTooManyRequests {
		return ErrQuota
	}
	return ErrForbidden
}

// Quotas are per-tenant limits; 0 means unlimited.
type Quotas struct {
	EventsPerMinute int
	BlobBytes       int64
}

// Subsystem event types written by the engine (as Custom payloads).
const (
	EventACLGranted = "lago.acl_granted"
	EventRefused    = "lago.refused"
	EventBlobStored = "lago.blob_stored"
)

// SystemStream receives refusals and blob charges.
var SystemStream = aios.StreamID{Session: "lago.system", Branch: "main"}

type grant struct {
	Session   string `json:"session"`
	Principal string `json:"principal"`
	Role      Role   `json:"role"`
}

type blobCharge struct {
	Tenant string `json:"tenant"`
	Hash   string `json:"hash"`
	Size   int64  `json:"size"`
}

type refusal struct {
	Action    Action `json:"action"`
	Principal string `json:"principal"`
	Reason    string `json:"reason"`
	Session   string `json:"session"`
	Status    int    `json:"status"`
}

// Engine decides and records. Safe for concurrent use.
type Engine struct {
	j      *journal.Journal
	ids    aios.IDGenerator
	clock  aios.Clock
	quotas Quotas

	grantMu sync.Mutex // one grant at a time: Claim checks, then appends
	mu      sync.Mutex
	acls    map[string]map[string]Role // session -> principal -> role
	buckets map[string]*bucket
	usage   map[string]int64           // tenant -> blob bytes
	charged map[string]map[string]bool // tenant -> hashes
	loaded  bool
}

type bucket struct {
	tokens float64
	last   time.Time
}

// New returns an engine journaling to j.
func New(j *journal.Journal, q Quotas, ids aios.IDGenerator, clock aios.Clock) *Engine {
	if clock == nil {
		clock = aios.SystemClock{}
	}
	if ids == nil {
		ids = aios.NewULIDGenerator(clock, nil)
	}
	return &Engine{j: j, ids: ids, clock: clock, quotas: q,
		acls: map[string]map[string]Role{}, buckets: map[string]*bucket{},
		usage: map[string]int64{}, charged: map[string]map[string]bool{}}
}

func (e *Engine) custom(session, branch, eventType string, data any) aios.EventEnvelope {
	b, _ := json.Marshal(data) // plain structs of strings and numbers
	return aios.NewEnvelope(e.ids, e.clock, session, branch, &aios.Custom{EventType: eventType, Data: b})
}

// acl returns (loading from the session's main stream) the session's ACL.
func (e *Engine) acl(ctx context.Context, session string) (map[string]Role, error) {
	e.mu.Lock()
	a, ok := e.acls[session]
	e.mu.Unlock()
	if ok {
		return a, nil
	}
	a = map[string]Role{}
	n := 0
	for ev, err := range e.j.Read(ctx, aios.ReadQuery{Stream: aios.StreamID{Session: session, Branch: "main"}}) {
		if err != nil {
			return nil, err
		}
		n++
		if c, ok := ev.Payload.(*aios.Custom); ok && c.EventType == EventACLGranted {
			var g grant
			if json.Unmarshal(c.Data, &g) == nil && g.Role.Valid() {
				a[g.Principal] = g.Role
			}
		}
	}
	if n == 0 {
		// no such session: not cached, or every name asked for would stay
		return a, nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if cur, ok := e.acls[session]; ok {
		return cur, nil
	}
	e.acls[session] = a
	return a, nil
}

// Role returns principal's role on session, "" for none.
func (e *Engine) Role(ctx context.Context, session, principal string) (Role, error) {
	a, err := e.acl(ctx, session)
	if err != nil {
		return "", err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return a[principal], nil
}

// Authorize checks that principal may do action on session. A session no
// role was granted on is closed to everyone: one made through the API is
// owned by its creator (Claim), and an operator grants roles on one made
// otherwise (GrantAsOperator, `lago grant`). A refusal is journaled and
// returned as a *Refusal.
func (e *Engine) Authorize(ctx context.Context, principal, session string, action Action) error {
	a, err := e.acl(ctx, session)
	if err != nil {
		return err
	}
	e.mu.Lock()
	granted := len(a) > 0
	role := a[principal]
	e.mu.Unlock()
	if role.Allows(action) {
		return nil
	}
	reason := fmt.Sprintf("%s may not %s session %s", principal, action, session)
	if !granted {
		reason = fmt.Sprintf("no role is granted on session %s: it is closed until an operator grants one (lago grant)", session)
	} else if role != "" {
		reason = fmt.Sprintf("role %s of %s does not allow %s on session %s", role, principal, action, session)
	}
	return e.refuse(ctx, &Refusal{Status: http.StatusForbidden, Reason: reason, Principal: principal, Session: session}, action)
}

// Forbid journals a refusal of action on session for a reason of the
// caller's own (not a role) and returns it as a 403 *Refusal.
func (e *Engine) Forbid(ctx context.Context, principal, session string, action Action, reason string) error {
	return e.refuse(ctx, &Refusal{Status: http.StatusForbidden, Reason: reason, Principal: principal, Session: session}, action)
}

func (e *Engine) refuse(ctx context.Context, r *Refusal, action Action) error {
	ev := e.custom(SystemStream.Session, SystemStream.Branch, EventRefused,
		refusal{Action: action, Principal: r.Principal, Reason: r.Reason, Session: r.Session, Status: r.Status})
	if _, err := e.j.Append(ctx, ev); err != nil {
		return fmt.Errorf("policy: journal refusal (%v): %w", r, err)
	}
	return r
}

// Grant gives principal a role on session; by must be an owner of it.
func (e *Engine) Grant(ctx context.Context, by, session, principal string, role Role) error {
	return e.grant(ctx, session, principal, role, func(a map[string]Role) error {
		if a[by] == Owner {
			return nil
		}
		return e.refuse(ctx, &Refusal{Status: http.StatusForbidden, Principal: by, Session: session,
			Reason: fmt.Sprintf("only an owner may grant roles on session %s", session)}, Admin)
	})
}

// Claim makes principal the owner of a session no role is granted on yet:
// the creator of a session made through the API. Anyone else is refused.
func (e *Engine) Claim(ctx context.Context, principal, session string) error {
	return e.grant(ctx, session, principal, Owner, func(a map[string]Role) error {
		if len(a) == 0 {
			return nil
		}
		return e.refuse(ctx, &Refusal{Status: http.StatusForbidden, Principal: principal, Session: session,
			Reason: fmt.Sprintf("session %s is already owned", session)}, Admin)
	})
}

// GrantAsOperator gives principal a role on session with no check: for the
// operator's own tools on the data directory (lago grant), never the API.
func (e *Engine) GrantAsOperator(ctx context.Context, session, principal string, role Role) error {
	return e.grant(ctx, session, principal, role, func(map[string]Role) error { return nil })
}

// grant journals a role after allowed (called with the session's ACL) says
// yes. Grants are serialized, so a check and its append are one step.
func (e *Engine) grant(ctx context.Context, session, principal string, role Role, allowed func(map[string]Role) error) error {
	if !role.Valid() {
		return fmt.Errorf("policy: role %q: %w", role, journal.ErrInvalid)
	}
	if principal == "" {
		return fmt.Errorf("policy: empty principal: %w", journal.ErrInvalid)
	}
	e.grantMu.Lock()
	defer e.grantMu.Unlock()
	a, err := e.acl(ctx, session)
	if err != nil {
		return err
	}
	e.mu.Lock()
	snapshot := maps.Clone(a)
	e.mu.Unlock()
	if err := allowed(snapshot); err != nil {
		return err
	}
	ev := e.custom(session, "main", EventACLGranted, grant{Session: session, Principal: principal, Role: role})
	if _, err := e.j.Append(ctx, ev); err != nil {
		return err
	}
	e.mu.Lock()
	a[principal] = role
	e.mu.Unlock()
	return nil
}

// ChargeEvents takes n events from tenant's per-minute budget (a token
// bucket refilled continuously); over budget is a journaled 429.
func (e *Engine) ChargeEvents(ctx context.Context, tenant string, n int) error {
	if e.quotas.EventsPerMinute <= 0 {
		return nil
	}
	now := e.clock.Now()
	limit := float64(e.quotas.EventsPerMinute)
	e.mu.Lock()
	b, ok := e.buckets[tenant]
	if !ok {
		b = &bucket{tokens: limit, last: now}
		e.buckets[tenant] = b
	}
	b.tokens = min(limit, b.tokens+now.Sub(b.last).Minutes()*limit)
	b.last = now
	okCharge := b.tokens >= float64(n)
	if okCharge {
		b.tokens -= float64(n)
	}
	e.mu.Unlock()
	if okCharge {
		return nil
	}
	return e.refuse(ctx, &Refusal{Status: http.StatusTooManyRequests, Principal: tenant,
		Reason: fmt.Sprintf("tenant %s is over %d events per minute", tenant, e.quotas.EventsPerMinute)}, Write)
}

func (e *Engine) loadUsage(ctx context.Context) error {
	e.mu.Lock()
	loaded := e.loaded
	e.mu.Unlock()
	if loaded {
		return nil
	}
	usage, charged := map[string]int64{}, map[string]map[string]bool{}
	for ev, err := range e.j.Read(ctx, aios.ReadQuery{Stream: SystemStream}) {
		if err != nil {
			return err
		}
		if c, ok := ev.Payload.(*aios.Custom); ok && c.EventType == EventBlobStored {
			var bc blobCharge
			if json.Unmarshal(c.Data, &bc) == nil && !charged[bc.Tenant][bc.Hash] {
				if charged[bc.Tenant] == nil {
					charged[bc.Tenant] = map[string]bool{}
				}
				charged[bc.Tenant][bc.Hash] = true
				usage[bc.Tenant] += bc.Size
			}
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.loaded {
		e.usage, e.charged, e.loaded = usage, charged, true
	}
	return nil
}

// BlobUsage returns tenant's charged blob bytes.
func (e *Engine) BlobUsage(ctx context.Context, tenant string) (int64, error) {
	if err := e.loadUsage(ctx); err != nil {
		return 0, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.usage[tenant], nil
}

// Remaining returns how many more blob bytes tenant may store (-1: no limit).
func (e *Engine) Remaining(ctx context.Context, tenant string) (int64, error) {
	if e.quotas.BlobBytes <= 0 {
		return -1, nil
	}
	u, err := e.BlobUsage(ctx, tenant)
	if err != nil {
		return 0, err
	}
	return max(0, e.quotas.BlobBytes-u), nil
}

// Stored reports whether tenant stored blob hash (was charged for it).
func (e *Engine) Stored(ctx context.Context, tenant, hash string) (bool, error) {
	if err := e.loadUsage(ctx); err != nil {
		return false, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.charged[tenant][hash], nil
}

// ChargeBlob records that tenant stored blob hash of size bytes; a blob the
// tenant already stored is free. Over quota is a journaled 429 (the caller
// should have bounded the upload with Remaining).
func (e *Engine) ChargeBlob(ctx context.Context, tenant, hash string, size int64) error {
	if err := e.loadUsage(ctx); err != nil {
		return err
	}
	e.mu.Lock()
	already := e.charged[tenant][hash]
	over := e.quotas.BlobBytes > 0 && e.usage[tenant]+size > e.quotas.BlobBytes
	e.mu.Unlock()
	if already {
		return nil
	}
	if over {
		return e.refuse(ctx, &Refusal{Status: http.StatusTooManyRequests, Principal: tenant,
			Reason: fmt.Sprintf("tenant %s is over its %d blob bytes", tenant, e.quotas.BlobBytes)}, Write)
	}
	if _, err := e.j.Append(ctx, e.custom(SystemStream.Session, SystemStream.Branch, EventBlobStored, blobCharge{Tenant: tenant, Hash: hash, Size: size})); err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.charged[tenant][hash] {
		if e.charged[tenant] == nil {
			e.charged[tenant] = map[string]bool{}
		}
		e.charged[tenant][hash] = true
		e.usage[tenant] += size
	}
	return nil
}
