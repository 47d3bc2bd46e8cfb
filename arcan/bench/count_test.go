package bench

import (
	"context"
	"fmt"
	"iter"
	"strings"
	"sync"
	"testing"

	"github.com/lifeos/life/aios"
	arcan "github.com/lifeos/life/arcan/runtime"
)

// countingJournal counts the journal operations the loop performs.
type countingJournal struct {
	aios.Journal
	mu      sync.Mutex
	appends [][]string // payload types of each Append call
	reads   int        // Read calls
	readEvs int        // events yielded by Read
	heads   int
	subs    int
}

func (c *countingJournal) Append(ctx context.Context, evs ...aios.EventEnvelope) ([]uint64, error) {
	types := make([]string, len(evs))
	for i, e := range evs {
		types[i] = e.Payload.Type()
	}
	c.mu.Lock()
	c.appends = append(c.appends, types)
	c.mu.Unlock()
	return c.Journal.Append(ctx, evs...)
}

func (c *countingJournal) Read(ctx context.Context, q aios.ReadQuery) iter.Seq2[aios.EventEnvelope, error] {
	c.mu.Lock()
	c.reads++
	c.mu.Unlock()
	return func(yield func(aios.EventEnvelope, error) bool) {
		for e, err := range c.Journal.Read(ctx, q) {
			c.mu.Lock()
			c.readEvs++
			c.mu.Unlock()
			if !yield(e, err) {
				return
			}
		}
	}
}

func (c *countingJournal) Head(ctx context.Context, s aios.StreamID) (uint64, error) {
	c.mu.Lock()
	c.heads++
	c.mu.Unlock()
	return c.Journal.Head(ctx, s)
}

func (c *countingJournal) Subscribe(ctx context.Context, s aios.StreamID, after uint64) iter.Seq2[aios.EventEnvelope, error] {
	c.mu.Lock()
	c.subs++
	c.mu.Unlock()
	return c.Journal.Subscribe(ctx, s, after)
}

func (c *countingJournal) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.appends, c.reads, c.readEvs, c.heads, c.subs = nil, 0, 0, 0, 0
}

func (c *countingJournal) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var b strings.Builder
	n := 0
	for i, a := range c.appends {
		n += len(a)
		fmt.Fprintf(&b, "  append %d: %d events %v\n", i+1, len(a), a)
	}
	fmt.Fprintf(&b, "  %d appends, %d events, %d reads (%d events), %d heads, %d subscribes", len(c.appends), n, c.reads, c.readEvs, c.heads, c.subs)
	return b.String()
}

// TestTurnJournalOps pins the journal work of one scripted turn on a warm
// session: the loop holds the state in memory, so it reads nothing (not
// even the head: a gap in the seqs of its first append shows another
// writer), and it appends only where durability needs it: the input before
// the first model call, a call's intent before the tool runs, its result
// before the next model call, the answer at the end.
func TestTurnJournalOps(t *testing.T) {
	_, lj := Open(t, t.TempDir(), false)
	j := &countingJournal{Journal: lj}
	rt, err := arcan.New(arcan.Config{Journal: j, Provider: ScriptedProvider{}, Tools: Tools{}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tr := NewTurner(rt)
	if err := tr.Turn(ctx); err != nil { // creates the session: a cold start
		t.Fatal(err)
	}
	t.Logf("first turn (session created):\n%s", j)
	j.reset()
	if err := tr.Turn(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("warm turn:\n%s", j)
	j.mu.Lock()
	defer j.mu.Unlock()
	if got := len(j.appends); got > wantAppends {
		t.Errorf("%d appends per turn, want at most %d", got, wantAppends)
	}
	if j.reads != 0 || j.heads > wantHeads || j.subs != 0 {
		t.Errorf("%d reads, %d heads, %d subscribes per warm turn; want 0, at most %d, 0", j.reads, j.heads, j.subs, wantHeads)
	}
}

const (
	wantAppends = 4
	wantHeads   = 0
)
