package autonomiclago

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/lago/journal"
)

func openLago(t *testing.T) *journal.Journal {
	t.Helper()
	j, err := journal.Open(filepath.Join(t.TempDir(), "journal.db"), journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	return j
}

// TestLagoJournal runs the suite on lago's bbolt journal, fsync included.
func TestLagoJournal(t *testing.T) {
	journalSuite(t, func(t *testing.T) aios.Journal { return openLago(t) })
}

// TestLagoSnapshots: the projector snapshots into lago and a restart
// resumes from the snapshot instead of replaying.
func TestLagoSnapshots(t *testing.T) {
	ctx := context.Background()
	j := openLago(t)
	if _, err := j.Append(ctx, goingBroke()...); err != nil {
		t.Fatal(err)
	}
	p := newProjector(t, j, Options{SnapshotEvery: 1})
	want, err := p.Decide(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	seq, data, err := j.LoadSnapshot(ctx, stream, SnapshotName)
	if err != nil || seq == 0 || len(data) == 0 {
		t.Fatalf("snapshot seq %d (%d bytes), err %v", seq, len(data), err)
	}
	p2 := newProjector(t, j, Options{SnapshotEvery: 1000})
	if err := p2.load(ctx, stream); err != nil {
		t.Fatal(err)
	}
	if got := p2.Hub().Seq(stream); got != seq {
		t.Fatalf("resumed at seq %d, want the snapshot's %d", got, seq)
	}
	got, err := p2.Decide(ctx, stream)
	if err != nil || got.EconomicMode != want.EconomicMode || got.MaxTokens != want.MaxTokens {
		t.Fatalf("resumed gating %+v, want %+v (err %v)", got, want, err)
	}
}

// TestLagoBranch: a forked branch inherits its parent's events up to the
// fork point; its projection folds them, its changes go into the branch,
// and what happens on the branch does not touch the parent.
func TestLagoBranch(t *testing.T) {
	ctx := context.Background()
	j := openLago(t)
	evs := goingBroke()
	if _, err := j.Append(ctx, evs[:2]...); err != nil { // balance synced, no spending yet
		t.Fatal(err)
	}
	if _, err := j.Fork(ctx, aios.NewULIDGenerator(nil, nil), aios.SystemClock{}, stream, "feature", 2); err != nil {
		t.Fatal(err)
	}
	feature := aios.StreamID{Session: stream.Session, Branch: "feature"}
	spend := evs[2]
	spend.BranchID = "feature"
	if _, err := j.Append(ctx, spend); err != nil {
		t.Fatal(err)
	}
	p := newProjector(t, j, Options{})
	gf, err := p.Decide(ctx, feature)
	if err != nil || gf.EconomicMode != aios.EconomicHibernate {
		t.Fatalf("feature gating %+v err %v", gf, err)
	}
	gm, err := p.Decide(ctx, stream)
	if err != nil || gm.EconomicMode != aios.EconomicSovereign {
		t.Fatalf("main gating %+v err %v", gm, err)
	}
	var own int
	for e, err := range j.Read(ctx, aios.ReadQuery{Stream: feature}) {
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := e.Payload.(*aios.ModeChanged); ok {
			own++
			if e.BranchID != "feature" {
				t.Errorf("change journaled on %q", e.BranchID)
			}
		}
	}
	if own != 1 {
		t.Fatalf("%d ModeChanged on the branch, want 1", own)
	}
	if n := countOwn(readAll(t, j)); n != 0 {
		t.Fatalf("%d changes journaled on main", n)
	}
}

func TestLagoCheckpoint(t *testing.T) {
	ctx := context.Background()
	j := openLago(t)
	if _, err := j.Append(ctx, goingBroke()...); err != nil {
		t.Fatal(err)
	}
	p := newProjector(t, j, Options{SnapshotEvery: 1 << 20})
	if _, err := p.CatchUp(ctx, stream); err != nil {
		t.Fatal(err)
	}
	if _, _, err := j.LoadSnapshot(ctx, stream, SnapshotName); err == nil {
		t.Fatal("snapshot before checkpoint")
	}
	if err := p.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	seq, _, err := j.LoadSnapshot(ctx, stream, SnapshotName)
	if err != nil || seq != p.Hub().Seq(stream) {
		t.Fatalf("checkpoint at %d (hub at %d): %v", seq, p.Hub().Seq(stream), err)
	}
}

// TestLagoIdleSnapshot: a follower that stops when idle leaves a snapshot
// at the seq it reached, so a restart replays nothing of a finished stream.
func TestLagoIdleSnapshot(t *testing.T) {
	ctx := context.Background()
	j := openLago(t)
	if _, err := j.Append(ctx, goingBroke()...); err != nil {
		t.Fatal(err)
	}
	p := newProjector(t, j, Options{SnapshotEvery: 1 << 20})
	if err := p.FollowIdle(ctx, stream, 20*time.Millisecond); !errors.Is(err, ErrIdle) {
		t.Fatalf("FollowIdle returned %v, want ErrIdle", err)
	}
	seq, _, err := j.LoadSnapshot(ctx, stream, SnapshotName)
	if err != nil || seq == 0 || seq != p.Hub().Seq(stream) {
		t.Fatalf("snapshot at %d (hub at %d): %v", seq, p.Hub().Seq(stream), err)
	}
}
