package server

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"iter"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/arcan/internal/stack"
	"github.com/lifeos/life/arcan/provider/mock"
	"github.com/lifeos/life/arcan/provider/wire"
	"github.com/lifeos/life/arcan/runtime"
	"github.com/lifeos/life/lago/journal"
)

var update = flag.Bool("update", false, "rewrite golden files")

// writeProvider is a fake provider that asks to write a file once, then
// answers; everything else goes to the mock.
type writeProvider struct{ mock.Provider }

func (p *writeProvider) Stream(ctx context.Context, req aios.ChatRequest) iter.Seq2[aios.ProviderEvent, error] {
	last := req.Messages[len(req.Messages)-1]
	if last.Role == aios.RoleUser && strings.HasPrefix(last.Content, "write ") {
		return func(yield func(aios.ProviderEvent, error) bool) {
			args, _ := json.Marshal(map[string]string{"path": "out.txt", "content": strings.TrimPrefix(last.Content, "write ")})
			if yield(aios.ProviderEvent{Kind: aios.ProviderToolCall, ToolCall: &aios.ToolCall{ID: "w1", Name: "write_file", Arguments: args}}, nil) {
				yield(aios.ProviderEvent{Kind: aios.ProviderDone, Finish: &aios.Finish{StopReason: "tool_use"}}, nil)
			}
		}
	}
	return p.Provider.Stream(ctx, req)
}

type env struct {
	srv *Server
	ts  *httptest.Server
	j   *journal.Journal
	ws  string
}

func newEnv(t testing.TB, mod func(*Config)) *env {
	t.Helper()
	dir, ws := t.TempDir(), t.TempDir()
	os.WriteFile(filepath.Join(ws, "hello.txt"), []byte("hi"), 0o600)
	j, err := journal.Open(filepath.Join(dir, "j.db"), journal.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	reg, err := stack.NewTools(ws, "", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	pol, _ := stack.NewPolicy(stack.ApproveAsk, reg)
	rt, err := runtime.New(runtime.Config{Journal: j, Provider: &writeProvider{}, Tools: reg, Policy: pol})
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Runtime: rt, Journal: j, Version: "test", Branches: func(ctx context.Context, session string) ([]BranchInfo, error) {
		infos, err := j.Streams(ctx, session)
		var out []BranchInfo
		for _, i := range infos {
			out = append(out, BranchInfo{Branch: i.Stream.Branch, Parent: i.Parent, ForkSeq: i.Fork, Head: i.Head})
		}
		return out, err
	}}
	if mod != nil {
		mod(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(func() { ts.Close(); srv.Close() })
	return &env{srv: srv, ts: ts, j: j, ws: ws}
}

func (e *env) do(t testing.TB, method, path, body string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, e.ts.URL+path, strings.NewReader(body))
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp, raw
}

func (e *env) session(t testing.TB) string {
	t.Helper()
	resp, raw := e.do(t, "POST", "/v1/sessions", `{"name":"t"}`)
	if resp.StatusCode != 201 {
		t.Fatalf("%d %s", resp.StatusCode, raw)
	}
	var s SessionInfo
	json.Unmarshal(raw, &s)
	return s.SessionID
}

func TestBasics(t *testing.T) {
	e := newEnv(t, nil)
	id := e.session(t)
	tests := []struct {
		method, path, body string
		status             int
		contains           string
	}{
		{"GET", "/healthz", "", 200, `"ok"`},
		{"GET", "/version", "", 200, `"version":"test"`},
		{"GET", "/v1/sessions", "", 200, id},
		{"GET", "/v1/sessions/" + id, "", 200, `"branch":"main"`},
		{"GET", "/v1/sessions/nosuch", "", 404, "not_found"},
		{"GET", "/v1/sessions/" + id + "?branch=nosuch", "", 404, "not_found"},
		{"POST", "/v1/sessions", `{"nam":"typo"}`, 400, "unknown field"},
		{"POST", "/v1/sessions", `{"name":"x"} {}`, 400, "trailing"},
		{"POST", "/v1/sessions", `not json`, 400, "invalid_request"},
		{"POST", "/v1/sessions/" + id + "/runs", `{"input":""}`, 400, "input is empty"},
		{"POST", "/v1/sessions/" + id + "/runs", `{"input":"x","format":"xml"}`, 400, "format"},
		{"POST", "/v1/sessions/nosuch/runs", `{"input":"x"}`, 404, "not_found"},
		{"POST", "/v1/sessions/" + id + "/signals", `{"type":"explode"}`, 400, "signal type"},
		{"POST", "/v1/sessions/" + id + "/signals", `{"type":"approve"}`, 400, "approval_id"},
		{"POST", "/v1/sessions/" + id + "/signals", `{"type":"approve","approval_id":"nope"}`, 404, "not_found"},
		{"POST", "/v1/sessions/" + id + "/signals", `{"type":"cancel"}`, 200, "no active run"},
		{"GET", "/v1/sessions/" + id + "/events?after=x", "", 400, "after"},
		{"GET", "/v1/sessions/" + id + "/events/stream?format=nope", "", 400, "format"},
		{"GET", "/v1/sessions/" + id + "/events/stream", "", 400, "Last-Event-ID"},
		{"GET", "/v1/sessions/" + id + "/approvals", "", 200, `"approvals":[]`},
		{"POST", "/v1/chat/completions", `{"messages":[]}`, 400, "messages is empty"},
		{"POST", "/v1/chat/completions", `{"messages":[{"role":"assistant","content":"x"}]}`, 400, "last message"},
		{"POST", "/v1/chat/completions", `{"messages":[{"role":"user","content":[{"type":"image_url"}]}]}`, 400, "text only"},
		{"POST", "/v1/chat/completions", `{"messages":[{"role":"user","content":"x"}]} {"messages":[]}`, 400, "trailing"},
		{"POST", "/v1/chat/completions", `{"messages":[{"role":"user","content":"` + strings.Repeat("a", 9<<20) + `"}]}`, 413, "larger than"},
		{"POST", "/v1/sessions/" + id + "/runs", `{"input":"` + strings.Repeat("a", 5<<20) + `"}`, 413, "larger than"},
		{"POST", "/v1/sessions/" + id + "/signals", `{"type":7}`, 400, "invalid_request"},
		{"POST", "/v1/sessions/" + id + "/signals", `{"type":"resume"}`, 404, "no unfinished run"},
		{"POST", "/v1/sessions/" + id + "/signals", `{"type":"message"}`, 400, "input is required"},
		{"GET", "/v1/sessions/" + id + "/events?branch=nosuch", "", 404, "not_found"},
		{"GET", "/v1/sessions/nosuch/events", "", 404, "not_found"},
		{"GET", "/v1/sessions/" + id + "/events?after=-1", "", 400, "after"},
		{"GET", "/v1/sessions/" + id + "/events?limit=ten", "", 400, "limit"},
		{"GET", "/v1/sessions/" + id + "/state?branch=a%2Fb", "", 400, "branch id"},
		{"GET", "/v1/sessions/" + strings.Repeat("s", 300), "", 400, "session id"},
		{"POST", "/v1/sessions/" + id + "/branches", `{"name":"b1","at":99999}`, 409, "past head"},
		{"POST", "/v1/sessions/" + id + "/branches", `{"name":""}`, 400, "branch id"},
		{"POST", "/v1/sessions/" + id + "/branches", `{"name":"b2","from":"nosuch"}`, 404, "not_found"},
		{"POST", "/v1/sessions/" + id + "/branches/nosuch/merge", `{}`, 404, "not_found"},
	}
	for _, tc := range tests {
		hdr := []string{}
		if strings.HasSuffix(tc.path, "/events/stream") {
			hdr = []string{"Last-Event-ID", "abc"}
		}
		resp, raw := e.do(t, tc.method, tc.path, tc.body, hdr...)
		if resp.StatusCode != tc.status || !strings.Contains(string(raw), tc.contains) {
			t.Errorf("%s %s %.80s: %d %.300s", tc.method, tc.path, tc.body, resp.StatusCode, raw)
		}
	}
	for _, lastID := range []string{"-1", "1.5", "18446744073709551616"} {
		resp, raw := e.do(t, "GET", "/v1/sessions/"+id+"/events/stream", "", "Last-Event-ID", lastID)
		if resp.StatusCode != 400 || !strings.Contains(string(raw), "Last-Event-ID") {
			t.Errorf("Last-Event-ID %q: %d %s", lastID, resp.StatusCode, raw)
		}
	}
	// Nothing the bad requests sent reached the journal.
	st, err := runtime.Reconstruct(context.Background(), e.j, aios.StreamID{Session: id, Branch: "main"})
	if err != nil || len(st.Messages) != 0 || st.Runs != 0 {
		t.Fatalf("bad requests changed the session: %+v %v", st, err)
	}
	_, raw := e.do(t, "GET", "/metrics", "")
	if !strings.Contains(string(raw), `arcan_http_requests_total{route="/healthz",code="200"} 1`) || !strings.Contains(string(raw), "arcan_runs_active 0\n") || !strings.Contains(string(raw), "arcan_sessions_cached 1\n") {
		t.Fatalf("metrics:\n%s", raw)
	}
}

func TestRunJSONAndState(t *testing.T) {
	e := newEnv(t, nil)
	id := e.session(t)
	resp, raw := e.do(t, "POST", "/v1/sessions/"+id+"/runs", `{"input":"What files are in this directory?"}`)
	var res runtime.Result
	json.Unmarshal(raw, &res)
	if resp.StatusCode != 200 || res.Status != runtime.StatusCompleted || !strings.Contains(res.FinalAnswer, "hello.txt") {
		t.Fatalf("%d %s", resp.StatusCode, raw)
	}
	_, state := e.do(t, "GET", "/v1/sessions/"+id+"/state", "")
	st, _ := runtime.Reconstruct(context.Background(), e.j, aios.StreamID{Session: id, Branch: "main"})
	want, _ := st.Encode()
	if strings.TrimSpace(string(state)) != string(want) {
		t.Fatalf("state over HTTP differs from replay:\n%s\n%s", state, want)
	}
	_, raw = e.do(t, "GET", "/v1/sessions/"+id+"/events?after=2&limit=3", "")
	var evs EventList
	json.Unmarshal(raw, &evs)
	if len(evs.Events) != 3 || evs.Head != st.LastSeq {
		t.Fatalf("events %s", raw)
	}
	first, err := aios.DecodeEnvelope(evs.Events[0])
	if err != nil || first.Seq != 3 {
		t.Fatalf("%v %+v", err, first)
	}
}

func readSSE(t *testing.T, body io.Reader) []wire.Event {
	var out []wire.Event
	for ev, err := range wire.ReadSSE(body) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, ev)
	}
	return out
}

func TestRunSSEFormats(t *testing.T) {
	e := newEnv(t, nil)
	for _, format := range []string{"canonical", "openai", "anthropic", "vercel"} {
		t.Run(format, func(t *testing.T) {
			id := e.session(t)
			resp, raw := e.do(t, "POST", "/v1/sessions/"+id+"/runs", `{"input":"list files","stream":true,"format":"`+format+`"}`)
			if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
				t.Fatalf("%d %s", resp.StatusCode, raw)
			}
			evs := readSSE(t, bytes.NewReader(raw))
			var text strings.Builder
			for _, ev := range evs {
				var v map[string]any
				if ev.Data == "[DONE]" {
					continue
				}
				if err := json.Unmarshal([]byte(ev.Data), &v); err != nil {
					t.Fatalf("bad data %q", ev.Data)
				}
				switch format {
				case "canonical":
					if p, ok := v["payload"].(map[string]any); ok && ev.Name == "AssistantTextDelta" && ev.ID == "" {
						text.WriteString(p["delta"].(string)) // live pieces carry no id
					}
				case "openai":
					if ch, ok := v["choices"].([]any); ok && len(ch) > 0 {
						if c, ok := ch[0].(map[string]any)["delta"].(map[string]any)["content"].(string); ok {
							text.WriteString(c)
						}
					}
				case "anthropic":
					if d, ok := v["delta"].(map[string]any); ok && d["type"] == "text_delta" {
						text.WriteString(d["text"].(string))
					}
				case "vercel":
					if v["type"] == "text-delta" {
						text.WriteString(v["delta"].(string))
					}
				}
			}
			if !strings.Contains(text.String(), "hello.txt") {
				t.Fatalf("streamed text %q\n%s", text.String(), raw)
			}
			last := evs[len(evs)-1]
			switch format {
			case "canonical":
				if last.Name != "done" || !strings.Contains(last.Data, `"status":"completed"`) {
					t.Fatalf("last %+v", last)
				}
				// Durable events carry their seq as the SSE id.
				if evs[0].ID == "" {
					t.Fatalf("first event without id: %+v", evs[0])
				}
			case "openai", "vercel":
				if last.Data != "[DONE]" {
					t.Fatalf("last %+v", last)
				}
			case "anthropic":
				if last.Name != "message_stop" {
					t.Fatalf("last %+v", last)
				}
			}
		})
	}
}

func TestEventStreamResume(t *testing.T) {
	e := newEnv(t, nil)
	id := e.session(t)
	e.do(t, "POST", "/v1/sessions/"+id+"/runs", `{"input":"hello"}`)
	head, _ := e.j.Head(context.Background(), aios.StreamID{Session: id, Branch: "main"})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", e.ts.URL+"/v1/sessions/"+id+"/events/stream", nil)
	req.Header.Set("Last-Event-ID", "2")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got := make(chan wire.Event, 100)
	go func() {
		for ev, err := range wire.ReadSSE(resp.Body) {
			if err != nil {
				break
			}
			got <- ev
		}
		close(got)
	}()
	want := uint64(3)
	deadline := time.After(5 * time.Second)
	for want <= head+1 {
		select {
		case ev := <-got:
			if ev.ID != strconvU(want) {
				t.Fatalf("got id %s want %d", ev.ID, want)
			}
			want++
			if want == head+1 {
				// A live event after the stored ones arrives too.
				go http.Post(e.ts.URL+"/v1/sessions/"+id+"/runs", "application/json", strings.NewReader(`{"input":"again"}`))
			}
		case <-deadline:
			t.Fatalf("stalled at seq %d (head %d)", want, head)
		}
	}
}

func strconvU(n uint64) string { b, _ := json.Marshal(n); return string(b) }

func TestApprovalOverHTTP(t *testing.T) {
	e := newEnv(t, nil)
	id := e.session(t)
	_, raw := e.do(t, "POST", "/v1/sessions/"+id+"/runs", `{"input":"write hello"}`)
	var res runtime.Result
	json.Unmarshal(raw, &res)
	if res.Status != runtime.StatusAwaitingApproval || len(res.Approvals) != 1 {
		t.Fatalf("%s", raw)
	}
	if _, err := os.Stat(filepath.Join(e.ws, "out.txt")); err == nil {
		t.Fatal("file written before approval")
	}
	resp, raw := e.do(t, "POST", "/v1/sessions/"+id+"/runs", `{"input":"more"}`)
	if resp.StatusCode != 409 {
		t.Fatalf("run while waiting: %d %s", resp.StatusCode, raw)
	}
	for _, stream := range []string{"false", "true"} {
		resp, raw = e.do(t, "POST", "/v1/chat/completions", `{"stream":`+stream+`,"messages":[{"role":"user","content":"more"}]}`, SessionHeader, id)
		if resp.StatusCode != 409 || !strings.Contains(string(raw), "waiting for approval") {
			t.Fatalf("chat completion (stream %s) while waiting: %d %s", stream, resp.StatusCode, raw)
		}
	}
	_, raw = e.do(t, "GET", "/v1/sessions/"+id+"/approvals", "")
	if !strings.Contains(string(raw), res.Approvals[0].ApprovalID) {
		t.Fatalf("%s", raw)
	}
	resp, raw = e.do(t, "POST", "/v1/sessions/"+id+"/signals", `{"type":"approve","approval_id":"`+res.Approvals[0].ApprovalID+`"}`)
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, raw)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.srv.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(e.ws, "out.txt"))
	if err != nil || string(b) != "hello" {
		t.Fatalf("approved write: %q %v", b, err)
	}
	st, _ := runtime.Reconstruct(ctx, e.j, aios.StreamID{Session: id, Branch: "main"})
	if st.Run.Status != runtime.RunFinishedStatus {
		t.Fatalf("run %+v", st.Run)
	}
}

// A cancel signal also ends a run that waits for approval: nothing it
// asked for runs, and the session takes new input.
func TestCancelPausedOverHTTP(t *testing.T) {
	e := newEnv(t, nil)
	id := e.session(t)
	_, raw := e.do(t, "POST", "/v1/sessions/"+id+"/runs", `{"input":"write hello"}`)
	var res runtime.Result
	json.Unmarshal(raw, &res)
	if res.Status != runtime.StatusAwaitingApproval {
		t.Fatalf("%s", raw)
	}
	resp, raw := e.do(t, "POST", "/v1/sessions/"+id+"/signals", `{"type":"cancel"}`)
	if resp.StatusCode != 200 || !strings.Contains(string(raw), `"accepted":true`) {
		t.Fatalf("%d %s", resp.StatusCode, raw)
	}
	_, raw = e.do(t, "GET", "/v1/sessions/"+id+"/approvals", "")
	if !strings.Contains(string(raw), `"approvals":[]`) {
		t.Fatalf("approvals left: %s", raw)
	}
	resp, raw = e.do(t, "POST", "/v1/sessions/"+id+"/signals", `{"type":"approve","approval_id":"`+res.Approvals[0].ApprovalID+`"}`)
	if resp.StatusCode != 404 {
		t.Fatalf("approval of a cancelled run: %d %s", resp.StatusCode, raw)
	}
	resp, raw = e.do(t, "POST", "/v1/sessions/"+id+"/runs", `{"input":"hello"}`)
	if resp.StatusCode != 200 || !strings.Contains(string(raw), `"status":"completed"`) {
		t.Fatalf("run after cancel: %d %s", resp.StatusCode, raw)
	}
	if _, err := os.Stat(filepath.Join(e.ws, "out.txt")); err == nil {
		t.Fatal("the cancelled run's write happened")
	}
}

func TestBranches(t *testing.T) {
	e := newEnv(t, nil)
	id := e.session(t)
	e.do(t, "POST", "/v1/sessions/"+id+"/runs", `{"input":"hello"}`)
	resp, raw := e.do(t, "POST", "/v1/sessions/"+id+"/branches", `{"name":"alt"}`)
	if resp.StatusCode != 201 {
		t.Fatalf("%d %s", resp.StatusCode, raw)
	}
	resp, raw = e.do(t, "POST", "/v1/sessions/"+id+"/runs?branch=alt", `{"input":"on the branch"}`)
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, raw)
	}
	_, raw = e.do(t, "GET", "/v1/sessions/"+id+"/state?branch=alt", "")
	if !strings.Contains(string(raw), `"content":"hello"`) || !strings.Contains(string(raw), "on the branch") {
		t.Fatalf("branch state lacks history: %s", raw)
	}
	_, raw = e.do(t, "GET", "/v1/sessions/"+id+"/state", "")
	if strings.Contains(string(raw), "on the branch") {
		t.Fatal("branch leaked into main")
	}
	_, raw = e.do(t, "GET", "/v1/sessions/"+id+"/branches", "")
	if !strings.Contains(string(raw), `"branch":"alt"`) || !strings.Contains(string(raw), `"parent":"main"`) {
		t.Fatalf("%s", raw)
	}
	resp, raw = e.do(t, "POST", "/v1/sessions/"+id+"/branches/alt/merge", `{}`)
	if resp.StatusCode != 200 || !strings.Contains(string(raw), `"seq"`) {
		t.Fatalf("%d %s", resp.StatusCode, raw)
	}
	resp, _ = e.do(t, "POST", "/v1/sessions/"+id+"/branches", `{"name":"alt"}`)
	if resp.StatusCode != 409 {
		t.Fatalf("duplicate branch: %d", resp.StatusCode)
	}
}

func TestChatCompletions(t *testing.T) {
	e := newEnv(t, nil)
	resp, raw := e.do(t, "POST", "/v1/chat/completions", `{"model":"agent","messages":[{"role":"system","content":"be nice"},{"role":"user","content":"What files are in this directory?"}],"temperature":0.2}`)
	var cc ChatCompletion
	if err := json.Unmarshal(raw, &cc); err != nil || resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, raw)
	}
	var content string
	json.Unmarshal(cc.Choices[0].Message.Content, &content)
	if cc.Object != "chat.completion" || !strings.Contains(content, "hello.txt") || cc.Choices[0].FinishReason != "stop" || cc.Usage.TotalTokens == 0 {
		t.Fatalf("%s", raw)
	}
	sid := resp.Header.Get(SessionHeader)
	st, _ := runtime.Reconstruct(context.Background(), e.j, aios.StreamID{Session: sid, Branch: "main"})
	if len(st.Messages) == 0 || st.Messages[0].Role != aios.RoleSystem {
		t.Fatalf("history not seeded: %+v", st.Messages)
	}
	// Streaming, continuing the same session.
	resp, raw = e.do(t, "POST", "/v1/chat/completions", `{"model":"agent","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hello"}]}`, SessionHeader, sid)
	evs := readSSE(t, bytes.NewReader(raw))
	if resp.StatusCode != 200 || evs[len(evs)-1].Data != "[DONE]" || !strings.Contains(string(raw), `"usage"`) || !strings.Contains(string(raw), "hello") {
		t.Fatalf("%d %s", resp.StatusCode, raw)
	}
	st, _ = runtime.Reconstruct(context.Background(), e.j, aios.StreamID{Session: sid, Branch: "main"})
	if st.Runs != 2 {
		t.Fatalf("runs %d", st.Runs)
	}
}

func TestCancelSignal(t *testing.T) {
	e := newEnv(t, nil)
	id := e.session(t)
	// A slow run: block the provider through a request that never ends.
	prov, _, ts := blockingServer(t, e)
	defer close(prov.release)
	done := make(chan []byte)
	go func() {
		resp, err := http.Post(ts.URL+"/v1/sessions/"+id+"/runs", "application/json", strings.NewReader(`{"input":"wait"}`))
		if err != nil {
			done <- nil
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		done <- b
	}()
	prov.started.Wait()
	resp, err := http.Post(ts.URL+"/v1/sessions/"+id+"/signals", "application/json", strings.NewReader(`{"type":"cancel"}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(b), `"accepted":true`) {
		t.Fatalf("%s", b)
	}
	if got := <-done; !strings.Contains(string(got), `"status":"cancelled"`) {
		t.Fatalf("run answer %s", got)
	}
}

// blockingServer serves e's journal through a runtime whose provider
// blocks until prov.release is closed; ts closes when the test ends.
func blockingServer(t *testing.T, e *env) (*blockingProvider, *Server, *httptest.Server) {
	t.Helper()
	prov := &blockingProvider{release: make(chan struct{})}
	prov.started.Add(1)
	rt, err := runtime.New(runtime.Config{Journal: e.j, Provider: prov})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(Config{Runtime: rt, Journal: e.j})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return prov, srv, ts
}

type blockingProvider struct {
	release chan struct{}
	started sync.WaitGroup
	once    sync.Once
}

func (p *blockingProvider) Name() string { return "blocking" }

func (p *blockingProvider) Stream(ctx context.Context, req aios.ChatRequest) iter.Seq2[aios.ProviderEvent, error] {
	return func(yield func(aios.ProviderEvent, error) bool) {
		p.once.Do(p.started.Done)
		select {
		case <-p.release:
		case <-ctx.Done():
			yield(aios.ProviderEvent{}, ctx.Err())
		}
	}
}

func TestOpenAPI(t *testing.T) {
	e := newEnv(t, nil)
	resp, raw := e.do(t, "GET", "/openapi.json", "")
	if resp.StatusCode != 200 {
		t.Fatal(resp.StatusCode)
	}
	var doc struct {
		OpenAPI string                    `json:"openapi"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil || doc.OpenAPI != "3.1.0" {
		t.Fatalf("%v %s", err, raw[:100])
	}
	for _, r := range e.srv.routes() {
		if doc.Paths[r.Path][strings.ToLower(r.Method)] == nil {
			t.Errorf("%s %s missing from the document", r.Method, r.Path)
		}
	}
	var pretty bytes.Buffer
	json.Indent(&pretty, raw, "", "  ")
	golden := filepath.Join("testdata", "openapi.json")
	if *update {
		os.WriteFile(golden, pretty.Bytes(), 0o644)
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if !bytes.Equal(want, pretty.Bytes()) {
		t.Fatal("openapi.json changed: review and run go test ./server -run TestOpenAPI -update")
	}
}

// fakeVerifier accepts "good" as a token of did:key:zgood.
type fakeVerifier struct{}

func (fakeVerifier) Verify(_ context.Context, tok, aud string) (aios.TokenClaims, error) {
	if tok == "good" && aud == "arcand" {
		return aios.TokenClaims{DID: "did:key:zgood"}, nil
	}
	if tok == "stranger" {
		return aios.TokenClaims{DID: "did:key:zother"}, nil
	}
	return aios.TokenClaims{}, aios.ErrUnauthorized
}

func TestAuth(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.Verifier, c.Audience, c.AllowDIDs = fakeVerifier{}, "arcand", []string{"did:key:zgood"}
	})
	for _, tc := range []struct {
		path, tok string
		status    int
	}{
		{"/healthz", "", 200},
		{"/v1/sessions", "", 401},
		{"/v1/sessions", "bad", 401},
		{"/v1/sessions", "stranger", 401},
		{"/v1/sessions", "good", 200},
	} {
		var hdr []string
		if tc.tok != "" {
			hdr = []string{"Authorization", "Bearer " + tc.tok}
		}
		resp, raw := e.do(t, "GET", tc.path, "", hdr...)
		if resp.StatusCode != tc.status {
			t.Errorf("%s %q: %d %s", tc.path, tc.tok, resp.StatusCode, raw)
		}
	}
	if _, err := New(Config{Runtime: e.srv.cfg.Runtime, Journal: e.j, Verifier: fakeVerifier{}}); err == nil {
		t.Fatal("auth without allowed DIDs accepted")
	}
}

func TestShutdownEndsLiveStreams(t *testing.T) {
	e := newEnv(t, nil)
	id := e.session(t)
	resp, err := http.Get(e.ts.URL + "/v1/sessions/" + id + "/events/stream")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { io.Copy(io.Discard, resp.Body); close(done) }()
	e.srv.Shutdown()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("event stream still open after Shutdown")
	}
}

// An OpenAI client without the session header sends the whole
// conversation each turn: its next turn continues the session that
// answered it, journaling only the new message, not the history again.
func TestChatCompletionsContinueWithoutHeader(t *testing.T) {
	e := newEnv(t, nil)
	type msg struct{ Role, Content string }
	body := func(stream bool, msgs ...msg) string {
		var parts []string
		for _, m := range msgs {
			r, _ := json.Marshal(map[string]string{"role": m.Role, "content": m.Content})
			parts = append(parts, string(r))
		}
		return `{"model":"agent","stream":` + map[bool]string{true: "true", false: "false"}[stream] + `,"messages":[` + strings.Join(parts, ",") + `]}`
	}
	answer := func(stream bool, raw []byte) string {
		if !stream {
			var cc ChatCompletion
			json.Unmarshal(raw, &cc)
			var s string
			json.Unmarshal(cc.Choices[0].Message.Content, &s)
			return s
		}
		var b strings.Builder
		for _, ev := range readSSE(t, bytes.NewReader(raw)) {
			var c struct {
				Choices []struct {
					Delta struct{ Content string } `json:"delta"`
				} `json:"choices"`
			}
			if json.Unmarshal([]byte(ev.Data), &c) == nil && len(c.Choices) > 0 {
				b.WriteString(c.Choices[0].Delta.Content)
			}
		}
		return b.String()
	}
	convo := []msg{{"system", "be brief"}, {"user", "What files are in this directory?"}}
	var sid string
	for turn, stream := range []bool{false, true, false} {
		resp, raw := e.do(t, "POST", "/v1/chat/completions", body(stream, convo...))
		if resp.StatusCode != 200 {
			t.Fatalf("turn %d: %d %s", turn, resp.StatusCode, raw)
		}
		got := resp.Header.Get(SessionHeader)
		if turn == 0 {
			sid = got
		} else if got != sid {
			t.Fatalf("turn %d went to session %s, not %s", turn, got, sid)
		}
		convo = append(convo, msg{"assistant", answer(stream, raw)}, msg{"user", fmt.Sprintf("hello %d", turn)})
	}
	st, err := runtime.Reconstruct(context.Background(), e.j, aios.StreamID{Session: sid, Branch: "main"})
	if err != nil {
		t.Fatal(err)
	}
	roles := map[aios.ChatRole]int{}
	for _, m := range st.Messages {
		roles[m.Role]++
	}
	if roles[aios.RoleSystem] != 1 || roles[aios.RoleUser] != 3 || st.Runs != 3 {
		t.Fatalf("history stored again: %d runs, %v", st.Runs, roles)
	}
	// An edited history is another conversation: a new session.
	convo[1].Content = "What files are in that directory?"
	resp, raw := e.do(t, "POST", "/v1/chat/completions", body(false, convo...))
	if resp.StatusCode != 200 || resp.Header.Get(SessionHeader) == sid {
		t.Fatalf("edited history continued %s: %d %s", sid, resp.StatusCode, raw)
	}
}

// With auth on, the conversation index is per caller: another allowed
// caller that sends the very same history gets a session of its own, and
// the first caller still continues its own.
func TestChatCompletionsIndexPerCaller(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.Verifier, c.Audience, c.AllowDIDs = fakeVerifier{}, "arcand", []string{"did:key:zgood", "did:key:zother"}
	})
	ask := func(tok string, msgs ...string) (session, answer string) {
		t.Helper()
		var parts []string
		for i, m := range msgs {
			role := "user"
			if i%2 == 1 {
				role = "assistant"
			}
			r, _ := json.Marshal(map[string]string{"role": role, "content": m})
			parts = append(parts, string(r))
		}
		resp, raw := e.do(t, "POST", "/v1/chat/completions", `{"model":"agent","messages":[`+strings.Join(parts, ",")+`]}`,
			"Authorization", "Bearer "+tok)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", tok, resp.StatusCode, raw)
		}
		var cc ChatCompletion
		if err := json.Unmarshal(raw, &cc); err != nil || len(cc.Choices) == 0 {
			t.Fatalf("%v %s", err, raw)
		}
		json.Unmarshal(cc.Choices[0].Message.Content, &answer)
		return resp.Header.Get(SessionHeader), answer
	}
	first, a := ask("good", "What files are in this directory?")
	other, _ := ask("stranger", "What files are in this directory?", a, "and now?")
	if other == first {
		t.Fatalf("another caller's identical history continued session %s", first)
	}
	again, _ := ask("good", "What files are in this directory?", a, "and now?")
	if again != first {
		t.Fatalf("the first caller went to session %s, not its own %s", again, first)
	}
}
