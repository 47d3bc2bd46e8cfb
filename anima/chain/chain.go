// Package chain folds an identity's rotation and revocation events into a
// registry: which DID rotated to which, when, with a proof signed by the old
// key, and which DIDs are revoked. It is a pure function of journal events:
// the same events always give the same registry, and an invalid event (a
// forged proof, a fork, a cycle, a rotation of a revoked key) is an error,
// never skipped.
package chain

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/anima/did"
	"github.com/lifeos/life/anima/jws"
)

// ProofType is the "type" claim of a rotation proof.
const ProofType = "anima.rotation_proof"

// ProofSkew is how far a proof's iat may be from the event's rotated_at.
const ProofSkew = 5 * time.Minute

// ErrInvalid is matched by every error about an invalid chain event.
var ErrInvalid = errors.New("chain: invalid identity event")

// EventError says which event broke the chain and why; it matches ErrInvalid.
type EventError struct {
	Index  int // position in the input
	Type   string
	Reason string
}

func (e *EventError) Error() string {
	return fmt.Sprintf("chain: event %d (%s): %s", e.Index, e.Type, e.Reason)
}

// Unwrap makes the error match [ErrInvalid].
func (e *EventError) Unwrap() error { return ErrInvalid }

// Record is what the registry knows of one DID.
type Record struct {
	DID         string
	RotatedTo   string // "" while the DID is current
	RotatedAt   uint64 // µs since the epoch, when RotatedTo is set
	RotatedFrom string // the DID this one replaced, if any
	Revoked     bool
	RevokedAt   uint64 // µs
	Reason      string
}

// Registry is an immutable snapshot of the rotation and revocation state.
type Registry struct {
	records map[string]Record
}

// Empty is a registry that knows no events.
func Empty() *Registry { return &Registry{records: map[string]Record{}} }

// Build folds the payloads of events in order.
func Build(events []aios.EventEnvelope) (*Registry, error) {
	payloads := make([]aios.Payload, len(events))
	for i := range events {
		payloads[i] = events[i].Payload
	}
	return BuildPayloads(payloads)
}

// BuildPayloads folds payloads in order. Payloads that are not anima
// rotation or revocation events are ignored.
func BuildPayloads(payloads []aios.Payload) (*Registry, error) {
	return Empty().With(payloads...)
}

// With returns a new registry with payloads applied after r's state; r is
// unchanged.
func (r *Registry) With(payloads ...aios.Payload) (*Registry, error) {
	next := &Registry{records: make(map[string]Record, len(r.records)+len(payloads))}
	for k, v := range r.records {
		next.records[k] = v
	}
	for i, p := range payloads {
		if err := next.apply(p); err != nil {
			var ee *EventError
			if errors.As(err, &ee) {
				ee.Index = i
			}
			return nil, err
		}
	}
	return next, nil
}

func (r *Registry) apply(p aios.Payload) error {
	switch e := p.(type) {
	case *aios.IdentityRotated:
		return r.rotate(e)
	case *aios.IdentityRevoked:
		return r.revoke(e)
	case *aios.Custom:
		// aios keeps subsystem data that does not fit the struct as a
		// generic Custom: for our own event types that is a malformed
		// event, and trust decisions fail closed on it.
		if e.EventType == aios.EventIdentityRotated || e.EventType == aios.EventIdentityRevoked {
			return &EventError{Type: e.EventType, Reason: "data does not match the event's schema"}
		}
	}
	return nil
}

func (r *Registry) rotate(e *aios.IdentityRotated) error {
	bad := func(format string, a ...any) error {
		return &EventError{Type: aios.EventIdentityRotated, Reason: fmt.Sprintf(format, a...)}
	}
	oldKey, err := did.Resolve(e.OldDID)
	if err != nil {
		return bad("old_did: %v", err)
	}
	newKey, err := did.Resolve(e.NewDID)
	if err != nil {
		return bad("new_did: %v", err)
	}
	if oldKey.Type != newKey.Type {
		return bad("rotation from a %s key to a %s key", oldKey.Type, newKey.Type)
	}
	if e.OldDID == e.NewDID {
		return bad("rotation to the same DID")
	}
	if e.RotatedAt > math.MaxInt64 {
		// time.UnixMicro and the verifier's comparisons take an int64: a
		// larger value would wrap to before 1970.
		return bad("rotated_at %d is out of range", e.RotatedAt)
	}
	old := r.records[e.OldDID]
	if old.RotatedTo == e.NewDID && old.RotatedAt == e.RotatedAt {
		return nil // the same rotation replayed
	}
	if old.RotatedTo != "" {
		return bad("%s already rotated to %s (fork)", e.OldDID, old.RotatedTo)
	}
	if old.Revoked {
		return bad("%s is revoked and cannot rotate", e.OldDID)
	}
	if _, seen := r.records[e.NewDID]; seen {
		return bad("%s already appears in the chain (cycle or merge)", e.NewDID)
	}
	if err := VerifyProof(e.RotationProofJWS, e.OldDID, e.NewDID, e.RotatedAt); err != nil {
		return bad("%v", err)
	}
	old.DID, old.RotatedTo, old.RotatedAt = e.OldDID, e.NewDID, e.RotatedAt
	r.records[e.OldDID] = old
	r.records[e.NewDID] = Record{DID: e.NewDID, RotatedFrom: e.OldDID}
	return nil
}

func (r *Registry) revoke(e *aios.IdentityRevoked) error {
	if _, err := did.Resolve(e.DID); err != nil {
		return &EventError{Type: aios.EventIdentityRevoked, Reason: fmt.Sprintf("did: %v", err)}
	}
	rec := r.records[e.DID]
	if rec.Revoked {
		return nil // the first revocation stands
	}
	rec.DID, rec.Revoked, rec.RevokedAt, rec.Reason = e.DID, true, e.RevokedAt, e.Reason
	r.records[e.DID] = rec
	return nil
}

// Status returns what the registry knows of a DID (a zero Record with DID set
// when nothing).
func (r *Registry) Status(d string) Record {
	rec, ok := r.records[d]
	if !ok {
		return Record{DID: d}
	}
	return rec
}

// ErrTooManyHops means a chain is longer than the walk allows.
var ErrTooManyHops = errors.New("chain: rotation chain longer than the hop limit")

// Current follows rotations from d to the DID now in use, at most maxHops
// steps, and returns it with the number of hops taken.
func (r *Registry) Current(d string, maxHops int) (string, int, error) {
	cur := d
	for hops := 0; ; hops++ {
		next := r.records[cur].RotatedTo
		if next == "" {
			return cur, hops, nil
		}
		if hops >= maxHops {
			return "", hops, fmt.Errorf("%w (%d) from %s", ErrTooManyHops, maxHops, d)
		}
		cur = next
	}
}

// History lists the DIDs from the first to the current, starting anywhere in
// the chain (bounded by maxHops each way).
func (r *Registry) History(d string, maxHops int) []string {
	first := d
	for i := 0; i < maxHops; i++ {
		prev := r.records[first].RotatedFrom
		if prev == "" {
			break
		}
		first = prev
	}
	out := []string{first}
	for i := 0; i < 2*maxHops; i++ {
		next := r.records[out[len(out)-1]].RotatedTo
		if next == "" {
			break
		}
		out = append(out, next)
	}
	return out
}

// ProofClaims are the claims of a rotation proof.
type ProofClaims struct {
	Issuer   string `json:"iss"` // the old DID
	Subject  string `json:"sub"` // the new DID
	Type     string `json:"type"`
	IssuedAt int64  `json:"iat"` // seconds
}

// Signer signs a rotation proof with the old identity's key.
type Signer interface {
	SignJWS(ctx context.Context, purpose aios.KeyPurpose, header map[string]any, claims json.RawMessage) (string, error)
}

// NewProof signs a rotation proof from oldDID to newDID with the old key of
// the given purpose, issued at `at`.
func NewProof(ctx context.Context, old Signer, purpose aios.KeyPurpose, oldDID, newDID string, at time.Time) (string, error) {
	claims, err := json.Marshal(ProofClaims{Issuer: oldDID, Subject: newDID, Type: ProofType, IssuedAt: at.Unix()})
	if err != nil {
		return "", fmt.Errorf("chain: encode proof: %w", err)
	}
	return old.SignJWS(ctx, purpose, map[string]any{"typ": "JWT", "kid": oldDID}, claims)
}

// VerifyProof checks a rotation proof: signed by oldDID's key, with claims
// {iss oldDID, sub newDID, type anima.rotation_proof, iat} and iat within
// ProofSkew of rotatedAt (µs).
func VerifyProof(proof, oldDID, newDID string, rotatedAt uint64) error {
	key, err := did.Resolve(oldDID)
	if err != nil {
		return fmt.Errorf("rotation proof: %w", err)
	}
	tok, err := jws.Parse(proof)
	if err != nil {
		return fmt.Errorf("rotation proof: %w", err)
	}
	if tok.Header.Kid != "" && tok.Header.Kid != oldDID {
		return fmt.Errorf("rotation proof: kid %s is not the old DID", tok.Header.Kid)
	}
	if err := tok.Verify(key); err != nil {
		return fmt.Errorf("rotation proof: %w", err)
	}
	if err := jws.CheckFields(tok.Payload, "iss", "sub", "type", "iat"); err != nil {
		return fmt.Errorf("rotation proof claims: %w", err)
	}
	var c ProofClaims
	if err := json.Unmarshal(tok.Payload, &c); err != nil {
		return fmt.Errorf("rotation proof claims: %w", err)
	}
	switch {
	case c.Issuer != oldDID:
		return fmt.Errorf("rotation proof iss %q is not the old DID", c.Issuer)
	case c.Subject != newDID:
		return fmt.Errorf("rotation proof sub %q is not the new DID", c.Subject)
	case c.Type != ProofType:
		return fmt.Errorf("rotation proof type %q, want %q", c.Type, ProofType)
	}
	at := time.UnixMicro(int64(rotatedAt))
	if d := time.Unix(c.IssuedAt, 0).Sub(at); d > ProofSkew || d < -ProofSkew {
		return fmt.Errorf("rotation proof iat is %v away from rotated_at", d)
	}
	return nil
}
