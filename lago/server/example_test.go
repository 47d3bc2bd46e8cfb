package server_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"

	"github.com/lifeos/life/lago/server"
	"github.com/lifeos/life/lago/store"
)

func Example() {
	dir, _ := os.MkdirTemp("", "lagod")
	defer os.RemoveAll(dir)
	st, _ := store.Open(dir, store.Options{})
	defer st.Close()
	srv := httptest.NewServer(server.New(server.Config{Store: st}))
	defer srv.Close()

	http.Post(srv.URL+"/v1/sessions", "application/json", strings.NewReader(`{"session_id":"demo"}`))
	http.Post(srv.URL+"/v1/sessions/demo/events", "application/json",
		strings.NewReader(`{"payload":{"type":"UserMessage","content":"hello"}}`))
	resp, _ := http.Get(srv.URL + "/v1/sessions/demo/head")
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Print(string(b))
	// Output: {"branch_id":"main","head":2,"session_id":"demo"}
}
