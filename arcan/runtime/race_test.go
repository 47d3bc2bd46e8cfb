package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"sync"
	"testing"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/lago/journal"
)

// openJournal opens a lago journal in a test directory.
func openJournal(t *testing.T) *journal.Journal {
	t.Helper()
	j, err := journal.Open(filepath.Join(t.TempDir(), "journal.db"), journal.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	return j
}

// notePatch is a patch another writer commits at the version it read.
func notePatch(base uint64, note string) *aios.StatePatchCommitted {
	v, _ := json.Marshal(note)
	return &aios.StatePatchCommitted{NewVersion: base + 1, Patch: aios.StatePatch{
		BaseVersion: base, Ops: []aios.PatchOp{{Op: aios.OpSet, Path: "/note", Value: v}},
	}}
}

// A state patch another writer commits while a run is in progress (after
// the run's last append, before its end-of-run patch) is in the journal
// before that patch, which was built on the older version. The state
// rebuilt from the journal alone must still succeed and equal the live
// state byte for byte, with both patches in it.
func TestPatchDuringRunOnLago(t *testing.T) {
	ctx := context.Background()
	ids := aios.NewULIDGenerator(nil, nil)
	writers := []struct {
		name  string
		write func(t *testing.T, j *journal.Journal, cfg Config, stream aios.StreamID)
	}{
		{"journal append", func(t *testing.T, j *journal.Journal, _ Config, stream aios.StreamID) {
			st, err := Reconstruct(ctx, j, stream)
			if err != nil {
				t.Error(err)
				return
			}
			e := aios.NewEnvelope(ids, aios.SystemClock{}, stream.Session, stream.Branch, notePatch(st.Version, "direct"))
			if _, err := j.Append(ctx, e); err != nil {
				t.Error(err)
			}
		}},
		{"second runtime", func(t *testing.T, _ *journal.Journal, cfg Config, stream aios.StreamID) {
			other, err := New(cfg)
			if err != nil {
				t.Error(err)
				return
			}
			st, err := other.State(ctx, stream)
			if err != nil {
				t.Error(err)
				return
			}
			if err := other.Append(ctx, stream, notePatch(st.Version, "other runtime")); err != nil {
				t.Error(err)
			}
		}},
	}
	for _, w := range writers {
		t.Run(w.name, func(t *testing.T) {
			j := openJournal(t)
			cfg := Config{Journal: j, Provider: &scriptProvider{replies: []reply{{text: "one"}, {text: "two"}, {text: "three"}}}}
			rt, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			id, err := rt.CreateSession(ctx, "race", nil)
			if err != nil {
				t.Fatal(err)
			}
			stream := aios.StreamID{Session: id, Branch: DefaultBranch}
			if _, err := rt.Run(ctx, stream, RunOptions{Input: "a"}); err != nil {
				t.Fatal(err)
			}
			var once sync.Once
			// OnDelta runs while the model streams: the run's input is
			// durable and its closing events (the patch among them) are not.
			opts := RunOptions{Input: "b", OnDelta: func(string) { once.Do(func() { w.write(t, j, cfg, stream) }) }}
			if res, err := rt.Run(ctx, stream, opts); err != nil || res.Status != StatusCompleted {
				t.Fatalf("run: %+v %v", res, err)
			}
			live, err := rt.State(ctx, stream)
			if err != nil {
				t.Fatalf("live state: %v", err)
			}
			replay, err := Reconstruct(ctx, j, stream)
			if err != nil {
				t.Fatalf("replay: %v", err)
			}
			a, _ := live.Encode()
			b, _ := replay.Encode()
			if string(a) != string(b) {
				t.Fatalf("live and replay differ:\n%s\n%s", a, b)
			}
			var doc struct {
				Note string `json:"note"`
				Runs struct {
					Count int `json:"count"`
					Last  struct {
						ID string `json:"id"`
					} `json:"last"`
				} `json:"runs"`
			}
			if err := json.Unmarshal(replay.Doc, &doc); err != nil {
				t.Fatal(err)
			}
			// Nothing lost: the other writer's note and this run's summary
			// (its first patch rejected, the re-based one applied).
			if doc.Note == "" || doc.Runs.Count != 2 || doc.Runs.Last.ID != replay.Run.ID || replay.Version != 3 || replay.PatchConflicts != 1 {
				t.Fatalf("document %s (version %d, %d conflicts) lacks a patch (run %s)", replay.Doc, replay.Version, replay.PatchConflicts, replay.Run.ID)
			}
			// The next run still works on the shared session.
			if _, err := rt.Run(ctx, stream, RunOptions{Input: "c"}); err != nil {
				t.Fatal(err)
			}
			if _, err := Reconstruct(ctx, j, stream); err != nil {
				t.Fatalf("replay after the next run: %v", err)
			}
		})
	}
}

// patchFirst is a journal where another writer commits a patch, at the
// version the journal holds, just before each of the first n appends that
// carry a state patch: the runtime's patch loses its version every time.
type patchFirst struct {
	*journal.Journal
	mu sync.Mutex
	n  int
}

func (j *patchFirst) Append(ctx context.Context, evs ...aios.EventEnvelope) ([]uint64, error) {
	j.mu.Lock()
	for _, e := range evs {
		if _, ok := e.Payload.(*aios.StatePatchCommitted); ok && j.n > 0 {
			j.n--
			st, err := Reconstruct(ctx, j.Journal, aios.StreamID{Session: e.SessionID, Branch: e.BranchID})
			if err != nil {
				j.mu.Unlock()
				return nil, err
			}
			other := aios.NewEnvelope(aios.NewULIDGenerator(nil, nil), aios.SystemClock{}, e.SessionID, e.BranchID, notePatch(st.Version, "first"))
			if _, err := j.Journal.Append(ctx, other); err != nil {
				j.mu.Unlock()
				return nil, err
			}
			break
		}
	}
	j.mu.Unlock()
	return j.Journal.Append(ctx, evs...)
}

// A run's patch is re-based as often as other writers take its version,
// up to maxRebases; past that the run reports the conflict instead of
// claiming a summary the state does not hold.
func TestRunPatchRebased(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		losses int
		ok     bool
	}{{1, true}, {maxRebases, true}, {maxRebases + 1, false}} {
		j := &patchFirst{Journal: openJournal(t)}
		var seen []aios.EventEnvelope
		rt, err := New(Config{Journal: j, Provider: &scriptProvider{}})
		if err != nil {
			t.Fatal(err)
		}
		id, err := rt.CreateSession(ctx, "rebase", nil)
		if err != nil {
			t.Fatal(err)
		}
		stream := aios.StreamID{Session: id, Branch: DefaultBranch}
		j.n = tc.losses
		res, err := rt.Run(ctx, stream, RunOptions{Input: "go", OnEvent: func(e aios.EventEnvelope) { seen = append(seen, e) }})
		if tc.ok != (err == nil) || !tc.ok && !errors.Is(err, aios.ErrVersionConflict) {
			t.Fatalf("losses %d: %+v %v", tc.losses, res, err)
		}
		replay, err := Reconstruct(ctx, j, stream)
		if err != nil {
			t.Fatalf("losses %d: replay: %v", tc.losses, err)
		}
		live, err := rt.State(ctx, stream)
		if err != nil {
			t.Fatal(err)
		}
		a, _ := live.Encode()
		b, _ := replay.Encode()
		if string(a) != string(b) {
			t.Fatalf("losses %d: live and replay differ:\n%s\n%s", tc.losses, a, b)
		}
		patches := 0
		for _, e := range seen {
			if _, ok := e.Payload.(*aios.StatePatchCommitted); ok {
				patches++
			}
		}
		wantConflicts := uint64(min(tc.losses, maxRebases+1))
		if replay.PatchConflicts != wantConflicts || patches != int(wantConflicts)+map[bool]int{true: 1, false: 0}[tc.ok] {
			t.Fatalf("losses %d: %d conflicts, %d patches reported", tc.losses, replay.PatchConflicts, patches)
		}
		if tc.ok && !json.Valid(replay.Doc) || tc.ok && replay.Version != wantConflicts+1 {
			t.Fatalf("losses %d: version %d doc %s", tc.losses, replay.Version, replay.Doc)
		}
	}
}

// saveHook runs a function while a snapshot is being saved.
type saveHook struct {
	SnapshotStore
	during func()
}

func (h saveHook) Save(ctx context.Context, stream aios.StreamID, seq uint64, data []byte) error {
	h.during()
	return h.SnapshotStore.Save(ctx, stream, seq, data)
}

// Events another writer appends while a snapshot is saved come before the
// SnapshotCreated event: the fold takes them in rather than skipping to
// that event's seq.
func TestWriteDuringSnapshot(t *testing.T) {
	ctx := context.Background()
	j := openJournal(t)
	var stream aios.StreamID
	var once sync.Once
	ids := aios.NewULIDGenerator(nil, nil)
	hook := saveHook{SnapshotStore: FileSnapshots{Dir: t.TempDir()}, during: func() {
		once.Do(func() {
			e := aios.NewEnvelope(ids, aios.SystemClock{}, stream.Session, stream.Branch, &aios.UserMessage{Content: "while saving"})
			if _, err := j.Append(ctx, e); err != nil {
				t.Error(err)
			}
		})
	}}
	rt, err := New(Config{Journal: j, Provider: &scriptProvider{}, Snapshots: hook, SnapshotEvery: 4})
	if err != nil {
		t.Fatal(err)
	}
	id, err := rt.CreateSession(ctx, "snap", nil)
	if err != nil {
		t.Fatal(err)
	}
	stream = aios.StreamID{Session: id, Branch: DefaultBranch}
	for _, in := range []string{"a", "b"} {
		if _, err := rt.Run(ctx, stream, RunOptions{Input: in}); err != nil {
			t.Fatal(err)
		}
	}
	live, err := rt.State(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	replay, err := Reconstruct(ctx, j, stream)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := live.Encode()
	b, _ := replay.Encode()
	if string(a) != string(b) {
		t.Fatalf("live and replay differ:\n%s\n%s", a, b)
	}
	if live.Transcript() == "" || !json.Valid(a) {
		t.Fatal("empty state")
	}
	var found bool
	for _, m := range live.Messages {
		found = found || m.Content == "while saving"
	}
	if !found {
		t.Fatalf("the other writer's message is not in the fold:\n%s", live.Transcript())
	}
}

// Runtime.Append refuses a state patch that does not apply to the state
// (an old base version, an op that fails) before it reaches the journal.
func TestAppendRefusesBadPatch(t *testing.T) {
	ctx := context.Background()
	j := openJournal(t)
	rt, err := New(Config{Journal: j, Provider: &scriptProvider{}})
	if err != nil {
		t.Fatal(err)
	}
	id, err := rt.CreateSession(ctx, "append", nil)
	if err != nil {
		t.Fatal(err)
	}
	stream := aios.StreamID{Session: id, Branch: DefaultBranch}
	if err := rt.Append(ctx, stream, notePatch(0, "first")); err != nil {
		t.Fatal(err)
	}
	head, _ := j.Head(ctx, stream)
	badOp := &aios.StatePatchCommitted{NewVersion: 2, Patch: aios.StatePatch{BaseVersion: 1, Ops: []aios.PatchOp{{Op: aios.OpSet, Path: "/note/deeper", Value: json.RawMessage(`1`)}}}}
	for _, tc := range []struct {
		name string
		p    aios.Payload
		want error
	}{
		{"stale base", notePatch(0, "again"), aios.ErrVersionConflict},
		{"op fails", badOp, ErrBadInput},
	} {
		err := rt.Append(ctx, stream, &aios.UserMessage{Content: "with " + tc.name}, tc.p)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
		if h, _ := j.Head(ctx, stream); h != head {
			t.Errorf("%s: journal grew from %d to %d", tc.name, head, h)
		}
		st, err := rt.State(ctx, stream)
		if err != nil || st.Version != 1 || len(st.Messages) != 0 {
			t.Errorf("%s: state %+v %v", tc.name, st, err)
		}
	}
}

// Resolve refuses while a run is active on the stream: the run's folded
// but unappended events would otherwise land after it in the journal.
func TestResolveDuringRun(t *testing.T) {
	ctx := context.Background()
	block := make(chan struct{})
	f := setup(t, func(c *Config) { c.Policy = fakePolicy{"write": aios.PolicyRequireApproval} },
		reply{calls: []aios.ToolCall{call("w1", "write", `{}`), call("w2", "write", `{}`)}})
	res, err := f.rt.Run(ctx, f.id, RunOptions{Input: "write"})
	if err != nil || len(res.Approvals) != 2 {
		t.Fatalf("%+v %v", res, err)
	}
	if err := f.rt.Resolve(ctx, f.id, res.Approvals[0].ApprovalID, true, ""); err != nil {
		t.Fatal(err)
	}
	f.p.mu.Lock()
	f.p.block = block
	f.p.mu.Unlock()
	f.tools["write"].(*fakeTool).block = block
	done := make(chan error, 1)
	accepted := make(chan struct{})
	go func() {
		// The resumed run pauses again for w2; w1 runs and blocks first.
		_, err := f.rt.Resume(ctx, f.id, RunOptions{OnEvent: func(e aios.EventEnvelope) {
			if _, ok := e.Payload.(*aios.ToolCallStarted); ok {
				close(accepted)
			}
		}})
		done <- err
	}()
	<-accepted
	if err := f.rt.Resolve(ctx, f.id, res.Approvals[1].ApprovalID, true, ""); !errors.Is(err, ErrRunActive) {
		t.Errorf("resolve during a run: %v", err)
	}
	close(block)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := f.rt.Resolve(ctx, f.id, res.Approvals[1].ApprovalID, true, ""); err != nil {
		t.Fatal(err)
	}
	live, _ := f.rt.State(ctx, f.id)
	sameAsReplay(t, f.j, f.id, live)
}
