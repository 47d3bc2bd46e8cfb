package bench

import (
	"context"
	"testing"

	"github.com/lifeos/life/aios"
)

func TestFakeJournal(t *testing.T) {
	ctx := context.Background()
	j := NewFakeJournal()
	ids := aios.NewULIDGenerator(nil, nil)
	s := aios.StreamID{Session: "s", Branch: "main"}
	ev := func() aios.EventEnvelope {
		return aios.NewEnvelope(ids, aios.SystemClock{}, s.Session, s.Branch, &aios.UserMessage{Content: "hi"})
	}
	const n = 3*fakeChunk + 5 // several chunks and a partial one
	for i := 0; i < n; i += 7 {
		evs := make([]aios.EventEnvelope, min(7, n-i))
		for k := range evs {
			evs[k] = ev()
		}
		seqs, err := j.Append(ctx, evs...)
		if err != nil || len(seqs) != len(evs) || seqs[0] != uint64(i+1) {
			t.Fatalf("append at %d: %v %v", i, seqs, err)
		}
	}
	if _, err := j.Append(ctx, ev(), aios.EventEnvelope{}); err == nil {
		t.Fatal("an invalid event was accepted")
	}
	if h, _ := j.Head(ctx, s); h != n {
		t.Fatalf("head %d, want %d (an invalid batch must store nothing)", h, n)
	}
	for _, after := range []uint64{0, fakeChunk - 1, fakeChunk, n - 1, n} {
		want := after + 1
		for e, err := range j.Read(ctx, aios.ReadQuery{Stream: s, After: after}) {
			if err != nil || e.Seq != want {
				t.Fatalf("read after %d: seq %d, want %d (%v)", after, e.Seq, want, err)
			}
			want++
		}
		if want != n+1 {
			t.Fatalf("read after %d stopped at %d", after, want-1)
		}
	}
}
