// Package autonomiclago feeds autonomic's controller from a journal: a
// catch-up Read from the last folded seq, then a Subscribe for live events.
// Changes of mode and gates are journaled back into the same stream with
// ids derived from the event that caused them, so a restart that replays
// the stream stores no duplicates. A fold whose changes fail to journal is
// redone, never checkpointed, so every event's changes are journaled once
// even across failures and restarts. Any aios.Journal works; lago's bbolt
// journal is the real one.
package autonomiclago

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/autonomic/controller"
)

// SnapshotStore keeps projection snapshots next to the journal. lago's
// journal implements it; with it, catching up a stream reads only the
// events after the last snapshot.
type SnapshotStore interface {
	SaveSnapshot(ctx context.Context, st aios.StreamID, name string, seq uint64, data []byte) error
	LoadSnapshot(ctx context.Context, st aios.StreamID, name string) (uint64, []byte, error)
}

// SnapshotName is the name autonomic's snapshots are stored under.
const SnapshotName = "autonomic"

// Options tune a Projector.
type Options struct {
	// ReadOnly keeps the projector from journaling mode and gate changes.
	ReadOnly bool
	// SnapshotEvery saves a snapshot after this many events folded in one
	// stream, when the journal is a SnapshotStore (0: 1000; <0: never).
	SnapshotEvery int
	Logger        *slog.Logger
}

// Projector keeps a [controller.Hub] current with a journal. It is safe for
// concurrent use and implements aios.Gate: Decide first catches the stream
// up, so its answer reflects every event stored before the call.
type Projector struct {
	j     aios.Journal
	hub   *controller.Hub
	opts  Options
	log   *slog.Logger
	snaps SnapshotStore

	mu      sync.Mutex
	locks   map[aios.StreamID]*sync.Mutex
	loaded  map[aios.StreamID]bool
	sinceSn map[aios.StreamID]int
	// stale marks streams whose hub state folded an event whose changes
	// were not journaled (see apply).
	stale map[aios.StreamID]bool
}

var _ aios.Gate = (*Projector)(nil)

// New returns a projector over j that folds into hub.
func New(j aios.Journal, hub *controller.Hub, opts Options) *Projector {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.SnapshotEvery == 0 {
		opts.SnapshotEvery = 1000
	}
	p := &Projector{j: j, hub: hub, opts: opts, log: opts.Logger,
		locks: map[aios.StreamID]*sync.Mutex{}, loaded: map[aios.StreamID]bool{}, sinceSn: map[aios.StreamID]int{},
		stale: map[aios.StreamID]bool{}}
	if s, ok := j.(SnapshotStore); ok && opts.SnapshotEvery > 0 {
		p.snaps = s
	}
	return p
}

// Hub returns the hub the projector folds into.
func (p *Projector) Hub() *controller.Hub { return p.hub }

func (p *Projector) lock(id aios.StreamID) *sync.Mutex {
	p.mu.Lock()
	defer p.mu.Unlock()
	l, ok := p.locks[id]
	if !ok {
		l = new(sync.Mutex)
		p.locks[id] = l
	}
	return l
}

// load readies a stream's state before a catch-up; the caller holds the
// stream's lock. The first time, it resumes from the stored snapshot if
// there is one taken under the current configuration. A stale stream (see
// apply) is rebuilt: reset to the empty state, then resumed from the stored
// snapshot, which never holds a stale state, so the catch-up folds the
// failed event again.
func (p *Projector) load(ctx context.Context, id aios.StreamID) error {
	p.mu.Lock()
	done, stale := p.loaded[id], p.stale[id]
	p.loaded[id] = true
	p.mu.Unlock()
	if stale {
		c := p.hub.Controller()
		empty, err := c.Snapshot(c.NewStream(id))
		if err == nil {
			err = p.hub.Resume(id, empty)
		}
		if err != nil {
			return fmt.Errorf("autonomiclago: reset %s/%s: %w", id.Session, id.Branch, err)
		}
		p.mu.Lock()
		delete(p.stale, id)
		p.sinceSn[id] = 0
		p.mu.Unlock()
		p.log.Info("autonomic: rebuilding stream after a failed change write", "session", id.Session, "branch", id.Branch)
	} else if done || p.hub.Seq(id) != 0 {
		return nil
	}
	if p.snaps == nil {
		return nil
	}
	_, data, err := p.snaps.LoadSnapshot(ctx, id, SnapshotName)
	if err != nil {
		if !errors.Is(err, aios.ErrNotFound) {
			p.log.Warn("autonomic: load snapshot", "stream", id, "err", err)
		}
		return nil
	}
	if err := p.hub.Resume(id, data); err != nil {
		// A stale or damaged snapshot only costs a full replay.
		p.log.Info("autonomic: snapshot not used, replaying", "stream", id, "err", err)
	}
	return nil
}

// CatchUp folds every stored event of a stream past the last one folded and
// returns the seq reached.
func (p *Projector) CatchUp(ctx context.Context, id aios.StreamID) (uint64, error) {
	l := p.lock(id)
	l.Lock()
	defer l.Unlock()
	return p.catchUp(ctx, id)
}

// catchUp is CatchUp under the stream's lock. On error it returns the seq
// of the last event folded with its changes journaled.
func (p *Projector) catchUp(ctx context.Context, id aios.StreamID) (uint64, error) {
	if err := p.load(ctx, id); err != nil {
		return p.hub.Seq(id), err
	}
	reached := p.hub.Seq(id)
	for e, err := range p.j.Read(ctx, aios.ReadQuery{Stream: id, After: reached}) {
		if err != nil {
			return reached, fmt.Errorf("autonomiclago: read %s/%s: %w", id.Session, id.Branch, err)
		}
		if err := p.apply(ctx, id, &e); err != nil {
			return reached, err
		}
		reached = p.hub.Seq(id)
	}
	return reached, nil
}

// ErrIdle is returned by FollowIdle when its stream had no new event for
// the idle period.
var ErrIdle = errors.New("autonomiclago: stream idle")

// Follow catches a stream up and then folds its live events until ctx ends;
// it returns ctx's error, or the journal's.
func (p *Projector) Follow(ctx context.Context, id aios.StreamID) error {
	return p.FollowIdle(ctx, id, 0)
}

// FollowIdle is Follow that also stops, returning ErrIdle, once the stream
// has had no new event for idle (0: never), so a daemon does not hold a
// subscription per finished stream. It saves a snapshot of what it folded
// since the last one before returning ErrIdle. A later Follow or FollowIdle
// resumes after the last folded seq: nothing is folded twice or skipped.
func (p *Projector) FollowIdle(ctx context.Context, id aios.StreamID, idle time.Duration) error {
	after, err := p.CatchUp(ctx, id)
	if err != nil {
		return err
	}
	// Idleness cancels only the subscription: an event already on its way
	// is still folded, and its changes journaled, under ctx.
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var timer *time.Timer
	if idle > 0 {
		timer = time.AfterFunc(idle, cancel)
		defer timer.Stop()
	}
	idled := func() bool { return ctx.Err() == nil && sctx.Err() != nil }
	for e, err := range p.j.Subscribe(sctx, id, after) {
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if idled() {
				return p.stopIdle(ctx, id)
			}
			return fmt.Errorf("autonomiclago: subscribe %s/%s: %w", id.Session, id.Branch, err)
		}
		// A timer that already fired stays fired; the subscription ends
		// after this event.
		rearm := timer != nil && timer.Stop()
		l := p.lock(id)
		l.Lock()
		var err error
		if p.isStale(id) {
			// Another caller's change write failed: rebuild and catch up
			// (which re-journals those changes) before going on; apply
			// then skips e if the catch-up folded it.
			_, err = p.catchUp(ctx, id)
		}
		if err == nil {
			err = p.apply(ctx, id, &e)
		}
		l.Unlock()
		if err != nil {
			return err
		}
		if rearm {
			timer.Reset(idle)
		}
	}
	if idled() {
		return p.stopIdle(ctx, id)
	}
	return ctx.Err()
}

// stopIdle snapshots what was folded since the last snapshot, so a restart
// has nothing to replay for a finished stream, and returns ErrIdle.
func (p *Projector) stopIdle(ctx context.Context, id aios.StreamID) error {
	if p.snaps == nil {
		return ErrIdle
	}
	l := p.lock(id)
	l.Lock()
	defer l.Unlock()
	p.mu.Lock()
	due := p.sinceSn[id] > 0
	p.sinceSn[id] = 0
	p.mu.Unlock()
	if due {
		p.saveSnapshot(ctx, id)
	}
	return ErrIdle
}

// apply folds one event, journals what it changed and snapshots now and
// then. The caller holds the stream's lock.
func (p *Projector) apply(ctx context.Context, id aios.StreamID, e *aios.EventEnvelope) error {
	if e.Seq <= p.hub.Seq(id) {
		return nil // already folded (CatchUp and Follow overlap)
	}
	out := p.hub.ApplyTo(id, e)
	if len(out) > 0 && !p.opts.ReadOnly {
		if _, err := p.j.Append(ctx, out...); err != nil {
			// The hub has folded e but its changes are not journaled. The
			// hub keeps no copy to roll back to (a snapshot per event
			// would cost more than the fold), so the stream is marked
			// stale instead: never snapshotted so, and rebuilt by the
			// next catch-up, which folds e again and re-derives the same
			// changes. Their ids derive from e, so whatever part of this
			// write did land is not stored twice. A restart resumes from
			// the last snapshot, taken before e, and redoes the same.
			p.mu.Lock()
			p.stale[id] = true
			p.mu.Unlock()
			return fmt.Errorf("autonomiclago: journal %d changes after seq %d: %w", len(out), e.Seq, err)
		}
		for _, o := range out {
			p.log.Info("autonomic: change", "session", id.Session, "branch", id.Branch, "type", typeName(o.Payload), "seq", e.Seq)
		}
	}
	if p.snaps != nil {
		p.mu.Lock()
		p.sinceSn[id]++
		due := p.sinceSn[id] >= p.opts.SnapshotEvery
		if due {
			p.sinceSn[id] = 0
		}
		p.mu.Unlock()
		if due {
			p.saveSnapshot(ctx, id)
		}
	}
	return nil
}

// Checkpoint saves a snapshot of every stream the projector holds, when the
// journal keeps snapshots (a daemon does this on shutdown, so its restart
// reads only what came after). It returns the first error.
func (p *Projector) Checkpoint(ctx context.Context) error {
	if p.snaps == nil {
		return nil
	}
	var first error
	for _, id := range p.hub.Streams() {
		l := p.lock(id)
		l.Lock()
		if p.isStale(id) {
			l.Unlock()
			// Its changes are not all journaled: the stored snapshot
			// stays where they were, and a restart redoes them from there.
			p.log.Warn("autonomic: stream not checkpointed: a change write failed", "session", id.Session, "branch", id.Branch)
			continue
		}
		data, err := p.hub.Snapshot(id)
		if err == nil {
			err = p.snaps.SaveSnapshot(ctx, id, SnapshotName, p.hub.Seq(id), data)
		}
		l.Unlock()
		if err != nil && first == nil {
			first = fmt.Errorf("autonomiclago: checkpoint %s/%s: %w", id.Session, id.Branch, err)
		}
	}
	return first
}

// isStale reports whether a stream folded an event whose changes were not
// journaled and is to be rebuilt.
func (p *Projector) isStale(id aios.StreamID) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stale[id]
}

// saveSnapshot stores a stream's state unless it is stale. The caller
// holds the stream's lock.
func (p *Projector) saveSnapshot(ctx context.Context, id aios.StreamID) {
	if p.isStale(id) {
		return
	}
	data, err := p.hub.Snapshot(id)
	if err == nil {
		err = p.snaps.SaveSnapshot(ctx, id, SnapshotName, p.hub.Seq(id), data)
	}
	if err != nil {
		p.log.Warn("autonomic: save snapshot", "stream", id, "err", err)
	}
}

// Decide catches the stream up and returns its gating. A stream with no
// events gets the decision of the empty projection.
func (p *Projector) Decide(ctx context.Context, id aios.StreamID) (aios.Gating, error) {
	if _, err := p.CatchUp(ctx, id); err != nil {
		return aios.Gating{}, err
	}
	return p.hub.Decide(ctx, id)
}

func typeName(pl aios.Payload) string {
	if s, ok := pl.(aios.SubsystemEvent); ok {
		return s.EventType()
	}
	return pl.Type()
}
