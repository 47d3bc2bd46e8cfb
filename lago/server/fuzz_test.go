package server

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/lifeos/life/lago/journal"
	"github.com/lifeos/life/lago/store"
)

// FuzzAppendHandler posts arbitrary bodies to the append endpoint: the
// answer is 201 or a 4xx with a JSON error, never a 500 or a panic.
func FuzzAppendHandler(f *testing.F) {
	f.Add(msg("a", "hi"))
	f.Add("[" + msg("a", "x") + "," + msg("b", "y") + "]")
	f.Add(`{"payload":{"type":"BranchCreated","new_branch_id":"x","fork_point_seq":1,"name":"x"}}`)
	f.Add(`{"payload":{"type":"Nope","x":[1,{"y":null}]},"metadata":{"k":"v"},"schema_version":300}`)
	f.Add(`[{"payload":{}}]`)
	f.Add(`null`)
	st, err := store.Open(f.TempDir(), store.Options{})
	if err != nil {
		f.Fatal(err)
	}
	defer st.Close()
	h := New(Config{Store: st})
	f.Fuzz(func(t *testing.T, body string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/v1/sessions/s/events", strings.NewReader(body)))
		if rec.Code != http.StatusCreated && (rec.Code < 400 || rec.Code >= 500 || !strings.Contains(rec.Body.String(), `"error"`)) {
			t.Fatalf("%d %s for %q", rec.Code, rec.Body.String(), body)
		}
	})
}

// FuzzRequest sends arbitrary query strings and bodies to the other
// handlers that parse them: the answer is a 2xx, or a 4xx with a JSON error;
// never a 500 or a panic. (The SSE stream is left out: it waits for live
// events; its parameters share queryUint and ParseLastEventID.)
func FuzzRequest(f *testing.F) {
	f.Add(uint8(0), "after=1&until=2&limit=3&format=ndjson", "")
	f.Add(uint8(1), "branch=alt", `{"name":"b","from":"main","at_seq":1}`)
	f.Add(uint8(2), "", `{"into":"main"}`)
	f.Add(uint8(3), "", `{"branch":"main","seq":2}`)
	f.Add(uint8(4), "seq=1&to_branch=alt&to_seq=2", "")
	f.Add(uint8(5), "q=alpha+beta&limit=5", "")
	f.Add(uint8(6), "from=Alpha&depth=3&backlinks=true", "")
	f.Add(uint8(7), "mode=420", "# Note\n[[Alpha]]")
	f.Add(uint8(8), "", `{"session_id":"n","name":"x","config":{"a":[1]}}`)
	f.Add(uint8(9), "", `{"principal":"p","role":"reader"}`)
	st, err := store.Open(f.TempDir(), store.Options{Journal: journal.Options{NoSync: true}})
	if err != nil {
		f.Fatal(err)
	}
	defer st.Close()
	h := New(Config{Store: st})
	do := func(method, target, body string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(method, target, strings.NewReader(body)))
		return rec
	}
	do("POST", "/v1/sessions", `{"session_id":"s"}`)
	do("PUT", "/v1/sessions/s/files/notes/a.md", "# Alpha\n[[Beta]]")
	do("POST", "/v1/sessions/s/branches", `{"name":"alt"}`)
	routes := []struct{ method, path string }{
		{"GET", "/v1/sessions/s/events"},
		{"POST", "/v1/sessions/s/branches"},
		{"POST", "/v1/sessions/s/branches/alt/merge"},
		{"POST", "/v1/sessions/s/snapshots"},
		{"GET", "/v1/sessions/s/diff"},
		{"GET", "/v1/sessions/s/knowledge/search"},
		{"GET", "/v1/sessions/s/knowledge/traverse"},
		{"PUT", "/v1/sessions/s/files/notes/f.md"},
		{"POST", "/v1/sessions"},
		{"POST", "/v1/sessions/s/grants"},
		{"GET", "/v1/sessions/s/files"},
	}
	f.Fuzz(func(t *testing.T, route uint8, query, body string) {
		rt := routes[int(route)%len(routes)]
		target := rt.path + "?" + query
		if strings.ContainsFunc(query, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
			return // not a request line httptest can build
		}
		if _, err := url.ParseRequestURI(target); err != nil {
			return
		}
		rec := do(rt.method, target, body)
		if rec.Code >= 500 || (rec.Code >= 400 && !strings.Contains(rec.Body.String(), `"error"`)) {
			t.Fatalf("%s %s %q: %d %s", rt.method, target, body, rec.Code, rec.Body.String())
		}
	})
}
