package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/arcan/internal/stack"
	"github.com/lifeos/life/arcan/runtime"
	"github.com/lifeos/life/lago/journal"
)

// failingProvider is a fake provider that streams some text, then fails.
type failingProvider struct{}

func (failingProvider) Name() string { return "failing" }

func (failingProvider) Stream(ctx context.Context, req aios.ChatRequest) iter.Seq2[aios.ProviderEvent, error] {
	return func(yield func(aios.ProviderEvent, error) bool) {
		if yield(aios.ProviderEvent{Kind: aios.ProviderTextDelta, Text: "partial "}, nil) {
			yield(aios.ProviderEvent{}, errors.New("upstream overloaded"))
		}
	}
}

// faultyJournal is a fake journal over a real one: when failEnds is set,
// an append that holds a run's end fails; when failSubscribe is set, a
// subscription fails after its first event.
type faultyJournal struct {
	*journal.Journal
	failEnds, failSubscribe atomic.Bool
}

func (j *faultyJournal) Append(ctx context.Context, evs ...aios.EventEnvelope) ([]uint64, error) {
	if j.failEnds.Load() {
		for _, e := range evs {
			switch e.Payload.(type) {
			case *aios.RunErrored, *aios.RunFinished:
				return nil, errors.New("fake journal: disk full")
			}
		}
	}
	return j.Journal.Append(ctx, evs...)
}

func (j *faultyJournal) Subscribe(ctx context.Context, st aios.StreamID, after uint64) iter.Seq2[aios.EventEnvelope, error] {
	if !j.failSubscribe.Load() {
		return j.Journal.Subscribe(ctx, st, after)
	}
	return func(yield func(aios.EventEnvelope, error) bool) {
		for e, err := range j.Journal.Subscribe(ctx, st, after) {
			if !yield(e, err) || err != nil {
				return
			}
			yield(aios.EventEnvelope{}, errors.New("fake journal: corrupt event"))
			return
		}
	}
}

// lastEvent reads an SSE body and returns its last event, failing the
// test if the body ends without one.
func lastEvent(t *testing.T, raw []byte) (name, data string) {
	t.Helper()
	evs := readSSE(t, bytes.NewReader(raw))
	if len(evs) == 0 {
		t.Fatalf("no events in %s", raw)
	}
	// [DONE] only closes the stream; what it closes is the event before.
	i := len(evs) - 1
	if evs[i].Data == "[DONE]" && i > 0 {
		i--
	}
	return evs[i].Name, evs[i].Data
}

// An error in the middle of a stream reaches the client as an error
// event, never as a normal end.
func TestErrorMidStream(t *testing.T) {
	e := newEnv(t, nil)
	fj := &faultyJournal{Journal: e.j}
	rt, _ := runtime.New(runtime.Config{Journal: fj, Provider: failingProvider{}})
	srv, _ := New(Config{Runtime: rt, Journal: fj})
	ts := httptest.NewServer(srv)
	defer ts.Close()
	defer srv.Close()
	e.ts = ts
	isError := map[string]func(name, data string) bool{
		"canonical": func(n, d string) bool { return n == "done" && strings.Contains(d, `"status":"error"`) },
		"openai":    func(n, d string) bool { return strings.HasPrefix(d, `{"error":`) },
		"anthropic": func(n, d string) bool { return n == "error" },
		"vercel":    func(n, d string) bool { return strings.Contains(d, `"type":"error"`) },
	}
	for _, journalFails := range []bool{false, true} {
		fj.failEnds.Store(journalFails)
		for _, format := range []string{"canonical", "openai", "anthropic", "vercel"} {
			t.Run(format+map[bool]string{true: " journal fails"}[journalFails], func(t *testing.T) {
				id := e.session(t)
				_, raw := e.do(t, "POST", "/v1/sessions/"+id+"/runs", `{"input":"x","stream":true,"format":"`+format+`"}`)
				if n, d := lastEvent(t, raw); !isError[format](n, d) {
					t.Fatalf("last event %s %s\n%s", n, d, raw)
				}
				if !strings.Contains(string(raw), "upstream overloaded") {
					t.Fatalf("error not told:\n%s", raw)
				}
				if format == "canonical" {
					evs := readSSE(t, bytes.NewReader(raw))
					sawError := false
					for _, ev := range evs {
						sawError = sawError || ev.Name == "RunErrored" || ev.Name == "error"
					}
					if !sawError {
						t.Fatalf("no error event before done:\n%s", raw)
					}
				}
			})
		}
		t.Run("chat completions"+map[bool]string{true: " journal fails"}[journalFails], func(t *testing.T) {
			resp, raw := e.do(t, "POST", "/v1/chat/completions", `{"stream":true,"messages":[{"role":"user","content":"x"}]}`)
			if resp.StatusCode != 200 {
				t.Fatalf("%d %s", resp.StatusCode, raw)
			}
			evs := readSSE(t, bytes.NewReader(raw))
			last := evs[len(evs)-1]
			if !strings.HasPrefix(last.Data, `{"error":`) || strings.Contains(string(raw), "[DONE]") || strings.Contains(string(raw), `"finish_reason":"stop"`) {
				t.Fatalf("stream did not end on an error:\n%s", raw)
			}
		})
	}
	fj.failEnds.Store(false)

	t.Run("events stream", func(t *testing.T) {
		id := e.session(t)
		fj.failSubscribe.Store(true)
		defer fj.failSubscribe.Store(false)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", ts.URL+"/v1/sessions/"+id+"/events/stream", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		b.ReadFrom(resp.Body) // ends: the server closes the stream after the error
		if n, d := lastEvent(t, b.Bytes()); n != "error" || !strings.Contains(d, "corrupt event") {
			t.Fatalf("last event %s %s\n%s", n, d, b.Bytes())
		}
	})
}

// The index of chat conversations stays bounded, dropping the oldest.
func TestChatIndexBounded(t *testing.T) {
	var c chatIndex
	yes := func(string, uint64) bool { return true }
	// Conversations that go on: each turn takes its key and puts the next.
	for i := range 3 * maxChats {
		c.take(fmt.Sprint("turn", i-1), yes)
		c.put(fmt.Sprint("turn", i), "s", uint64(i))
	}
	if len(c.byKey) != 1 || len(c.order) > 2*maxChats {
		t.Fatalf("%d entries, %d keys in order", len(c.byKey), len(c.order))
	}
	// Conversations left: the oldest go.
	for i := range maxChats + 10 {
		c.put(fmt.Sprint(i), "s", uint64(i))
	}
	if len(c.byKey) > maxChats || len(c.order) > 2*maxChats {
		t.Fatalf("%d entries, %d keys in order", len(c.byKey), len(c.order))
	}
	if _, ok := c.take("1", yes); ok {
		t.Fatal("the oldest entry was kept")
	}
	if s, ok := c.take(fmt.Sprint(maxChats+8), yes); !ok || s != "s" {
		t.Fatal("the newest entry was dropped")
	}
	if _, ok := c.take(fmt.Sprint(maxChats+8), yes); ok {
		t.Fatal("an entry was taken twice")
	}
}

// A pause for approval survives a restart of the daemon: the new process
// lists it, and its approval runs the call exactly once.
func TestApprovalSurvivesDaemonRestart(t *testing.T) {
	dir, ws := t.TempDir(), t.TempDir()
	start := func() (*httptest.Server, *Server, *journal.Journal) { return startAsking(t, dir, ws) }
	post := func(ts *httptest.Server, path, body string) []byte {
		resp, err := http.Post(ts.URL+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		if resp.StatusCode/100 != 2 {
			t.Fatalf("POST %s: %d %s", path, resp.StatusCode, raw)
		}
		return raw
	}
	ts, srv, j := start()
	var info SessionInfo
	json.Unmarshal(post(ts, "/v1/sessions", `{}`), &info)
	var res runtime.Result
	json.Unmarshal(post(ts, "/v1/sessions/"+info.SessionID+"/runs", `{"input":"write once"}`), &res)
	if res.Status != runtime.StatusAwaitingApproval || len(res.Approvals) != 1 {
		t.Fatalf("%+v", res)
	}
	ts.Close()
	srv.Close()
	j.Close()

	ts, srv, j = start()
	defer j.Close()
	defer srv.Close()
	defer ts.Close()
	if n, err := srv.ResumeInterrupted(context.Background()); err != nil || n != 0 {
		t.Fatalf("a paused run was resumed without its approval: %d %v", n, err)
	}
	resp, err := http.Get(ts.URL + "/v1/sessions/" + info.SessionID + "/approvals")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(raw), res.Approvals[0].ApprovalID) {
		t.Fatalf("approval lost in the restart: %s", raw)
	}
	post(ts, "/v1/sessions/"+info.SessionID+"/signals", `{"type":"approve","approval_id":"`+res.Approvals[0].ApprovalID+`"}`)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(ws, "out.txt")); err != nil || string(b) != "once" {
		t.Fatalf("approved write: %q %v", b, err)
	}
	st, _ := runtime.Reconstruct(ctx, j, aios.StreamID{Session: info.SessionID, Branch: "main"})
	started := 0
	for _, m := range st.Messages {
		if m.Role == aios.RoleTool && m.ToolName == "write_file" {
			started++
		}
	}
	if started != 1 || st.Run.Status != runtime.RunFinishedStatus {
		t.Fatalf("%d write results, run %+v", started, st.Run)
	}
}

// A shutdown whose drain times out interrupts the background runs left:
// they stay unfinished in the journal, and the next process resumes them
// (they used to be journaled as cancelled, and so were never resumed).
func TestDrainTimeoutLeavesRunsResumable(t *testing.T) {
	e := newEnv(t, nil)
	id := e.session(t)
	prov, srv, ts := blockingServer(t, e)
	resp, err := http.Post(ts.URL+"/v1/sessions/"+id+"/runs", "application/json", strings.NewReader(`{"input":"slow","async":true}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatal(resp.Status)
	}
	prov.started.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := srv.Drain(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("drain: %v", err)
	}
	close(prov.release)
	stream := aios.StreamID{Session: id, Branch: "main"}
	st, err := runtime.Reconstruct(context.Background(), e.j, stream)
	if err != nil || st.Run == nil || st.Run.Status != runtime.RunRunning {
		t.Fatalf("run after an interrupted drain: %+v %v", st.Run, err)
	}
	next, _ := runtime.New(runtime.Config{Journal: e.j, Provider: failingProvider{}})
	nsrv, _ := New(Config{Runtime: next, Journal: e.j})
	defer nsrv.Close()
	if n, err := nsrv.ResumeInterrupted(context.Background()); n != 1 || err != nil {
		t.Fatalf("resumed %d %v", n, err)
	}
}

// /events pages: limit is honoured up to 10000 (a bigger one is that
// cap, not the default of 1000), and head tells whether more follow.
func TestEventsPaging(t *testing.T) {
	e := newEnv(t, nil)
	id := e.session(t)
	notes := make([]aios.Payload, 1500)
	for i := range notes {
		notes[i] = &aios.UserMessage{Content: fmt.Sprint("note ", i)}
	}
	if err := e.srv.cfg.Runtime.Append(context.Background(), aios.StreamID{Session: id, Branch: "main"}, notes...); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		query string
		n     int
	}{{"", 1000}, {"?limit=1200", 1200}, {"?limit=999999", 1501}, {"?after=1400&limit=50", 50}, {"?after=1501", 0}} {
		resp, raw := e.do(t, "GET", "/v1/sessions/"+id+"/events"+tc.query, "")
		var evs EventList
		if err := json.Unmarshal(raw, &evs); err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s: %d %.200s", tc.query, resp.StatusCode, raw)
		}
		if len(evs.Events) != tc.n || evs.Head != 1501 {
			t.Errorf("%s: %d events (want %d), head %d", tc.query, len(evs.Events), tc.n, evs.Head)
		}
	}
}

// An approval decided while arcand drains (or just before it stops) is
// durable but its run was not resumed: the next start resumes it, the
// approved call runs once, and a run started while draining is 503.
func TestDecidedApprovalResumesAfterRestart(t *testing.T) {
	dir, ws := t.TempDir(), t.TempDir()
	start := func() (*httptest.Server, *Server, *journal.Journal) { return startAsking(t, dir, ws) }
	post := func(ts *httptest.Server, path, body string) (int, []byte) {
		resp, err := http.Post(ts.URL+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, raw
	}
	ts, srv, j := start()
	var info, other SessionInfo
	_, raw := post(ts, "/v1/sessions", `{}`)
	json.Unmarshal(raw, &info)
	_, raw = post(ts, "/v1/sessions", `{}`)
	json.Unmarshal(raw, &other)
	var res runtime.Result
	_, raw = post(ts, "/v1/sessions/"+info.SessionID+"/runs", `{"input":"write once"}`)
	json.Unmarshal(raw, &res)
	if res.Status != runtime.StatusAwaitingApproval || len(res.Approvals) != 1 {
		t.Fatalf("%+v", res)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Drain(ctx); err != nil { // draining: no run starts from now on
		t.Fatal(err)
	}
	if code, raw := post(ts, "/v1/sessions/"+other.SessionID+"/runs", `{"input":"more"}`); code != http.StatusServiceUnavailable {
		t.Fatalf("run started while draining: %d %s", code, raw)
	}
	code, raw := post(ts, "/v1/sessions/"+info.SessionID+"/signals", `{"type":"approve","approval_id":"`+res.Approvals[0].ApprovalID+`"}`)
	if code != http.StatusOK {
		t.Fatalf("approve while draining: %d %s", code, raw)
	}
	if _, err := os.Stat(filepath.Join(ws, "out.txt")); err == nil {
		t.Fatal("the approved call ran while draining")
	}
	ts.Close()
	srv.Close()
	j.Close()

	ts, srv, j = start()
	defer j.Close()
	defer srv.Close()
	defer ts.Close()
	if n, err := srv.ResumeInterrupted(ctx); err != nil || n != 1 {
		t.Fatalf("decided run not resumed at start: %d %v", n, err)
	}
	if err := srv.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(ws, "out.txt")); err != nil || string(b) != "once" {
		t.Fatalf("approved write: %q %v", b, err)
	}
	st, _ := runtime.Reconstruct(ctx, j, aios.StreamID{Session: info.SessionID, Branch: "main"})
	if st.Run.Status != runtime.RunFinishedStatus {
		t.Fatalf("run %+v", st.Run)
	}
}

// A streamed chat completion sends its headers once the run took the
// input, before the model answers: a client waiting for headers does not
// wait for the model.
func TestChatStreamHeadersBeforeModel(t *testing.T) {
	e := newEnv(t, nil)
	prov, srv, ts := blockingServer(t, e)
	defer srv.Close()
	got := make(chan *http.Response, 1)
	go func() {
		resp, err := http.Post(ts.URL+"/v1/chat/completions", "application/json",
			strings.NewReader(`{"model":"agent","stream":true,"messages":[{"role":"user","content":"hi"}]}`))
		if err != nil {
			t.Error(err)
			close(got)
			return
		}
		got <- resp
	}()
	select {
	case resp := <-got:
		if resp == nil {
			return
		}
		defer resp.Body.Close()
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
			t.Fatalf("content type %q", ct)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no response headers while the model has not answered")
	}
	close(prov.release)
}

// startAsking starts arcand over the journal in dir with the write tool
// in ws behind an "ask" policy, as a restarted daemon would.
func startAsking(t *testing.T, dir, ws string) (*httptest.Server, *Server, *journal.Journal) {
	t.Helper()
	j, err := journal.Open(filepath.Join(dir, "j.db"), journal.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := stack.NewTools(ws, "", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	pol, _ := stack.NewPolicy(stack.ApproveAsk, reg)
	rt, err := runtime.New(runtime.Config{Journal: j, Provider: &writeProvider{}, Tools: reg, Policy: pol})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(Config{Runtime: rt, Journal: j})
	if err != nil {
		t.Fatal(err)
	}
	return httptest.NewServer(srv), srv, j
}
