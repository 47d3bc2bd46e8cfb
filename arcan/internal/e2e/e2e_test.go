package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/arcan/provider/wire"
)

var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "arcan-e2e-")
	if err != nil {
		panic(err)
	}
	bin = dir
	for _, name := range []string{"arcan", "arcand"} {
		out, err := exec.Command("go", "build", "-o", filepath.Join(dir, name), "github.com/lifeos/life/arcan/cmd/"+name).CombinedOutput()
		if err != nil {
			fmt.Fprintf(os.Stderr, "build %s: %v\n%s", name, err, out)
			os.RemoveAll(dir)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func arcan(t *testing.T, dir, home, stdin string, args ...string) (string, string) {
	t.Helper()
	cmd := exec.Command(filepath.Join(bin, "arcan"), args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "ARCAN_HOME="+home)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("arcan %v: %v\n%s", args, err, errb.String())
	}
	return out.String(), errb.String()
}

func TestShellThenReplay(t *testing.T) {
	ws, home := t.TempDir(), t.TempDir()
	os.WriteFile(filepath.Join(ws, "notes.txt"), []byte("remember the milk\n"), 0o600)
	os.WriteFile(filepath.Join(ws, "main.go"), []byte("package main\n"), 0o600)
	out, _ := arcan(t, ws, home, "What files are in this directory?\nread the file notes.txt\n", "shell", "--provider", "mock")
	for _, want := range []string{"main.go", "notes.txt", "remember the milk"} {
		if !strings.Contains(out, want) {
			t.Fatalf("shell output lacks %q:\n%s", want, out)
		}
	}
	sessions, _ := arcan(t, ws, home, "", "sessions")
	fields := strings.Fields(sessions)
	if len(fields) == 0 {
		t.Fatal("no sessions listed")
	}
	replay, _ := arcan(t, ws, home, "", "replay", fields[0])
	want := "user: What files are in this directory?\nassistant: Let me look at the directory.\ntool call list_dir {\"path\":\".\"}\n"
	if !strings.HasPrefix(replay, want) || !strings.Contains(replay, "remember the milk") {
		t.Fatalf("replay:\n%s", replay)
	}
	// Every assistant line of the shell output is in the replay.
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if !strings.Contains(replay, line) {
			t.Fatalf("replay lacks shell line %q\n%s", line, replay)
		}
	}
}

// fakeLLM speaks the OpenAI streaming format: the first call asks for
// list_dir, the second hangs (arcand is killed meanwhile), later calls answer.
type fakeLLM struct {
	calls   atomic.Int32
	hanging chan struct{}
	release chan struct{}
	sawTool atomic.Bool
}

func (f *fakeLLM) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Messages []struct {
			Role    string  `json:"role"`
			Content *string `json:"content"`
		} `json:"messages"`
	}
	json.NewDecoder(r.Body).Decode(&req)
	w.Header().Set("Content-Type", "text/event-stream")
	n := f.calls.Add(1)
	switch n {
	case 1:
		io.WriteString(w, `data: {"id":"a","model":"fake","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"list_dir","arguments":"{\"path\":\".\"}"}}]},"finish_reason":null}]}`+"\n\n")
		io.WriteString(w, `data: {"id":"a","model":"fake","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}`+"\n\ndata: [DONE]\n\n")
	case 2:
		w.(http.Flusher).Flush()
		close(f.hanging)
		select {
		case <-f.release:
		case <-r.Context().Done():
		}
	default:
		for _, m := range req.Messages {
			if m.Role == "tool" && m.Content != nil && strings.Contains(*m.Content, "data.csv") {
				f.sawTool.Store(true)
			}
		}
		io.WriteString(w, `data: {"id":"b","model":"fake","choices":[{"index":0,"delta":{"content":"resumed fine"},"finish_reason":null}]}`+"\n\n")
		io.WriteString(w, `data: {"id":"b","model":"fake","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`+"\n\ndata: [DONE]\n\n")
	}
}

var listenRe = regexp.MustCompile(`listening on (http://\S+)`)

func startArcand(t *testing.T, ws, home, llm string) (*exec.Cmd, string) {
	t.Helper()
	args := []string{"--port", "0", "--provider", "openai", "--base-url", llm, "--model", "fake"}
	if llm == "" {
		args = []string{"--port", "0", "--provider", "mock"}
	}
	cmd := exec.Command(filepath.Join(bin, "arcand"), args...)
	cmd.Dir = ws
	cmd.Env = append(os.Environ(), "ARCAN_HOME="+home, "OPENAI_API_KEY=sk-fake")
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	sc := bufio.NewScanner(stderr)
	urlc := make(chan string, 1)
	go func() {
		for sc.Scan() {
			if m := listenRe.FindStringSubmatch(sc.Text()); m != nil {
				urlc <- m[1]
			}
		}
	}()
	select {
	case u := <-urlc:
		for range 100 {
			if resp, err := http.Get(u + "/healthz"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					return cmd, u
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Fatal("arcand never became healthy")
	case <-time.After(20 * time.Second):
		t.Fatal("arcand did not start")
	}
	return nil, ""
}

func TestKill9MidRunAndResume(t *testing.T) {
	ws, home := t.TempDir(), t.TempDir()
	os.WriteFile(filepath.Join(ws, "data.csv"), []byte("a,b\n"), 0o600)
	llm := &fakeLLM{hanging: make(chan struct{}), release: make(chan struct{})}
	ls := httptest.NewServer(llm)
	defer ls.Close()
	defer close(llm.release)

	cmd, url := startArcand(t, ws, home, ls.URL)
	resp, err := http.Post(url+"/v1/sessions", "application/json", strings.NewReader(`{"name":"crash"}`))
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		SessionID string `json:"session_id"`
	}
	json.NewDecoder(resp.Body).Decode(&s)
	resp.Body.Close()

	// Follow the journal: every event that arrives here was acknowledged durable.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", url+"/v1/sessions/"+s.SessionID+"/events/stream", nil)
	stream, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	acked := make(chan aios.EventEnvelope, 1000)
	go func() {
		defer close(acked)
		for ev, err := range wire.ReadSSE(stream.Body) {
			if err != nil {
				return
			}
			e, err := aios.DecodeEnvelope([]byte(ev.Data))
			if err == nil {
				acked <- e
			}
		}
	}()
	resp, err = http.Post(url+"/v1/sessions/"+s.SessionID+"/runs", "application/json", strings.NewReader(`{"input":"what is here?","async":true}`))
	if err != nil || resp.StatusCode != 202 {
		t.Fatalf("start run: %v %v", err, resp.Status)
	}
	resp.Body.Close()
	select {
	case <-llm.hanging:
	case <-time.After(20 * time.Second):
		t.Fatal("run never reached the second model call")
	}
	time.Sleep(100 * time.Millisecond) // let the stream deliver what is durable
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	cancel()
	var before []aios.EventEnvelope
	for e := range acked {
		before = append(before, e)
	}
	if len(before) < 5 {
		t.Fatalf("only %d events acknowledged before the kill", len(before))
	}

	_, url = startArcand(t, ws, home, ls.URL)
	var state struct {
		Run struct {
			FinalAnswer string
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(url + "/v1/sessions/" + s.SessionID + "/state")
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var st struct {
			Run struct {
				Status      string `json:"status"`
				FinalAnswer string `json:"final_answer"`
			} `json:"run"`
		}
		json.Unmarshal(raw, &st)
		if st.Run.Status == "finished" {
			state.Run.FinalAnswer = st.Run.FinalAnswer
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("run not resumed: %s", raw)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if state.Run.FinalAnswer != "resumed fine" || !llm.sawTool.Load() {
		t.Fatalf("final %q, model saw tool result: %v", state.Run.FinalAnswer, llm.sawTool.Load())
	}
	// Nothing acknowledged was lost, and list_dir ran once.
	resp, err = http.Get(url + "/v1/sessions/" + s.SessionID + "/events?limit=10000")
	if err != nil {
		t.Fatal(err)
	}
	var list struct {
		Events []json.RawMessage `json:"events"`
	}
	json.NewDecoder(resp.Body).Decode(&list)
	resp.Body.Close()
	bySeq := map[uint64]string{}
	starts := 0
	for _, raw := range list.Events {
		e, err := aios.DecodeEnvelope(raw)
		if err != nil {
			t.Fatal(err)
		}
		bySeq[e.Seq] = e.EventID
		if _, ok := e.Payload.(*aios.ToolCallStarted); ok {
			starts++
		}
	}
	for _, e := range before {
		if bySeq[e.Seq] != e.EventID {
			t.Fatalf("acknowledged event seq %d (%s) lost after the restart", e.Seq, e.EventID)
		}
	}
	if starts != 1 {
		t.Fatalf("list_dir started %d times", starts)
	}
}

func TestGracefulShutdown(t *testing.T) {
	cmd, url := startArcand(t, t.TempDir(), t.TempDir(), "")
	resp, err := http.Post(url+"/v1/sessions", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		SessionID string `json:"session_id"`
	}
	json.NewDecoder(resp.Body).Decode(&s)
	resp.Body.Close()
	stream, err := http.Get(url + "/v1/sessions/" + s.SessionID + "/events/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Body.Close()
	go io.Copy(io.Discard, stream.Body)
	start := time.Now()
	cmd.Process.Signal(syscall.SIGTERM)
	errc := make(chan error, 1)
	go func() { errc <- cmd.Wait() }()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("arcand exited with %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("arcand did not stop within 10s of SIGTERM")
	}
	t.Logf("stopped in %s", time.Since(start))
}

func arcanEnv(t *testing.T, home string, env []string, stdin string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(filepath.Join(bin, "arcan"), args...)
	cmd.Env = append(append(os.Environ(), "ARCAN_HOME="+home), env...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.Output()
	if ee, ok := err.(*exec.ExitError); ok {
		return string(out), fmt.Errorf("%v: %s", err, ee.Stderr)
	}
	return string(out), err
}

// An identity made with `arcan identity new` signs the JWT that arcand
// --auth (anima's verifier) accepts; requests without it are refused.
func TestIdentityAndAuth(t *testing.T) {
	home := t.TempDir()
	pass := []string{"ARCAN_PASSPHRASE=correct horse battery staple"}
	out, err := arcanEnv(t, home, pass, "", "identity", "new", "--name", "e2e")
	if err != nil || !strings.HasPrefix(out, "did: did:key:") {
		t.Fatalf("%q %v", out, err)
	}
	did := strings.Fields(out)[1]
	show, err := arcanEnv(t, home, nil, "", "identity", "show")
	if err != nil || !strings.Contains(show, did) {
		t.Fatalf("%q %v", show, err)
	}
	if _, err := arcanEnv(t, home, nil, "", "identity", "token"); err == nil {
		t.Fatal("token without a passphrase")
	}
	tok, err := arcanEnv(t, home, nil, "correct horse battery staple\n", "identity", "token", "--aud", "arcand")
	if err != nil {
		t.Fatal(err)
	}
	tok = strings.TrimSpace(tok)

	cmd := exec.Command(filepath.Join(bin, "arcand"), "--port", "0", "--auth")
	cmd.Env = append(os.Environ(), "ARCAN_HOME="+home)
	cmd.Dir = t.TempDir()
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	sc := bufio.NewScanner(stderr)
	var url string
	for sc.Scan() {
		if m := listenRe.FindStringSubmatch(sc.Text()); m != nil {
			url = m[1]
			break
		}
	}
	go io.Copy(io.Discard, stderr)
	if url == "" {
		t.Fatal("arcand --auth did not start")
	}
	get := func(tok string) int {
		req, _ := http.NewRequest("GET", url+"/v1/sessions", nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if c := get(""); c != 401 {
		t.Fatalf("no token: %d", c)
	}
	if c := get(tok[:len(tok)-4] + "AAAA"); c != 401 {
		t.Fatalf("forged token: %d", c)
	}
	if c := get(tok); c != 200 {
		t.Fatalf("good token: %d", c)
	}
	if resp, err := http.Get(url + "/healthz"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz must stay open: %v", err)
	}
	out, err = arcanEnv(t, home, pass, "", "identity", "rotate")
	if err != nil || !strings.Contains(out, did+" -> did:key:") {
		t.Fatalf("rotate %q %v", out, err)
	}
}

// `arcan chat` streams from a running arcand.
func TestChatClient(t *testing.T) {
	ws := t.TempDir()
	os.WriteFile(filepath.Join(ws, "menu.txt"), []byte("soup"), 0o600)
	_, url := startArcand(t, ws, t.TempDir(), "")
	out, err := arcanEnv(t, t.TempDir(), nil, "", "chat", "--url", url, "What files are in this directory?")
	if err != nil || !strings.Contains(out, "menu.txt") {
		t.Fatalf("%q %v", out, err)
	}
	// While arcand holds the journal, sessions and replay ask it instead.
	sessions, err := arcanEnv(t, t.TempDir(), nil, "", "sessions", "--url", url)
	if err != nil || len(strings.Fields(sessions)) == 0 {
		t.Fatalf("sessions %q %v", sessions, err)
	}
	replay, err := arcanEnv(t, t.TempDir(), nil, "", "replay", strings.Fields(sessions)[0], "--url", url)
	if err != nil || !strings.Contains(replay, "tool call list_dir") || !strings.Contains(replay, "menu.txt") {
		t.Fatalf("replay %q %v", replay, err)
	}
	if _, err := arcanEnv(t, t.TempDir(), nil, "", "replay", "nosuch", "--url", url); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("missing session over HTTP: %v", err)
	}
}
