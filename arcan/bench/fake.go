package bench

import (
	"context"
	"iter"
	"slices"
	"sync"

	"github.com/lifeos/life/aios"
)

// FakeJournal is an in-memory aios.Journal for benchmarks only: it keeps
// envelopes in slices, is not durable, and does not implement Subscribe. It
// separates the loop's own cost from the storage cost in the figures. It
// forgets all but the KeepStreams most recent streams, as a real journal
// keeps its data off the Go heap: otherwise the garbage collector's scans
// of an ever-growing fake store would be billed to the loop.
type FakeJournal struct {
	mu      sync.Mutex
	streams map[aios.StreamID]*fakeStream
	order   []aios.StreamID
}

// fakeStream keeps events in fixed-size chunks, so that storing one never
// copies the ones before it (a growing slice would, and its copying and
// garbage would be billed to the loop).
type fakeStream struct {
	chunks [][]aios.EventEnvelope
	n      int
}

const fakeChunk = 64

// KeepStreams is how many streams a FakeJournal remembers.
const KeepStreams = 256

// NewFakeJournal returns an empty fake journal.
func NewFakeJournal() *FakeJournal {
	return &FakeJournal{streams: map[aios.StreamID]*fakeStream{}}
}

// Append stores events (validated, not encoded).
func (j *FakeJournal) Append(_ context.Context, evs ...aios.EventEnvelope) ([]uint64, error) {
	for i := range evs {
		if err := evs[i].Validate(); err != nil {
			return nil, err
		}
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	seqs := make([]uint64, len(evs))
	var s *fakeStream
	var st aios.StreamID
	for i, e := range evs {
		if s == nil || e.SessionID != st.Session || e.BranchID != st.Branch {
			st = aios.StreamID{Session: e.SessionID, Branch: e.BranchID}
			s = j.stream(st)
		}
		if s.n%fakeChunk == 0 {
			s.chunks = append(s.chunks, make([]aios.EventEnvelope, 0, fakeChunk))
		}
		s.n++
		e.Seq = uint64(s.n)
		last := len(s.chunks) - 1
		s.chunks[last] = append(s.chunks[last], e)
		seqs[i] = e.Seq
	}
	return seqs, nil
}

func (j *FakeJournal) stream(st aios.StreamID) *fakeStream {
	s, ok := j.streams[st]
	if !ok {
		s = &fakeStream{}
		j.streams[st] = s
		j.order = append(j.order, st)
		if len(j.order) > KeepStreams {
			delete(j.streams, j.order[0])
			j.order = j.order[1:]
		}
	}
	return s
}

// Read yields stored events.
func (j *FakeJournal) Read(_ context.Context, q aios.ReadQuery) iter.Seq2[aios.EventEnvelope, error] {
	return func(yield func(aios.EventEnvelope, error) bool) {
		j.mu.Lock()
		var chunks [][]aios.EventEnvelope
		n := 0
		if s := j.streams[q.Stream]; s != nil {
			chunks, n = slices.Clone(s.chunks), s.n
		}
		j.mu.Unlock()
		for i := q.After; i < uint64(n); i++ {
			if !yield(chunks[i/fakeChunk][i%fakeChunk], nil) {
				return
			}
		}
	}
}

// Head returns the last seq.
func (j *FakeJournal) Head(_ context.Context, s aios.StreamID) (uint64, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if st := j.streams[s]; st != nil {
		return uint64(st.n), nil
	}
	return 0, nil
}

// Subscribe is not supported by the fake.
func (j *FakeJournal) Subscribe(context.Context, aios.StreamID, uint64) iter.Seq2[aios.EventEnvelope, error] {
	return func(yield func(aios.EventEnvelope, error) bool) { yield(aios.EventEnvelope{}, aios.ErrUnsupported) }
}
