package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"

	"github.com/lifeos/life/aios"
	arcan "github.com/lifeos/life/arcan/runtime"
	"github.com/lifeos/life/arcan/server"
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

// BenchmarkIdleSessions measures the heap that 1,000 idle sessions (one
// finished turn each) keep: in the runtime alone, and in arcand's HTTP
// handler (sessions created and run over its API, in process).
func BenchmarkIdleSessions(b *testing.B) {
	const n = 1000
	measure := func(b *testing.B, setup func(rt *arcan.Runtime) func(i int)) {
		for b.Loop() {
			rt, _ := Open(b, b.TempDir(), false)
			step := setup(rt)
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			for i := range n {
				step(i)
			}
			runtime.GC()
			runtime.ReadMemStats(&after)
			b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/n, "B/session")
			runtime.KeepAlive(rt)
		}
	}
	b.Run("runtime", func(b *testing.B) {
		measure(b, func(rt *arcan.Runtime) func(int) {
			ctx := context.Background()
			return func(int) {
				id, _ := rt.CreateSession(ctx, "idle", nil)
				if _, err := rt.Run(ctx, aios.StreamID{Session: id, Branch: arcan.DefaultBranch}, arcan.RunOptions{Input: "use the tool"}); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
	b.Run("arcand", func(b *testing.B) {
		measure(b, func(rt *arcan.Runtime) func(int) {
			srv, err := server.New(server.Config{Runtime: rt, Journal: rt.Journal().(server.Journal)})
			if err != nil {
				b.Fatal(err)
			}
			return func(int) {
				w := httptest.NewRecorder()
				srv.ServeHTTP(w, httptest.NewRequest("POST", "/v1/sessions", strings.NewReader(`{"name":"idle"}`)))
				var s server.SessionInfo
				if err := json.Unmarshal(w.Body.Bytes(), &s); err != nil || w.Code != 201 {
					b.Fatalf("%d %s", w.Code, w.Body)
				}
				w = httptest.NewRecorder()
				srv.ServeHTTP(w, httptest.NewRequest("POST", "/v1/sessions/"+s.SessionID+"/runs", strings.NewReader(`{"input":"use the tool"}`)))
				if w.Code != 200 {
					b.Fatalf("%d %s", w.Code, w.Body)
				}
			}
		})
	})
}
