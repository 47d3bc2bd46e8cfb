package vigil

import (
	"context"
	"sync"
)

// finisher runs the work that follows a journal append or read, a
// provider stream or a tool call (the seqs and outcomes, the ends of the
// spans, the metrics) on a goroutine of its own, so that the caller goes on
// at once: ending a span (snapshot, attribute dedup, the processors) and
// recording a metric are most of what tracing costs a turn. Timestamps are
// taken by the caller. Tasks run one at a time in the order they were
// queued. The goroutine runs while there are tasks and exits when there
// are none, so an idle Telemetry holds no goroutine.
//
// The SDK's own batch processor does the same for export; this one starts
// its goroutine once per burst of calls, not once per span.
type finisher struct {
	mu      sync.Mutex
	room    sync.Cond // signalled when the queue is drained
	queue   []func()
	spare   []func() // the previous queue's array, reused
	running bool
	idle    chan struct{} // closed when the running goroutine exits
}

// maxQueued bounds the queue: a caller waits for room beyond it, so a slow
// span processor slows calls down instead of growing memory.
const maxQueued = 4096

func newFinisher() *finisher {
	f := &finisher{}
	f.room.L = &f.mu
	return f
}

// add queues task.
func (f *finisher) add(task func()) {
	f.mu.Lock()
	for len(f.queue) >= maxQueued {
		f.room.Wait()
	}
	f.queue = append(f.queue, task)
	if !f.running {
		f.running = true
		f.idle = make(chan struct{})
		go f.run()
	}
	f.mu.Unlock()
}

func (f *finisher) run() {
	f.mu.Lock()
	for len(f.queue) > 0 {
		batch := f.queue
		f.queue = f.spare[:0]
		f.room.Broadcast()
		f.mu.Unlock()
		for i, task := range batch {
			task()
			batch[i] = nil
		}
		f.mu.Lock()
		f.spare = batch[:0]
	}
	f.running = false
	close(f.idle)
	f.mu.Unlock()
}

// wait returns once every task queued before it has run, or when ctx ends.
func (f *finisher) wait(ctx context.Context) error {
	f.mu.Lock()
	if !f.running {
		f.mu.Unlock()
		return nil
	}
	idle := f.idle // the goroutine exits only with the queue empty
	f.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
