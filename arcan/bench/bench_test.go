package bench

import (
	"context"
	"fmt"
	"runtime"
	"testing"

	"github.com/lifeos/life/aios"
	arcan "github.com/lifeos/life/arcan/runtime"
)

func TestScriptedTurn(t *testing.T) {
	rt, j := Open(t, t.TempDir(), false)
	tr := NewTurner(rt)
	for range 3 {
		if err := tr.Turn(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	st, err := arcan.Reconstruct(context.Background(), j, tr.stream)
	if err != nil || st.Runs != 3 || len(st.Messages) != 12 {
		t.Fatalf("%v %d runs %d messages", err, st.Runs, len(st.Messages))
	}
}

// BenchmarkJournalAppend is the baseline: one small event per durable append.
func BenchmarkJournalAppend(b *testing.B) {
	for _, fsync := range []bool{false, true} {
		b.Run(fmt.Sprintf("fsync=%t", fsync), func(b *testing.B) {
			_, j := Open(b, b.TempDir(), fsync)
			ids := aios.NewULIDGenerator(nil, nil)
			ctx := context.Background()
			for b.Loop() {
				e := aios.NewEnvelope(ids, aios.SystemClock{}, "s", "main", &aios.UserMessage{Content: "hi"})
				if _, err := j.Append(ctx, e); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkTurn: loop overhead per turn (user message, tool call, tool
// result, answer) with the scripted provider and a no-op tool.
func BenchmarkTurn(b *testing.B) {
	b.Run("fsync=false", func(b *testing.B) { BenchTurn(b, false) })
	b.Run("fsync=true", func(b *testing.B) { BenchTurn(b, true) })
	b.Run("journal=fake", func(b *testing.B) { BenchTurns(b, OpenFake()) })
}

// BenchmarkConcurrentTurns: turns/s with 1, 16 and 128 sessions at once.
func BenchmarkConcurrentTurns(b *testing.B) {
	for _, fsync := range []bool{false, true} {
		for _, n := range []int{1, 16, 128} {
			b.Run(fmt.Sprintf("fsync=%t/sessions=%d", fsync, n), func(b *testing.B) { BenchConcurrent(b, n, fsync) })
		}
	}
}

// BenchmarkReconstruct10k: rebuild a 10,000-event session from the journal
// alone, and from a snapshot plus a short tail.
func BenchmarkReconstruct10k(b *testing.B) {
	dir := b.TempDir()
	rt, j := Open(b, dir, false)
	ctx := context.Background()
	id, _ := rt.CreateSession(ctx, "big", nil)
	stream := aios.StreamID{Session: id, Branch: arcan.DefaultBranch}
	for {
		h, _ := j.Head(ctx, stream)
		if h >= 10000 {
			break
		}
		if _, err := rt.Run(ctx, stream, arcan.RunOptions{Input: "use the tool"}); err != nil {
			b.Fatal(err)
		}
	}
	head, _ := j.Head(ctx, stream)
	b.Run("full", func(b *testing.B) {
		for b.Loop() {
			st, err := arcan.Reconstruct(ctx, j, stream)
			if err != nil || st.LastSeq != head {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(head), "events")
	})
	b.Run("snapshot+tail", func(b *testing.B) {
		snaps := memSnapshots{}
		// A snapshot 20 events behind the head, as the runtime would keep.
		old, _ := reconstructUntil(ctx, j, stream, head-20)
		data, _ := old.Encode()
		snaps.Save(ctx, stream, old.LastSeq, data)
		for b.Loop() {
			r, err := arcan.New(arcan.Config{Journal: j, Provider: ScriptedProvider{}, Snapshots: snaps})
			if err != nil {
				b.Fatal(err)
			}
			got, err := r.State(ctx, stream)
			if err != nil || got.LastSeq != head {
				b.Fatal(err, got.LastSeq, head)
			}
		}
	})
}

func reconstructUntil(ctx context.Context, j aios.Journal, stream aios.StreamID, until uint64) (*arcan.SessionState, error) {
	st := arcan.NewSessionState(stream)
	for e, err := range j.Read(ctx, aios.ReadQuery{Stream: stream, Until: until}) {
		if err != nil {
			return nil, err
		}
		if err := st.Apply(e); err != nil {
			return nil, err
		}
	}
	return st, nil
}

type memSnapshots map[aios.StreamID]struct {
	seq  uint64
	data []byte
}

func (m memSnapshots) Save(_ context.Context, s aios.StreamID, seq uint64, data []byte) error {
	m[s] = struct {
		seq  uint64
		data []byte
	}{seq, data}
	return nil
}

func (m memSnapshots) Latest(_ context.Context, s aios.StreamID) (uint64, []byte, error) {
	v, ok := m[s]
	if !ok {
		return 0, nil, aios.ErrNotFound
	}
	return v.seq, v.data, nil
}

// BenchmarkIdleSessions measures the heap that 1,000 idle, loaded sessions
// (one finished turn each) keep in the runtime.
func BenchmarkIdleSessions(b *testing.B) {
	for b.Loop() {
		rt, _ := Open(b, b.TempDir(), false)
		ctx := context.Background()
		ids := make([]string, 1000)
		for i := range ids {
			ids[i], _ = rt.CreateSession(ctx, "idle", nil)
		}
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for _, id := range ids {
			if _, err := rt.Run(ctx, aios.StreamID{Session: id, Branch: arcan.DefaultBranch}, arcan.RunOptions{Input: "use the tool"}); err != nil {
				b.Fatal(err)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/1000, "B/session")
		runtime.KeepAlive(rt)
	}
}
