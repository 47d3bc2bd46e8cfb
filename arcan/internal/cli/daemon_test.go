package cli

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/lifeos/life/arcan/internal/stack"
)

// serveBG runs `arcan serve` in process on a free port until stop, which
// returns serve's error; it waits for the daemon file and returns its URL.
func serveBG(t *testing.T, home string, extra ...string) (url string, stop func() error) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := New(IO{In: strings.NewReader(""), Out: &out, Err: &errb})
	cmd.SetArgs(append([]string{"serve", "--home", home, "--workspace", t.TempDir(), "--port", "0", "--gate", "off"}, extra...))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()
	stop = func() error {
		cancel()
		return <-done
	}
	deadline := time.After(30 * time.Second)
	for {
		d, err := stack.FindDaemon(ctx, home)
		if err == nil {
			return d.URL, stop
		}
		select {
		case err := <-done:
			t.Fatalf("serve ended: %v\n%s", err, errb.String())
		case <-deadline:
			stop()
			t.Fatalf("no daemon file: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// newSession leaves one session with one turn in home's journal.
func newSession(t *testing.T, home string) string {
	t.Helper()
	_, errOut, err := run(t, "hello\n", "shell", "--home", home, "--workspace", t.TempDir())
	if err != nil {
		t.Fatalf("%v %s", err, errOut)
	}
	return sessionRe.FindStringSubmatch(errOut)[1]
}

// While arcand holds the journal, sessions and replay without --url ask it
// and print what --url prints; once it stops they read the journal again.
func TestReadOnlyCommandsAskArcand(t *testing.T) {
	t.Setenv("ARCAN_TOKEN", "")
	home := t.TempDir()
	id := newSession(t, home)
	direct, _, err := run(t, "", "replay", id, "--home", home)
	if err != nil {
		t.Fatal(err)
	}
	url, stop := serveBG(t, home)
	if _, err := os.Stat(stack.DaemonPath(home)); err != nil {
		t.Fatalf("no daemon file while serving: %v", err)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"sessions", []string{"sessions"}, id + "\t-\t"},
		{"replay", []string{"replay", id}, "user: hello"},
		{"replay json", []string{"replay", id, "--json"}, `{"session":"` + id},
		{"replay branch", []string{"replay", id, "--branch", "main"}, "user: hello"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			viaURL, _, err := run(t, "", append(tc.args, "--home", home, "--url", url)...)
			if err != nil {
				t.Fatal(err)
			}
			got, errOut, err := run(t, "", append(tc.args, "--home", home)...)
			if err != nil {
				t.Fatalf("%v %s", err, errOut)
			}
			if got != viaURL || !strings.Contains(got, tc.want) {
				t.Fatalf("without --url:\n%s\nwith --url:\n%s\nwant %q", got, viaURL, tc.want)
			}
		})
	}
	// Errors come from the daemon as with --url.
	if _, _, err := run(t, "", "replay", "nosuch", "--home", home); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("missing session via arcand: %v", err)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stack.DaemonPath(home)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("daemon file left after a clean stop: %v", err)
	}
	got, _, err := run(t, "", "replay", id, "--home", home)
	if err != nil || got != direct {
		t.Fatalf("direct replay after stop: %v\n%s\nwant\n%s", err, got, direct)
	}
}

// With --auth the fallback sends what --url sends (ARCAN_TOKEN) and a 401
// says how to get in; it opens no other way around the auth.
func TestReadOnlyCommandsArcandAuth(t *testing.T) {
	t.Setenv("ARCAN_TOKEN", "")
	home := t.TempDir()
	id := newSession(t, home)
	_, stop := serveBG(t, home, "--auth", "--auth-did", "did:key:zallowed")
	defer stop()
	for _, args := range [][]string{{"sessions"}, {"replay", id}} {
		out, _, err := run(t, "", append(args, "--home", home)...)
		if err == nil || !strings.Contains(err.Error(), "--auth") || !strings.Contains(err.Error(), "ARCAN_TOKEN") || !strings.Contains(err.Error(), "HTTP 401") {
			t.Fatalf("%v: %v", args, err)
		}
		if out != "" {
			t.Fatalf("%v printed %q", args, out)
		}
	}
}

// A journal locked by a process that is not a reachable arcand fails with
// a message naming the lock and --url; a stale file is never trusted.
func TestReadOnlyCommandsLockedNoArcand(t *testing.T) {
	healthz := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"status":"ok"}`))
	}))
	defer healthz.Close()
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()
	child := exec.Command(os.Args[0], "-test.run=^$")
	if err := child.Run(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		file *stack.Daemon
		want string
	}{
		{"no file", nil, "no "},
		{"dead pid", &stack.Daemon{URL: healthz.URL, PID: child.Process.Pid}, "is not running"},
		{"url gone", &stack.Daemon{URL: closedURL, PID: os.Getpid()}, "does not answer"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel() // each waits out the lock timeout
			home := t.TempDir()
			id := newSession(t, home)
			if tc.file != nil {
				if err := stack.WriteDaemon(home, *tc.file); err != nil {
					t.Fatal(err)
				}
			}
			j, err := stack.OpenJournal(home, false, nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, args := range [][]string{{"sessions"}, {"replay", id}} {
				out, _, err := run(t, "", append(args, "--home", home)...)
				if !errors.Is(err, stack.ErrJournalLocked) || !errors.Is(err, stack.ErrNoDaemon) || out != "" {
					t.Fatalf("%v: %q %v", args, out, err)
				}
				for _, w := range []string{tc.want, "--url", "locked by another process"} {
					if !strings.Contains(err.Error(), w) {
						t.Fatalf("%v: %v lacks %q", args, err, w)
					}
				}
			}
			// Unlocked, a stale file is ignored: the journal is read directly.
			j.Close()
			out, _, err := run(t, "", "sessions", "--home", home)
			if err != nil || !strings.HasPrefix(out, id+"\t") {
				t.Fatalf("unlocked: %q %v", out, err)
			}
		})
	}
}

// arcand without --auth listens on localhost as on 127.0.0.1, and on a
// wider address only when --insecure-remote asks for it (the refusal
// without it is in TestBadFlags).
func TestServeHosts(t *testing.T) {
	for _, extra := range [][]string{{"--host", "localhost"}, {"--host", "0.0.0.0", "--insecure-remote"}} {
		t.Run(strings.Join(extra, " "), func(t *testing.T) {
			url, stop := serveBG(t, t.TempDir(), extra...)
			resp, err := http.Get(url + "/healthz")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if err := stop(); err != nil {
				t.Fatal(err)
			}
		})
	}
}
