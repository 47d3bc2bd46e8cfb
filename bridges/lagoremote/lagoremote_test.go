package lagoremote

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/lago/server"
	"github.com/lifeos/life/lago/store"
)

// startLagod serves lago's real HTTP API over a fresh data dir. wrap, when
// set, sits in front of it (to cut connections).
func startLagod(t *testing.T, wrap func(http.Handler) http.Handler) *Journal {
	t.Helper()
	st, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var h http.Handler = server.New(server.Config{Store: st, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if wrap != nil {
		h = wrap(h)
	}
	ts := httptest.NewServer(h)
	t.Cleanup(func() { ts.Close(); st.Close() })
	j, err := New(ts.URL, Options{RetryDelay: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return j
}

var mainStream = aios.StreamID{Session: "s1", Branch: "main"}

func ev(i int, branch string) aios.EventEnvelope {
	return aios.EventEnvelope{EventID: fmt.Sprintf("01JREMOTE%017d", i), SessionID: "s1", BranchID: branch,
		Timestamp: 1_767_225_600_000_000 + uint64(i), Payload: &aios.UserMessage{Content: fmt.Sprint("m", i)}, SchemaVersion: 1}
}

func TestJournal(t *testing.T) {
	ctx := context.Background()
	j := startLagod(t, nil)
	if h, err := j.Head(ctx, mainStream); err != nil || h != 0 {
		t.Fatalf("empty head %d err %v", h, err)
	}
	n := 0
	for _, err := range j.Read(ctx, aios.ReadQuery{Stream: mainStream}) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 0 {
		t.Fatalf("empty stream yielded %d", n)
	}
	seqs, err := j.Append(ctx, ev(1, "main"), ev(2, "main"), ev(3, "main"))
	if err != nil || len(seqs) != 3 || seqs[2] != 3 {
		t.Fatalf("seqs %v err %v", seqs, err)
	}
	// Same ids again: stored once.
	if again, err := j.Append(ctx, ev(2, "main")); err != nil || again[0] != 2 {
		t.Fatalf("dedup %v err %v", again, err)
	}
	var got []uint64
	for e, err := range j.Read(ctx, aios.ReadQuery{Stream: mainStream, After: 1}) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, e.Seq)
		if e.Payload.(*aios.UserMessage).Content != fmt.Sprint("m", e.Seq) {
			t.Errorf("event %d: %+v", e.Seq, e.Payload)
		}
	}
	if fmt.Sprint(got) != "[2 3]" {
		t.Fatalf("read %v", got)
	}
	if h, _ := j.Head(ctx, mainStream); h != 3 {
		t.Fatalf("head %d", h)
	}
	if _, err := j.Append(ctx, ev(4, "main"), ev(5, "other")); err == nil {
		t.Fatal("mixed-stream append accepted")
	}
	bad := ev(6, "main")
	bad.EventID = strings.Repeat("x", 2000) // over lago's id limit
	if _, err := j.Append(ctx, bad); !errors.Is(err, ErrRemote) {
		t.Fatalf("invalid event: err = %v", err)
	}
	// A payload that would not decode once written is not even sent.
	bad.Payload = &aios.Unknown{TypeName: "X", Raw: []byte(`[1]`)}
	if _, err := j.Append(ctx, bad); !errors.Is(err, aios.ErrInvalidEnvelope) {
		t.Fatalf("undecodable event: err = %v", err)
	}
	ids, err := j.Streams(ctx)
	if err != nil || len(ids) != 1 || ids[0] != mainStream {
		t.Fatalf("streams %v err %v", ids, err)
	}
}

// TestSubscribeResumes cuts every SSE connection after a moment: the
// subscription reconnects with Last-Event-ID and sees each event once.
func TestSubscribeResumes(t *testing.T) {
	var conns atomic.Int32
	j := startLagod(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasSuffix(r.URL.Path, "/events/stream") {
				conns.Add(1)
				ctx, cancel := context.WithTimeout(r.Context(), 150*time.Millisecond)
				defer cancel()
				r = r.WithContext(ctx)
			}
			h.ServeHTTP(w, r)
		})
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := j.Append(ctx, ev(1, "main"), ev(2, "main")); err != nil {
		t.Fatal(err)
	}
	// The appender's last POST may still be in flight when the subscriber
	// sees its event, so the test waits for it before ctx is cancelled.
	appended := make(chan error, 1)
	go func() {
		for i := 3; i <= 12; i++ {
			time.Sleep(60 * time.Millisecond)
			if _, err := j.Append(ctx, ev(i, "main")); err != nil {
				appended <- err
				return
			}
		}
		appended <- nil
	}()
	var seen []uint64
	for e, err := range j.Subscribe(ctx, mainStream, 1) {
		if err != nil {
			t.Fatal(err)
		}
		seen = append(seen, e.Seq)
		if e.Seq == 12 {
			break
		}
	}
	if err := <-appended; err != nil {
		t.Fatal(err)
	}
	for i, s := range seen {
		if s != uint64(i+2) {
			t.Fatalf("seqs %v: missed or repeated", seen)
		}
	}
	if conns.Load() < 2 {
		t.Fatalf("only %d connections: the cut never happened", conns.Load())
	}
}

func TestSubscribeEndsWithContext(t *testing.T) {
	j := startLagod(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	for _, err := range j.Subscribe(ctx, mainStream, 0) {
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v", err)
		}
		return
	}
	t.Fatal("subscription ended without an error")
}

func TestNew(t *testing.T) {
	for _, u := range []string{"", "lagod:3001", "ftp://x", "http://", "http://h:1/?token=x", "http://h:1/#top"} {
		if _, err := New(u, Options{}); err == nil {
			t.Errorf("%q: no error", u)
		}
	}
}

func TestReadSSE(t *testing.T) {
	in := ": comment\nid: 1\ndata: {\"a\":\ndata: 1}\n\nevent: x\nid: 2\ndata: two\n\n\ndata: partial"
	var got []string
	err := readSSE(strings.NewReader(in), defaultMaxEvent, func(id string, data []byte) error {
		got = append(got, id+"="+string(data))
		return nil
	})
	if !errors.Is(err, io.EOF) || fmt.Sprint(got) != "[1={\"a\":\n1} 2=two]" {
		t.Fatalf("got %q err %v", got, err)
	}
}

func FuzzReadSSE(f *testing.F) {
	f.Add([]byte("id: 1\ndata: x\n\n"))
	f.Add([]byte(":c\n\ndata\ndata:\n\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		err := readSSE(strings.NewReader(string(b)), 64, func(_ string, data []byte) error {
			if len(data) > 64 {
				t.Fatalf("event of %d bytes passed the 64-byte limit", len(data))
			}
			return nil
		})
		if err == nil {
			t.Fatal("readSSE ended without io.EOF or an error")
		}
	})
}
