// Package journaltest is a conformance suite for aios.Journal
// implementations: the bbolt journal runs it, and so can any other backend
// (a JetStream journal, a test double) to show it keeps the contract.
package journaltest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/lifeos/life/aios"
)

// Event returns a valid UserMessage envelope.
func Event(id, session, branch, text string) aios.EventEnvelope {
	return aios.EventEnvelope{
		EventID: id, SessionID: session, BranchID: branch, Timestamp: 1700000000000000,
		Payload: &aios.UserMessage{Content: text}, Metadata: map[string]string{}, SchemaVersion: 1,
	}
}

func read(t *testing.T, j aios.Journal, q aios.ReadQuery) []aios.EventEnvelope {
	t.Helper()
	var out []aios.EventEnvelope
	for e, err := range j.Read(context.Background(), q) {
		if err != nil {
			t.Fatalf("read %+v: %v", q, err)
		}
		out = append(out, e)
	}
	return out
}

// Run checks j against the aios.Journal contract. newJournal returns a
// fresh, empty journal for each subtest.
func Run(t *testing.T, newJournal func(t *testing.T) aios.Journal) {
	ctx := context.Background()
	st := aios.StreamID{Session: "s", Branch: "main"}

	t.Run("seqs start at 1, no gaps, head", func(t *testing.T) {
		j := newJournal(t)
		if h, err := j.Head(ctx, st); err != nil || h != 0 {
			t.Fatalf("empty head %d %v", h, err)
		}
		seqs, err := j.Append(ctx, Event("a", "s", "main", "1"), Event("b", "s", "main", "2"))
		if err != nil || len(seqs) != 2 || seqs[0] != 1 || seqs[1] != 2 {
			t.Fatalf("seqs %v %v", seqs, err)
		}
		seqs, err = j.Append(ctx, Event("c", "s", "main", "3"))
		if err != nil || seqs[0] != 3 {
			t.Fatalf("seqs %v %v", seqs, err)
		}
		if h, _ := j.Head(ctx, st); h != 3 {
			t.Fatalf("head %d", h)
		}
		other, err := j.Append(ctx, Event("d", "s", "other", "x"))
		if err != nil || other[0] != 1 {
			t.Fatalf("second stream starts at %v %v", other, err)
		}
	})

	t.Run("read ranges", func(t *testing.T) {
		j := newJournal(t)
		for i := range 10 {
			if _, err := j.Append(ctx, Event(fmt.Sprint("e", i), "s", "main", "x")); err != nil {
				t.Fatal(err)
			}
		}
		tests := []struct {
			q     aios.ReadQuery
			first uint64
			n     int
		}{
			{aios.ReadQuery{Stream: st}, 1, 10},
			{aios.ReadQuery{Stream: st, After: 3}, 4, 7},
			{aios.ReadQuery{Stream: st, After: 3, Until: 5}, 4, 2},
			{aios.ReadQuery{Stream: st, Limit: 4}, 1, 4},
			{aios.ReadQuery{Stream: st, After: 10}, 0, 0},
			{aios.ReadQuery{Stream: aios.StreamID{Session: "none", Branch: "main"}}, 0, 0},
		}
		for _, tt := range tests {
			got := read(t, j, tt.q)
			if len(got) != tt.n || (tt.n > 0 && got[0].Seq != tt.first) {
				t.Errorf("%+v: %d events from %v", tt.q, len(got), got)
			}
			for i := 1; i < len(got); i++ {
				if got[i].Seq != got[i-1].Seq+1 {
					t.Errorf("%+v: seq %d after %d", tt.q, got[i].Seq, got[i-1].Seq)
				}
			}
		}
	})

	t.Run("idempotent by event_id", func(t *testing.T) {
		j := newJournal(t)
		if _, err := j.Append(ctx, Event("a", "s", "main", "1"), Event("b", "s", "main", "2")); err != nil {
			t.Fatal(err)
		}
		seqs, err := j.Append(ctx, Event("b", "s", "main", "2"), Event("c", "s", "main", "3"))
		if err != nil || seqs[0] != 2 || seqs[1] != 3 {
			t.Fatalf("seqs %v %v", seqs, err)
		}
		if n := len(read(t, j, aios.ReadQuery{Stream: st})); n != 3 {
			t.Fatalf("%d events stored", n)
		}
	})

	t.Run("invalid events store nothing", func(t *testing.T) {
		j := newJournal(t)
		bad := Event("", "s", "main", "x")
		if _, err := j.Append(ctx, Event("ok", "s", "main", "x"), bad); !errors.Is(err, aios.ErrInvalidEnvelope) {
			t.Fatalf("err %v, want one matching aios.ErrInvalidEnvelope", err)
		}
		if h, _ := j.Head(ctx, st); h != 0 {
			t.Fatalf("partial write, head %d", h)
		}
	})

	t.Run("concurrent appenders", func(t *testing.T) {
		j := newJournal(t)
		const writers, per = 16, 20
		var wg sync.WaitGroup
		var mu sync.Mutex
		seen := map[uint64]bool{}
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range per {
					seqs, err := j.Append(ctx, Event(fmt.Sprintf("w%d-%d", w, i), "s", "main", "x"))
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					if seen[seqs[0]] {
						t.Errorf("seq %d given twice", seqs[0])
					}
					seen[seqs[0]] = true
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		for s := uint64(1); s <= writers*per; s++ {
			if !seen[s] {
				t.Fatalf("gap at %d", s)
			}
		}
	})

	t.Run("subscribe: stored then live, no loss, no repeat", func(t *testing.T) {
		j := newJournal(t)
		for i := range 5 {
			if _, err := j.Append(ctx, Event(fmt.Sprint("p", i), "s", "main", "x")); err != nil {
				t.Fatal(err)
			}
		}
		sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		go func() {
			for i := range 45 {
				if _, err := j.Append(sctx, Event(fmt.Sprint("l", i), "s", "main", "x")); err != nil {
					return
				}
			}
		}()
		want := uint64(3)
		for e, err := range j.Subscribe(sctx, st, 2) {
			if err != nil {
				t.Fatal(err)
			}
			if e.Seq != want {
				t.Fatalf("got seq %d, want %d", e.Seq, want)
			}
			if want++; want > 50 {
				break
			}
		}
	})
}
