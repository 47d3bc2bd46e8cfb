// Package controller joins the projection, the rules and their hysteresis
// into one deterministic state machine per journal stream: fold an event,
// re-evaluate the rules at the event's time, and report the mode and gate
// changes to journal. [Hub] keeps many streams and implements [aios.Gate].
package controller

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/autonomic/hysteresis"
	"github.com/lifeos/life/autonomic/projection"
	"github.com/lifeos/life/autonomic/rules"
)

// Config is the whole of autonomic's configuration.
type Config struct {
	Projection projection.Config `json:"projection"`
	Limits     rules.Limits      `json:"limits"`
	// Rules, when non-empty, replaces the default rules built from Limits.
	Rules rules.Set `json:"rules,omitempty"`
}

// DefaultConfig returns the default projection settings, limits and rules.
func DefaultConfig() Config {
	return Config{Projection: projection.DefaultConfig(), Limits: rules.DefaultLimits()}
}

// ErrInvalidConfig is matched by configuration errors.
var ErrInvalidConfig = errors.New("controller: invalid config")

// LoadConfig reads a JSON configuration over the defaults: keys present
// replace the default values (a price table replaces the default table).
// Unknown keys are an error.
func LoadConfig(r io.Reader) (Config, error) {
	cfg := DefaultConfig()
	cfg.Projection.Prices = nil
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		return Config{}, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	if dec.More() {
		return Config{}, fmt.Errorf("%w: trailing data after the JSON object", ErrInvalidConfig)
	}
	if cfg.Projection.Prices == nil {
		cfg.Projection.Prices = projection.DefaultConfig().Prices
	}
	return cfg, nil
}

// Controller evaluates streams under one configuration. It holds no
// per-stream state and is safe for concurrent use; the state lives in
// [Stream] values.
type Controller struct {
	proj        *projection.Projector
	rules       rules.Set
	fingerprint string
}

// New validates cfg and returns a controller.
func New(cfg Config) (*Controller, error) {
	p, err := projection.NewProjector(cfg.Projection)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	rs := cfg.Rules
	if len(rs) == 0 {
		if err := cfg.Limits.Validate(); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
		}
		rs = rules.Default(cfg.Limits)
	}
	if err := rs.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	for _, r := range rs {
		// The window never holds more than error_window outcomes: the rule
		// would never fire.
		if r.Signal == rules.SignalErrorRate && int(r.MinOutcomes) > cfg.Projection.ErrorWindow {
			return nil, fmt.Errorf("%w: rule %q: min_outcomes %d is over error_window %d, so it never fires",
				ErrInvalidConfig, r.Name, r.MinOutcomes, cfg.Projection.ErrorWindow)
		}
	}
	fp, err := json.Marshal(struct {
		P projection.Config `json:"p"`
		R rules.Set         `json:"r"`
	}{cfg.Projection, rs})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	sum := sha256.Sum256(fp)
	return &Controller{proj: p, rules: rs, fingerprint: fmt.Sprintf("%x", sum[:8])}, nil
}

// Rules returns the rules in evaluation order.
func (c *Controller) Rules() rules.Set { return slices.Clone(c.rules) }

// Projector returns the projector the controller folds with.
func (c *Controller) Projector() *projection.Projector { return c.proj }

// Stream is the controller state of one journal stream: the projection, the
// position of each rule's ladder and the gating in force. It is plain data;
// its JSON is the snapshot.
type Stream struct {
	State   *projection.State  `json:"state"`
	Latches []hysteresis.State `json:"latches"`
	Gating  aios.Gating        `json:"gating"`
}

// NewStream returns the state of a stream before any event: the rules
// evaluated on the empty projection (sovereign unless the configuration
// says the agent starts broke).
func (c *Controller) NewStream(id aios.StreamID) *Stream {
	st := &Stream{State: c.proj.NewState(id), Latches: make([]hysteresis.State, len(c.rules))}
	c.evaluate(st)
	return st
}

// Apply folds one event and re-evaluates the rules at its timestamp. It
// returns the payloads to journal for what changed (EconomicModeChanged,
// ModeChanged, GatesUpdated), none when nothing did. A replayed event (seq
// not above the stream's) changes nothing.
func (c *Controller) Apply(st *Stream, e *aios.EventEnvelope) []aios.Payload {
	if !c.proj.Apply(st.State, e) || e.Payload == nil || projection.IsOwnEvent(e.Payload) {
		return nil
	}
	before := st.Gating
	changed := c.evaluate(st)
	if len(changed) == 0 {
		return nil
	}
	reason := strings.Join(changed, "; ")
	after := st.Gating
	var out []aios.Payload
	if after.EconomicMode != before.EconomicMode {
		out = append(out, &aios.EconomicModeChanged{From: before.EconomicMode, To: after.EconomicMode, Reason: reason})
	}
	if after.OperatingMode != before.OperatingMode {
		out = append(out, &aios.ModeChanged{From: before.OperatingMode, To: after.OperatingMode, Reason: reason})
	}
	if !gatingEqual(before, after) {
		gates, err := json.Marshal(after)
		if err == nil { // a Gating of strings, bools and ints always encodes
			out = append(out, &aios.GatesUpdated{Gates: gates, Reason: reason})
		}
	}
	return out
}

// evaluate moves every ladder to the stream's current time and recomputes
// the gating; it returns a description of each ladder that moved.
func (c *Controller) evaluate(st *Stream) []string {
	now := st.State.Now
	var changed []string
	for i := range c.rules {
		r := &c.rules[i]
		v := r.Value(st.State)
		from := st.Latches[i].Level
		if r.Ladder.Update(&st.Latches[i], v, now) {
			changed = append(changed, fmt.Sprintf("%s: %s -> %s (%s=%s)",
				r.Name, r.Ladder.Name(from), r.Ladder.Name(st.Latches[i].Level), r.Signal, formatValue(v)))
		}
	}
	// The gating follows from the ladder levels alone: merge only when one
	// moved, or on the first evaluation.
	if len(changed) > 0 || !st.Gating.EconomicMode.Valid() {
		c.regate(st)
	}
	return changed
}

// RuleStatus is one rule's current position, for /v1/projection.
type RuleStatus struct {
	Rule   string   `json:"rule"`
	Signal string   `json:"signal"`
	Value  *float64 `json:"value"` // nil when infinite
	Level  string   `json:"level"`
	Since  uint64   `json:"since"`
}

// Status reports each rule's signal value and ladder level.
func (c *Controller) Status(st *Stream) []RuleStatus {
	out := make([]RuleStatus, len(c.rules))
	for i := range c.rules {
		r := &c.rules[i]
		v := r.Value(st.State)
		rs := RuleStatus{Rule: r.Name, Signal: string(r.Signal), Level: r.Ladder.Name(st.Latches[i].Level), Since: st.Latches[i].Since}
		if !isInf(v) && v == v {
			rs.Value = &v
		}
		out[i] = rs
	}
	return out
}

func gatingEqual(a, b aios.Gating) bool {
	return a.AllowNetwork == b.AllowNetwork && a.AllowShell == b.AllowShell && a.AllowTools == b.AllowTools &&
		a.EconomicMode == b.EconomicMode && a.MaxTokens == b.MaxTokens &&
		a.MaxToolCallsPerTurn == b.MaxToolCallsPerTurn && a.OperatingMode == b.OperatingMode &&
		slices.Equal(a.Advice, b.Advice) && slices.Equal(a.DeniedTools, b.DeniedTools) &&
		slices.Equal(a.Reasons, b.Reasons)
}

// ErrSnapshot is matched by snapshot decoding errors.
var ErrSnapshot = errors.New("controller: bad snapshot")

// ErrSnapshotStale means the snapshot was taken under another configuration;
// replay the stream instead.
var ErrSnapshotStale = errors.New("controller: snapshot taken under another configuration")

// snapshotVersion changes with the fold's meaning, so that snapshots taken
// under the old one are replayed rather than resumed. 2: a clock far behind
// resets the cost windows and a ladder's dwell.
const snapshotVersion = 2

type snapshotJSON struct {
	Version int     `json:"version"`
	Config  string  `json:"config"`
	Stream  *Stream `json:"stream"`
}

// Snapshot encodes st, tagged with the controller's configuration, so that
// [Controller.Resume] can continue exactly where st stopped.
func (c *Controller) Snapshot(st *Stream) ([]byte, error) {
	b, err := json.Marshal(snapshotJSON{Version: snapshotVersion, Config: c.fingerprint, Stream: st})
	if err != nil {
		return nil, fmt.Errorf("controller: encode snapshot: %w", err)
	}
	return b, nil
}

// Resume decodes a snapshot. Malformed input is [ErrSnapshot]; a snapshot
// of another configuration is [ErrSnapshotStale].
func (c *Controller) Resume(b []byte) (*Stream, error) {
	var s snapshotJSON
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSnapshot, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: trailing data", ErrSnapshot)
	}
	if s.Version != snapshotVersion {
		return nil, fmt.Errorf("%w: version %d, want %d", ErrSnapshot, s.Version, snapshotVersion)
	}
	if s.Config != c.fingerprint {
		return nil, fmt.Errorf("%w (%s, now %s)", ErrSnapshotStale, s.Config, c.fingerprint)
	}
	st := s.Stream
	if st == nil || st.State == nil {
		return nil, fmt.Errorf("%w: no stream state", ErrSnapshot)
	}
	if len(st.Latches) != len(c.rules) {
		return nil, fmt.Errorf("%w: %d latches for %d rules", ErrSnapshot, len(st.Latches), len(c.rules))
	}
	for i, l := range st.Latches {
		if l.Level < 0 || l.Level > len(c.rules[i].Ladder.Levels) {
			return nil, fmt.Errorf("%w: rule %q at level %d", ErrSnapshot, c.rules[i].Name, l.Level)
		}
	}
	if err := checkState(st.State); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSnapshot, err)
	}
	// The gating is recomputed rather than trusted.
	c.regate(st)
	return st, nil
}

// regate recomputes the gating from the latch levels without moving them.
func (c *Controller) regate(st *Stream) {
	var active []rules.Active
	for i := range c.rules {
		if lv := st.Latches[i].Level; lv > 0 {
			r := &c.rules[i]
			active = append(active, rules.Active{Rule: r.Name, Level: r.Ladder.Name(lv), Decision: r.Levels[lv-1]})
		}
	}
	st.Gating = rules.Merge(active)
	st.State.Economic.Mode = st.Gating.EconomicMode
}

func checkState(s *projection.State) error {
	if s.Operational.WindowLen > 64 {
		return fmt.Errorf("window_len %d > 64", s.Operational.WindowLen)
	}
	if !s.Economic.Mode.Valid() {
		return fmt.Errorf("economic mode %q", s.Economic.Mode)
	}
	for i := 1; i < len(s.Economic.Buckets); i++ {
		if s.Economic.Buckets[i].Start <= s.Economic.Buckets[i-1].Start {
			return errors.New("cost buckets out of order")
		}
	}
	if len(s.Economic.Buckets) > 200000 {
		return errors.New("too many cost buckets")
	}
	return nil
}

// Envelopes wraps the payloads Apply returned for trigger into envelopes on
// stream (the trigger's own, or a branch that inherited it from its parent),
// in the trigger's run and at its time. Their event ids are ULIDs derived
// from stream and trigger, so journaling the same changes again (after a
// restart replays the stream) stores nothing new.
func Envelopes(stream aios.StreamID, trigger *aios.EventEnvelope, payloads []aios.Payload) []aios.EventEnvelope {
	out := make([]aios.EventEnvelope, len(payloads))
	for i, p := range payloads {
		h := sha256.New()
		h.Write([]byte(stream.Session + "\x00" + stream.Branch + "\x00" + trigger.EventID + "\x00"))
		_ = binary.Write(h, binary.BigEndian, [2]uint64{trigger.Seq, uint64(i)})
		sum := h.Sum(nil)
		ids := aios.NewULIDGenerator(fixedClock(trigger.Time()), bytes.NewReader(sum[:10]))
		e := aios.EventEnvelope{
			EventID:       ids.NewID(),
			SessionID:     stream.Session,
			BranchID:      stream.Branch,
			RunID:         trigger.RunID,
			Timestamp:     trigger.Timestamp,
			ParentID:      trigger.EventID,
			Payload:       p,
			Metadata:      map[string]string{},
			SchemaVersion: aios.CurrentSchemaVersion,
		}
		e.SetActor(aios.Actor{Type: aios.ActorSystem, Component: "autonomic"})
		out[i] = e
	}
	return out
}

type fixedClock time.Time

func (c fixedClock) Now() time.Time { return time.Time(c) }
