package vigil

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestFinisherRunsTasksInOrder(t *testing.T) {
	f := newFinisher()
	var mu sync.Mutex
	var got []int
	for i := range 3 * maxQueued { // more than fit: add waits for room
		f.add(func() {
			mu.Lock()
			got = append(got, i)
			mu.Unlock()
		})
	}
	if err := f.wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(got) != 3*maxQueued {
		t.Fatalf("%d tasks ran, want %d", len(got), 3*maxQueued)
	}
	for i, v := range got {
		if v != i {
			t.Fatalf("task %d ran at %d", v, i)
		}
	}
}

func TestFinisherWait(t *testing.T) {
	tests := []struct {
		name    string
		block   bool // a task that does not return until released
		timeout time.Duration
		wantErr error
	}{
		{"idle", false, time.Second, nil},
		{"tasks done", false, time.Second, nil},
		{"task still running", true, 20 * time.Millisecond, context.DeadlineExceeded},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFinisher()
			release := make(chan struct{})
			var ran atomic.Int32
			if tc.name != "idle" {
				f.add(func() {
					if tc.block {
						<-release
					}
					ran.Add(1)
				})
			}
			ctx, cancel := context.WithTimeout(context.Background(), tc.timeout)
			defer cancel()
			err := f.wait(ctx)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("wait: %v, want %v", err, tc.wantErr)
			}
			close(release)
			if err := f.wait(context.Background()); err != nil {
				t.Fatal(err)
			}
			if want := int32(0); tc.name != "idle" {
				want = 1
				if ran.Load() != want {
					t.Fatalf("%d tasks ran", ran.Load())
				}
			}
		})
	}
}

// TestFinisherHoldsNoGoroutineWhenIdle checks that the finisher's goroutine
// exits once its queue is empty.
func TestFinisherHoldsNoGoroutineWhenIdle(t *testing.T) {
	before := runtime.NumGoroutine()
	f := newFinisher()
	for range 100 {
		f.add(func() {})
	}
	if err := f.wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines, %d before", runtime.NumGoroutine(), before)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestFinisherBoundsItsQueue checks that add waits while the queue is full,
// so a stalled span processor slows appends instead of growing memory.
func TestFinisherBoundsItsQueue(t *testing.T) {
	f := newFinisher()
	release, running := make(chan struct{}), make(chan struct{})
	f.add(func() { close(running); <-release })
	<-running // the goroutine took it off the queue and blocks
	added := make(chan struct{})
	go func() {
		for range maxQueued + 1 {
			f.add(func() {})
		}
		close(added)
	}()
	select {
	case <-added:
		t.Fatal("add did not wait with the queue full")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	<-added
	if err := f.wait(context.Background()); err != nil {
		t.Fatal(err)
	}
}
