package bench

import (
	"context"
	"iter"
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
	streams map[aios.StreamID][]aios.EventEnvelope
	order   []aios.StreamID
}

// KeepStreams is how many streams a FakeJournal remembers.
const KeepStreams = 256

// NewFakeJournal returns an empty fake journal.
func NewFakeJournal() *FakeJournal {
	return &FakeJournal{streams: map[aios.StreamID][]aios.EventEnvelope{}}
}

// Append stores events (validated, not encoded).
func (j *FakeJournal) Append(_ context.Context, evs ...aios.EventEnvelope) ([]uint64, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	seqs := make([]uint64, len(evs))
	for i, e := range evs {
		if err := e.Validate(); err != nil {
			return nil, err
		}
		st := aios.StreamID{Session: e.SessionID, Branch: e.BranchID}
		if _, ok := j.streams[st]; !ok {
			j.order = append(j.order, st)
			if len(j.order) > KeepStreams {
				delete(j.streams, j.order[0])
				j.order = j.order[1:]
			}
		}
		e.Seq = uint64(len(j.streams[st]) + 1)
		j.streams[st] = append(j.streams[st], e)
		seqs[i] = e.Seq
	}
	return seqs, nil
}

// Read yields stored events.
func (j *FakeJournal) Read(_ context.Context, q aios.ReadQuery) iter.Seq2[aios.EventEnvelope, error] {
	return func(yield func(aios.EventEnvelope, error) bool) {
		j.mu.Lock()
		evs := j.streams[q.Stream]
		j.mu.Unlock()
		for i := q.After; i < uint64(len(evs)); i++ {
			if !yield(evs[i], nil) {
				return
			}
		}
	}
}

// Head returns the last seq.
func (j *FakeJournal) Head(_ context.Context, s aios.StreamID) (uint64, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	return uint64(len(j.streams[s])), nil
}

// Subscribe is not supported by the fake.
func (j *FakeJournal) Subscribe(context.Context, aios.StreamID, uint64) iter.Seq2[aios.EventEnvelope, error] {
	return func(yield func(aios.EventEnvelope, error) bool) { yield(aios.EventEnvelope{}, aios.ErrUnsupported) }
}
