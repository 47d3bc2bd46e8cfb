package main

import (
	"bufio"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestLagodBinary builds lagod, starts it on a free port, uses the API,
// and stops it with SIGTERM.
func TestLagodBinary(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "lagod")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	data := t.TempDir()
	cmd := exec.Command(bin, "--data", data, "--port", "0")
	stdout, _ := cmd.StdoutPipe()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("no listen line: %v %s", err, stderr.String())
	}
	base := strings.TrimSpace(strings.TrimPrefix(line, "lagod listening on "))
	if !strings.HasPrefix(base, "http://127.0.0.1:") {
		t.Fatalf("listen line %q", line)
	}
	post := func(path, body string) (int, string) {
		resp, err := http.Post(base+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := post("/v1/sessions", `{"session_id":"s"}`); code != 201 {
		t.Fatalf("create: %d %s", code, body)
	}
	if code, body := post("/v1/sessions/s/events", `{"payload":{"type":"UserMessage","content":"hi"}}`); code != 201 || !strings.Contains(body, `"seqs":[2]`) {
		t.Fatalf("append: %d %s", code, body)
	}
	resp, err := http.Get(base + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("health %v %v", resp, err)
	}
	resp.Body.Close()
	// an open SSE stream must not keep the daemon from stopping
	sresp, err := http.Get(base + "/v1/sessions/s/events/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer sresp.Body.Close()
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit: %v\n%s", err, stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("lagod did not stop on SIGTERM")
	}
	// the data is there for the next start
	if _, err := os.Stat(filepath.Join(data, "journal.db")); err != nil {
		t.Fatal(err)
	}
}

func TestLagodFlags(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "lagod")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
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
	}
	for _, tt := range tests {
		out, err := exec.Command(bin, tt.args...).CombinedOutput()
		ee, ok := err.(*exec.ExitError)
		if !ok || ee.ExitCode() != 2 || !strings.Contains(string(out), tt.msg) {
			t.Errorf("%v: %v %s", tt.args, err, out)
		}
	}
}
