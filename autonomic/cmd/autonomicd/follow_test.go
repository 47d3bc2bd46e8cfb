package main

import (
	"bytes"
	"container/heap"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/autonomic/api"
	"github.com/lifeos/life/autonomic/controller"
	"github.com/lifeos/life/lago/journal"
	"github.com/lifeos/life/lago/server"
	"github.com/lifeos/life/lago/store"
)

// syncBuffer is a log sink safe for the daemon's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// testDaemon is a running daemon over a real lago journal, embedded or
// behind an in-process lagod; j is that journal, written to directly.
type testDaemon struct {
	lagod string           // the lagod's URL, "" for the embedded journal
	srv   *httptest.Server // the lagod, nil for the embedded journal
	d     *daemon
	j     *journal.Journal
	logs  *syncBuffer
	base  string
}

var backends = []string{"embedded", "lagod"}

func startDaemon(t *testing.T, backend string, o options, before func(j *journal.Journal)) *testDaemon {
	t.Helper()
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	st, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	// warmup tells when the first listing is done: streams created after
	// it are live ones, followed; those before are caught up once.
	appendTo(t, st.Journal, warmup, 0, &aios.BalanceSynced{BalanceMicroCredits: 1_000_000})
	if before != nil {
		before(st.Journal)
	}
	var d *daemon
	var lagodURL string
	var lagodSrv *httptest.Server
	switch backend {
	case "embedded":
		d, err = newDaemon(st.Journal, controller.DefaultConfig(), o, log)
	case "lagod":
		lagod := httptest.NewServer(server.New(server.Config{Store: st, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}))
		t.Cleanup(lagod.Close)
		o.lagod, lagodURL, lagodSrv = lagod.URL, lagod.URL, lagod
		d, err = openDaemon(o, controller.DefaultConfig(), log)
	}
	if err != nil {
		t.Fatal(err)
	}
	base, _ := serve(t, d, listen(t))
	td := &testDaemon{lagod: lagodURL, srv: lagodSrv, d: d, j: st.Journal, logs: logs, base: base}
	waitUntil(t, "warmup stream caught up", func() bool {
		return d.proj.Hub().Seq(aios.StreamID{Session: warmup, Branch: "main"}) > 0
	})
	return td
}

const warmup = "warmup"

func (td *testDaemon) append(t *testing.T, session string, i int, p aios.Payload) {
	t.Helper()
	appendTo(t, td.j, session, i, p)
}

func appendTo(t *testing.T, j *journal.Journal, session string, i int, p aios.Payload) {
	t.Helper()
	if _, err := j.Append(context.Background(), envelope(session, i, p)); err != nil {
		t.Fatal(err)
	}
}

func envelope(session string, i int, p aios.Payload) aios.EventEnvelope {
	return aios.EventEnvelope{EventID: fmt.Sprintf("01JIDLE%s%012d", strings.ToUpper(session), i), SessionID: session, BranchID: "main",
		Timestamp: t0 + uint64(i)*1_000_000, Payload: p, Metadata: map[string]string{}, SchemaVersion: 1}
}

// events returns a stream's events and how many autonomic journaled.
func (td *testDaemon) events(t *testing.T, session string) (all []aios.EventEnvelope, own int) {
	t.Helper()
	for e, err := range td.j.Read(context.Background(), aios.ReadQuery{Stream: aios.StreamID{Session: session, Branch: "main"}}) {
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, e)
		if a, ok := e.Actor(); ok && a.Component == "autonomic" {
			own++
		}
	}
	return all, own
}

// sseClients reads lagod's gauge of open SSE subscriptions.
func (td *testDaemon) sseClients(t *testing.T) int {
	t.Helper()
	resp, err := http.Get(td.lagod + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		var n int
		if _, err := fmt.Sscanf(line, "lago_sse_clients %d", &n); err == nil {
			return n
		}
	}
	t.Fatalf("no lago_sse_clients in\n%s", body)
	return 0
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within 10 s: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// settled waits until every known stream (sessions and warmup) is idle and
// folded to its head, and checks that each event was folded exactly once.
func (td *testDaemon) settled(t *testing.T, sessions ...string) {
	t.Helper()
	hub := td.d.proj.Hub()
	sessions = append(slices.Clone(sessions), warmup)
	waitUntil(t, "all followers idle and caught up", func() bool {
		st := td.d.counts.stats()
		if st.Following != 0 || st.Waiting != 0 || st.Idle != len(sessions) {
			return false
		}
		for _, s := range sessions {
			all, _ := td.events(t, s)
			if hub.Seq(aios.StreamID{Session: s, Branch: "main"}) != all[len(all)-1].Seq {
				return false
			}
		}
		return true
	})
	for _, s := range sessions {
		all, _ := td.events(t, s)
		if v := hub.View(aios.StreamID{Session: s, Branch: "main"}); v.State.Events != uint64(len(all)) {
			t.Fatalf("%s: %d events folded, the journal holds %d", s, v.State.Events, len(all))
		}
	}
}

// TestIdleFollowerStopsAndResumes: a follower stops after the idle period,
// and an event appended later restarts it; the event is folded once and
// its mode change journaled once, without any HTTP request.
func TestIdleFollowerStopsAndResumes(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			td := startDaemon(t, backend, options{poll: 20 * time.Millisecond, idle: 300 * time.Millisecond, maxFollow: 8}, nil)
			td.append(t, "agent", 1, &aios.BalanceSynced{BalanceMicroCredits: 500_000})
			waitUntil(t, "follower started", func() bool { return td.d.counts.stats().Following == 1 })
			if td.lagod != "" {
				waitUntil(t, "an SSE subscription open", func() bool { return td.sseClients(t) == 1 })
			}
			td.settled(t, "agent")
			if td.lagod != "" {
				// The stopped follower let go of its connection.
				waitUntil(t, "no SSE subscription open", func() bool { return td.sseClients(t) == 0 })
			}
			if _, own := td.events(t, "agent"); own != 0 {
				t.Fatalf("%d changes journaled for a solvent agent", own)
			}
			// The follower is gone; this event must bring it back.
			td.append(t, "agent", 2, &aios.CostIncurred{AmountMicroCredits: 600_000, Category: "tool"})
			waitUntil(t, "mode change journaled", func() bool { _, own := td.events(t, "agent"); return own > 0 })
			td.settled(t, "agent")
			if _, own := td.events(t, "agent"); own != 3 {
				t.Fatalf("%d changes journaled, want 3 (economic mode, mode, gates)", own)
			}
			if g, _ := td.d.proj.Hub().Decide(context.Background(), aios.StreamID{Session: "agent", Branch: "main"}); g.EconomicMode != aios.EconomicHibernate {
				t.Fatalf("gating %+v", g)
			}
			if !strings.Contains(td.logs.String(), "follower stopped") {
				t.Fatalf("no idle stop logged:\n%s", td.logs.String())
			}
		})
	}
}

// TestFollowCap: with more streams than --max-follow, no more followers run
// at once than the cap, newest streams go first, the rest are followed as
// followers go idle, and the cap is logged once.
func TestFollowCap(t *testing.T) {
	const streams, limit = 5, 2
	sessions := make([]string, streams)
	for i := range sessions {
		sessions[i] = fmt.Sprintf("s%d", i)
	}
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			td := startDaemon(t, backend, options{poll: 20 * time.Millisecond, idle: 150 * time.Millisecond, maxFollow: limit}, nil)
			// One commit, so one listing finds them all.
			var batch []aios.EventEnvelope
			for i, s := range sessions {
				batch = append(batch, envelope(s, i, &aios.BalanceSynced{BalanceMicroCredits: 0}))
			}
			if _, err := td.j.Append(context.Background(), batch...); err != nil {
				t.Fatal(err)
			}
			hub := td.d.proj.Hub()
			var order []string
			var most int
			var sawWaiting bool
			waitUntil(t, "every stream folded", func() bool {
				st := td.d.counts.stats()
				most = max(most, st.Following)
				sawWaiting = sawWaiting || st.Waiting > 0
				for _, s := range sessions {
					if hub.Seq(aios.StreamID{Session: s, Branch: "main"}) > 0 && !slices.Contains(order, s) {
						order = append(order, s)
					}
				}
				return len(order) == streams
			})
			td.settled(t, sessions...)
			if most > limit || !sawWaiting {
				t.Fatalf("at most %d followers at once (cap %d), waiting seen: %v", most, limit, sawWaiting)
			}
			// The first slots go to the newest streams.
			if first := order[:limit]; !slices.Contains(first, "s4") || !slices.Contains(first, "s3") {
				t.Fatalf("folded in order %v, want s4 and s3 first", order)
			}
			for _, s := range sessions {
				if _, own := td.events(t, s); own != 3 {
					t.Fatalf("%s: %d changes journaled, want 3", s, own)
				}
			}
			if n := strings.Count(td.logs.String(), "follow cap reached"); n != 1 {
				t.Fatalf("cap logged %d times, want once:\n%s", n, td.logs.String())
			}
			if got := td.d.counts.stats(); got != (api.FollowerStats{Idle: streams + 1}) {
				t.Fatalf("stats %+v", got)
			}
		})
	}
}

// TestHealthzCountsFollowers: /healthz reports the follower counts.
func TestHealthzCountsFollowers(t *testing.T) {
	td := startDaemon(t, "embedded", options{idle: time.Hour, maxFollow: 4}, nil)
	td.append(t, "live", 1, &aios.BalanceSynced{BalanceMicroCredits: 1})
	waitUntil(t, "healthz shows one follower", func() bool {
		var h map[string]any
		resp, err := httpGetJSON(td.base+"/healthz", &h)
		return err == nil && resp == 200 && h["following"] == 1.0 && h["idle"] == 1.0 && h["waiting"] == 0.0
	})
}

func httpGetJSON(url string, v any) (int, error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	return resp.StatusCode, json.NewDecoder(resp.Body).Decode(v)
}

// TestStartupCatchesUp: streams already in the journal when the daemon
// starts are caught up once (their changes journaled) without holding a
// follower for the idle period, so a cap far below their number does not
// queue them behind an hour of idling.
func TestStartupCatchesUp(t *testing.T) {
	sessions := []string{"old0", "old1", "old2", "old3"}
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			td := startDaemon(t, backend, options{poll: 20 * time.Millisecond, idle: time.Hour, maxFollow: 1}, func(j *journal.Journal) {
				for i, s := range sessions {
					appendTo(t, j, s, i, &aios.BalanceSynced{BalanceMicroCredits: 0})
				}
			})
			td.settled(t, sessions...)
			for _, s := range sessions {
				if _, own := td.events(t, s); own != 3 {
					t.Fatalf("%s: %d changes journaled, want 3", s, own)
				}
			}
			// Moving again, a caught-up stream is followed.
			td.append(t, "old1", 10, &aios.UserMessage{Content: "back"})
			waitUntil(t, "old1 followed", func() bool { return td.d.counts.stats().Following == 1 })
			waitUntil(t, "old1 folded", func() bool {
				all, _ := td.events(t, "old1")
				return td.d.proj.Hub().Seq(aios.StreamID{Session: "old1", Branch: "main"}) == all[len(all)-1].Seq
			})
		})
	}
}

// TestQueueOrder: waiting streams leave the queue most recently active
// first, then newest first, also after one's activity changes in place.
func TestQueueOrder(t *testing.T) {
	at := func(sec int) time.Time {
		if sec == 0 {
			return time.Time{}
		}
		return time.Unix(int64(sec), 0)
	}
	tests := []struct {
		name   string
		active []int // seconds; 0: not seen moving
		bump   int   // index whose activity becomes the newest, -1: none
		want   []int // indexes in pop order
	}{
		{"never active: newest first", []int{0, 0, 0}, -1, []int{2, 1, 0}},
		{"active before never", []int{5, 0, 3, 0}, -1, []int{0, 2, 3, 1}},
		{"same time: newest first", []int{4, 4, 9}, -1, []int{2, 1, 0}},
		{"bumped in place", []int{5, 7, 0, 6}, 2, []int{2, 1, 3, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var q queue
			ts := make([]*tracked, len(tt.active))
			for i, a := range tt.active {
				ts[i] = &tracked{order: i, active: at(a), index: -1}
				heap.Push(&q, ts[i])
			}
			if tt.bump >= 0 {
				ts[tt.bump].active = at(100)
				heap.Fix(&q, ts[tt.bump].index)
			}
			var got []int
			for q.Len() > 0 {
				tr := heap.Pop(&q).(*tracked)
				if tr.index != -1 {
					t.Fatalf("popped entry keeps index %d", tr.index)
				}
				got = append(got, tr.order)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("pop order %v, want %v", got, tt.want)
			}
		})
	}
}

// A lagod that goes away is warned about once, not at every poll, and its
// return is logged.
func TestLagodOutageLoggedOnce(t *testing.T) {
	td := startDaemon(t, "lagod", options{poll: 10 * time.Millisecond, idle: time.Minute, maxFollow: 8, snapshotEvery: -1}, nil)
	const warn = `level=WARN msg="autonomic: list streams`
	td.srv.CloseClientConnections()
	td.srv.Close()
	waitUntil(t, "several failed polls", func() bool {
		return strings.Count(td.logs.String(), `msg="autonomic: list streams`) >= 4
	})
	if n := strings.Count(td.logs.String(), warn); n != 1 {
		t.Fatalf("%d warnings, want 1:\n%s", n, td.logs.String())
	}
}
