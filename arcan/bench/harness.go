package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/arcan/runtime"
	"github.com/lifeos/life/lago/journal"
)

// TurnsPerSession is how many turns run on one session before a fresh one
// is used, so that history length stays bounded and comparable.
const TurnsPerSession = 16

// Open returns a runtime over a fresh lago journal in dir.
func Open(tb testing.TB, dir string, fsync bool) (*runtime.Runtime, *journal.Journal) {
	tb.Helper()
	j, err := journal.Open(filepath.Join(dir, "bench.db"), journal.Options{NoSync: !fsync})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { j.Close() })
	rt, err := runtime.New(runtime.Config{Journal: j, Provider: ScriptedProvider{}, Tools: Tools{}})
	if err != nil {
		tb.Fatal(err)
	}
	return rt, j
}

// OpenFake returns a runtime over a FakeJournal: the loop without storage.
func OpenFake() *runtime.Runtime {
	rt, err := runtime.New(runtime.Config{Journal: NewFakeJournal(), Provider: ScriptedProvider{}, Tools: Tools{}})
	if err != nil {
		panic(err) // the config is fixed and valid
	}
	return rt
}

// Turner runs scripted turns, moving to a new session every TurnsPerSession.
type Turner struct {
	rt     *runtime.Runtime
	stream aios.StreamID
	n      int
}

// NewTurner returns a Turner on rt.
func NewTurner(rt *runtime.Runtime) *Turner { return &Turner{rt: rt} }

// Turn runs one turn: a user message, a tool call, a tool result, an answer.
func (t *Turner) Turn(ctx context.Context) error {
	if t.n%TurnsPerSession == 0 {
		id, err := t.rt.CreateSession(ctx, "bench", nil)
		if err != nil {
			return err
		}
		t.stream = aios.StreamID{Session: id, Branch: runtime.DefaultBranch}
	}
	t.n++
	res, err := t.rt.Run(ctx, t.stream, runtime.RunOptions{Input: "use the tool"})
	if err != nil {
		return err
	}
	if res.Status != runtime.StatusCompleted || res.Iterations != 2 {
		return fmt.Errorf("bench: turn ended %s after %d iterations", res.Status, res.Iterations)
	}
	return nil
}

// BenchTurn measures one turn per op on the lago journal.
func BenchTurn(b *testing.B, fsync bool) {
	rt, _ := Open(b, b.TempDir(), fsync)
	BenchTurns(b, rt)
}

// BenchTurns measures one turn per op on rt.
func BenchTurns(b *testing.B, rt *runtime.Runtime) {
	t := NewTurner(rt)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := t.Turn(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchConcurrent runs b.N turns over sessions goroutines and reports turns/s.
func BenchConcurrent(b *testing.B, sessions int, fsync bool) {
	rt, _ := Open(b, b.TempDir(), fsync)
	ctx := context.Background()
	var left atomic.Int64
	left.Store(int64(b.N))
	var wg sync.WaitGroup
	errc := make(chan error, sessions)
	b.ResetTimer()
	for range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := NewTurner(rt)
			for left.Add(-1) >= 0 {
				if err := t.Turn(ctx); err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	select {
	case err := <-errc:
		b.Fatal(err)
	default:
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "turns/s")
}
