package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/autonomic/controller"
)

// fakeSyncer records catch-up calls and may fail them.
type fakeSyncer struct {
	calls []aios.StreamID
	err   error
}

func (f *fakeSyncer) CatchUp(_ context.Context, id aios.StreamID) (uint64, error) {
	f.calls = append(f.calls, id)
	return 0, f.err
}

func newServer(t *testing.T, sync Syncer) (*httptest.Server, *controller.Hub) {
	t.Helper()
	c, err := controller.New(controller.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	hub := controller.NewHub(c)
	srv := httptest.NewServer(NewHandler(hub, Options{Sync: sync}))
	t.Cleanup(srv.Close)
	return srv, hub
}

func TestHandler(t *testing.T) {
	sync := &fakeSyncer{}
	srv, hub := newServer(t, sync)
	hub.Apply(&aios.EventEnvelope{EventID: "e1", SessionID: "broke", BranchID: "main", Seq: 1, Timestamp: 1_767_225_600_000_000,
		Payload: &aios.BalanceSynced{BalanceMicroCredits: 0}})
	tests := []struct {
		method, path string
		status       int
		contains     string
	}{
		{"GET", "/healthz", 200, `"status":"ok"`},
		{"GET", "/v1/gating/nobody", 200, `"economic_mode":"sovereign"`},
		{"GET", "/v1/gating/broke", 200, `"economic_mode":"hibernate"`},
		{"GET", "/v1/gating/broke?branch=main", 200, `"allow_tools":false`},
		{"GET", "/v1/gating/broke?branch=other", 200, `"economic_mode":"sovereign"`},
		{"HEAD", "/v1/gating/broke", 200, ``},
		{"GET", "/v1/projection/broke", 200, `"balance_micro_credits":0`},
		{"GET", "/v1/rules", 200, `"name":"survival"`},
		{"GET", "/v1/gating/a%01b", 400, `"api: bad stream id: session id has control characters`},
		{"GET", "/v1/gating/" + strings.Repeat("x", 300), 400, `"api: bad stream id: session id is over 256 bytes"`},
		{"GET", "/v1/gating/x?branch=", 200, `"economic_mode"`},
		{"GET", "/v1/gating/x?branch=a&branch=b", 400, `more than once`},
		{"GET", "/v1/gating/x?brnach=a", 400, `unknown query parameter`},
		{"GET", "/v1/gating/", 404, `no such endpoint`},
		{"GET", "/v2/anything", 404, `no such endpoint`},
		{"POST", "/v1/gating/x", 405, `not allowed`},
		{"DELETE", "/healthz", 405, `not allowed`},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, srv.URL+tt.path, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status || !strings.Contains(string(body), tt.contains) {
				t.Fatalf("%d %s, want %d containing %q", resp.StatusCode, body, tt.status, tt.contains)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("content type %q", ct)
			}
			if tt.method == "GET" && !json.Valid(body) {
				t.Errorf("not JSON: %s", body)
			}
		})
	}
	if len(sync.calls) == 0 || sync.calls[0] != (aios.StreamID{Session: "nobody", Branch: "main"}) {
		t.Errorf("catch-up calls %v", sync.calls)
	}
}

func TestSyncFailureStillAnswers(t *testing.T) {
	srv, _ := newServer(t, &fakeSyncer{err: errors.New("journal down")})
	resp, err := http.Get(srv.URL + "/v1/gating/s")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var g aios.Gating
	if err := json.NewDecoder(resp.Body).Decode(&g); err != nil || resp.StatusCode != 200 || g.EconomicMode != aios.EconomicSovereign {
		t.Fatalf("%d %+v %v", resp.StatusCode, g, err)
	}
}

func FuzzParseStream(f *testing.F) {
	f.Add("s1", "main")
	f.Add("", "")
	f.Add("a\x00b", "x")
	f.Fuzz(func(t *testing.T, session, branch string) {
		id, err := ParseStream(session, branch)
		if err != nil {
			if !errors.Is(err, ErrBadStream) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if id.Session != session || id.Branch == "" || len(id.Session) > maxID {
			t.Fatalf("accepted %q %q as %+v", session, branch, id)
		}
	})
}

// TestHealthFollowers: /healthz carries the follower counts only when the
// handler was given them.
func TestHealthFollowers(t *testing.T) {
	c, err := controller.New(controller.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		fn   func() FollowerStats
		want map[string]any
	}{
		{"without", nil, map[string]any{"status": "ok", "streams": 0.0}},
		{"with", func() FollowerStats { return FollowerStats{Following: 3, Waiting: 2, Idle: 7} },
			map[string]any{"status": "ok", "streams": 0.0, "following": 3.0, "waiting": 2.0, "idle": 7.0}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(NewHandler(controller.NewHub(c), Options{Followers: tt.fn}))
			defer srv.Close()
			resp, err := http.Get(srv.URL + "/healthz")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var got map[string]any
			if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("healthz %v, want %v", got, tt.want)
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Fatalf("healthz %v, want %v", got, tt.want)
				}
			}
		})
	}
}
