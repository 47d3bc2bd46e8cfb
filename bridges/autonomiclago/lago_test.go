package autonomiclago

import (
	"context"
	"path/filepath"
	"testing"

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
	p2.load(ctx, stream)
	if got := p2.Hub().Seq(stream); got != seq {
		t.Fatalf("resumed at seq %d, want the snapshot's %d", got, seq)
	}
	got, err := p2.Decide(ctx, stream)
	if err != nil || got.EconomicMode != want.EconomicMode || got.MaxTokens != want.MaxTokens {
		t.Fatalf("resumed gating %+v, want %+v (err %v)", got, want, err)
	}
}
