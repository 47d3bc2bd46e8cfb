package journal

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/lifeos/life/aios"
	bolt "go.etcd.io/bbolt"
)

// TestReadAcrossChunks covers the parallel decode of reads longer than one
// chunk: order, limits, early stop, and a corrupt event in a later chunk.
func TestReadAcrossChunks(t *testing.T) {
	ctx := context.Background()
	j := openTemp(t)
	st := aios.StreamID{Session: "long", Branch: "main"}
	const n = 3*readChunk + 100
	batch := make([]aios.EventEnvelope, 0, 1000)
	for i := range n {
		batch = append(batch, mkEvent(fmt.Sprint("e", i), st.Session, st.Branch, fmt.Sprint("text ", i)))
		if len(batch) == cap(batch) || i == n-1 {
			if _, err := j.Append(ctx, batch...); err != nil {
				t.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	tests := []struct {
		name      string
		q         aios.ReadQuery
		stopAfter int // consumer stops after this many (0: never)
		first     uint64
		count     int
	}{
		{"all", aios.ReadQuery{}, 0, 1, n},
		{"exactly one chunk", aios.ReadQuery{Limit: readChunk}, 0, 1, readChunk},
		{"limit across chunks", aios.ReadQuery{Limit: readChunk + 7}, 0, 1, readChunk + 7},
		{"after and until", aios.ReadQuery{After: 100, Until: 2*readChunk + 500}, 0, 101, 2*readChunk + 400},
		{"after near the end", aios.ReadQuery{After: n - 10}, 0, n - 9, 10},
		{"early stop in the second chunk", aios.ReadQuery{}, readChunk + 3, 1, readChunk + 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := runtime.NumGoroutine()
			q := tc.q
			q.Stream = st
			got := 0
			for e, err := range j.Read(ctx, q) {
				if err != nil {
					t.Fatal(err)
				}
				if want := tc.first + uint64(got); e.Seq != want {
					t.Fatalf("event %d has seq %d, want %d", got, e.Seq, want)
				}
				if want := fmt.Sprint("text ", e.Seq-1); e.Payload.(*aios.UserMessage).Content != want {
					t.Fatalf("seq %d has content %q", e.Seq, e.Payload.(*aios.UserMessage).Content)
				}
				got++
				if got == tc.stopAfter {
					break
				}
			}
			if got != tc.count {
				t.Fatalf("read %d events, want %d", got, tc.count)
			}
			waitGoroutines(t, before)
		})
	}

	t.Run("corrupt event in a later chunk", func(t *testing.T) {
		const bad = 2*readChunk + 10
		corrupt(t, j, st, bad)
		got, readErr := readUntilError(j, st)
		if got != bad-1 || !errors.Is(readErr, ErrCorrupt) {
			t.Fatalf("read %d events then %v; want %d then ErrCorrupt", got, readErr, bad-1)
		}
	})
}

// waitGoroutines fails when goroutines started by a read outlive it.
func waitGoroutines(t *testing.T, want int) {
	t.Helper()
	for range 200 {
		if runtime.NumGoroutine() <= want {
			return
		}
		runtime.Gosched()
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("%d goroutines after the read, %d before", runtime.NumGoroutine(), want)
}

// TestShortReadCorruptEvent: a read within one chunk yields the events
// before a corrupt one, then ErrCorrupt.
func TestShortReadCorruptEvent(t *testing.T) {
	ctx := context.Background()
	j := openTemp(t)
	st := aios.StreamID{Session: "short", Branch: "main"}
	for i := range 5 {
		if _, err := j.Append(ctx, mkEvent(fmt.Sprint("s", i), st.Session, st.Branch, "x")); err != nil {
			t.Fatal(err)
		}
	}
	corrupt(t, j, st, 3)
	got, readErr := readUntilError(j, st)
	if got != 2 || !errors.Is(readErr, ErrCorrupt) {
		t.Fatalf("read %d events then %v; want 2 then ErrCorrupt", got, readErr)
	}
}

// readUntilError reads st whole and returns how many events came before the
// first error, and the error.
func readUntilError(j *Journal, st aios.StreamID) (int, error) {
	n := 0
	for _, err := range j.Read(context.Background(), aios.ReadQuery{Stream: st}) {
		if err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// corrupt replaces the stored JSON of seq in st with bytes that do not decode.
func corrupt(t *testing.T, j *Journal, st aios.StreamID, seq uint64) {
	t.Helper()
	err := j.db.Update(func(tx *bolt.Tx) error {
		return eachEvent(tx, streamKey(st), seq, seq, func(_, g uint64, data []byte) (bool, error) {
			v := tx.Bucket(bktLog).Get(gkey(g))
			rec := append([]byte(nil), v[:len(v)-len(data)]...)
			return false, tx.Bucket(bktLog).Put(gkey(g), append(rec, `{"not json`...))
		})
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestReadBounds covers the edges of after and until a client can send,
// on a root stream and on a forked branch: an after at or past the head
// reads nothing (math.MaxUint64 once wrapped to "from the start").
func TestReadBounds(t *testing.T) {
	ctx := context.Background()
	j := openTemp(t)
	if _, err := j.Append(ctx, loadFixture(t, "branch-fork.json")...); err != nil {
		t.Fatal(err)
	}
	main := aios.StreamID{Session: "GOLDEN-BRANCH-FORK", Branch: "main"}
	child := aios.StreamID{Session: "GOLDEN-BRANCH-FORK", Branch: "feature-x"}
	tests := []struct {
		name string
		q    aios.ReadQuery
		seqs []uint64
	}{
		{"after max", aios.ReadQuery{Stream: main, After: math.MaxUint64}, nil},
		{"after max on a branch", aios.ReadQuery{Stream: child, After: math.MaxUint64}, nil},
		{"after max-1", aios.ReadQuery{Stream: main, After: math.MaxUint64 - 1}, nil},
		{"after head", aios.ReadQuery{Stream: main, After: 5}, nil},
		{"until max", aios.ReadQuery{Stream: main, After: 3, Until: math.MaxUint64}, []uint64{4, 5}},
		{"until below after", aios.ReadQuery{Stream: main, After: 3, Until: 2}, nil},
		{"branch past the fork", aios.ReadQuery{Stream: child, After: 3}, []uint64{4, 5}},
		{"branch prefix only", aios.ReadQuery{Stream: child, Until: 2}, []uint64{1, 2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []uint64
			for _, e := range collect(t, j, tc.q) {
				got = append(got, e.Seq)
			}
			var raw []uint64
			for e, err := range j.ReadRaw(ctx, tc.q) {
				if err != nil {
					t.Fatal(err)
				}
				raw = append(raw, e.Seq)
			}
			if !slices.Equal(got, tc.seqs) || !slices.Equal(raw, tc.seqs) {
				t.Fatalf("Read %v, ReadRaw %v, want %v", got, raw, tc.seqs)
			}
		})
	}
	// a subscription from past the head waits for live events, it does not replay
	sctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	for e, err := range j.SubscribeRaw(sctx, main, math.MaxUint64) {
		if err == nil {
			t.Fatalf("subscribe after max yielded seq %d", e.Seq)
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatal(err)
		}
	}
}
