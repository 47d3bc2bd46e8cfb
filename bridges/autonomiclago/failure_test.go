package autonomiclago

import (
	"context"
	"errors"
	"iter"
	"sync"
	"testing"
	"time"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/lago/journal"
)

var errFakeWrite = errors.New("fake: change write failed")

// How fakeFlakyJournal fails a change write.
const (
	failErr      = iota // store nothing, return an error
	failLanded          // store the changes, then return an error
	failOnCancel        // wait for the caller's ctx to end, store nothing
)

// fakeFlakyJournal is lago's journal (snapshots included) whose next
// append of autonomic's own change events fails once, the way a journal
// error or a shutdown that cancels the write mid-event would. Its
// subscriptions can be held back until released.
type fakeFlakyJournal struct {
	inner *journal.Journal
	mode  int

	mu       sync.Mutex
	fails    int
	entered  chan struct{} // closed when a failing write starts
	released chan struct{} // nil: subscriptions yield at once
	subbed   chan struct{} // closed when Subscribe is first called
}

func newFakeFlaky(t *testing.T, mode int) *fakeFlakyJournal {
	return &fakeFlakyJournal{inner: openLago(t), mode: mode, fails: 1,
		entered: make(chan struct{}), subbed: make(chan struct{})}
}

func (f *fakeFlakyJournal) Append(ctx context.Context, events ...aios.EventEnvelope) ([]uint64, error) {
	f.mu.Lock()
	fail := f.fails > 0 && countOwn(events) > 0
	if fail {
		f.fails--
		close(f.entered)
	}
	f.mu.Unlock()
	if !fail {
		return f.inner.Append(ctx, events...)
	}
	switch f.mode {
	case failLanded:
		if _, err := f.inner.Append(ctx, events...); err != nil {
			return nil, err
		}
	case failOnCancel:
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return nil, errFakeWrite
}

func (f *fakeFlakyJournal) Read(ctx context.Context, q aios.ReadQuery) iter.Seq2[aios.EventEnvelope, error] {
	return f.inner.Read(ctx, q)
}

func (f *fakeFlakyJournal) Head(ctx context.Context, id aios.StreamID) (uint64, error) {
	return f.inner.Head(ctx, id)
}

func (f *fakeFlakyJournal) Subscribe(ctx context.Context, id aios.StreamID, after uint64) iter.Seq2[aios.EventEnvelope, error] {
	f.mu.Lock()
	select {
	case <-f.subbed:
	default:
		close(f.subbed)
	}
	gate := f.released
	f.mu.Unlock()
	return func(yield func(aios.EventEnvelope, error) bool) {
		for e, err := range f.inner.Subscribe(ctx, id, after) {
			if gate != nil && err == nil {
				select {
				case <-gate:
				case <-ctx.Done():
					yield(aios.EventEnvelope{}, ctx.Err())
					return
				}
			}
			if !yield(e, err) {
				return
			}
		}
	}
}

func (f *fakeFlakyJournal) SaveSnapshot(ctx context.Context, id aios.StreamID, name string, seq uint64, data []byte) error {
	return f.inner.SaveSnapshot(ctx, id, name, seq, data)
}

func (f *fakeFlakyJournal) LoadSnapshot(ctx context.Context, id aios.StreamID, name string) (uint64, []byte, error) {
	return f.inner.LoadSnapshot(ctx, id, name)
}

// TestChangeWriteFailure: when journaling an event's changes fails, the
// event is folded again later and its changes land in the journal exactly
// once, whether the same projector retries or a new one starts over the
// journal after a shutdown checkpoint.
func TestChangeWriteFailure(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name string
		mode int
		live bool // the events arrive while following, not in a catch-up
	}{
		{"journal error in catch-up", failErr, false},
		{"journal error on a live event", failErr, true},
		{"write landed but reported failed", failLanded, false},
		{"context cancelled mid-event", failOnCancel, true},
	}
	for _, tc := range cases {
		for _, recovery := range []string{"retry", "restart"} {
			t.Run(tc.name+"/"+recovery, func(t *testing.T) {
				j := newFakeFlaky(t, tc.mode)
				p := newProjector(t, j, Options{SnapshotEvery: 1})
				if tc.live {
					fctx, cancel := context.WithCancel(ctx)
					done := make(chan error, 1)
					go func() { done <- p.Follow(fctx, stream) }()
					<-j.subbed
					if _, err := j.Append(ctx, goingBroke()...); err != nil {
						t.Fatal(err)
					}
					<-j.entered
					if tc.mode == failOnCancel {
						cancel() // the daemon shuts down mid-event
					}
					select {
					case err := <-done:
						if err == nil || errors.Is(err, ErrIdle) {
							t.Fatalf("Follow returned %v after a failed change write", err)
						}
					case <-time.After(5 * time.Second):
						t.Fatal("Follow did not return after a failed change write")
					}
					cancel()
				} else {
					if _, err := j.Append(ctx, goingBroke()...); err != nil {
						t.Fatal(err)
					}
					if _, err := p.Decide(ctx, stream); !errors.Is(err, errFakeWrite) {
						t.Fatalf("Decide returned %v, want the write failure", err)
					}
				}
				// The shutdown checkpoint must not record a state past
				// the event whose changes failed (seq 3).
				if err := p.Checkpoint(ctx); err != nil {
					t.Fatal(err)
				}
				if seq, _, err := j.LoadSnapshot(ctx, stream, SnapshotName); err == nil && seq >= 3 {
					t.Fatalf("snapshot at seq %d, past the failed event", seq)
				}
				if recovery == "restart" {
					p = newProjector(t, j, Options{SnapshotEvery: 1})
				}
				g, err := p.Decide(ctx, stream)
				if err != nil {
					t.Fatal(err)
				}
				if g.EconomicMode != aios.EconomicHibernate || g.AllowTools {
					t.Fatalf("gating %+v, want hibernate without tools", g)
				}
				all := readAll(t, j)
				if n := countOwn(all); n != 3 {
					t.Fatalf("%d changes journaled, want 3 (economic mode, mode, gates)", n)
				}
				// Each change follows its trigger once.
				for _, e := range all[3:] {
					if e.ParentID != all[2].EventID {
						t.Fatalf("change %s caused by %s, want %s", typeName(e.Payload), e.ParentID, all[2].EventID)
					}
				}
				// Healthy again: once the projector has folded its own
				// changes back, the checkpoint lands at the head, and a
				// restart from it journals nothing more.
				if _, err := p.CatchUp(ctx, stream); err != nil {
					t.Fatal(err)
				}
				if err := p.Checkpoint(ctx); err != nil {
					t.Fatal(err)
				}
				if seq, _, err := j.LoadSnapshot(ctx, stream, SnapshotName); err != nil || seq != all[len(all)-1].Seq {
					t.Fatalf("checkpoint at %d, want %d: %v", seq, all[len(all)-1].Seq, err)
				}
				p2 := newProjector(t, j, Options{})
				if _, err := p2.CatchUp(ctx, stream); err != nil {
					t.Fatal(err)
				}
				if again := readAll(t, j); len(again) != len(all) {
					t.Fatalf("restart journaled %d more events", len(again)-len(all))
				}
			})
		}
	}
}

// TestStaleStreamFollowed: a follower whose stream went stale under
// another caller (a Decide whose change write failed) rebuilds it and
// journals the missing changes before folding on.
func TestStaleStreamFollowed(t *testing.T) {
	ctx := context.Background()
	j := newFakeFlaky(t, failErr)
	j.released = make(chan struct{})
	p := newProjector(t, j, Options{})
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- p.Follow(fctx, stream) }()
	<-j.subbed
	if _, err := j.Append(ctx, goingBroke()...); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Decide(ctx, stream); !errors.Is(err, errFakeWrite) {
		t.Fatalf("Decide returned %v, want the write failure", err)
	}
	close(j.released) // the follower now sees events the hub already folded
	waitFor(t, func() bool { return countOwn(readAll(t, j)) >= 3 })
	all := readAll(t, j)
	waitFor(t, func() bool { return p.Hub().Seq(stream) == all[len(all)-1].Seq })
	if n := countOwn(readAll(t, j)); n != 3 {
		t.Fatalf("%d changes journaled, want 3", n)
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Follow returned %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Follow did not stop")
	}
}
