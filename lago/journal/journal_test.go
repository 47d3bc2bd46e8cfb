package journal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lifeos/life/aios"
	bolt "go.etcd.io/bbolt"
)

const fixtures = "../../aios/testdata/conformance"

// openTemp opens a journal without fsync: these tests are about logic, and
// fsync on a shared CI disk costs milliseconds. Durability is tested with
// fsync on, by the crash test.
func openTemp(t testing.TB) *Journal {
	t.Helper()
	j, err := Open(filepath.Join(t.TempDir(), "journal.db"), Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	return j
}

func loadFixture(t testing.TB, name string) []aios.EventEnvelope {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(fixtures, name))
	if err != nil {
		t.Fatal(err)
	}
	evs, err := aios.DecodeEnvelopes(raw)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

type fixedClock struct{ t time.Time }

func (c fixedClock) Now() time.Time { return c.t }

func mkEvent(id, session, branch, text string) aios.EventEnvelope {
	return aios.EventEnvelope{
		EventID: id, SessionID: session, BranchID: branch, Timestamp: 1700000000000000,
		Payload: &aios.UserMessage{Content: text}, Metadata: map[string]string{}, SchemaVersion: 1,
	}
}

func collect(t testing.TB, j *Journal, q aios.ReadQuery) []aios.EventEnvelope {
	t.Helper()
	var out []aios.EventEnvelope
	for e, err := range j.Read(context.Background(), q) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

// TestFixturesRoundTrip appends every conformance fixture event by event and
// checks what reads back is the input plus seq and digest.
func TestFixturesRoundTrip(t *testing.T) {
	ctx := context.Background()
	for _, name := range []string{"simple-chat.json", "tool-round-trip.json", "forward-compat.json", "all-kinds.json", "branch-fork.json"} {
		t.Run(name, func(t *testing.T) {
			j := openTemp(t)
			evs := loadFixture(t, name)
			for _, e := range evs {
				if _, err := j.Append(ctx, e); err != nil {
					t.Fatalf("append %s: %v", e.EventID, err)
				}
			}
			got := map[string]aios.EventEnvelope{}
			infos, err := j.Streams(ctx, evs[0].SessionID)
			if err != nil {
				t.Fatal(err)
			}
			for _, in := range infos {
				for r, err := range j.ReadOwnRaw(ctx, in.Stream) {
					if err != nil {
						t.Fatal(err)
					}
					e, err := aios.DecodeEnvelope(r.Data)
					if err != nil {
						t.Fatal(err)
					}
					// stored bytes are exactly the aios encoding
					if re, _ := aios.EncodeEnvelope(e); string(re) != string(r.Data) {
						t.Errorf("stored bytes not canonical:\n%s\n%s", r.Data, re)
					}
					got[e.EventID] = e
				}
			}
			if len(got) != len(evs) {
				t.Fatalf("stored %d events, want %d", len(got), len(evs))
			}
			for _, want := range evs {
				g := got[want.EventID]
				if g.Digest() == "" || g.Seq == 0 {
					t.Errorf("%s: no digest or seq", want.EventID)
				}
				g.Seq = 0
				delete(g.Metadata, aios.MetaDigest)
				a, _ := aios.EncodeEnvelope(g)
				b, _ := aios.EncodeEnvelope(want)
				if string(a) != string(b) {
					t.Errorf("%s changed:\n got %s\nwant %s", want.EventID, a, b)
				}
			}
			if _, err := j.Verify(ctx); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestBranchFork(t *testing.T) {
	ctx := context.Background()
	j := openTemp(t)
	seqs, err := j.Append(ctx, loadFixture(t, "branch-fork.json")...)
	if err != nil {
		t.Fatal(err)
	}
	// main: 1,2,3,4(BranchCreated),5(EVT-BF-007); feature-x: 4,5 after fork at 3
	if want := []uint64{1, 2, 3, 4, 4, 5, 5}; !reflect.DeepEqual(seqs, want) {
		t.Fatalf("seqs %v, want %v", seqs, want)
	}
	child := collect(t, j, aios.ReadQuery{Stream: aios.StreamID{Session: "GOLDEN-BRANCH-FORK", Branch: "feature-x"}})
	var ids []string
	for i, e := range child {
		ids = append(ids, e.EventID)
		if e.Seq != uint64(i+1) {
			t.Errorf("child event %d has seq %d", i, e.Seq)
		}
	}
	if want := []string{"EVT-BF-001", "EVT-BF-002", "EVT-BF-003", "EVT-BF-005", "EVT-BF-006"}; !reflect.DeepEqual(ids, want) {
		t.Fatalf("child reads %v, want %v", ids, want)
	}
	// range inside the parent prefix and across the fork
	part := collect(t, j, aios.ReadQuery{Stream: aios.StreamID{Session: "GOLDEN-BRANCH-FORK", Branch: "feature-x"}, After: 2, Until: 4})
	if len(part) != 2 || part[0].EventID != "EVT-BF-003" || part[1].EventID != "EVT-BF-005" {
		t.Fatalf("range read %v", part)
	}
	if e, err := j.Event(ctx, aios.StreamID{Session: "GOLDEN-BRANCH-FORK", Branch: "feature-x"}, 2); err != nil || e.EventID != "EVT-BF-002" {
		t.Fatalf("event by seq in the parent prefix: %v %v", e.EventID, err)
	}
	if _, err := j.Event(ctx, aios.StreamID{Session: "GOLDEN-BRANCH-FORK", Branch: "feature-x"}, 6); !errors.Is(err, aios.ErrNotFound) {
		t.Fatalf("event past head: %v", err)
	}
	head, _ := j.Head(ctx, aios.StreamID{Session: "GOLDEN-BRANCH-FORK", Branch: "feature-x"})
	if head != 5 {
		t.Fatalf("child head %d", head)
	}
	// a grandchild forked inside the parent prefix of the child
	ids2 := aios.NewULIDGenerator(nil, nil)
	clock := fixedClock{time.Unix(1700000100, 0)}
	fx := aios.StreamID{Session: "GOLDEN-BRANCH-FORK", Branch: "feature-x"}
	if _, err := j.Fork(ctx, ids2, clock, fx, "fx-2", 2); err != nil {
		t.Fatal(err)
	}
	g := collect(t, j, aios.ReadQuery{Stream: aios.StreamID{Session: "GOLDEN-BRANCH-FORK", Branch: "fx-2"}})
	if len(g) != 2 || g[1].EventID != "EVT-BF-002" {
		t.Fatalf("grandchild reads %v", g)
	}
	if _, err := j.Append(ctx, mkEvent("G-1", "GOLDEN-BRANCH-FORK", "fx-2", "hi")); err != nil {
		t.Fatal(err)
	}
	if _, err := j.Merge(ctx, ids2, clock, "GOLDEN-BRANCH-FORK", "feature-x", "main"); err != nil {
		t.Fatal(err)
	}
	mainEvs := collect(t, j, aios.ReadQuery{Stream: aios.StreamID{Session: "GOLDEN-BRANCH-FORK", Branch: "main"}})
	m, ok := mainEvs[len(mainEvs)-1].Payload.(*aios.BranchMerged)
	if !ok || m.SourceBranchID != "feature-x" || m.MergeSeq != 6 {
		t.Fatalf("merge event %+v", mainEvs[len(mainEvs)-1].Payload)
	}
	if rep, err := j.Verify(ctx); err != nil || rep.Streams != 3 {
		t.Fatalf("verify %+v %v", rep, err)
	}
}

func TestBranchErrors(t *testing.T) {
	ctx := context.Background()
	j := openTemp(t)
	if _, err := j.Append(ctx, mkEvent("A", "s", "main", "a"), mkEvent("B", "s", "main", "b")); err != nil {
		t.Fatal(err)
	}
	fork := func(id, branch string, at uint64) aios.EventEnvelope {
		e := mkEvent(id, "s", "main", "")
		e.Payload = &aios.BranchCreated{NewBranchID: branch, ForkPointSeq: at, Name: branch}
		return e
	}
	tests := []struct {
		name string
		ev   aios.EventEnvelope
		want error
	}{
		{"past head", fork("F1", "x", 9), ErrBranch},
		{"self", fork("F2", "main", 1), ErrBranch},
		{"empty branch id", fork("F3", "", 1), ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := j.Append(ctx, tt.ev); !errors.Is(err, tt.want) {
				t.Fatalf("err %v, want %v", err, tt.want)
			}
		})
	}
	if _, err := j.Append(ctx, fork("F4", "x", 1)); err != nil {
		t.Fatal(err)
	}
	if _, err := j.Append(ctx, fork("F5", "x", 2)); !errors.Is(err, ErrBranch) {
		t.Fatalf("refork with another point: %v", err)
	}
	if h, _ := j.Head(ctx, aios.StreamID{Session: "s", Branch: "main"}); h != 3 {
		t.Fatalf("failed forks left events: head %d", h)
	}
}

func TestInvalidRejectedNothingWritten(t *testing.T) {
	ctx := context.Background()
	j := openTemp(t)
	bad := []struct {
		name string
		mut  func(*aios.EventEnvelope)
	}{
		{"no id", func(e *aios.EventEnvelope) { e.EventID = "" }},
		{"no session", func(e *aios.EventEnvelope) { e.SessionID = "" }},
		{"no timestamp", func(e *aios.EventEnvelope) { e.Timestamp = 0 }},
		{"no payload", func(e *aios.EventEnvelope) { e.Payload = nil }},
		{"NUL branch", func(e *aios.EventEnvelope) { e.BranchID = "a\x00b" }},
		// bbolt keys: an id past 32 KiB, written with a later batch, failed every commit after it
		{"event id too long", func(e *aios.EventEnvelope) { e.EventID = strings.Repeat("i", MaxIDLen+1) }},
		{"session too long", func(e *aios.EventEnvelope) { e.SessionID = strings.Repeat("s", MaxIDLen+1) }},
		{"branch too long", func(e *aios.EventEnvelope) { e.BranchID = strings.Repeat("b", MaxIDLen+1) }},
		{"new branch too long", func(e *aios.EventEnvelope) {
			e.Payload = &aios.BranchCreated{NewBranchID: strings.Repeat("n", MaxIDLen+1), ForkPointSeq: 0, Name: "n"}
		}},
		{"bad raw json", func(e *aios.EventEnvelope) {
			e.Payload = &aios.ToolCallRequested{CallID: "c", ToolName: "t", Arguments: json.RawMessage("{bad")}
		}},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			e := mkEvent("BAD", "s", "main", "x")
			tt.mut(&e)
			_, err := j.Append(ctx, mkEvent("OK-"+tt.name, "s", "main", "fine"), e)
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("err %v, want ErrInvalid", err)
			}
		})
	}
	if h, _ := j.Head(ctx, aios.StreamID{Session: "s", Branch: "main"}); h != 0 {
		t.Fatalf("partial write: head %d", h)
	}
	// the longest ids are stored, and their lazy index write keeps the journal going
	long := mkEvent(strings.Repeat("i", MaxIDLen), strings.Repeat("s", MaxIDLen), strings.Repeat("b", MaxIDLen), "x")
	if _, err := j.Append(ctx, long); err != nil {
		t.Fatal(err)
	}
	for i := range idFlushAt + 10 {
		if _, err := j.Append(ctx, mkEvent(fmt.Sprint("after-", i), "s", "main", "x")); err != nil {
			t.Fatalf("append %d after the longest ids: %v", i, err)
		}
	}
	if _, err := j.Verify(ctx); err != nil {
		t.Fatal(err)
	}
	// aios decoder errors at the input boundary are typed too
	_, err := aios.DecodeEnvelope([]byte(`{"event_id":"x"}`))
	if !errors.Is(err, aios.ErrMalformed) {
		t.Fatalf("decode err %v", err)
	}
}

func TestIdempotentAppend(t *testing.T) {
	ctx := context.Background()
	j := openTemp(t)
	s1, err := j.Append(ctx, mkEvent("E1", "s", "main", "a"), mkEvent("E2", "s", "main", "b"), mkEvent("E1", "s", "main", "a"))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(s1, []uint64{1, 2, 1}) {
		t.Fatalf("seqs %v", s1)
	}
	s2, err := j.Append(ctx, mkEvent("E2", "s", "main", "b"), mkEvent("E3", "s", "main", "c"))
	if err != nil || !reflect.DeepEqual(s2, []uint64{2, 3}) {
		t.Fatalf("seqs %v %v", s2, err)
	}
	if st := j.Stats(); st.Events != 3 || st.Dedups != 2 {
		t.Fatalf("stats %+v", st)
	}
}

// TestIDConflictAcrossStreams: an event_id already stored in another
// stream (or branch) is not a retry of that event: the append fails with
// ErrIDConflict and stores nothing, before and after the id index is
// flushed and across a reopen.
func TestIDConflictAcrossStreams(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "j.db")
	j, err := Open(path, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := j.Append(ctx, mkEvent("E1", "s", "main", "a")); err != nil {
		t.Fatal(err)
	}
	check := func(when string) {
		t.Helper()
		for _, e := range []aios.EventEnvelope{mkEvent("E1", "other", "main", "a"), mkEvent("E1", "s", "dev", "a")} {
			if _, err := j.Append(ctx, e, mkEvent("fresh-"+when+e.SessionID+e.BranchID, e.SessionID, "main", "x")); !errors.Is(err, ErrIDConflict) {
				t.Fatalf("%s: E1 into %s/%s: %v, want ErrIDConflict", when, e.SessionID, e.BranchID, err)
			}
		}
		for _, s := range []aios.StreamID{{Session: "other", Branch: "main"}, {Session: "s", Branch: "dev"}} {
			if h, _ := j.Head(ctx, s); h != 0 {
				t.Fatalf("%s: %s/%s has %d events after a refused append", when, s.Session, s.Branch, h)
			}
		}
		if seqs, err := j.Append(ctx, mkEvent("E1", "s", "main", "a")); err != nil || seqs[0] != 1 {
			t.Fatalf("%s: a retry in its own stream: %v %v", when, seqs, err)
		}
	}
	check("pending")
	if err := j.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	check("flushed")
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if j, err = Open(path, Options{NoSync: true}); err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	check("reopened")
}

// TestSingleWriterOneCommitPerEvent: a lone writer's appends are one
// transaction (one fsync) each, the lazy id-index writes included.
func TestSingleWriterOneCommitPerEvent(t *testing.T) {
	ctx := context.Background()
	j := openTemp(t)
	const n = 2*idFlushAt + 10
	for i := range n {
		if _, err := j.Append(ctx, mkEvent(fmt.Sprint("e", i), "s", "main", "x")); err != nil {
			t.Fatal(err)
		}
	}
	if st := j.Stats(); st.Commits != n || st.Events != n {
		t.Fatalf("%d appends: %d commits, %d events", n, st.Commits, st.Events)
	}
}

// TestConcurrentAppendersNoGapsNoDups: many goroutines on few streams.
func TestConcurrentAppendersNoGapsNoDups(t *testing.T) {
	ctx := context.Background()
	j := openTemp(t)
	const writers, per = 32, 40
	var wg sync.WaitGroup
	var mu sync.Mutex
	seen := map[string]map[uint64]string{}
	errc := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			branch := fmt.Sprintf("b%d", w%3)
			for i := range per {
				id := fmt.Sprintf("w%d-%d", w, i)
				seqs, err := j.Append(ctx, mkEvent(id, "s", branch, id))
				if err != nil {
					errc <- err
					return
				}
				mu.Lock()
				if seen[branch] == nil {
					seen[branch] = map[uint64]string{}
				}
				if prev, dup := seen[branch][seqs[0]]; dup {
					errc <- fmt.Errorf("seq %d of %s given to %s and %s", seqs[0], branch, prev, id)
				}
				seen[branch][seqs[0]] = id
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	total := 0
	for branch, m := range seen {
		for s := uint64(1); s <= uint64(len(m)); s++ {
			if _, ok := m[s]; !ok {
				t.Fatalf("gap at %s/%d", branch, s)
			}
		}
		total += len(m)
		evs := collect(t, j, aios.ReadQuery{Stream: aios.StreamID{Session: "s", Branch: branch}})
		for i, e := range evs {
			if e.EventID != m[uint64(i+1)] {
				t.Fatalf("%s seq %d: stored %s, acked %s", branch, i+1, e.EventID, m[uint64(i+1)])
			}
		}
	}
	if total != writers*per {
		t.Fatalf("acked %d", total)
	}
	if st := j.Stats(); st.Commits >= uint64(total) {
		t.Logf("no batching happened: %+v (slow machine?)", st)
	}
	if _, err := j.Verify(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyDetectsTampering(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name   string
		tail   bool // tamper before the stream index is written
		tamper func(tx *bolt.Tx) error
	}{
		{"edit a byte", false, func(tx *bolt.Tx) error {
			return editByte(tx, logKey(t, tx, 2))
		}},
		{"edit a byte in the log tail", true, func(tx *bolt.Tx) error {
			return editByte(tx, logKey(t, tx, 2))
		}},
		{"delete an event", false, func(tx *bolt.Tx) error {
			return deleteEvent(tx, logKey(t, tx, 2), 2)
		}},
		{"delete an event in the log tail", true, func(tx *bolt.Tx) error {
			return tx.Bucket(bktLog).Delete(logKey(t, tx, 2))
		}},
		{"delete a record, keep its index entry", false, func(tx *bolt.Tx) error {
			return tx.Bucket(bktLog).Delete(logKey(t, tx, 2))
		}},
		{"cut off the tail", false, func(tx *bolt.Tx) error {
			// with the ids indexed (Flush below), the index still names them
			if err := deleteEvent(tx, logKey(t, tx, 4), 4); err != nil {
				return err
			}
			return deleteEvent(tx, logKey(t, tx, 3), 3)
		}},
		{"swap two events", false, func(tx *bolt.Tx) error {
			b := tx.Bucket(bktLog)
			k2, k3 := logKey(t, tx, 2), logKey(t, tx, 3)
			a, c := append([]byte(nil), b.Get(k2)...), append([]byte(nil), b.Get(k3)...)
			if err := b.Put(k2, c); err != nil {
				return err
			}
			return b.Put(k3, a)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "j.db")
			j, err := Open(path, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := j.Append(ctx, loadFixture(t, "simple-chat.json")...); err != nil {
				t.Fatal(err)
			}
			if _, err := j.Verify(ctx); err != nil {
				t.Fatal(err)
			}
			if !tt.tail {
				if err := j.Flush(ctx); err != nil {
					t.Fatal(err)
				}
			}
			if err := j.DB().Update(tt.tamper); err != nil {
				t.Fatal(err)
			}
			_, err = j.Verify(ctx)
			var be *BrokenError
			if !errors.As(err, &be) || !errors.Is(err, ErrBroken) {
				t.Fatalf("verify after tamper: %v", err)
			}
			if want := uint64(2); tt.name == "cut off the tail" {
				if be.Seq != 3 {
					t.Fatalf("cut-off tail reported at %d: %v", be.Seq, be)
				}
			} else if be.Seq != want {
				t.Fatalf("first broken link at %d, want %d: %v", be.Seq, want, be)
			}
			j.Close()
		})
	}
}

func indexOf(b []byte, s string) int {
	for i := 0; i+len(s) <= len(b); i++ {
		if string(b[i:i+len(s)]) == s {
			return i
		}
	}
	return -1
}

func TestSubscribeCatchUpThenLive(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	j := openTemp(t)
	st := aios.StreamID{Session: "s", Branch: "main"}
	for i := range 50 {
		if _, err := j.Append(ctx, mkEvent(fmt.Sprintf("pre-%d", i), "s", "main", "x")); err != nil {
			t.Fatal(err)
		}
	}
	const total = 400
	go func() {
		for i := 50; i < total; i++ {
			if _, err := j.Append(ctx, mkEvent(fmt.Sprintf("live-%d", i), "s", "main", "x")); err != nil {
				return
			}
		}
	}()
	for _, after := range []uint64{0, 10, 49} {
		want := after + 1
		sctx, scancel := context.WithCancel(ctx)
		for e, err := range j.Subscribe(sctx, st, after) {
			if err != nil {
				t.Fatalf("after %d: %v", after, err)
			}
			if e.Seq != want {
				t.Fatalf("after %d: got seq %d, want %d", after, e.Seq, want)
			}
			want++
			if e.Seq == total {
				break
			}
		}
		scancel()
	}
}

// TestSubscriptionsLeaveNothing: subscribers that leave, woken or not, on
// streams written or never written, leave no wake-up entry behind.
func TestSubscriptionsLeaveNothing(t *testing.T) {
	ctx := context.Background()
	j := openTemp(t)
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
			defer cancel()
			st := aios.StreamID{Session: "s", Branch: fmt.Sprint("never-", i)}
			if i%2 == 0 {
				st.Branch = "main" // written meanwhile: woken, then waits again
			}
			for _, err := range j.Subscribe(sctx, st, 0) {
				if err != nil {
					return
				}
			}
		}()
	}
	for i := range 20 {
		if _, err := j.Append(ctx, mkEvent(fmt.Sprint("e", i), "s", "main", "x")); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	j.notifyMu.Lock()
	defer j.notifyMu.Unlock()
	if len(j.notify) != 0 || len(j.waiters) != 0 {
		t.Fatalf("left behind: %d wake-up channels, waiters %v", len(j.notify), j.waiters)
	}
}

func TestSubscribeEndsOnClose(t *testing.T) {
	j, err := Open(filepath.Join(t.TempDir(), "j.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		for _, err := range j.Subscribe(context.Background(), aios.StreamID{Session: "s", Branch: "main"}, 0) {
			if err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	time.Sleep(50 * time.Millisecond)
	j.Close()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("subscription ended without error")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("subscription still running after Close")
	}
	if _, err := j.Append(context.Background(), mkEvent("x", "s", "main", "x")); !errors.Is(err, ErrClosed) {
		t.Fatalf("append after close: %v", err)
	}
}

func TestSnapshotProjection(t *testing.T) {
	ctx := context.Background()
	j := openTemp(t)
	st := aios.StreamID{Session: "s", Branch: "main"}
	for i := range 20 {
		if _, err := j.Append(ctx, mkEvent(fmt.Sprintf("e%d", i), "s", "main", "x")); err != nil {
			t.Fatal(err)
		}
	}
	applied := 0
	count := Projection[int]{
		Name:   "count",
		Init:   func() int { return 0 },
		Apply:  func(n int, _ aios.EventEnvelope) (int, error) { applied++; return n + 1, nil },
		Encode: func(n int) ([]byte, error) { return json.Marshal(n) },
		Decode: func(b []byte) (int, error) { var n int; err := json.Unmarshal(b, &n); return n, err },
	}
	if seq, err := Checkpoint(ctx, j, st, count); err != nil || seq != 20 {
		t.Fatalf("checkpoint %d %v", seq, err)
	}
	for i := range 5 {
		if _, err := j.Append(ctx, mkEvent(fmt.Sprintf("t%d", i), "s", "main", "x")); err != nil {
			t.Fatal(err)
		}
	}
	applied = 0
	n, seq, err := Project(ctx, j, st, count, 0)
	if err != nil || n != 25 || seq != 25 {
		t.Fatalf("project %d %d %v", n, seq, err)
	}
	if applied != 5 {
		t.Fatalf("replayed %d events, want only the 5 of the tail", applied)
	}
	// a projection at a seq before the snapshot replays from the start
	applied = 0
	if n, _, _ := Project(ctx, j, st, count, 10); n != 10 || applied != 10 {
		t.Fatalf("project until 10: %d (%d applied)", n, applied)
	}
	if seq, err := CheckpointAt(ctx, j, st, count, 12); err != nil || seq != 12 {
		t.Fatalf("checkpoint at 12: %d %v", seq, err)
	}
	applied = 0
	if n, _, _ := Project(ctx, j, st, count, 0); n != 25 || applied != 13 {
		t.Fatalf("project from the seq-12 snapshot: %d (%d applied)", n, applied)
	}
	if err := j.SaveSnapshot(ctx, st, "count", 99, nil); !errors.Is(err, ErrInvalid) {
		t.Fatalf("snapshot past head: %v", err)
	}
	if seq, err := CheckpointAt(ctx, j, st, count, 26); !errors.Is(err, ErrInvalid) {
		t.Fatalf("checkpoint past head: seq %d, %v", seq, err)
	}
	if seq, _, err := j.LoadSnapshot(ctx, st, "count"); err != nil || seq != 12 {
		t.Fatalf("a refused checkpoint replaced the snapshot: seq %d, %v", seq, err)
	}
	if _, _, err := j.LoadSnapshot(ctx, st, "nope"); !errors.Is(err, aios.ErrNotFound) {
		t.Fatalf("missing snapshot: %v", err)
	}
}

func TestReopenKeepsState(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "j.db")
	j, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := j.Append(ctx, loadFixture(t, "branch-fork.json")...); err != nil {
		t.Fatal(err)
	}
	j.Close()
	j, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	seqs, err := j.Append(ctx, mkEvent("N1", "GOLDEN-BRANCH-FORK", "feature-x", "more"))
	if err != nil || seqs[0] != 6 {
		t.Fatalf("append after reopen: %v %v", seqs, err)
	}
	if _, err := j.Verify(ctx); err != nil {
		t.Fatal(err)
	}
	var order []string
	for r, err := range j.ReadSessionRaw(ctx, "GOLDEN-BRANCH-FORK") {
		if err != nil {
			t.Fatal(err)
		}
		e, _ := aios.DecodeEnvelope(r.Data)
		order = append(order, e.EventID)
	}
	want := []string{"EVT-BF-001", "EVT-BF-002", "EVT-BF-003", "EVT-BF-004", "EVT-BF-005", "EVT-BF-006", "EVT-BF-007", "N1"}
	if !reflect.DeepEqual(order, want) {
		t.Fatalf("session order %v", order)
	}
}

func TestSecondOpenFailsFast(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.db")
	j, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	start := time.Now()
	if _, err := Open(path, Options{LockTimeout: 100 * time.Millisecond}); !errors.Is(err, ErrLocked) {
		t.Fatalf("second open of a locked file: err = %v, want ErrLocked", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatal("second open hung")
	}
}

func Example() {
	dir, _ := os.MkdirTemp("", "lago")
	defer os.RemoveAll(dir)
	j, err := Open(filepath.Join(dir, "journal.db"), Options{})
	if err != nil {
		panic(err)
	}
	defer j.Close()
	ctx := context.Background()
	ids := aios.NewULIDGenerator(nil, nil)
	ev := aios.NewEnvelope(ids, aios.SystemClock{}, "sess-1", "main", &aios.UserMessage{Content: "hello"})
	seqs, _ := j.Append(ctx, ev)
	fmt.Println("seq", seqs[0])
	for e, err := range j.Read(ctx, aios.ReadQuery{Stream: aios.StreamID{Session: "sess-1", Branch: "main"}}) {
		if err != nil {
			panic(err)
		}
		fmt.Println(e.Payload.(*aios.UserMessage).Content, len(e.Digest()))
	}
	// Output:
	// seq 1
	// hello 64
}

// TestReplayMemoryFlat replays a long stream and checks the live heap stays
// bounded by the read chunk, not the stream length.
func TestReplayMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 60k events")
	}
	ctx := context.Background()
	j := openTemp(t)
	const n = 60000
	batch := make([]aios.EventEnvelope, 0, 2000)
	for i := range n {
		batch = append(batch, mkEvent(fmt.Sprint("m", i), "s", "main", strings.Repeat("x", 200)))
		if len(batch) == cap(batch) {
			if _, err := j.Append(ctx, batch...); err != nil {
				t.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	runtime.GC()
	var base, m runtime.MemStats
	runtime.ReadMemStats(&base)
	var peak uint64
	c := 0
	for _, err := range j.ReadRaw(ctx, aios.ReadQuery{Stream: aios.StreamID{Session: "s", Branch: "main"}}) {
		if err != nil {
			t.Fatal(err)
		}
		if c++; c%5000 == 0 {
			runtime.GC()
			runtime.ReadMemStats(&m)
			peak = max(peak, m.HeapAlloc)
		}
	}
	if c != n {
		t.Fatalf("read %d", c)
	}
	// 60k events of ~450 bytes are 27 MB; a flat reader holds about one
	// chunk (2048 events, ~1 MB)
	if grow := int64(peak) - int64(base.HeapAlloc); grow > 8<<20 {
		t.Fatalf("heap grew by %d bytes during replay", grow)
	}
}

const tamperStream = "GOLDEN-SIMPLE-CHAT\x00main"

// logKey finds the log key of seq in the tampered stream.
func logKey(t *testing.T, tx *bolt.Tx, seq uint64) []byte {
	var k []byte
	err := eachEvent(tx, tamperStream, seq, seq, func(_, g uint64, _ []byte) (bool, error) {
		k = gkey(g)
		return false, nil
	})
	if err != nil || k == nil {
		t.Fatalf("seq %d not found: %v", seq, err)
	}
	return k
}

func editByte(tx *bolt.Tx, k []byte) error {
	b := tx.Bucket(bktLog)
	v := append([]byte(nil), b.Get(k)...)
	i := indexOf(v, "Hello")
	if i < 0 {
		i = indexOf(v, `"content":"`) + len(`"content":"`)
	}
	v[i] ^= 0x01
	return b.Put(k, v)
}

// deleteEvent removes an event's log record and its index entry.
func deleteEvent(tx *bolt.Tx, k []byte, seq uint64) error {
	if err := tx.Bucket(bktLog).Delete(k); err != nil {
		return err
	}
	return tx.Bucket(bktIndex).Delete(evKey(tamperStream, seq))
}
