package journal

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/lifeos/life/aios"
	bolt "go.etcd.io/bbolt"
)

// TestUnindexedTailSurvivesReopen copies the file while events after the
// last index flush exist only in the log (as after a crash), reopens the
// copy and checks reads, heads, branches, dedup and verify across the
// indexed part and the log tail.
func TestUnindexedTailSurvivesReopen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	j, err := Open(filepath.Join(dir, "j.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	streams := []aios.StreamID{{Session: "a", Branch: "main"}, {Session: "b", Branch: "main"}, {Session: "a", Branch: "side"}}
	want := map[aios.StreamID][]string{}
	n := idFlushAt + idFlushAt/2
	for i := range n {
		st := streams[i%2]
		if i == 300 {
			if _, err := j.Fork(ctx, aios.NewULIDGenerator(nil, nil), aios.SystemClock{}, streams[0], "side", 0); err != nil {
				t.Fatal(err)
			}
			want[streams[2]] = append([]string(nil), want[streams[0]]...)
			want[streams[0]] = append(want[streams[0]], "fork")
		}
		if i > 300 && i%3 == 0 {
			st = streams[2]
		}
		id := fmt.Sprintf("e-%d", i)
		if _, err := j.Append(ctx, mkEvent(id, st.Session, st.Branch, "x")); err != nil {
			t.Fatal(err)
		}
		want[st] = append(want[st], id)
	}
	if j.idsThrough == 0 || j.idsThrough >= j.gseq {
		t.Fatalf("want both an index and a tail: indexed through %d of %d", j.idsThrough, j.gseq)
	}
	cp := filepath.Join(dir, "copy.db")
	f, err := os.Create(cp)
	if err != nil {
		t.Fatal(err)
	}
	if err := j.DB().View(func(tx *bolt.Tx) error { _, err := tx.WriteTo(f); return err }); err != nil {
		t.Fatal(err)
	}
	f.Close()
	k, err := Open(cp, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	if len(k.pending) == 0 {
		t.Fatal("no ids rebuilt from the log tail")
	}
	for _, jj := range []*Journal{j, k} {
		for st, ids := range want {
			got := collect(t, jj, aios.ReadQuery{Stream: st})
			if len(got) != len(ids) {
				t.Fatalf("%v: read %d events, want %d", st, len(got), len(ids))
			}
			for i, e := range got {
				if e.Seq != uint64(i+1) || (ids[i] != "fork" && e.EventID != ids[i]) {
					t.Fatalf("%v #%d: got %s seq %d, want %s", st, i, e.EventID, e.Seq, ids[i])
				}
			}
			if h, err := jj.Head(ctx, st); err != nil || h != uint64(len(ids)) {
				t.Fatalf("%v head %d (%v), want %d", st, h, err, len(ids))
			}
		}
		if _, err := jj.Verify(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// a re-append of an unindexed id returns its first seq; new appends continue
	seqs, err := k.Append(ctx, mkEvent(fmt.Sprintf("e-%d", n-1), streams[(n-1)%2].Session, streams[(n-1)%2].Branch, "x"))
	if err != nil || seqs[0] != uint64(len(want[streams[(n-1)%2]])) {
		t.Fatalf("dedup after reopen: %v %v", seqs, err)
	}
	if seqs, err := k.Append(ctx, mkEvent("new", "b", "main", "x")); err != nil || seqs[0] != uint64(len(want[streams[1]])+1) {
		t.Fatalf("append after reopen: %v %v", seqs, err)
	}
	if _, err := k.Verify(ctx); err != nil {
		t.Fatal(err)
	}
}
