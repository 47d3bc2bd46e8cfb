package runtime

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lifeos/life/aios"
)

// Errors callers branch on.
var (
	// ErrRunActive is returned when a stream already has a run in progress.
	ErrRunActive = errors.New("runtime: a run is already active on this stream")
	// ErrAwaitingApproval is returned when a new run is asked for while the
	// last one waits for approvals.
	ErrAwaitingApproval = errors.New("runtime: the run is waiting for approval")
	// ErrNothingToResume is returned by Resume when the last run is finished.
	ErrNothingToResume = errors.New("runtime: no unfinished run to resume")
	// ErrBudgetExceeded matches the error of a run stopped by a budget.
	ErrBudgetExceeded = errors.New("runtime: budget exceeded")
	// ErrCancelled matches the error of a run stopped by a cancel signal.
	ErrCancelled = errors.New("runtime: run cancelled")
	// ErrInterrupted, as the cause of a run's context, stops the run
	// without ending it: what is pending is journaled and the run stays
	// unfinished, for Resume in the next process (a shutdown that cannot
	// wait for it).
	ErrInterrupted = errors.New("runtime: run interrupted")
	// ErrDuplicateRun matches the error of a Run whose idempotency key
	// names a run the stream already has: the Result is that run's (so
	// far), and no run is started. While that run is in progress the
	// error matches ErrRunActive too.
	ErrDuplicateRun = errors.New("runtime: a run with this idempotency key exists")
	// ErrKeyReused is returned by a Run whose idempotency key names a run
	// started by a different request.
	ErrKeyReused = errors.New("runtime: idempotency key already used for a different request")
	// ErrBadInput is matched by invalid arguments (empty session id, ...).
	ErrBadInput = errors.New("runtime: bad input")

	// errFold marks an event the fold refused (as opposed to a read error).
	errFold = errors.New("runtime: fold")
)

// DefaultBranch is the branch sessions start on.
const DefaultBranch = "main"

// Limits bound each run; the runtime enforces them itself, outside the model.
// A zero field means no limit, except MaxIterations which defaults to 16.
type Limits struct {
	MaxIterations uint32        // model calls per run
	MaxTokens     uint64        // total tokens per run
	MaxToolCalls  uint32        // tool calls per run
	WallClock     time.Duration // per run
	MaxCostUSD    float64       // per run, priced by Pricing
}

// Pricing prices tokens for the cost budget, in USD per million tokens.
type Pricing struct {
	PromptPerMTok     float64
	CompletionPerMTok float64
}

// Cost returns the price of u.
func (p Pricing) Cost(u aios.TokenUsage) float64 {
	return (float64(u.PromptTokens)*p.PromptPerMTok + float64(u.CompletionTokens)*p.CompletionPerMTok) / 1e6
}

// Config wires a Runtime to its ports. Journal and Provider are required;
// the rest have safe defaults.
type Config struct {
	Journal   aios.Journal
	Provider  aios.Provider
	Tools     aios.ToolRegistry // nil: no tools
	Policy    aios.PolicyGate   // nil: every call allowed
	Gate      aios.Gate         // nil: open gating
	Snapshots SnapshotStore     // nil: always replay the whole journal
	Clock     aios.Clock
	IDs       aios.IDGenerator
	Logger    *slog.Logger

	Model         string
	System        string
	Limits        Limits
	Pricing       Pricing
	SnapshotEvery int // events between snapshots; 0 means 256
	// MaxCachedSessions bounds the folded states kept in memory; idle ones
	// beyond it are dropped (and rebuilt from snapshot + tail on next use).
	// 0 means 4096.
	MaxCachedSessions int
	AgentID           string // written to each event's agent_id metadata when set
	// BindContext, when set, derives each run's context (telemetry binds
	// provider and tool spans to the run this way).
	BindContext func(ctx context.Context, stream aios.StreamID) context.Context
}

// Runtime runs agent loops over journaled sessions. It is safe for
// concurrent use; runs on different streams proceed in parallel.
type Runtime struct {
	cfg Config
	log *slog.Logger

	mu       sync.Mutex
	sessions map[aios.StreamID]*session
	tick     uint64
	active   atomic.Int64 // runs in progress
}

type session struct {
	stream aios.StreamID

	mu            sync.Mutex // guards everything below and serializes appends
	used          uint64     // tick of last use, for eviction (under Runtime.mu)
	evicted       bool       // dropped from the cache; holders must load again
	state         *SessionState
	stale         bool // state ran ahead of the journal after a failed append
	sinceSnapshot int
	active        *activeRun
}

type activeRun struct {
	id     string
	cancel context.CancelCauseFunc
	done   chan struct{}
}

// New checks cfg and returns a Runtime.
func New(cfg Config) (*Runtime, error) {
	if cfg.Journal == nil {
		return nil, fmt.Errorf("%w: Config.Journal is required", ErrBadInput)
	}
	if cfg.Provider == nil {
		return nil, fmt.Errorf("%w: Config.Provider is required", ErrBadInput)
	}
	if cfg.Clock == nil {
		cfg.Clock = aios.SystemClock{}
	}
	if cfg.IDs == nil {
		cfg.IDs = aios.NewULIDGenerator(cfg.Clock, nil)
	}
	if cfg.Tools == nil {
		cfg.Tools = emptyRegistry{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Limits.MaxIterations == 0 {
		cfg.Limits.MaxIterations = 16
	}
	if cfg.SnapshotEvery <= 0 {
		cfg.SnapshotEvery = 256
	}
	if cfg.MaxCachedSessions <= 0 {
		cfg.MaxCachedSessions = 4096
	}
	return &Runtime{cfg: cfg, log: cfg.Logger, sessions: map[aios.StreamID]*session{}}, nil
}

// Provider returns the configured provider.
func (r *Runtime) Provider() aios.Provider { return r.cfg.Provider }

// Journal returns the configured journal.
func (r *Runtime) Journal() aios.Journal { return r.cfg.Journal }

type emptyRegistry struct{}

func (emptyRegistry) Tool(string) (aios.Tool, bool) { return nil, false }
func (emptyRegistry) Specs() []aios.ToolSpec        { return nil }

func validStream(s aios.StreamID) error {
	if s.Session == "" || s.Branch == "" {
		return fmt.Errorf("%w: session and branch must be set (got %q/%q)", ErrBadInput, s.Session, s.Branch)
	}
	if len(s.Session) > 256 || len(s.Branch) > 256 {
		return fmt.Errorf("%w: session or branch id longer than 256 bytes", ErrBadInput)
	}
	return nil
}

// CreateSession starts a new session on the main branch with a
// SessionCreated event and returns its id.
func (r *Runtime) CreateSession(ctx context.Context, name string, config json.RawMessage) (string, error) {
	id := r.cfg.IDs.NewID()
	if len(config) == 0 {
		config = json.RawMessage("{}")
	}
	if !json.Valid(config) {
		return "", fmt.Errorf("%w: session config is not valid JSON", ErrBadInput)
	}
	s, err := r.load(ctx, aios.StreamID{Session: id, Branch: DefaultBranch})
	if err != nil {
		return "", err
	}
	defer s.mu.Unlock()
	b := r.batch(s, "")
	b.add(&aios.SessionCreated{Name: name, Config: compact(config)})
	if _, err := b.flush(ctx); err != nil {
		return "", err
	}
	return id, nil
}

// CreateSessionID starts session id on the main branch, unless it has
// events already: SessionCreated and then history are journaled in one
// append, so a session that exists holds its whole history. It reports
// whether it created the session. Callers derive id from something a
// repeated request carries (an idempotency key), so a repeat finds the
// session instead of starting another.
func (r *Runtime) CreateSessionID(ctx context.Context, id, name string, config json.RawMessage, history ...aios.Payload) (bool, error) {
	if len(config) == 0 {
		config = json.RawMessage("{}")
	}
	if !json.Valid(config) {
		return false, fmt.Errorf("%w: session config is not valid JSON", ErrBadInput)
	}
	for _, p := range history {
		if p == nil {
			return false, fmt.Errorf("%w: nil payload", ErrBadInput)
		}
	}
	s, err := r.load(ctx, aios.StreamID{Session: id, Branch: DefaultBranch})
	if err != nil {
		return false, err
	}
	defer s.mu.Unlock()
	if s.active != nil {
		return false, nil
	}
	if err := r.catchUp(ctx, s); err != nil {
		return false, err
	}
	if s.state.LastSeq > 0 {
		return false, nil
	}
	b := r.batch(s, "")
	b.add(&aios.SessionCreated{Name: name, Config: compact(config)})
	for _, p := range history {
		b.add(p)
	}
	if _, err := b.flush(ctx); err != nil {
		return false, err
	}
	return true, nil
}

// State returns a copy of a stream's state, reconstructing it from the
// journal (snapshot plus tail) if it is not loaded.
func (r *Runtime) State(ctx context.Context, stream aios.StreamID) (*SessionState, error) {
	s, err := r.load(ctx, stream)
	if err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	if s.active == nil {
		if err := r.catchUp(ctx, s); err != nil {
			return nil, err
		}
	}
	return s.state.Clone(), nil
}

// Reconstruct folds a stream's state from the journal alone, without
// snapshots or caches: what `arcan replay` prints.
func Reconstruct(ctx context.Context, j aios.Journal, stream aios.StreamID) (*SessionState, error) {
	if err := validStream(stream); err != nil {
		return nil, err
	}
	st := NewSessionState(stream)
	if err := foldFrom(ctx, j, st, 0, nil); err != nil {
		return nil, err
	}
	st.Document()
	return st, nil
}

// foldFrom folds the events after seq after into st; rejected, when set, is
// told the seq of each state patch the fold rejects.
func foldFrom(ctx context.Context, j aios.Journal, st *SessionState, after uint64, rejected func(seq uint64)) error {
	for e, err := range j.Read(ctx, aios.ReadQuery{Stream: aios.StreamID{Session: st.Session, Branch: st.Branch}, After: after}) {
		if err != nil {
			return fmt.Errorf("runtime: read %s/%s: %w", st.Session, st.Branch, err)
		}
		n := st.PatchConflicts
		if err := st.Apply(e); err != nil {
			return fmt.Errorf("%w: seq %d: %w", errFold, e.Seq, err)
		}
		if rejected != nil && st.PatchConflicts != n {
			rejected(e.Seq)
		}
	}
	return nil
}

// load returns the cached session, reconstructing it on first use, with
// its lock held: the caller unlocks it.
func (r *Runtime) load(ctx context.Context, stream aios.StreamID) (*session, error) {
	if err := validStream(stream); err != nil {
		return nil, err
	}
	for {
		r.mu.Lock()
		s, ok := r.sessions[stream]
		if !ok {
			if len(r.sessions) >= r.cfg.MaxCachedSessions {
				r.evictLocked()
			}
			s = &session{stream: stream}
			r.sessions[stream] = s
		}
		r.tick++
		s.used = r.tick
		r.mu.Unlock()
		s.mu.Lock()
		if s.evicted { // dropped from the cache between the two locks: take the new one
			s.mu.Unlock()
			continue
		}
		if s.state == nil || s.stale {
			st, err := r.reconstruct(ctx, stream, 0, nil)
			if err != nil {
				s.mu.Unlock()
				return nil, err
			}
			s.state, s.stale = st, false
		}
		return s, nil
	}
}

// evictLocked drops the least recently used idle sessions. A session with
// a run in progress (or locked right now) stays, so the cap is soft while
// every cached session is busy.
func (r *Runtime) evictLocked() {
	type cand struct {
		id   aios.StreamID
		used uint64
	}
	var idle []cand
	for id, s := range r.sessions {
		if s.mu.TryLock() {
			if s.active == nil {
				idle = append(idle, cand{id, s.used})
			}
			s.mu.Unlock()
		}
	}
	slices.SortFunc(idle, func(a, b cand) int { return cmp.Compare(a.used, b.used) })
	// Back under the cap, with a quarter of it free so eviction is rare.
	n := len(r.sessions) - r.cfg.MaxCachedSessions + max(r.cfg.MaxCachedSessions/4, 1)
	for _, c := range idle[:min(len(idle), n)] {
		s := r.sessions[c.id]
		if s.mu.TryLock() { // still idle and unheld: mark it, then drop it
			if s.active == nil {
				s.evicted = true
				delete(r.sessions, c.id)
			}
			s.mu.Unlock()
		}
	}
}

// reconstruct starts from the latest usable snapshot and folds the tail.
// With before > 0 only a snapshot of the events before seq before is used,
// so that rejected sees every patch the fold rejects from there on.
func (r *Runtime) reconstruct(ctx context.Context, stream aios.StreamID, before uint64, rejected func(seq uint64)) (*SessionState, error) {
	st := NewSessionState(stream)
	if r.cfg.Snapshots != nil {
		seq, data, err := r.cfg.Snapshots.Latest(ctx, stream)
		switch {
		case err == nil && before > 0 && seq >= before:
			// folded from the start instead
		case err == nil:
			head, herr := r.cfg.Journal.Head(ctx, stream)
			var snap SessionState
			if herr == nil && head >= seq && json.Unmarshal(data, &snap) == nil && snap.usable(stream, seq) {
				st = &snap
			} else {
				r.log.Warn("ignoring stale or malformed snapshot", "session", stream.Session, "branch", stream.Branch, "seq", seq, "head", head)
			}
		case !errors.Is(err, aios.ErrNotFound):
			r.log.Warn("snapshot unreadable, replaying the whole journal", "err", err)
		}
	}
	if err := foldFrom(ctx, r.cfg.Journal, st, st.LastSeq, rejected); err != nil {
		if st.LastSeq == 0 || !errors.Is(err, errFold) {
			return nil, err
		}
		// The snapshot's state does not take the journal's tail (a damaged
		// or older snapshot): the journal alone is the truth.
		r.log.Warn("journal tail does not fold onto the snapshot, replaying the whole journal", "session", stream.Session, "branch", stream.Branch, "err", err)
		st = NewSessionState(stream)
		if err := foldFrom(ctx, r.cfg.Journal, st, 0, rejected); err != nil {
			return nil, err
		}
	}
	return st, nil
}

// usable reports whether a decoded snapshot can stand for the fold of
// stream through seq: it is of this stream, it has the fields every state
// has (a snapshot of an older layout, or damaged yet still JSON, lacks
// some), and its document decodes.
func (s *SessionState) usable(stream aios.StreamID, seq uint64) bool {
	return s.Session == stream.Session && s.Branch == stream.Branch && s.LastSeq == seq &&
		s.Messages != nil && len(s.Doc) > 0 && s.decodeDoc() == nil
}

// refold rebuilds s's state from the journal after another writer's events
// showed up before seq from, and returns the seqs from there on of the
// state patches the fold rejected. On failure the state is marked stale,
// to be rebuilt at the next load.
func (r *Runtime) refold(ctx context.Context, s *session, from uint64) ([]uint64, error) {
	var rejected []uint64
	st, err := r.reconstruct(ctx, s.stream, from, func(seq uint64) {
		if seq >= from {
			rejected = append(rejected, seq)
		}
	})
	if err != nil {
		r.log.Warn("rebuilding the state after another writer's events failed", "session", s.stream.Session, "branch", s.stream.Branch, "err", err)
		s.stale = true
		return nil, err
	}
	s.state, s.stale = st, false
	return rejected, nil
}

// catchUp folds events another writer appended since the state was built.
func (r *Runtime) catchUp(ctx context.Context, s *session) error {
	head, err := r.cfg.Journal.Head(ctx, s.stream)
	if err != nil {
		return fmt.Errorf("runtime: head: %w", err)
	}
	if head > s.state.LastSeq {
		return foldFrom(ctx, r.cfg.Journal, s.state, s.state.LastSeq, nil)
	}
	return nil
}

// batch collects events of one stream and appends them in one durable call.
type batch struct {
	r      *Runtime
	s      *session
	runID  string
	events []aios.EventEnvelope
	// rebase is the event id of a pending state patch of the runtime's own
	// (a run's summary: sets computed from the fold), re-based if another
	// writer's patch takes its version first; rebased is the one appended.
	rebase, rebased string
	rejected        []aios.EventEnvelope // patches the fold rejected in the last flush
	foldErr         error                // the first event the fold refused since the last flush
}

func (r *Runtime) batch(s *session, runID string) *batch {
	return &batch{r: r, s: s, runID: runID}
}

// add stamps p and folds it into the state at once; flush makes it durable.
// If the flush fails the cached state is dropped and rebuilt from the journal.
func (b *batch) add(p aios.Payload, meta ...string) aios.EventEnvelope {
	// aios.NewEnvelope with no metadata map unless there is metadata: an
	// empty one encodes alike and costs an allocation per event.
	e := aios.EventEnvelope{
		EventID: b.r.cfg.IDs.NewID(), SessionID: b.s.stream.Session, BranchID: b.s.stream.Branch, RunID: b.runID,
		Timestamp: aios.Micros(b.r.cfg.Clock.Now()), Payload: p, SchemaVersion: aios.CurrentSchemaVersion,
	}
	if b.r.cfg.AgentID != "" {
		e.SetAgentID(b.r.cfg.AgentID)
	}
	for i := 0; i+1 < len(meta); i += 2 {
		if e.Metadata == nil {
			e.Metadata = make(map[string]string, len(meta)/2)
		}
		e.Metadata[meta[i]] = meta[i+1]
	}
	if err := b.s.state.Apply(e); err != nil {
		b.r.log.Error("fold failed", "type", p.Type(), "err", err)
		if b.foldErr == nil {
			b.foldErr = err
		}
	}
	if b.events == nil {
		// A step journals a handful of events per flush: one allocation.
		b.events = make([]aios.EventEnvelope, 0, 8)
	}
	b.events = append(b.events, e)
	return e
}

// reuse takes back the slice a flush returned as the next events buffer.
func (b *batch) reuse(evs []aios.EventEnvelope) {
	if b.events == nil && cap(evs) > 0 {
		clear(evs) // drop the payloads for the collector
		b.events = evs[:0]
	}
}

// maxRebases bounds how often one state patch of the runtime's is re-based
// after losing its version to other writers' patches.
const maxRebases = 8

// flush appends the pending events and returns them with their seqs. A
// state patch of the runtime's own that the journal shows another writer's
// patch preceded (so the fold rejects it) is appended again on the version
// now current, with the same ops: the version a patch is based on is
// settled by the journal's order, which only the append reveals. Other
// rejected patches are left in b.rejected for the caller.
func (b *batch) flush(ctx context.Context) ([]aios.EventEnvelope, error) {
	b.rejected = b.rejected[:0]
	evs, err := b.appendOnce(ctx)
	for n := 0; err == nil; n++ {
		var lost *aios.StatePatchCommitted
		for i, e := range b.rejected {
			if e.EventID == b.rebased {
				lost, _ = e.Payload.(*aios.StatePatchCommitted)
				b.rejected = slices.Delete(b.rejected, i, i+1)
				break
			}
		}
		b.rebased = ""
		if lost == nil {
			break
		}
		if n == maxRebases {
			return evs, fmt.Errorf("runtime: state patch rejected %d times, other writers keep patching %s/%s first: %w",
				n+1, b.s.stream.Session, b.s.stream.Branch, aios.ErrVersionConflict)
		}
		v := b.s.state.Version // the refolded state: the journal's
		e := b.add(&aios.StatePatchCommitted{NewVersion: v + 1, Patch: aios.StatePatch{BaseVersion: v, Ops: lost.Patch.Ops}})
		b.rebase = e.EventID
		var more []aios.EventEnvelope
		more, err = b.appendOnce(ctx)
		evs = append(evs, more...)
	}
	return evs, err
}

// appendOnce appends the pending events. The state patches among them
// that the fold, rebuilt after another writer's events, rejected are added
// to b.rejected (and b.rebased names the batch's own one).
func (b *batch) appendOnce(ctx context.Context) ([]aios.EventEnvelope, error) {
	if len(b.events) == 0 {
		return nil, nil
	}
	evs := b.events
	b.events, b.rebased, b.rebase, b.foldErr = nil, b.rebase, "", nil
	seqs, err := b.r.cfg.Journal.Append(ctx, evs...)
	if err != nil {
		b.s.stale = true // ahead of the journal now: rebuilt on next load
		return nil, fmt.Errorf("runtime: append %d events: %w", len(evs), err)
	}
	for i := range evs {
		if i < len(seqs) {
			evs[i].Seq = seqs[i]
		}
	}
	// Another writer (the autonomic gate journals outages, a merge its
	// marker) may have appended since the state was folded: the seqs then
	// leave a gap, and the fold is rebuilt from the journal, which now
	// holds this batch too. A run relies on this instead of asking for the
	// journal's head first: its first flush comes before the model call.
	gap := len(seqs) > 0 && seqs[0] != b.s.state.LastSeq+1
	if n := len(seqs); n > 0 && seqs[n-1] > b.s.state.LastSeq {
		b.s.state.LastSeq = seqs[n-1]
	}
	b.s.sinceSnapshot += len(evs)
	if gap {
		rejected, ferr := b.r.refold(ctx, b.s, seqs[0])
		for i := range evs {
			if _, ok := evs[i].Payload.(*aios.StatePatchCommitted); !ok {
				continue
			}
			if ferr != nil {
				// Whether the patch holds is unknown: not acknowledged.
				return evs, fmt.Errorf("runtime: rebuilding the state after another writer's events: %w", ferr)
			}
			if slices.Contains(rejected, evs[i].Seq) {
				b.rejected = append(b.rejected, evs[i])
			}
		}
	}
	if !b.s.stale && b.r.cfg.Snapshots != nil && b.s.sinceSnapshot >= b.r.cfg.SnapshotEvery {
		b.r.snapshot(ctx, b.s)
	}
	return evs, nil
}

// snapshot saves the state and journals a SnapshotCreated event. Failure
// only costs replay time later, so it is logged, not returned.
func (r *Runtime) snapshot(ctx context.Context, s *session) {
	s.sinceSnapshot = 0
	data, err := s.state.Encode()
	if err != nil {
		r.log.Warn("snapshot encode failed", "err", err)
		return
	}
	seq := s.state.LastSeq
	if err := r.cfg.Snapshots.Save(ctx, s.stream, seq, data); err != nil {
		r.log.Warn("snapshot save failed", "err", err)
		return
	}
	sum := sha256.Sum256(data)
	b := r.batch(s, "")
	b.add(&aios.SnapshotCreated{SnapshotID: r.cfg.IDs.NewID(), SnapshotType: aios.SnapshotFull, CoversThroughSeq: seq, DataHash: hex.EncodeToString(sum[:])})
	evs := b.events
	b.events = nil
	seqs, err := r.cfg.Journal.Append(ctx, evs...)
	switch {
	case err != nil:
		r.log.Warn("snapshot event append failed", "err", err)
		s.stale = true
	case len(seqs) == 1 && seqs[0] != s.state.LastSeq+1:
		// Another writer appended while the snapshot was saved: taking
		// this seq as the fold's last would skip its events.
		r.refold(ctx, s, seqs[0])
	case len(seqs) == 1:
		s.state.LastSeq = seqs[0]
	}
}

// Cancel stops the active run of stream, if any; the run ends with
// RunFinished(cancelled). It reports whether a run was active.
func (r *Runtime) Cancel(stream aios.StreamID) bool {
	r.mu.Lock()
	s := r.sessions[stream]
	r.mu.Unlock()
	if s == nil {
		return false
	}
	s.mu.Lock()
	a := s.active
	s.mu.Unlock()
	if a == nil {
		return false
	}
	a.cancel(ErrCancelled)
	<-a.done
	return true
}

// CancelPaused ends the run of stream that waits for approvals: its
// pending approvals are denied, no call of it runs, and it finishes
// cancelled, as a cancelled active run does. It reports whether there was
// such a run; with a run in progress it fails with ErrRunActive (Cancel
// stops that one).
func (r *Runtime) CancelPaused(ctx context.Context, stream aios.StreamID) (bool, error) {
	s, err := r.load(ctx, stream)
	if err != nil {
		return false, err
	}
	defer s.mu.Unlock()
	if s.active != nil {
		return false, fmt.Errorf("%w: %s", ErrRunActive, s.active.id)
	}
	if err := r.catchUp(ctx, s); err != nil {
		return false, err
	}
	run := s.state.Run
	if run == nil || run.Status != RunAwaitingApproval {
		return false, nil
	}
	const why = "not run: the run was cancelled while it waited for approval"
	// Every call without a result gets one, so the conversation stays
	// well-formed for the next run.
	var open []CallState
	for _, c := range s.state.Calls {
		if c.Status == CallRequested || c.Status == CallAwaitingApproval || c.Status == CallApproved {
			open = append(open, c)
		}
	}
	b := r.batch(s, run.ID)
	for _, a := range slices.Clone(s.state.Approvals) {
		b.add(&aios.ApprovalResolved{ApprovalID: a.ApprovalID, Decision: aios.ApprovalDenied, Reason: "run cancelled"})
	}
	for _, c := range open {
		b.add(&aios.ToolCallFailed{CallID: c.CallID, ToolName: c.ToolName, Error: why})
	}
	b.addRunState(StatusCancelled)
	done := *s.state.Run
	b.add(&aios.RunFinished{Reason: StatusCancelled, TotalIterations: done.Iterations, Usage: ptr(done.Usage)})
	if _, err := b.flush(ctx); err != nil {
		return false, err
	}
	return true, nil
}

// Active reports the id of the run in progress on stream, if any.
func (r *Runtime) Active(stream aios.StreamID) (string, bool) {
	r.mu.Lock()
	s := r.sessions[stream]
	r.mu.Unlock()
	if s == nil {
		return "", false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.active == nil {
		return "", false
	}
	return s.active.id, true
}

// ActiveRuns counts the runs in progress and the sessions whose state is
// cached in memory.
func (r *Runtime) ActiveRuns() (runs, cached int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return int(r.active.Load()), len(r.sessions)
}

// Wait blocks until every active run has ended or ctx is done (graceful
// shutdown drains runs this way).
func (r *Runtime) Wait(ctx context.Context) error {
	for {
		var pending []chan struct{}
		r.mu.Lock()
		for _, s := range r.sessions {
			s.mu.Lock()
			if s.active != nil {
				pending = append(pending, s.active.done)
			}
			s.mu.Unlock()
		}
		r.mu.Unlock()
		if len(pending) == 0 {
			return nil
		}
		for _, d := range pending {
			select {
			case <-d:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
}

// Resolve answers an approval request: the decision is journaled at once,
// and the approved call runs (exactly once) when the run is resumed.
func (r *Runtime) Resolve(ctx context.Context, stream aios.StreamID, approvalID string, approve bool, reason string) error {
	s, err := r.load(ctx, stream)
	if err != nil {
		return err
	}
	defer s.mu.Unlock()
	if s.active != nil {
		// The run's batch holds events folded but not yet appended: an
		// append of ours now would put the journal's order and the fold's
		// apart (and a rebuild would drop the run's pending events).
		return fmt.Errorf("%w: %s", ErrRunActive, s.active.id)
	}
	if err := r.catchUp(ctx, s); err != nil {
		return err
	}
	var found *Approval
	for i := range s.state.Approvals {
		if s.state.Approvals[i].ApprovalID == approvalID {
			a := s.state.Approvals[i]
			found = &a
		}
	}
	if found == nil {
		return fmt.Errorf("runtime: approval %q: %w", approvalID, aios.ErrNotFound)
	}
	decision := aios.ApprovalDenied
	if approve {
		decision = aios.ApprovalApproved
	}
	b := r.batch(s, found.RunID)
	b.add(&aios.ApprovalResolved{ApprovalID: approvalID, Decision: decision, Reason: reason})
	if !approve {
		msg := "denied by a person"
		if reason != "" {
			msg += ": " + reason
		}
		b.add(&aios.ToolCallFailed{CallID: found.CallID, ToolName: found.ToolName, Error: msg})
	}
	_, err = b.flush(ctx)
	return err
}

// Append journals payloads on stream outside any run (history imported by
// the OpenAI-compatible endpoint, notes, external signals). It fails while
// a run is active on the stream.
func (r *Runtime) Append(ctx context.Context, stream aios.StreamID, payloads ...aios.Payload) error {
	s, err := r.load(ctx, stream)
	if err != nil {
		return err
	}
	defer s.mu.Unlock()
	if s.active != nil {
		return fmt.Errorf("%w: %s", ErrRunActive, s.active.id)
	}
	if err := r.catchUp(ctx, s); err != nil {
		return err
	}
	for _, p := range payloads {
		if p == nil {
			return fmt.Errorf("%w: nil payload", ErrBadInput)
		}
	}
	b := r.batch(s, "")
	conflicts, base := s.state.PatchConflicts, s.state.Version
	for _, p := range payloads {
		b.add(p)
	}
	// A state patch that does not apply to the current state is refused
	// before it reaches the journal (the fold already took it in: rebuilt).
	if b.foldErr != nil || s.state.PatchConflicts != conflicts {
		s.stale = true
		if b.foldErr != nil {
			return fmt.Errorf("%w: %w", ErrBadInput, b.foldErr)
		}
		return fmt.Errorf("runtime: state patch not based on the current version %d: %w", base, aios.ErrVersionConflict)
	}
	if _, err := b.flush(ctx); err != nil {
		return err
	}
	// Another writer's patch may have taken the version in between: the
	// caller's patch was then rejected, which only the caller can redo.
	if len(b.rejected) > 0 {
		return fmt.Errorf("runtime: state patch rejected, another writer patched %s/%s first: %w", stream.Session, stream.Branch, aios.ErrVersionConflict)
	}
	return nil
}
