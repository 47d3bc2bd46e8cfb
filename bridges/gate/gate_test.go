package gate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/autonomic/controller"
	"github.com/lifeos/life/bridges/internal/fakejournal"
)

var stream = aios.StreamID{Session: "s1", Branch: "main"}

func unavailable(j *fakejournal.Journal) (n int) {
	for _, e := range j.Events(stream) {
		if g, ok := e.Payload.(*aios.GateUnavailable); ok && g.FailOpen {
			n++
		}
	}
	return n
}

// gatingServer serves a fixed answer like autonomicd; status and body can
// be changed while it runs.
type gatingServer struct {
	status atomic.Int32
	body   atomic.Value
	delay  atomic.Int64
	hits   atomic.Int32
	path   atomic.Value
}

func (s *gatingServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.hits.Add(1)
	s.path.Store(r.URL.EscapedPath() + "?" + r.URL.RawQuery)
	if d := time.Duration(s.delay.Load()); d > 0 {
		select {
		case <-time.After(d):
		case <-r.Context().Done():
			return
		}
	}
	w.WriteHeader(int(s.status.Load()))
	w.Write([]byte(s.body.Load().(string)))
}

func hustle() string {
	g := aios.OpenGating()
	g.EconomicMode = aios.EconomicHustle
	g.MaxTokens = 2048
	b, _ := json.Marshal(g)
	return string(b)
}

func TestRemote(t *testing.T) {
	srv := &gatingServer{}
	srv.status.Store(200)
	srv.body.Store(hustle())
	ts := httptest.NewServer(srv)
	defer ts.Close()
	j := fakejournal.New()
	logs := &lockedBuffer{}
	g, err := Remote(ts.URL+"/", Options{Journal: j, Timeout: 200 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	got, err := g.Decide(ctx, aios.StreamID{Session: "a b/c", Branch: "feature x"})
	if err != nil || got.EconomicMode != aios.EconomicHustle || got.MaxTokens != 2048 {
		t.Fatalf("gating %+v err %v", got, err)
	}
	if p := srv.path.Load().(string); p != "/v1/gating/a%20b%2Fc?branch=feature+x" {
		t.Errorf("request path %q", p)
	}

	failures := []struct {
		name   string
		status int
		body   string
		delay  time.Duration
	}{
		{"server error", 500, "boom", 0},
		{"not json", 200, "<html>", 0},
		{"no mode", 200, `{"allow_tools":true}`, 0},
		{"bad mode", 200, `{"economic_mode":"rich"}`, 0},
		{"too slow", 200, hustle(), 2 * time.Second},
		{"cut short", 200, hustle()[:20], 0},
		{"over the size limit", 200, hustle() + strings.Repeat(" ", maxAnswer), 0},
		{"negative cap", 200, `{"economic_mode":"hustle","max_tokens":-1}`, 0},
		{"not an object", 200, `["hustle"]`, 0},
	}
	for _, f := range failures {
		t.Run(f.name, func(t *testing.T) {
			srv.status.Store(int32(f.status))
			srv.body.Store(f.body)
			srv.delay.Store(int64(f.delay))
			defer srv.delay.Store(0)
			if _, err := g.Check(ctx, stream); !errors.Is(err, ErrUnavailable) {
				t.Fatalf("check err = %v", err)
			}
			start := time.Now()
			got, err := g.Decide(ctx, stream)
			if err != nil {
				t.Fatal(err)
			}
			if el := time.Since(start); el > time.Second {
				t.Errorf("fail-open took %v with a 200ms timeout", el)
			}
			if !got.AllowTools || !got.AllowNetwork || !got.AllowShell || got.EconomicMode != aios.EconomicSovereign {
				t.Fatalf("not open: %+v", got)
			}
		})
	}
	// One outage, one event and one warning, however many failed calls.
	const warned = `level=WARN msg="autonomic unavailable, failing open"`
	if n := unavailable(j); n != 1 {
		t.Fatalf("%d gate_unavailable events, want 1", n)
	}
	if n := strings.Count(logs.String(), warned); n != 1 {
		t.Fatalf("%d warnings, want 1:\n%s", n, logs.String())
	}
	// Back, then down again: a second outage is journaled.
	srv.status.Store(200)
	srv.body.Store(hustle())
	if got, _ := g.Decide(ctx, stream); got.EconomicMode != aios.EconomicHustle {
		t.Fatalf("recovered gating %+v", got)
	}
	ts.Close()
	if got, _ := g.Decide(ctx, stream); !got.AllowTools {
		t.Fatalf("closed server: %+v", got)
	}
	if n := unavailable(j); n != 2 {
		t.Fatalf("%d gate_unavailable events, want 2", n)
	}
	if n := strings.Count(logs.String(), warned); n != 2 {
		t.Fatalf("%d warnings, want 2:\n%s", n, logs.String())
	}
}

// lockedBuffer is a log sink safe for concurrent writers.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestUnreachable(t *testing.T) {
	// A port nobody listens on.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	j := fakejournal.New()
	g, _ := Remote("http://"+addr, Options{Journal: j})
	got, err := g.Decide(context.Background(), stream)
	if err != nil || !got.AllowTools || got.EconomicMode != aios.EconomicSovereign {
		t.Fatalf("gating %+v err %v", got, err)
	}
	evs := j.Events(stream)
	if len(evs) != 1 {
		t.Fatalf("%d events", len(evs))
	}
	ga := evs[0].Payload.(*aios.GateUnavailable)
	if !strings.Contains(ga.Error, "connect") || evs[0].Timestamp == 0 {
		t.Errorf("event %+v %+v", evs[0], ga)
	}
	if a, ok := evs[0].Actor(); !ok || a.Component != "autonomic-gate" {
		t.Errorf("actor %+v", a)
	}
}

func TestJournalFailureRetries(t *testing.T) {
	j := fakejournal.New()
	j.Fail(fakejournal.ErrInjected)
	g := New(brokenGate{}, Options{Journal: j})
	for range 2 {
		if got, err := g.Decide(context.Background(), stream); err != nil || !got.AllowTools {
			t.Fatalf("gating %+v err %v", got, err)
		}
	}
	j.Fail(nil)
	g.Decide(context.Background(), stream)
	if n := unavailable(j); n != 1 {
		t.Fatalf("%d events after the journal came back, want 1", n)
	}
}

func TestCancelledContext(t *testing.T) {
	g := New(brokenGate{}, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := g.Decide(ctx, stream); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
}

type brokenGate struct{}

func (brokenGate) Decide(context.Context, aios.StreamID) (aios.Gating, error) {
	return aios.Gating{}, errors.New("broken")
}

func TestEmbedded(t *testing.T) {
	j := fakejournal.New()
	ctx := context.Background()
	_, err := j.Append(ctx,
		aios.EventEnvelope{EventID: "01JTEST0000000000000000001", SessionID: "s1", BranchID: "main", Timestamp: 1_767_225_600_000_000,
			Payload: &aios.BalanceSynced{BalanceMicroCredits: -5}, SchemaVersion: 1},
	)
	if err != nil {
		t.Fatal(err)
	}
	g, err := Embedded(j, controller.DefaultConfig(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := g.Decide(ctx, stream)
	if err != nil || got.EconomicMode != aios.EconomicHibernate || got.AllowTools || got.AllowNetwork || got.AllowShell {
		t.Fatalf("gating %+v err %v", got, err)
	}
	bad := controller.DefaultConfig()
	bad.Projection.ErrorWindow = 0
	if _, err := Embedded(j, bad, Options{}); !errors.Is(err, controller.ErrInvalidConfig) {
		t.Fatalf("bad config err = %v", err)
	}
}

func TestNewClient(t *testing.T) {
	for _, u := range []string{"", "localhost:3002", "ftp://x", "http://", "::", "http://h:1/?k=v", "http://h:1#f"} {
		if _, err := NewClient(u, nil); err == nil {
			t.Errorf("%q: no error", u)
		}
	}
	if _, err := NewClient("http://127.0.0.1:3002", nil); err != nil {
		t.Error(err)
	}
	c, _ := NewClient("http://127.0.0.1:1", nil)
	if _, err := c.Decide(context.Background(), aios.StreamID{}); err == nil {
		t.Error("empty session: no error")
	}
}

func FuzzDecodeGating(f *testing.F) {
	f.Add([]byte(hustle()))
	f.Add([]byte(`{"economic_mode":"sovereign","operating_mode":"sleep"}`))
	f.Add([]byte(`{"economic_mode":"x"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		g, err := DecodeGating(b)
		if err != nil {
			return
		}
		if !g.EconomicMode.Valid() {
			t.Fatalf("accepted mode %q", g.EconomicMode)
		}
	})
}
