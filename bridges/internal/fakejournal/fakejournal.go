// Package fakejournal is an in-memory aios.Journal for the bridges' unit
// tests: a fake, not a journal (nothing is durable). The integration tests
// run the same code against lago's bbolt journal.
package fakejournal

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"sync"

	"github.com/lifeos/life/aios"
)

// Journal is the fake. FailAppend, when set, makes every Append fail.
type Journal struct {
	mu         sync.Mutex
	streams    map[aios.StreamID][]aios.EventEnvelope
	ids        map[string]uint64
	changed    chan struct{}
	FailAppend error
}

// New returns an empty fake journal.
func New() *Journal {
	return &Journal{streams: map[aios.StreamID][]aios.EventEnvelope{}, ids: map[string]uint64{}, changed: make(chan struct{})}
}

// Append stores events, assigning seqs; a known event_id stores nothing.
func (j *Journal) Append(ctx context.Context, events ...aios.EventEnvelope) ([]uint64, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.FailAppend != nil {
		return nil, j.FailAppend
	}
	for i := range events {
		if err := events[i].Validate(); err != nil {
			return nil, err
		}
	}
	seqs := make([]uint64, len(events))
	for i, e := range events {
		if s, ok := j.ids[e.EventID]; ok {
			seqs[i] = s
			continue
		}
		id := aios.StreamID{Session: e.SessionID, Branch: e.BranchID}
		e.Seq = uint64(len(j.streams[id]) + 1)
		j.streams[id] = append(j.streams[id], e)
		j.ids[e.EventID] = e.Seq
		seqs[i] = e.Seq
	}
	close(j.changed)
	j.changed = make(chan struct{})
	return seqs, nil
}

// Events returns a copy of a stream's events.
func (j *Journal) Events(id aios.StreamID) []aios.EventEnvelope {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([]aios.EventEnvelope(nil), j.streams[id]...)
}

// Read yields the events of q in seq order.
func (j *Journal) Read(ctx context.Context, q aios.ReadQuery) iter.Seq2[aios.EventEnvelope, error] {
	return func(yield func(aios.EventEnvelope, error) bool) {
		j.mu.Lock()
		evs := append([]aios.EventEnvelope(nil), j.streams[q.Stream]...)
		j.mu.Unlock()
		n := 0
		for _, e := range evs {
			if e.Seq <= q.After || (q.Until != 0 && e.Seq > q.Until) {
				continue
			}
			if err := ctx.Err(); err != nil {
				yield(aios.EventEnvelope{}, err)
				return
			}
			if !yield(e, nil) {
				return
			}
			if n++; q.Limit > 0 && n >= q.Limit {
				return
			}
		}
	}
}

// Head returns the last seq of a stream.
func (j *Journal) Head(_ context.Context, id aios.StreamID) (uint64, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	return uint64(len(j.streams[id])), nil
}

// Subscribe yields stored events after after, then live ones.
func (j *Journal) Subscribe(ctx context.Context, id aios.StreamID, after uint64) iter.Seq2[aios.EventEnvelope, error] {
	return func(yield func(aios.EventEnvelope, error) bool) {
		for {
			j.mu.Lock()
			evs := j.streams[id]
			var next []aios.EventEnvelope
			if uint64(len(evs)) > after {
				next = append(next, evs[after:]...)
			}
			ch := j.changed
			j.mu.Unlock()
			for _, e := range next {
				if !yield(e, nil) {
					return
				}
				after = e.Seq
			}
			if len(next) > 0 {
				continue
			}
			select {
			case <-ch:
			case <-ctx.Done():
				yield(aios.EventEnvelope{}, ctx.Err())
				return
			}
		}
	}
}

// ErrInjected is a failure tests inject with FailAppend.
var ErrInjected = errors.New("fakejournal: injected failure")

// Fail sets or clears the injected append failure.
func (j *Journal) Fail(err error) {
	j.mu.Lock()
	j.FailAppend = err
	j.mu.Unlock()
}

// String describes the fake for test logs.
func (j *Journal) String() string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return fmt.Sprintf("fakejournal(%d streams)", len(j.streams))
}
