package server

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// fuzzHandler posts body to path and checks the answer is a success or a
// clean client error, never a 5xx or a panic.
func fuzzHandler(f *testing.F, path func(e *env, id string) string, seeds ...string) {
	for _, s := range seeds {
		f.Add(s)
	}
	e := newEnv(f, nil)
	id := ""
	f.Fuzz(func(t *testing.T, body string) {
		if id == "" {
			id = e.session(t)
		}
		req := httptest.NewRequest("POST", path(e, id), strings.NewReader(body))
		w := httptest.NewRecorder()
		e.srv.ServeHTTP(w, req)
		if w.Code >= 500 {
			t.Fatalf("%d for %q: %s", w.Code, body, w.Body.String())
		}
		if w.Code != http.StatusOK && w.Code != http.StatusCreated && w.Code != http.StatusConflict && (w.Code < 400 || w.Code >= 500) {
			t.Fatalf("status %d for %q", w.Code, body)
		}
	})
}

func FuzzChatCompletions(f *testing.F) {
	fuzzHandler(f, func(*env, string) string { return "/v1/chat/completions" },
		`{"model":"m","messages":[{"role":"user","content":"hello"}]}`,
		`{"messages":[{"role":"system","content":"s"},{"role":"user","content":[{"type":"text","text":"list files"}]}],"stream":true}`,
		`{"messages":[{"role":"tool","content":"x","tool_call_id":"1"},{"role":"user","content":"hi"}]}`,
		`{"messages":[{"role":"user","content":null}]}`,
		`{"messages":`, `[]`, `{"messages":[{"role":"wizard","content":"x"},{"role":"user","content":"y"}]}`)
}

func FuzzRunRequest(f *testing.F) {
	fuzzHandler(f, func(_ *env, id string) string { return "/v1/sessions/" + id + "/runs" },
		`{"input":"hello"}`, `{"input":"list files","stream":true,"format":"vercel"}`,
		`{"input":"x","format":"anthropic","stream":true}`, `{"input":1}`, `{}`, `{"input":"a","extra":true}`)
}

func FuzzSignal(f *testing.F) {
	fuzzHandler(f, func(_ *env, id string) string { return "/v1/sessions/" + id + "/signals" },
		`{"type":"cancel"}`, `{"type":"approve","approval_id":"x"}`, `{"type":"message"}`, `{"type":"deny","approval_id":""}`, `{"type":5}`)
}
