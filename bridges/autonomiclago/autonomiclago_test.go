package autonomiclago

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/autonomic/controller"
	"github.com/lifeos/life/bridges/internal/fakejournal"
)

var stream = aios.StreamID{Session: "s1", Branch: "main"}

const t0 = uint64(1_767_225_600_000_000)

// ev builds an unsequenced envelope at t0 + sec seconds.
func ev(i int, sec int, p aios.Payload) aios.EventEnvelope {
	return aios.EventEnvelope{EventID: fmt.Sprintf("01JTEST%019d", i), SessionID: stream.Session, BranchID: stream.Branch,
		Timestamp: t0 + uint64(sec)*1_000_000, Payload: p, Metadata: map[string]string{}, SchemaVersion: 1}
}

// goingBroke is a balance, then spending past it: sovereign -> hibernate.
func goingBroke() []aios.EventEnvelope {
	return []aios.EventEnvelope{
		ev(1, 0, &aios.BalanceSynced{BalanceMicroCredits: 1_000_000}),
		ev(2, 1, &aios.UserMessage{Content: "work"}),
		ev(3, 2, &aios.CostIncurred{AmountMicroCredits: 1_500_000, Category: "payment"}),
	}
}

func newProjector(t testing.TB, j aios.Journal, opts Options) *Projector {
	t.Helper()
	c, err := controller.New(controller.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	return New(j, controller.NewHub(c), opts)
}

func countOwn(evs []aios.EventEnvelope) (n int) {
	for _, e := range evs {
		switch e.Payload.(type) {
		case *aios.ModeChanged, *aios.GatesUpdated, *aios.EconomicModeChanged:
			n++
		}
	}
	return n
}

// journalSuite runs against the fake and against lago's journal.
func journalSuite(t *testing.T, open func(t *testing.T) aios.Journal) {
	ctx := context.Background()
	t.Run("catch-up journals changes once", func(t *testing.T) {
		j := open(t)
		if _, err := j.Append(ctx, goingBroke()...); err != nil {
			t.Fatal(err)
		}
		p := newProjector(t, j, Options{})
		g, err := p.Decide(ctx, stream)
		if err != nil {
			t.Fatal(err)
		}
		if g.EconomicMode != aios.EconomicHibernate || g.AllowTools {
			t.Fatalf("gating = %+v", g)
		}
		evs := readAll(t, j)
		if n := countOwn(evs); n != 3 {
			t.Fatalf("%d changes journaled, want 3 (economic mode, mode, gates)", n)
		}
		// Catching up again reads the changes back and journals nothing.
		if _, err := p.CatchUp(ctx, stream); err != nil {
			t.Fatal(err)
		}
		// A restarted projector replays everything: the derived ids dedup.
		p2 := newProjector(t, j, Options{SnapshotEvery: -1})
		if g2, _ := p2.Decide(ctx, stream); g2.EconomicMode != aios.EconomicHibernate {
			t.Fatalf("restart gating = %+v", g2)
		}
		if after := readAll(t, j); len(after) != len(evs) {
			t.Fatalf("restart journaled again: %d events, was %d", len(after), len(evs))
		}
	})
	t.Run("follow sees live events", func(t *testing.T) {
		j := open(t)
		p := newProjector(t, j, Options{ReadOnly: true})
		fctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- p.Follow(fctx, stream) }()
		if _, err := j.Append(ctx, goingBroke()...); err != nil {
			t.Fatal(err)
		}
		waitFor(t, func() bool { return p.Hub().Seq(stream) == 3 })
		if g, _ := p.Hub().Decide(ctx, stream); g.EconomicMode != aios.EconomicHibernate {
			t.Fatalf("gating = %+v", g)
		}
		if n := countOwn(readAll(t, j)); n != 0 {
			t.Fatalf("read-only projector journaled %d events", n)
		}
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("follow returned %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("follow did not stop")
		}
	})
	t.Run("idle follow stops and resumes exactly once", func(t *testing.T) {
		j := open(t)
		p := newProjector(t, j, Options{})
		evs := goingBroke()
		if _, err := j.Append(ctx, evs[:2]...); err != nil {
			t.Fatal(err)
		}
		follow := func() {
			t.Helper()
			done := make(chan error, 1)
			go func() { done <- p.FollowIdle(ctx, stream, 50*time.Millisecond) }()
			select {
			case err := <-done:
				if !errors.Is(err, ErrIdle) {
					t.Fatalf("FollowIdle returned %v, want ErrIdle", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("FollowIdle did not stop when idle")
			}
		}
		follow()
		if got := p.Hub().Seq(stream); got != 2 {
			t.Fatalf("seq %d after the first follow, want 2", got)
		}
		if _, err := j.Append(ctx, evs[2]); err != nil {
			t.Fatal(err)
		}
		follow()
		all := readAll(t, j)
		if n := countOwn(all); n != 3 {
			t.Fatalf("%d changes journaled, want 3", n)
		}
		v := p.Hub().View(stream)
		if v.State.Seq != all[len(all)-1].Seq || v.State.Events != uint64(len(all)) {
			t.Fatalf("projection at seq %d with %d events folded; journal has %d events up to seq %d",
				v.State.Seq, v.State.Events, len(all), all[len(all)-1].Seq)
		}
		if v.Gating.EconomicMode != aios.EconomicHibernate {
			t.Fatalf("gating %+v", v.Gating)
		}
	})
	t.Run("empty stream is sovereign", func(t *testing.T) {
		p := newProjector(t, open(t), Options{})
		g, err := p.Decide(ctx, aios.StreamID{Session: "nobody", Branch: "main"})
		if err != nil || g.EconomicMode != aios.EconomicSovereign {
			t.Fatalf("gating %+v err %v", g, err)
		}
	})
}

func readAll(t testing.TB, j aios.Journal) []aios.EventEnvelope {
	t.Helper()
	var out []aios.EventEnvelope
	for e, err := range j.Read(context.Background(), aios.ReadQuery{Stream: stream}) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestFakeJournal(t *testing.T) {
	journalSuite(t, func(*testing.T) aios.Journal { return fakejournal.New() })
}

func TestAppendFailure(t *testing.T) {
	j := fakejournal.New()
	if _, err := j.Append(context.Background(), goingBroke()...); err != nil {
		t.Fatal(err)
	}
	j.Fail(fakejournal.ErrInjected)
	p := newProjector(t, j, Options{})
	if _, err := p.CatchUp(context.Background(), stream); !errors.Is(err, fakejournal.ErrInjected) {
		t.Fatalf("err = %v", err)
	}
}
