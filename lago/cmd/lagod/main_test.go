package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/anima/custody"
	"github.com/lifeos/life/anima/identity"
	"github.com/lifeos/life/anima/token"
)

// lagodBin and lagoBin are built once for every test.
var lagodBin, lagoBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "lagod-test")
	if err != nil {
		panic(err)
	}
	lagodBin, lagoBin = filepath.Join(dir, "lagod"), filepath.Join(dir, "lago")
	for bin, pkg := range map[string]string{lagodBin: ".", lagoBin: "github.com/lifeos/life/lago/cmd/lago"} {
		if out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput(); err != nil {
			os.RemoveAll(dir)
			panic("build " + pkg + ": " + err.Error() + "\n" + string(out))
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// daemon is a running lagod.
type daemon struct {
	base   string
	cmd    *exec.Cmd
	stderr *strings.Builder
}

// startLagod starts lagod with args (plus --port 0), waits for its listen
// line and stops it with SIGTERM at the end of the test.
func startLagod(t *testing.T, args ...string) *daemon {
	t.Helper()
	cmd := exec.Command(lagodBin, append(args, "--port", "0")...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	d := &daemon{cmd: cmd, stderr: &strings.Builder{}}
	cmd.Stderr = d.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("no listen line: %v %s", err, d.stderr.String())
	}
	addr := strings.TrimSpace(strings.TrimPrefix(line, "lagod listening on http://"))
	_, port, ok := strings.Cut(addr, "]:")
	if !ok {
		_, port, ok = strings.Cut(addr, ":")
	}
	if !ok || port == "" {
		t.Fatalf("listen line %q", line)
	}
	d.base = "http://127.0.0.1:" + port
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	return d
}

// stop sends SIGTERM and waits for a clean exit.
func (d *daemon) stop(t *testing.T) {
	t.Helper()
	d.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- d.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit: %v\n%s", err, d.stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("lagod did not stop on SIGTERM")
	}
}

// do sends a request with an optional bearer token and returns status and body.
func (d *daemon) do(t *testing.T, method, path, tok, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, d.base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestLagodBinary builds lagod, starts it on a free port, uses the API,
// and stops it with SIGTERM.
func TestLagodBinary(t *testing.T) {
	data := t.TempDir()
	d := startLagod(t, "--data", data)
	if !strings.HasPrefix(d.base, "http://127.0.0.1:") {
		t.Fatalf("base %q", d.base)
	}
	if code, body := d.do(t, "POST", "/v1/sessions", "", `{"session_id":"s"}`); code != 201 {
		t.Fatalf("create: %d %s", code, body)
	}
	if code, body := d.do(t, "POST", "/v1/sessions/s/events", "", `{"payload":{"type":"UserMessage","content":"hi"}}`); code != 201 || !strings.Contains(body, `"seqs":[2]`) {
		t.Fatalf("append: %d %s", code, body)
	}
	if code, _ := d.do(t, "GET", "/healthz", "", ""); code != 200 {
		t.Fatalf("health %d", code)
	}
	// an open SSE stream must not keep the daemon from stopping
	sresp, err := http.Get(d.base + "/v1/sessions/s/events/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer sresp.Body.Close()
	d.stop(t)
	// the data is there for the next start
	if _, err := os.Stat(filepath.Join(data, "journal.db")); err != nil {
		t.Fatal(err)
	}
}

func TestLagodFlags(t *testing.T) {
	tests := []struct {
		args []string
		msg  string
	}{
		{[]string{"--port", "1"}, "--data"},
		{[]string{"--data", t.TempDir(), "--port", "70000"}, "out of range"},
		{[]string{"--data", t.TempDir(), "--addr", "0.0.0.0"}, "not loopback"},
		{[]string{"--data", t.TempDir(), "--quota-blob-bytes", "-1"}, "negative"},
		{[]string{"--data", t.TempDir(), "--bogus"}, "unknown flag"},
		{[]string{"--data", t.TempDir(), "--port", "x"}, "invalid argument"},
		{[]string{"--data", t.TempDir(), "--auth", "--auth-did", "alice"}, "is not a DID"},
		{[]string{"--data", t.TempDir(), "--auth", "--auth-audience", ""}, "non-empty"},
		{[]string{"--data", t.TempDir(), "--auth-did", "did:key:z"}, "need --auth"},
		{[]string{"--data", t.TempDir(), "--auth-audience", "x"}, "need --auth"},
		{[]string{"--data", t.TempDir(), "--auth=maybe"}, "invalid argument"},
	}
	for _, tt := range tests {
		out, err := exec.Command(lagodBin, tt.args...).CombinedOutput()
		ee, ok := err.(*exec.ExitError)
		if !ok || ee.ExitCode() != 2 || !strings.Contains(string(out), tt.msg) {
			t.Errorf("%v: %v %s", tt.args, err, out)
		}
	}
}

type fixedClock time.Time

func (c fixedClock) Now() time.Time { return time.Time(c) }

func issue(t *testing.T, c aios.Custody, aud string, at time.Time) string {
	t.Helper()
	tok, err := token.Issue(context.Background(), c, aios.KeyAuth,
		token.Request{Audience: []string{aud}, TTL: 5 * time.Minute}, fixedClock(at))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func generate(t *testing.T, opts ...custody.Option) *custody.InProcess {
	t.Helper()
	c, err := custody.Generate(opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// importEvents appends events to the journal with the lago CLI, the way an
// operator brings identity events in.
func importEvents(t *testing.T, data string, evs []aios.EventEnvelope) {
	t.Helper()
	raw, err := json.Marshal(evs)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "identity.json")
	if err := os.WriteFile(file, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(lagoBin, "--data", data, "import", file).CombinedOutput(); err != nil {
		t.Fatalf("lago import: %v\n%s", err, out)
	}
}

// TestLagodAuth runs lagod --auth with anima's verifier over a journal that
// holds a revocation and a rotation, and checks who gets the data.
func TestLagodAuth(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	alice, stranger, mallory := generate(t), generate(t), generate(t)
	// carol rotated her keys ten minutes ago; carolOld still holds the old ones
	seed, err := identity.NewSeed(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	carolOld, err := custody.NewInProcess(seed)
	if err != nil {
		t.Fatal(err)
	}
	carol, err := custody.NewInProcess(seed, custody.WithClock(fixedClock(now.Add(-10*time.Minute))))
	if err != nil {
		t.Fatal(err)
	}
	rot, err := carol.Rotate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	clock := aios.SystemClock{}
	ids := aios.NewULIDGenerator(clock, nil)
	evs := []aios.EventEnvelope{aios.NewEnvelope(ids, clock, "identity-mallory", "main",
		&aios.IdentityRevoked{DID: mallory.DID(), Reason: "key lost", RevokedAt: aios.Micros(now.Add(-time.Minute))})}
	for _, r := range rot.Events {
		evs = append(evs, aios.NewEnvelope(ids, clock, "identity-carol", "main", r))
	}
	data := t.TempDir()
	importEvents(t, data, evs)

	d := startLagod(t, "--data", data, "--auth")
	aliceTok := issue(t, alice, "lagod", now)
	if code, body := d.do(t, "POST", "/v1/sessions", aliceTok, `{"session_id":"a"}`); code != 201 {
		t.Fatalf("create: %d %s", code, body)
	}
	if code, body := d.do(t, "POST", "/v1/sessions/a/events", aliceTok, `{"payload":{"type":"UserMessage","content":"secret-alice"}}`); code != 201 {
		t.Fatalf("append: %d %s", code, body)
	}
	tests := []struct {
		name string
		tok  string
		want int
	}{
		{"owner", aliceTok, 200},
		{"no token", "", 401},
		{"garbage token", "not.a.jwt", 401},
		{"expired", issue(t, alice, "lagod", now.Add(-2*time.Hour)), 401},
		{"wrong audience", issue(t, alice, "arcand", now), 401},
		{"revoked DID", issue(t, mallory, "lagod", now), 401},
		{"key rotated away", issue(t, carolOld, "lagod", now), 401},
		// valid tokens of non-owners pass auth and meet the policy: this is
		// what the revoked and rotated keys would get without the events
		{"valid stranger", issue(t, stranger, "lagod", now), 403},
		{"rotated-to key", issue(t, carol, "lagod", now), 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := d.do(t, "GET", "/v1/sessions/a/events", tt.tok, "")
			if code != tt.want {
				t.Fatalf("status %d, want %d: %s", code, tt.want, body)
			}
			if (code == 200) != strings.Contains(body, "secret-alice") {
				t.Fatalf("status %d with body %s", code, body)
			}
			code, body = d.do(t, "GET", "/v1/sessions", tt.tok, "")
			wantList := tt.want // a non-owner lists no sessions rather than a 403
			if wantList == 403 {
				wantList = 200
			}
			if code != wantList {
				t.Fatalf("list: status %d for %d: %s", code, tt.want, body)
			}
			if (tt.want == 200) != strings.Contains(body, `"a"`) {
				t.Fatalf("list: status %d with body %s", code, body)
			}
		})
	}
	if code, _ := d.do(t, "GET", "/healthz", "", ""); code != 200 {
		t.Fatalf("healthz without a token: %d", code)
	}
	d.stop(t)
	if log := d.stderr.String(); !strings.Contains(log, "identity_events=3") || !strings.Contains(log, "identity_events_ignored=0") {
		t.Fatalf("startup log does not report the 3 identity events:\n%s", log)
	}
}

// TestLagodAuthAllowList serves a non-loopback address with --auth (no
// --insecure-remote), a custom audience and an --auth-did allow-list.
func TestLagodAuthAllowList(t *testing.T) {
	now := time.Now()
	alice, bob := generate(t), generate(t)
	d := startLagod(t, "--data", t.TempDir(), "--addr", "0.0.0.0", "--auth", "--auth-audience", "lago-test", "--auth-did", alice.DID())
	tests := []struct {
		name string
		tok  string
		want int
	}{
		{"listed DID", issue(t, alice, "lago-test", now), 201},
		{"unlisted DID", issue(t, bob, "lago-test", now), 401},
		{"default audience", issue(t, alice, "lagod", now), 401},
		{"no token", "", 401},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := d.do(t, "POST", "/v1/sessions", tt.tok, `{"session_id":"s`+string(rune('0'+i))+`"}`)
			if code != tt.want {
				t.Fatalf("status %d, want %d: %s", code, tt.want, body)
			}
		})
	}
	d.stop(t)
}

// TestLagodLiveRevocation: a key revoked through the API is refused at once,
// and only its own key may revoke it.
func TestLagodLiveRevocation(t *testing.T) {
	now := time.Now()
	alice, bob := generate(t), generate(t)
	data := t.TempDir()
	d := startLagod(t, "--data", data, "--auth")
	aliceTok, bobTok := issue(t, alice, "lagod", now), issue(t, bob, "lagod", now)
	revoke := func(did string) string {
		return `{"payload":{"type":"Custom","event_type":"` + aios.EventIdentityRevoked +
			`","data":{"did":"` + did + `","reason":"key lost","revoked_at":1}}}`
	}
	steps := []struct {
		name, method, path, tok, body string
		want                          int
	}{
		{"alice creates her session", "POST", "/v1/sessions", aliceTok, `{"session_id":"a"}`, 201},
		{"bob creates his", "POST", "/v1/sessions", bobTok, `{"session_id":"b"}`, 201},
		{"bob may not revoke alice", "POST", "/v1/sessions/b/events", bobTok, revoke(alice.DID()), 403},
		{"alice still reads", "GET", "/v1/sessions/a/events", aliceTok, "", 200},
		{"alice revokes her own key", "POST", "/v1/sessions/a/events", aliceTok, revoke(alice.DID()), 201},
		{"alice's key is refused at once", "GET", "/v1/sessions/a/events", aliceTok, "", 401},
		{"a fresh token of that key too", "GET", "/v1/sessions", issue(t, alice, "lagod", now), "", 401},
		{"bob is not affected", "GET", "/v1/sessions/b/events", bobTok, "", 200},
	}
	for _, s := range steps {
		if code, body := d.do(t, s.method, s.path, s.tok, s.body); code != s.want {
			t.Fatalf("%s: status %d, want %d: %s", s.name, code, s.want, body)
		}
	}
	d.stop(t)
	// and after a restart, from the journal
	d = startLagod(t, "--data", data, "--auth")
	if code, body := d.do(t, "GET", "/v1/sessions", aliceTok, ""); code != 401 {
		t.Fatalf("after restart: alice's key gets %d: %s", code, body)
	}
	d.stop(t)
}

// With OTEL_TRACES_EXPORTER=console the HTTP requests and the journal
// appends they make become spans on stderr, flushed when SIGTERM stops
// lagod; without it nothing is exported.
func TestLagodTelemetryConsole(t *testing.T) {
	for _, exporter := range []string{"console", ""} {
		t.Run("exporter="+exporter, func(t *testing.T) {
			t.Setenv("OTEL_TRACES_EXPORTER", exporter)
			d := startLagod(t, "--data", t.TempDir())
			if code, body := d.do(t, "POST", "/v1/sessions", "", `{"session_id":"s"}`); code != 201 {
				t.Fatalf("create: %d %s", code, body)
			}
			if code, body := d.do(t, "POST", "/v1/sessions/s/events", "", `{"payload":{"type":"UserMessage","content":"hi"}}`); code != 201 {
				t.Fatalf("append: %d %s", code, body)
			}
			d.stop(t)
			type ids struct{ SpanID string }
			var spans []string
			var parents, selves []string
			for line := range strings.Lines(d.stderr.String()) {
				var s struct {
					Name        string
					SpanContext ids
					Parent      ids
				}
				if strings.HasPrefix(line, "{") && json.Unmarshal([]byte(line), &s) == nil && s.Name != "" {
					spans = append(spans, s.Name)
					parents, selves = append(parents, s.Parent.SpanID), append(selves, s.SpanContext.SpanID)
				}
			}
			// Each append's span is a child of its request's (in any export
			// order: vigil ends an append's span just after it returns).
			want := []string{"POST /v1/sessions", "POST /v1/sessions/{id}/events", "lago append", "lago append"}
			if exporter == "" {
				want = nil
			}
			if got := slices.Sorted(slices.Values(spans)); !slices.Equal(got, want) {
				t.Fatalf("spans %q, want %q; stderr:\n%s", spans, want, d.stderr.String())
			}
			byID := map[string]string{}
			for i, id := range selves {
				byID[id] = spans[i]
			}
			requests := map[string]bool{}
			for i, name := range spans {
				if name != "lago append" {
					continue
				}
				if p := byID[parents[i]]; !strings.HasPrefix(p, "POST ") || requests[p] {
					t.Errorf("lago append %s: parent %q, want its own request's span", selves[i], p)
				} else {
					requests[p] = true
				}
			}
		})
	}
}

// A bad OTEL_* value is a usage error naming the variable, found before
// the data directory is created.
func TestLagodTelemetryBadEnv(t *testing.T) {
	for _, env := range [][2]string{
		{"OTEL_TRACES_SAMPLER_ARG", "abc"},
		{"OTEL_TRACES_EXPORTER", "zipkin"},
	} {
		data := filepath.Join(t.TempDir(), "data")
		cmd := exec.Command(lagodBin, "--data", data, "--port", "0")
		cmd.Env = append(os.Environ(), "OTEL_TRACES_SAMPLER=traceidratio", env[0]+"="+env[1])
		out, err := cmd.CombinedOutput()
		ee, ok := err.(*exec.ExitError)
		if !ok || ee.ExitCode() != 2 || !strings.Contains(string(out), env[0]) {
			t.Errorf("%s=%s: %v %s", env[0], env[1], err, out)
		}
		if _, err := os.Stat(data); !os.IsNotExist(err) {
			t.Errorf("%s=%s: data directory created (%v)", env[0], env[1], err)
		}
	}
}
