package server

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

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
