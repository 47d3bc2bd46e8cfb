package lagoremote

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lifeos/life/aios"
)

// fakeLagod answers every request with h: a fake server, standing in for a
// broken lagod or whatever sits in front of it.
func fakeLagod(t *testing.T, h http.HandlerFunc) *Journal {
	t.Helper()
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	j, err := New(ts.URL, Options{RetryDelay: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func answer(status int, ctype, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if ctype != "" {
			w.Header().Set("Content-Type", ctype)
		}
		w.WriteHeader(status)
		fmt.Fprint(w, body)
	}
}

// cutAnswer promises more bytes than it sends, so the client sees the body
// end early.
func cutAnswer(ctype, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", ctype)
		w.Header().Set("Content-Length", fmt.Sprint(len(body)+100))
		fmt.Fprint(w, body)
	}
}

const envLine = `{"event_id":"e1","session_id":"s1","branch_id":"main","seq":1,"timestamp":5,"payload":{"type":"UserMessage","content":"hi"},"metadata":{},"schema_version":1}`

// Every way a lagod answer can be wrong is a typed error, never a panic,
// a silent empty result or a half-read stream passed off as whole.
func TestBadAnswers(t *testing.T) {
	ctx := context.Background()
	read := func(j *Journal) error {
		for _, err := range j.Read(ctx, aios.ReadQuery{Stream: mainStream}) {
			if err != nil {
				return err
			}
		}
		return nil
	}
	readQ := func(q aios.ReadQuery) func(*Journal) error {
		return func(j *Journal) error {
			q.Stream = mainStream
			for _, err := range j.Read(ctx, q) {
				if err != nil {
					return err
				}
			}
			return nil
		}
	}
	readAfter := func(n uint64) func(*Journal) error { return readQ(aios.ReadQuery{After: n}) }
	readUntil := func(n uint64) func(*Journal) error { return readQ(aios.ReadQuery{Until: n}) }
	readLimit := func(n int) func(*Journal) error { return readQ(aios.ReadQuery{Limit: n}) }
	head := func(j *Journal) error { _, err := j.Head(ctx, mainStream); return err }
	appendOne := func(j *Journal) error { _, err := j.Append(ctx, ev(1, "main")); return err }
	streams := func(j *Journal) error { _, err := j.Streams(ctx); return err }
	ndjson := "application/x-ndjson"
	tests := []struct {
		name string
		h    http.HandlerFunc
		call func(*Journal) error
		want error
	}{
		{"read: 500", answer(500, "application/json", `{"error":"boom"}`), read, ErrRemote},
		{"read: html page with 200", answer(200, "text/html", "<html>login</html>"), read, ErrBadAnswer},
		{"read: json array, not ndjson", answer(200, "application/json", "["+envLine+"]"), read, ErrBadAnswer},
		{"read: no content type", answer(200, "", envLine+"\n"), read, ErrBadAnswer},
		{"read: not JSON", answer(200, ndjson, "hello\n"), read, aios.ErrMalformed},
		{"read: cut mid-line", answer(200, ndjson, envLine+"\n"+envLine[:40]), read, aios.ErrMalformed},
		{"read: body ends early", cutAnswer(ndjson, envLine+"\n"), read, nil /* any error */},
		{"read: seq repeated", answer(200, ndjson, envLine+"\n"+envLine+"\n"), read, ErrBadAnswer},
		{"read: seq 0", answer(200, ndjson, strings.Replace(envLine, `"seq":1`, `"seq":0`, 1)+"\n"), read, ErrBadAnswer},
		{"read: not after After", answer(200, ndjson, envLine+"\n"), readAfter(1), ErrBadAnswer},
		{"read: past Until", answer(200, ndjson, strings.Replace(envLine, `"seq":1`, `"seq":7`, 1)+"\n"), readUntil(5), ErrBadAnswer},
		{"read: over Limit", answer(200, ndjson, envLine+"\n"+strings.Replace(envLine, `"seq":1`, `"seq":2`, 1)+"\n"), readLimit(1), ErrBadAnswer},
		{"head: not JSON", answer(200, "application/json", "ok"), head, ErrBadAnswer},
		{"head: no head", answer(200, "application/json", `{"seq":3}`), head, ErrBadAnswer},
		{"head: negative", answer(200, "application/json", `{"head":-1}`), head, ErrBadAnswer},
		{"head: 502", answer(502, "text/plain", "bad gateway"), head, ErrRemote},
		{"append: 503", answer(503, "text/plain", "unavailable"), appendOne, ErrRemote},
		{"append: not JSON", answer(200, "application/json", "<html>"), appendOne, ErrBadAnswer},
		{"append: seqs missing", answer(200, "application/json", `{"seqs":[]}`), appendOne, ErrBadAnswer},
		{"streams: truncated", cutAnswer("application/json", `{"sessions":[{"session_id":"s1","branches":["ma`), streams, ErrBadAnswer},
		{"streams: wrong shape", answer(200, "application/json", `{"sessions":"all"}`), streams, ErrBadAnswer},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call(fakeLagod(t, tc.h))
			if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestRemoteErrorIsTyped(t *testing.T) {
	j := fakeLagod(t, answer(404, "application/json", `{"error":"no such stream"}`))
	_, err := j.Head(context.Background(), mainStream)
	var re *RemoteError
	if !errors.As(err, &re) || re.StatusCode != 404 || re.Message != "no such stream" || re.Temporary() {
		t.Fatalf("err = %#v", err)
	}
	if !errors.Is(err, aios.ErrNotFound) || !errors.Is(err, ErrRemote) {
		t.Fatalf("%v does not match ErrNotFound and ErrRemote", err)
	}
}

// A subscription ends with a typed error on an answer retrying cannot fix,
// instead of reconnecting forever without a word; 5xx and 429 are retried.
func TestSubscribeBadAnswers(t *testing.T) {
	sse := func(body string) http.HandlerFunc { return answer(200, "text/event-stream", body) }
	tests := []struct {
		name string
		h    http.HandlerFunc
		want error
	}{
		{"403", answer(403, "application/json", `{"error":"forbidden"}`), ErrRemote},
		{"html page with 200", answer(200, "text/html; charset=utf-8", "<html>login</html>"), ErrBadAnswer},
		{"json with 200", answer(200, "application/json", `{"events":[]}`), ErrBadAnswer},
		{"data not an event", sse("id: 1\ndata: hello\n\n"), aios.ErrMalformed},
		{"event over the limit", sse("id: 1\ndata: " + strings.Repeat("x", 300) + "\n\n"), ErrBadAnswer},
		{"event over the limit in many lines", sse("id: 1\n" + strings.Repeat("data: xxxxxxxxxx\n", 40) + "\n"), ErrBadAnswer},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int32
			j := fakeLagod(t, func(w http.ResponseWriter, r *http.Request) { calls.Add(1); tc.h(w, r) })
			j.maxEvent = 256
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			for _, err := range j.Subscribe(ctx, mainStream, 0) {
				if !errors.Is(err, tc.want) {
					t.Fatalf("err = %v, want %v", err, tc.want)
				}
				if n := calls.Load(); n != 1 {
					t.Fatalf("%d requests for an answer that retrying cannot fix", n)
				}
				return
			}
			t.Fatal("subscription ended without an error")
		})
	}
}

func TestSubscribeRetriesUnavailable(t *testing.T) {
	for _, status := range []int{http.StatusServiceUnavailable, http.StatusBadGateway, http.StatusTooManyRequests} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			var calls atomic.Int32
			j := fakeLagod(t, func(w http.ResponseWriter, r *http.Request) {
				if calls.Add(1) <= 2 {
					answer(status, "text/plain", "try later")(w, r)
					return
				}
				answer(200, "text/event-stream", "id: 1\ndata: "+envLine+"\n\n")(w, r)
			})
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			for e, err := range j.Subscribe(ctx, mainStream, 0) {
				if err != nil {
					t.Fatalf("after %d requests: %v", calls.Load(), err)
				}
				if e.Seq != 1 || calls.Load() != 3 {
					t.Fatalf("seq %d after %d requests", e.Seq, calls.Load())
				}
				return
			}
		})
	}
}

// A connection that goes silent, without lagod's keep-alives and without
// closing (a peer that vanished), is dropped after IdleTimeout and the
// subscription resumes on a new one.
func TestSubscribeDropsSilentConnection(t *testing.T) {
	var calls atomic.Int32
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		if calls.Add(1) == 1 {
			fmt.Fprint(w, "id: 1\ndata: "+envLine+"\n\n")
			w.(http.Flusher).Flush()
			<-r.Context().Done() // silent until the client leaves
			return
		}
		if r.Header.Get("Last-Event-ID") != "1" {
			t.Errorf("resumed with Last-Event-ID %q", r.Header.Get("Last-Event-ID"))
		}
		fmt.Fprint(w, "id: 2\ndata: "+strings.Replace(envLine, `"seq":1`, `"seq":2`, 1)+"\n\n")
	}))
	defer ts.Close()
	j, err := New(ts.URL, Options{RetryDelay: 5 * time.Millisecond, IdleTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var seqs []uint64
	for e, err := range j.Subscribe(ctx, mainStream, 0) {
		if err != nil {
			t.Fatalf("after %v: %v", seqs, err)
		}
		if seqs = append(seqs, e.Seq); len(seqs) == 2 {
			break
		}
	}
	if fmt.Sprint(seqs) != "[1 2]" || calls.Load() != 2 {
		t.Fatalf("seqs %v over %d connections", seqs, calls.Load())
	}
}

// A connection that keeps sending (events or keep-alives) is kept, however
// long it lasts.
func TestSubscribeKeepsBusyConnection(t *testing.T) {
	var calls atomic.Int32
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Content-Type", "text/event-stream")
		for i := 1; i <= 8; i++ {
			time.Sleep(60 * time.Millisecond)
			if i%2 == 0 {
				fmt.Fprint(w, ": keep-alive\n\n")
			} else {
				fmt.Fprint(w, "id: "+fmt.Sprint(i)+"\ndata: "+strings.Replace(envLine, `"seq":1`, fmt.Sprintf(`"seq":%d`, i), 1)+"\n\n")
			}
			w.(http.Flusher).Flush()
		}
		<-r.Context().Done()
	}))
	defer ts.Close()
	j, err := New(ts.URL, Options{RetryDelay: 5 * time.Millisecond, IdleTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for e, err := range j.Subscribe(ctx, mainStream, 0) {
		if err != nil {
			t.Fatal(err)
		}
		if e.Seq == 7 {
			break
		}
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("%d connections for one busy stream", n)
	}
}
