package server

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/arcan/internal/stack"
	"github.com/lifeos/life/arcan/runtime"
	"github.com/lifeos/life/lago/journal"
)

// restartable is an arcand over a journal directory that can be stopped
// and started again, as a daemon restart would.
type restartable struct {
	t       *testing.T
	dir, ws string
	ts      *httptest.Server
	srv     *Server
	j       *journal.Journal
}

func newRestartable(t *testing.T) *restartable {
	d := &restartable{t: t, dir: t.TempDir(), ws: t.TempDir()}
	os.WriteFile(filepath.Join(d.ws, "hello.txt"), []byte("hi"), 0o600)
	d.start()
	t.Cleanup(d.stop)
	return d
}

func (d *restartable) start() {
	j, err := journal.Open(filepath.Join(d.dir, "j.db"), journal.Options{NoSync: true})
	if err != nil {
		d.t.Fatal(err)
	}
	reg, err := stack.NewTools(d.ws, "", "", nil)
	if err != nil {
		d.t.Fatal(err)
	}
	pol, _ := stack.NewPolicy(stack.ApproveAsk, reg)
	rt, err := runtime.New(runtime.Config{Journal: j, Provider: &writeProvider{}, Tools: reg, Policy: pol})
	if err != nil {
		d.t.Fatal(err)
	}
	srv, err := New(Config{Runtime: rt, Journal: j})
	if err != nil {
		d.t.Fatal(err)
	}
	d.ts, d.srv, d.j = httptest.NewServer(srv), srv, j
}

func (d *restartable) stop() {
	if d.ts == nil {
		return
	}
	d.ts.Close()
	d.srv.Close()
	d.j.Close()
	d.ts = nil
}

func (d *restartable) do(method, path, body string, hdr ...string) (*http.Response, []byte) {
	d.t.Helper()
	req, _ := http.NewRequest(method, d.ts.URL+path, strings.NewReader(body))
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		d.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp, raw
}

// toolRuns counts the tool calls the journal shows started on a stream.
func toolRuns(t *testing.T, j aios.Journal, st aios.StreamID) (started, runs int) {
	t.Helper()
	for e, err := range j.Read(context.Background(), aios.ReadQuery{Stream: st}) {
		if err != nil {
			t.Fatal(err)
		}
		switch e.Payload.(type) {
		case *aios.ToolCallStarted:
			started++
		case *aios.RunStarted:
			runs++
		}
	}
	return started, runs
}

// A POST /runs repeated with its Idempotency-Key (a client's retry) never
// starts a second run, before or after a daemon restart: it gets the
// first run's result; the key with another body is 422; bad keys are 400.
func TestIdempotencyKeyRuns(t *testing.T) {
	d := newRestartable(t)
	_, raw := d.do("POST", "/v1/sessions", `{}`)
	var info SessionInfo
	json.Unmarshal(raw, &info)
	runs := "/v1/sessions/" + info.SessionID + "/runs"
	body := `{"input":"list the files"}`
	resp, raw := d.do("POST", runs, body, IdempotencyKeyHeader, "key-1")
	var first runtime.Result
	if err := json.Unmarshal(raw, &first); err != nil || resp.StatusCode != 200 || first.Status != runtime.StatusCompleted || resp.Header.Get(ReplayedHeader) != "" {
		t.Fatalf("%d %s", resp.StatusCode, raw)
	}
	tests := []struct {
		name, body, key string
		restart         bool
		status          int
		contains        string
	}{
		{"repeat", body, "key-1", false, 200, `"run_id":"` + first.RunID + `"`},
		{"repeat, quoted as the draft writes it", body, `"key-1"`, false, 200, `"run_id":"` + first.RunID + `"`},
		{"repeat streamed", `{"input":"list the files","stream":true}`, "key-1", false, 200, "event: done\ndata: {\"run_id\":\"" + first.RunID + `"`},
		{"repeat async", `{"input":"list the files","async":true}`, "key-1", false, 200, `"run_id":"` + first.RunID + `"`},
		{"repeat after a restart", body, "key-1", true, 200, `"final_answer":` + string(mustJSON(first.FinalAnswer))},
		{"same key, other input", `{"input":"list the folder"}`, "key-1", false, 422, "idempotency_key_reused"},
		{"empty key", body, `""`, false, 400, IdempotencyKeyHeader},
		{"key too long", body, strings.Repeat("k", 256), false, 400, "1 to 255 bytes"},
		{"key not ASCII", body, "clé", false, 400, "printable"},
		{"malformed quoted key", body, `"a"b"`, false, 400, "quoted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.restart {
				d.stop()
				d.start()
			}
			resp, raw := d.do("POST", runs, tt.body, IdempotencyKeyHeader, tt.key)
			if resp.StatusCode != tt.status || !strings.Contains(string(raw), tt.contains) {
				t.Fatalf("%d %s", resp.StatusCode, raw)
			}
			if replayed := resp.Header.Get(ReplayedHeader) == "true"; replayed != (tt.status == 200) {
				t.Fatalf("%s: %q", ReplayedHeader, resp.Header.Get(ReplayedHeader))
			}
		})
	}
	started, n := toolRuns(t, d.j, aios.StreamID{Session: info.SessionID, Branch: "main"})
	if started != 1 || n != 1 {
		t.Fatalf("%d tool calls and %d runs started, want 1 and 1", started, n)
	}
	// A new key is a new request.
	if resp, raw := d.do("POST", runs, body, IdempotencyKeyHeader, "key-2"); resp.StatusCode != 200 || strings.Contains(string(raw), first.RunID) {
		t.Fatalf("%d %s", resp.StatusCode, raw)
	}
}

func mustJSON(v any) []byte { raw, _ := json.Marshal(v); return raw }

// A repeat while the keyed run is still going is 409 naming it.
func TestIdempotencyKeyInProgress(t *testing.T) {
	e := newEnv(t, nil)
	id := e.session(t)
	prov, srv, ts := blockingServer(t, e)
	defer srv.Close()
	defer close(prov.release)
	post := func(body string) (*http.Response, []byte) {
		req, _ := http.NewRequest("POST", ts.URL+"/v1/sessions/"+id+"/runs", strings.NewReader(body))
		req.Header.Set(IdempotencyKeyHeader, "k")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		return resp, raw
	}
	resp, raw := post(`{"input":"wait","async":true}`)
	var acc SignalResult
	json.Unmarshal(raw, &acc)
	if resp.StatusCode != http.StatusAccepted || acc.RunID == "" {
		t.Fatalf("%d %s", resp.StatusCode, raw)
	}
	prov.started.Wait()
	for _, body := range []string{`{"input":"wait"}`, `{"input":"wait","stream":true}`, `{"input":"wait","async":true}`} {
		resp, raw := post(body)
		var apiErr APIError
		json.Unmarshal(raw, &apiErr)
		if resp.StatusCode != http.StatusConflict || apiErr.Error.RunID != acc.RunID {
			t.Fatalf("%s: %d %s", body, resp.StatusCode, raw)
		}
	}
}

// /v1/chat/completions with an Idempotency-Key: a retry of a request
// without X-Arcan-Session lands on the session the first created (named
// by the key) and gets its answer; with the header, on that session.
func TestIdempotencyKeyChatCompletions(t *testing.T) {
	e := newEnv(t, nil)
	body := `{"model":"m","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"list the files"}]}`
	var sessions []string
	var answers []string
	for i := range 2 {
		resp, raw := e.do(t, "POST", "/v1/chat/completions", body, IdempotencyKeyHeader, "chat-key")
		if resp.StatusCode != 200 || (resp.Header.Get(ReplayedHeader) == "true") != (i == 1) {
			t.Fatalf("%d: %d %q %s", i, resp.StatusCode, resp.Header.Get(ReplayedHeader), raw)
		}
		var c ChatCompletion
		json.Unmarshal(raw, &c)
		sessions = append(sessions, resp.Header.Get(SessionHeader))
		answers = append(answers, string(c.Choices[0].Message.Content))
	}
	// The replay holds the run's final answer (the first answer also had
	// the text the model wrote before its tool call).
	if sessions[0] != sessions[1] || !strings.HasSuffix(strings.Trim(answers[0], `"`), strings.Trim(answers[1], `"`)) || !strings.Contains(answers[1], "hello.txt") {
		t.Fatalf("retry: sessions %q, answers %q", sessions, answers)
	}
	st := aios.StreamID{Session: sessions[0], Branch: "main"}
	if started, runs := toolRuns(t, e.j, st); started != 1 || runs != 1 {
		t.Fatalf("%d tool calls, %d runs", started, runs)
	}
	state, _ := runtime.Reconstruct(context.Background(), e.j, st)
	if state.Messages[0].Content != "be brief" || len(state.Messages) != 5 { // system, user, call, result, answer
		t.Fatalf("history journaled again? %+v", state.Messages)
	}
	// Streamed retry, and another body under the key.
	resp, raw := e.do(t, "POST", "/v1/chat/completions", strings.Replace(body, `"model":"m"`, `"model":"m","stream":true`, 1), IdempotencyKeyHeader, "chat-key")
	if resp.StatusCode != 200 || !strings.Contains(string(raw), "[DONE]") || resp.Header.Get(ReplayedHeader) != "true" {
		t.Fatalf("%d %s", resp.StatusCode, raw)
	}
	if resp, raw := e.do(t, "POST", "/v1/chat/completions", strings.Replace(body, "list the files", "hello", 1), IdempotencyKeyHeader, "chat-key"); resp.StatusCode != 422 {
		t.Fatalf("%d %s", resp.StatusCode, raw)
	}
	// With the session header the key is that session's.
	if resp, raw := e.do(t, "POST", "/v1/chat/completions", body, IdempotencyKeyHeader, "chat-key", SessionHeader, sessions[0]); resp.StatusCode != 200 || resp.Header.Get(ReplayedHeader) != "true" {
		t.Fatalf("%d %s", resp.StatusCode, raw)
	}
	if _, runs := toolRuns(t, e.j, st); runs != 1 {
		t.Fatalf("%d runs", runs)
	}
}
