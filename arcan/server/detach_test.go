package server

import (
	"context"
	"errors"
	"iter"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/arcan/runtime"
)

// holdProvider is a fake provider that answers once released (or fails
// when its context ends), and says when a call started.
type holdProvider struct {
	started chan struct{}
	release chan struct{}
}

func (p *holdProvider) Name() string { return "hold" }

func (p *holdProvider) Stream(ctx context.Context, req aios.ChatRequest) iter.Seq2[aios.ProviderEvent, error] {
	return func(yield func(aios.ProviderEvent, error) bool) {
		select {
		case p.started <- struct{}{}:
		default:
		}
		select {
		case <-p.release:
		case <-ctx.Done():
			yield(aios.ProviderEvent{}, ctx.Err())
			return
		}
		if yield(aios.ProviderEvent{Kind: aios.ProviderTextDelta, Text: "finally"}, nil) {
			yield(aios.ProviderEvent{Kind: aios.ProviderDone, Finish: &aios.Finish{StopReason: "end_turn"}}, nil)
		}
	}
}

// A client that goes away from a synchronous or streamed run request no
// longer cancels the run: it goes on (as a background run: a drain waits
// for it, or interrupts it, leaving it to resume) unless the request said
// ?on_disconnect=cancel.
func TestRunOutlivesItsClient(t *testing.T) {
	tests := []struct {
		name, path, body string
		drain            time.Duration // how long the drain waits before the run is released; 0: released first
		wantStatus       string        // of the run, in the journal, after the drain
		wantReason       string
	}{
		{"JSON", "/runs", `{"input":"go"}`, 0, runtime.RunFinishedStatus, runtime.StatusCompleted},
		{"SSE", "/runs", `{"input":"go","stream":true}`, 0, runtime.RunFinishedStatus, runtime.StatusCompleted},
		{"chat completions", "", `{"messages":[{"role":"user","content":"go"}],"stream":true}`, 0, runtime.RunFinishedStatus, runtime.StatusCompleted},
		{"on_disconnect=continue", "/runs?on_disconnect=continue", `{"input":"go"}`, 0, runtime.RunFinishedStatus, runtime.StatusCompleted},
		{"on_disconnect=cancel", "/runs?on_disconnect=cancel", `{"input":"go"}`, 0, runtime.RunFinishedStatus, runtime.StatusCancelled},
		{"SSE, on_disconnect=cancel", "/runs?on_disconnect=cancel", `{"input":"go","stream":true}`, 0, runtime.RunFinishedStatus, runtime.StatusCancelled},
		{"drain times out", "/runs", `{"input":"go"}`, 50 * time.Millisecond, runtime.RunRunning, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, nil)
			prov := &holdProvider{started: make(chan struct{}, 1), release: make(chan struct{})}
			rt, _ := runtime.New(runtime.Config{Journal: e.j, Provider: prov})
			srv, _ := New(Config{Runtime: rt, Journal: e.j})
			ts := httptest.NewServer(srv)
			defer ts.Close()
			defer srv.Close()
			var id, url string
			if tt.path == "" {
				url = ts.URL + "/v1/chat/completions"
			} else {
				id = e.session(t)
				url = ts.URL + "/v1/sessions/" + id + tt.path
			}
			ctx, leave := context.WithCancel(context.Background())
			req, _ := http.NewRequestWithContext(ctx, "POST", url, strings.NewReader(tt.body))
			go func() {
				if resp, err := http.DefaultClient.Do(req); err == nil {
					resp.Body.Close()
				}
			}()
			<-prov.started
			if id == "" { // the one session, created by the chat completion
				ids, _ := e.j.Sessions(context.Background())
				id = ids[0]
			}
			leave()
			// The handler sees the client leave; then the run is released
			// (or the drain gives up first).
			deadline := time.Now().Add(5 * time.Second)
			for !srv.handled() {
				if time.Now().After(deadline) {
					t.Fatal("the handler did not return when its client left")
				}
				time.Sleep(5 * time.Millisecond)
			}
			if tt.drain == 0 {
				close(prov.release)
			} else {
				defer close(prov.release)
			}
			wait := 10 * time.Second
			if tt.drain > 0 {
				wait = tt.drain
			}
			dctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			err := srv.Drain(dctx)
			if (tt.drain > 0) != errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("drain: %v", err)
			}
			st, err := runtime.Reconstruct(context.Background(), e.j, aios.StreamID{Session: id, Branch: "main"})
			if err != nil || st.Run == nil {
				t.Fatalf("%v %+v", err, st)
			}
			if st.Run.Status != tt.wantStatus || st.Run.Reason != tt.wantReason {
				t.Fatalf("run %+v, want %s %s", st.Run, tt.wantStatus, tt.wantReason)
			}
		})
	}
}

// on_disconnect takes continue or cancel; cancel makes no sense for an
// asynchronous run.
func TestOnDisconnectValidated(t *testing.T) {
	e := newEnv(t, nil)
	id := e.session(t)
	for _, c := range []struct{ path, body string }{
		{"/v1/sessions/" + id + "/runs?on_disconnect=later", `{"input":"x"}`},
		{"/v1/sessions/" + id + "/runs?on_disconnect=cancel", `{"input":"x","async":true}`},
		{"/v1/chat/completions?on_disconnect=1", `{"messages":[{"role":"user","content":"x"}]}`},
	} {
		if resp, raw := e.do(t, "POST", c.path, c.body); resp.StatusCode != 400 || !strings.Contains(string(raw), "on_disconnect") {
			t.Fatalf("%s: %d %s", c.path, resp.StatusCode, raw)
		}
	}
}

// handled reports whether a run request's handler has returned.
func (s *Server) handled() bool {
	s.metrics.mu.Lock()
	defer s.metrics.mu.Unlock()
	for k := range s.metrics.requests {
		if k[0] == "/v1/sessions/{id}/runs" || k[0] == "/v1/chat/completions" {
			return true
		}
	}
	return false
}
