package cli

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// arcan chat exits non-zero when the run fails or the stream breaks off,
// and zero when it completes (a fake arcand streams each case).
func TestChatRunOutcome(t *testing.T) {
	const text = "event: AssistantTextDelta\ndata: {\"payload\":{\"delta\":\"hi\"}}\n\n"
	tests := []struct {
		name, body string
		fails      bool
		want       string
	}{
		{"completed", text + "event: done\ndata: {\"status\":\"completed\"}\n\n", false, ""},
		{"cancelled", text + "event: done\ndata: {\"status\":\"cancelled\"}\n\n", false, "cancelled"},
		{"errored", text + "event: RunErrored\ndata: {}\n\nevent: done\ndata: {\"status\":\"error\",\"error\":\"provider down\"}\n\n", true, "provider down"},
		{"budget", text + "event: done\ndata: {\"status\":\"budget_exceeded\",\"error\":\"budget\"}\n\n", true, "budget_exceeded"},
		{"error event", text + "event: error\ndata: {\"error\":\"disk full\"}\n\nevent: done\ndata: {\"status\":\"error\"}\n\n", true, "disk full"},
		{"cut off", text, true, "ended before the run"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method != "POST" || r.URL.Path != "/v1/sessions/s1/runs" {
					http.NotFound(w, r)
					return
				}
				w.Header().Set("Content-Type", "text/event-stream")
				io.WriteString(w, tc.body)
			}))
			defer srv.Close()
			out, errOut, err := run(t, "", "chat", "--url", srv.URL, "--session", "s1", "hello")
			if (err != nil) != tc.fails {
				t.Fatalf("err %v, want failure %v\n%s%s", err, tc.fails, out, errOut)
			}
			if !strings.Contains(out, "hi") {
				t.Fatalf("text not shown: %q", out)
			}
			if tc.want != "" && !strings.Contains(errOut, tc.want) && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("%q not told: %q %v", tc.want, errOut, err)
			}
		})
	}
}

// The assistant's text before and after a tool call lands on separate
// lines of stdout; the tool call itself goes to stderr.
func TestChatTextAroundToolCall(t *testing.T) {
	const body = "event: AssistantTextDelta\ndata: {\"payload\":{\"delta\":\"Let me look.\"}}\n\n" +
		"event: ToolCallRequested\ndata: {\"payload\":{\"tool_name\":\"list_dir\",\"arguments\":{\"path\":\".\"}}}\n\n" +
		"event: AssistantTextDelta\ndata: {\"payload\":{\"delta\":\"Two files.\"}}\n\n" +
		"event: done\ndata: {\"status\":\"completed\"}\n\n"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, body)
	}))
	defer srv.Close()
	out, errOut, err := run(t, "", "chat", "--url", srv.URL, "--session", "s1", "hello")
	if err != nil {
		t.Fatal(err, errOut)
	}
	if out != "Let me look.\nTwo files.\n" {
		t.Fatalf("stdout %q", out)
	}
	if !strings.Contains(errOut, `→ list_dir {"path":"."}`) {
		t.Fatalf("stderr %q", errOut)
	}
}

// arcan chat names the likely cause when arcand is not there or wants a
// token.
func TestChatPeerErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "http://" + ln.Addr().String()
	ln.Close()
	authed := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"error":{"type":"unauthorized","message":"missing bearer token"}}`)
	}))
	defer authed.Close()
	for _, tc := range []struct{ name, url, want string }{
		{"down", down, "is it running?"},
		{"auth", authed.URL, "ARCAN_TOKEN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("ARCAN_TOKEN", "")
			_, _, err := run(t, "", "chat", "--url", tc.url, "hello")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
		})
	}
}
