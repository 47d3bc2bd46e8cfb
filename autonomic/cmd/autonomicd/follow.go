package main

import (
	"container/heap"
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/autonomic/api"
	"github.com/lifeos/life/bridges/autonomiclago"
)

// streamHead is one stream of a journal listing; head is 0 when the
// listing does not carry heads (lagod's), and then idle streams are probed.
type streamHead struct {
	id   aios.StreamID
	head uint64
}

const (
	// probeBatch bounds the Head requests per poll for idle streams when the
	// listing has no heads; probeWorkers bounds how many are in flight.
	probeBatch   = 256
	probeWorkers = 8
	// settle batches the listings of the embedded journal: at most one per
	// settle however often it commits.
	settle = 200 * time.Millisecond
	// callTimeout bounds the supervisor's own journal calls (listing, a
	// batch of probes, a head check), so a hung lagod cannot stall it.
	callTimeout = 30 * time.Second
)

type followState int

const (
	stIdle followState = iota
	stWaiting
	stFollowing
	stRetrying
)

// tracked is the supervisor's record of one stream.
type tracked struct {
	id    aios.StreamID
	state followState
	// active is when the stream last showed events past what was folded
	// (zero when that was before the daemon started); order is its
	// position at first listing. Waiting streams start by active, then
	// order, newest first.
	active  time.Time
	order   int
	cancel  context.CancelFunc
	fails   int
	retryAt time.Time
	inProbe bool
	// head is the last head listed (journals whose listing has heads).
	head uint64
	// index is the position in the waiting queue, -1 when not in it.
	index int
}

// queue holds the waiting streams, most recently active first, then the
// newest; a heap, so a slot freed among many waiting streams costs log n.
type queue []*tracked

func (q queue) Len() int { return len(q) }
func (q queue) Less(i, j int) bool {
	if c := q[i].active.Compare(q[j].active); c != 0 {
		return c > 0
	}
	return q[i].order > q[j].order
}
func (q queue) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].index, q[j].index = i, j
}
func (q *queue) Push(x any) {
	t := x.(*tracked)
	t.index = len(*q)
	*q = append(*q, t)
}
func (q *queue) Pop() any {
	old := *q
	t := old[len(old)-1]
	old[len(old)-1] = nil
	t.index = -1
	*q = old[:len(old)-1]
	return t
}

type followDone struct {
	t        *tracked
	caughtUp bool // a catch-up only, not a follower
	err      error
}

// followCounts is what /healthz reports; the supervisor stores it after
// each pass.
type followCounts struct {
	following, waiting, idle atomic.Int64
}

func (c *followCounts) stats() api.FollowerStats {
	return api.FollowerStats{Following: int(c.following.Load()), Waiting: int(c.waiting.Load()), Idle: int(c.idle.Load())}
}

// supervisor follows the streams of a journal with at most max followers
// at once. A follower stops after the idle period (autonomiclago.ErrIdle);
// the stream is followed again once its head passes the seq last folded,
// which the projector resumes from.
type supervisor struct {
	d         *daemon
	m         map[aios.StreamID]*tracked
	following map[aios.StreamID]*tracked
	waiting   queue
	retrying  map[aios.StreamID]*tracked
	probeQ    []*tracked
	done      chan followDone
	wg        sync.WaitGroup
	listed    bool
	next      int
	capLogged bool
	// listFailing: the last listing failed, so the next failures of the
	// same outage log at Debug (lagod down would otherwise warn every poll).
	listFailing bool
}

func newSupervisor(d *daemon) *supervisor {
	return &supervisor{d: d, m: map[aios.StreamID]*tracked{}, following: map[aios.StreamID]*tracked{},
		retrying: map[aios.StreamID]*tracked{}, done: make(chan followDone)}
}

// followAll follows the journal's streams until ctx ends: it lists them
// after commits (embedded journal, at most every settle) or every poll
// (lagod), starts followers as slots allow and restarts idle ones whose
// stream moved on.
func (d *daemon) followAll(ctx context.Context) {
	s := newSupervisor(d)
	defer s.wg.Wait()
	tick := time.NewTicker(d.poll)
	defer tick.Stop()
	var changed, settled <-chan struct{}
	relist := true
	for {
		if relist {
			if d.changed != nil {
				changed = d.changed()
			}
			s.list(ctx)
			relist = false
		}
		s.schedule(ctx)
		select {
		case <-ctx.Done():
			return
		case r := <-s.done:
			s.finished(ctx, r)
		case <-changed:
			changed = nil
			ch := make(chan struct{})
			time.AfterFunc(settle, func() { close(ch) })
			settled = ch
		case <-settled:
			settled, relist = nil, true
		case <-tick.C:
			// The embedded journal's listing follows its commits; the tick
			// only serves retries there.
			relist = d.changed == nil
		}
	}
}

// list reads the journal's streams and marks as waiting the new ones and
// the idle ones past their folded seq.
func (s *supervisor) list(ctx context.Context) {
	lctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	heads, err := s.d.list(lctx)
	if err != nil {
		if ctx.Err() == nil {
			why := "journal does not answer: " + err.Error()
			s.d.unreachable.Store(&why)
			if !s.listFailing {
				s.d.log.Warn("autonomic: list streams; retrying, logged at debug until it answers", "err", err)
			} else {
				s.d.log.Debug("autonomic: list streams", "err", err)
			}
			s.listFailing = true
		}
		return
	}
	s.d.unreachable.Store(nil)
	if s.listFailing {
		s.d.log.Info("autonomic: journal answers again")
		s.listFailing = false
	}
	now := time.Now()
	for _, h := range heads {
		t, ok := s.m[h.id]
		if !ok {
			t = &tracked{id: h.id, order: s.next, head: h.head, index: -1}
			s.next++
			if s.listed {
				t.active = now // a stream created while we run is live
			}
			s.m[h.id] = t
			// Never folded by this daemon: its catch-up (or snapshot) is due.
			s.wait(t, time.Time{})
			continue
		}
		if !s.d.heads {
			continue
		}
		switch {
		case t.state == stIdle && h.head > s.d.proj.Hub().Seq(h.id):
			s.wait(t, now)
		case t.state == stWaiting && h.head > t.head:
			t.active = now // moving while it waits: follow it, not just catch it up
			heap.Fix(&s.waiting, t.index)
		}
		t.head = h.head
	}
	s.listed = true
	if !s.d.heads {
		s.probe(ctx, now)
	}
}

// probe asks the heads of up to probeBatch idle streams, oldest probed
// first, for a journal whose listing lacks them.
func (s *supervisor) probe(ctx context.Context, now time.Time) {
	var batch []*tracked
	for len(s.probeQ) > 0 && len(batch) < probeBatch {
		t := s.probeQ[0]
		s.probeQ[0] = nil
		s.probeQ = s.probeQ[1:]
		t.inProbe = false
		if t.state == stIdle {
			batch = append(batch, t)
		}
	}
	if len(batch) == 0 {
		return
	}
	heads := make([]uint64, len(batch))
	errs := make([]error, len(batch))
	pctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	sem := make(chan struct{}, probeWorkers)
	var wg sync.WaitGroup
	for i, t := range batch {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			heads[i], errs[i] = s.d.j.Head(pctx, t.id)
		}()
	}
	wg.Wait()
	var failed int
	var firstErr error
	for i, t := range batch {
		switch {
		case errs[i] != nil:
			if failed++; firstErr == nil {
				firstErr = errs[i]
			}
			s.queueProbe(t)
		case heads[i] > s.d.proj.Hub().Seq(t.id):
			s.wait(t, now)
		default:
			s.queueProbe(t)
		}
	}
	if failed > 0 && ctx.Err() == nil {
		s.d.log.Warn("autonomic: probe stream heads", "failed", failed, "of", len(batch), "err", firstErr)
	}
}

func (s *supervisor) queueProbe(t *tracked) {
	if !t.inProbe {
		t.inProbe = true
		s.probeQ = append(s.probeQ, t)
	}
}

// wait marks t as due for a follower; a non-zero active records when it
// was seen moving.
func (s *supervisor) wait(t *tracked, active time.Time) {
	if !active.IsZero() {
		t.active = active
	}
	delete(s.retrying, t.id)
	t.state = stWaiting
	if t.index >= 0 {
		heap.Fix(&s.waiting, t.index)
	} else {
		heap.Push(&s.waiting, t)
	}
}

// schedule moves retries that are due to waiting, starts followers for the
// most recently active waiting streams while slots are free, and reports.
func (s *supervisor) schedule(ctx context.Context) {
	now := time.Now()
	for _, t := range s.retrying {
		if !now.Before(t.retryAt) {
			s.wait(t, time.Time{})
		}
	}
	for len(s.following) < s.d.maxFollow && len(s.waiting) > 0 {
		s.start(ctx, heap.Pop(&s.waiting).(*tracked))
	}
	switch {
	case len(s.waiting) > 0 && !s.capLogged:
		s.capLogged = true
		s.d.log.Warn("autonomic: follow cap reached; streams wait for a free slot",
			"max_follow", s.d.maxFollow, "waiting", len(s.waiting))
	case len(s.waiting) == 0 && s.capLogged:
		s.capLogged = false
		s.d.log.Info("autonomic: every waiting stream is followed", "following", len(s.following))
	}
	waiting := len(s.waiting) + len(s.retrying)
	s.d.counts.following.Store(int64(len(s.following)))
	s.d.counts.waiting.Store(int64(waiting))
	s.d.counts.idle.Store(int64(len(s.m) - len(s.following) - waiting))
}

func (s *supervisor) start(ctx context.Context, t *tracked) {
	t.state = stFollowing
	s.following[t.id] = t
	fctx, cancel := context.WithCancel(ctx)
	t.cancel = cancel
	s.wg.Add(1)
	// A stream not seen moving since the daemon started is caught up once
	// rather than followed: after a restart over many finished sessions,
	// none holds a slot for the idle period. Caught up, it waits for its
	// head to move like an idle one.
	catchUp := t.active.IsZero()
	go func() {
		defer s.wg.Done()
		var err error
		if catchUp {
			err = s.catchUp(fctx, t.id)
		} else {
			err = s.d.proj.FollowIdle(fctx, t.id, s.d.idle)
		}
		select {
		case s.done <- followDone{t, catchUp, err}:
		case <-ctx.Done():
		}
	}()
}

// catchUp folds what a stream holds and returns ErrIdle. The changes it
// journals move the head, so it folds those back too: only a head that
// moves after that is the sign of a live stream.
func (s *supervisor) catchUp(ctx context.Context, id aios.StreamID) error {
	seq, err := s.d.proj.CatchUp(ctx, id)
	if err != nil {
		return err
	}
	head, err := s.d.j.Head(ctx, id)
	if err != nil {
		return err
	}
	if head > seq {
		if _, err := s.d.proj.CatchUp(ctx, id); err != nil {
			return err
		}
	}
	return autonomiclago.ErrIdle
}

// finished handles a follower's end: idle streams are checked once for an
// event that raced the stop; failed ones retry with backoff.
func (s *supervisor) finished(ctx context.Context, r followDone) {
	t := r.t
	t.cancel()
	t.cancel = nil
	delete(s.following, t.id)
	t.state = stIdle
	if ctx.Err() != nil {
		return
	}
	if errors.Is(r.err, autonomiclago.ErrIdle) {
		t.fails = 0
		if r.caughtUp {
			s.d.log.Debug("autonomic: stream caught up", "session", t.id.Session, "branch", t.id.Branch)
		} else {
			s.d.log.Debug("autonomic: stream idle, follower stopped", "session", t.id.Session, "branch", t.id.Branch)
		}
		hctx, cancel := context.WithTimeout(ctx, callTimeout)
		head, err := s.d.j.Head(hctx, t.id)
		cancel()
		switch {
		case err != nil:
			s.d.log.Warn("autonomic: head after idle stop", "session", t.id.Session, "branch", t.id.Branch, "err", err)
			s.retry(t)
		case head > s.d.proj.Hub().Seq(t.id):
			s.wait(t, time.Now())
		case !s.d.heads:
			s.queueProbe(t)
		}
		return
	}
	if r.err == nil {
		r.err = errors.New("subscription ended")
	}
	s.d.log.Warn("autonomic: follow stream", "session", t.id.Session, "branch", t.id.Branch, "err", r.err,
		"retry_in", backoff(t.fails+1))
	s.retry(t)
}

// retry schedules t to be followed again after a backoff.
func (s *supervisor) retry(t *tracked) {
	t.fails++
	t.retryAt = time.Now().Add(backoff(t.fails))
	t.state = stRetrying
	s.retrying[t.id] = t
}

func backoff(fails int) time.Duration {
	return min(100*time.Millisecond<<min(fails-1, 10), 10*time.Second)
}
