package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/autonomic/controller"
	"github.com/lifeos/life/lago/journal"
	"github.com/lifeos/life/lago/server"
	"github.com/lifeos/life/lago/store"
)

const t0 = uint64(1_767_225_600_000_000)

func getGating(t *testing.T, base, session string) aios.Gating {
	t.Helper()
	resp, err := http.Get(base + "/v1/gating/" + session)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	var g aios.Gating
	if err := json.Unmarshal(body, &g); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	return g
}

// TestDaemonFollowsJournal runs the daemon in-process on a real lago
// journal, appends events, and watches the gating change over HTTP and the
// changes land in the journal.
func TestDaemonFollowsJournal(t *testing.T) {
	j, err := journal.Open(filepath.Join(t.TempDir(), "journal.db"), journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	d, err := newDaemon(j, controller.DefaultConfig(), options{snapshotEvery: 2}, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	base, stop := serve(t, d, listen(t))

	if g := getGating(t, base, "agent"); g.EconomicMode != aios.EconomicSovereign {
		t.Fatalf("before events: %+v", g)
	}
	ev := func(i int, p aios.Payload) aios.EventEnvelope {
		return aios.EventEnvelope{EventID: fmt.Sprintf("01JDAEMON%017d", i), SessionID: "agent", BranchID: "main",
			Timestamp: t0 + uint64(i)*1_000_000, Payload: p, Metadata: map[string]string{}, SchemaVersion: 1}
	}
	if _, err := j.Append(ctx, ev(1, &aios.BalanceSynced{BalanceMicroCredits: 500_000}),
		ev(2, &aios.CostIncurred{AmountMicroCredits: 600_000, Category: "tool"})); err != nil {
		t.Fatal(err)
	}
	// The follower journals the changes without any HTTP request.
	deadline := time.Now().Add(10 * time.Second)
	for {
		var own int
		for e, err := range j.Read(ctx, aios.ReadQuery{Stream: aios.StreamID{Session: "agent", Branch: "main"}}) {
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := e.Payload.(*aios.ModeChanged); ok {
				own++
			}
		}
		if own == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no ModeChanged journaled (%d)", own)
		}
		time.Sleep(20 * time.Millisecond)
	}
	g := getGating(t, base, "agent")
	if g.EconomicMode != aios.EconomicHibernate || g.AllowTools || g.AllowNetwork || g.AllowShell {
		t.Fatalf("after going broke: %+v", g)
	}
	resp, err := http.Get(base + "/v1/projection/agent")
	if err != nil {
		t.Fatal(err)
	}
	var view controller.View
	err = json.NewDecoder(resp.Body).Decode(&view)
	resp.Body.Close()
	if err != nil || view.State.Economic.Balance != -100_000 || view.State.Economic.Mode != aios.EconomicHibernate {
		t.Fatalf("view %+v err %v", view.State.Economic, err)
	}
	if _, data, err := j.LoadSnapshot(ctx, aios.StreamID{Session: "agent", Branch: "main"}, "autonomic"); err != nil || len(data) == 0 {
		t.Fatalf("no snapshot saved: %v", err)
	}
	stop()
}

func TestFlags(t *testing.T) {
	// Should a bad flag get through, run must neither block nor leave
	// autonomic-data in the package directory.
	t.Chdir(t.TempDir())
	done, cancel := context.WithCancel(context.Background())
	cancel()
	bad := [][]string{
		{"--port", "70000"}, {"--port", "x"}, {"--data", ""}, {"--host", "example.com"},
		{"--log-level", "loud"}, {"extra"}, {"--nope"}, {"--poll", "0s"}, {"--lagod", "ftp://x"}, {"--host", "0.0.0.0"},
		{"--idle", "0s"}, {"--idle", "-1m"}, {"--idle", "soon"}, {"--max-follow", "0"}, {"--max-follow", "-5"}, {"--max-follow", "x"},
		{"--snapshot-every", "0"},
	}
	for _, args := range bad {
		var stderr bytes.Buffer
		if code := run(done, append([]string{"--port=0"}, args...), io.Discard, &stderr); code != 2 {
			t.Errorf("%v: exit %d, want 2 (%s)", args, code, stderr.String())
		}
	}
	good := []struct {
		args      []string
		idle      time.Duration
		maxFollow int
	}{
		{nil, 10 * time.Minute, 1024},
		{[]string{"--idle", "30s", "--max-follow", "1"}, 30 * time.Second, 1},
		{[]string{"--idle=1ns", "--max-follow=100000"}, time.Nanosecond, 100000},
	}
	for _, tt := range good {
		o, err := parseFlags(tt.args, io.Discard)
		if err != nil || o.idle != tt.idle || o.maxFollow != tt.maxFollow {
			t.Errorf("%v: idle %v max-follow %d err %v, want %v %d", tt.args, o.idle, o.maxFollow, err, tt.idle, tt.maxFollow)
		}
	}
	cfg := filepath.Join(t.TempDir(), "bad.json")
	os.WriteFile(cfg, []byte(`{"limits":{"dwell":"never"}}`), 0o600)
	var stderr bytes.Buffer
	if code := run(context.Background(), []string{"--config", cfg}, io.Discard, &stderr); code != 2 || !strings.Contains(stderr.String(), "never") {
		t.Errorf("bad config: exit %d: %s", code, stderr.String())
	}
	// A file that decodes but does not validate is a usage error too, and
	// leaves no data directory behind.
	os.WriteFile(cfg, []byte(`{"limits":{"hustle_runway_hours":48}}`), 0o600)
	data := filepath.Join(t.TempDir(), "data")
	stderr.Reset()
	if code := run(context.Background(), []string{"--config", cfg, "--data", data, "--port", "0"}, io.Discard, &stderr); code != 2 ||
		!strings.Contains(stderr.String(), "hustle_runway_hours") {
		t.Errorf("invalid config: exit %d: %s", code, stderr.String())
	}
	if _, err := os.Stat(data); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("invalid config created the data directory: %v", err)
	}
	if code := run(context.Background(), []string{"-h"}, io.Discard, io.Discard); code != 0 {
		t.Errorf("-h: exit %d", code)
	}
}

// TestCommandLineContract builds the binary and runs it as the issue's
// contract says: `autonomicd --port N --data DIR`.
func TestCommandLineContract(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "autonomicd")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(bin, "--port", fmt.Sprint(port), "--data", filepath.Join(dir, "data"))
	stdout, _ := cmd.StdoutPipe()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !strings.Contains(line, fmt.Sprintf("127.0.0.1:%d", port)) {
		t.Fatalf("first line %q err %v; stderr %s", line, err, stderr.String())
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	resp, err := http.Get(base + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", resp, err)
	}
	resp.Body.Close()
	resp, err = http.Get(base + "/v1/gating/brand-new-session")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil || m["economic_mode"] != "sovereign" {
		t.Fatalf("gating %s: %v", body, err)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v; stderr %s", err, stderr.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "journal.db")); err != nil {
		t.Fatalf("no journal in --data: %v", err)
	}
}

// TestDaemonFollowsLagod runs the daemon against lago's real HTTP API:
// streams are discovered by polling, events arrive by SSE, and changes are
// appended back over HTTP.
func TestDaemonFollowsLagod(t *testing.T) {
	st, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	lagod := httptest.NewServer(server.New(server.Config{Store: st, Logger: log}))
	defer func() { lagod.Close(); st.Close() }()

	d, err := openDaemon(options{lagod: lagod.URL, poll: 50 * time.Millisecond, snapshotEvery: 1000}, controller.DefaultConfig(), log)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx := context.Background()
	base, stop := serve(t, d, listen(t))

	id := aios.StreamID{Session: "remote", Branch: "main"}
	ev := func(i int, p aios.Payload) aios.EventEnvelope {
		return aios.EventEnvelope{EventID: fmt.Sprintf("01JLAGOD%018d", i), SessionID: id.Session, BranchID: id.Branch,
			Timestamp: t0 + uint64(i)*1_000_000, Payload: p, Metadata: map[string]string{}, SchemaVersion: 1}
	}
	if _, err := st.Journal.Append(ctx, ev(1, &aios.BalanceSynced{BalanceMicroCredits: 0})); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		var own int
		for e, err := range st.Journal.Read(ctx, aios.ReadQuery{Stream: id}) {
			if err != nil {
				t.Fatal(err)
			}
			if a, ok := e.Actor(); ok && a.Component == "autonomic" {
				own++
			}
		}
		if own == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d autonomic events in lagod's journal, want 3", own)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if g := getGating(t, base, "remote"); g.EconomicMode != aios.EconomicHibernate {
		t.Fatalf("gating %+v", g)
	}
	stop()
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// serve runs d on ln until stop, which waits for it to end and fails the
// test if it does not end cleanly; stop also runs at the test's cleanup.
// Tests that close d's journal in a defer call stop first.
func serve(t *testing.T, d *daemon, ln net.Listener) (base string, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Serve(ctx, ln) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Error(err)
				}
			case <-time.After(10 * time.Second):
				t.Error("daemon did not stop")
			}
		})
	}
	t.Cleanup(stop)
	return "http://" + ln.Addr().String(), stop
}
