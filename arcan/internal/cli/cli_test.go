package cli

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/arcan/internal/stack"
	"github.com/lifeos/life/arcan/runtime"
)

func run(t *testing.T, stdin string, args ...string) (string, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	no := false
	cmd := New(IO{In: strings.NewReader(stdin), Out: &out, Err: &errb, Interactive: &no})
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), errb.String(), err
}

func workspace(t *testing.T) string {
	t.Helper()
	ws := t.TempDir()
	for name, body := range map[string]string{"alpha.txt": "hello from alpha\n", "beta.md": "# beta\n"} {
		if err := os.WriteFile(filepath.Join(ws, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	os.Mkdir(filepath.Join(ws, "sub"), 0o700)
	return ws
}

var sessionRe = regexp.MustCompile(`session (\S+) `)

func TestShellListReadReplay(t *testing.T) {
	home, ws := t.TempDir(), workspace(t)
	out, errOut, err := run(t, "What files are in this directory?\nread the file alpha.txt\n/replay\n",
		"shell", "--provider", "mock", "--home", home, "--workspace", ws)
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	if !strings.Contains(out, "3 entries: alpha.txt, beta.md, sub/.") {
		t.Fatalf("listing missing:\n%s", out)
	}
	if !strings.Contains(out, "hello from alpha") {
		t.Fatalf("file content missing:\n%s", out)
	}
	if !strings.Contains(errOut, "→ list_dir") || !strings.Contains(errOut, "→ read_file") {
		t.Fatalf("tool calls not shown:\n%s", errOut)
	}
	m := sessionRe.FindStringSubmatch(errOut)
	if m == nil {
		t.Fatalf("no session id in %q", errOut)
	}
	id := m[1]
	// /replay printed the transcript inside the shell; `arcan replay` prints
	// the same bytes from the journal alone.
	i := strings.Index(out, "user: What files")
	if i < 0 {
		t.Fatalf("no transcript in shell output:\n%s", out)
	}
	inShell := out[i:]
	replayed, _, err := run(t, "", "replay", id, "--home", home)
	if err != nil {
		t.Fatal(err)
	}
	if replayed != inShell {
		t.Fatalf("replay differs\nshell:\n%s\nreplay:\n%s", inShell, replayed)
	}
	for _, want := range []string{"tool call list_dir", "tool result read_file (ok)", "assistant: The file contains:"} {
		if !strings.Contains(replayed, want) {
			t.Fatalf("replay lacks %q:\n%s", want, replayed)
		}
	}
	sessions, _, err := run(t, "", "sessions", "--home", home)
	if err != nil || strings.Fields(sessions)[0] != id || strings.Count(sessions, "\n") != 1 {
		t.Fatalf("sessions %q %v", sessions, err)
	}
	js, _, err := run(t, "", "replay", id, "--home", home, "--json")
	if err != nil || !strings.HasPrefix(js, `{"session":"`+id) {
		t.Fatalf("json %q %v", js, err)
	}
	// Continue the session: the model sees the earlier turns.
	out2, errOut2, err := run(t, "hello again\n", "shell", "--home", home, "--workspace", ws, "--session", id)
	if err != nil || !strings.Contains(out2, `You said: "hello again"`) {
		t.Fatalf("%v %s %s", err, out2, errOut2)
	}
}

func TestBadFlags(t *testing.T) {
	home := t.TempDir()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"provider", []string{"shell", "--home", home, "--provider", "nope"}, "unknown provider"},
		{"approve", []string{"shell", "--home", home, "--approve", "maybe"}, "approve mode"},
		{"iterations", []string{"shell", "--home", home, "--max-iterations", "0"}, "max-iterations"},
		{"cost without price", []string{"shell", "--home", home, "--max-cost", "1"}, "--price-in"},
		{"negative price", []string{"shell", "--home", home, "--price-in", "-1"}, "negative"},
		{"timeout", []string{"shell", "--home", home, "--timeout", "-1s"}, "negative"},
		{"workspace", []string{"shell", "--home", home, "--workspace", "/does/not/exist"}, "workspace"},
		{"bash tier", []string{"shell", "--home", home, "--bash", "chroot"}, "unknown tier"},
		{"replay missing", []string{"replay", "nosuch", "--home", home}, "not found"},
		{"replay args", []string{"replay", "--home", home}, "accepts 1 arg"},
		{"session missing", []string{"shell", "--home", home, "--session", "nosuch"}, "not found"},
		{"serve port", []string{"serve", "--home", home, "--port", "70000"}, "out of range"},
		{"serve non-loopback", []string{"serve", "--home", home, "--port", "0", "--host", "0.0.0.0", "--max-iterations", "0"}, "--insecure-remote"},
		{"serve did without auth", []string{"serve", "--home", home, "--port", "0", "--auth-did", "did:key:z6Mk", "--max-iterations", "0"}, "need --auth"},
		{"serve audience without auth", []string{"serve", "--home", home, "--port", "0", "--auth-audience", "x", "--max-iterations", "0"}, "need --auth"},
		{"serve drain", []string{"serve", "--home", home, "--port", "0", "--drain", "-1s"}, "--drain"},
		{"serve iterations", []string{"serve", "--home", home, "--port", "0", "--max-iterations", "0"}, "max-iterations"},
		{"sessions args", []string{"sessions", "extra", "--home", home}, "unknown command"},
		{"unknown flag", []string{"shell", "--home", home, "--frobnicate"}, "unknown flag"},
		{"no identity", []string{"identity", "show", "--home", home}, "arcan identity new"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := run(t, "", tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
		})
	}
}

func TestVersion(t *testing.T) {
	out, _, err := run(t, "", "version")
	if err != nil || !strings.HasPrefix(out, "arcan "+Version) {
		t.Fatalf("%q %v", out, err)
	}
}

func TestShellCommands(t *testing.T) {
	home, ws := t.TempDir(), workspace(t)
	out, errOut, err := run(t, "/help\n/session\nhello\n/branch alt\nsecond\n/replay\n/nope\n/branch\n/quit\nnever reached\n",
		"shell", "--home", home, "--workspace", ws)
	if err != nil {
		t.Fatalf("%v %s", err, errOut)
	}
	for _, want := range []string{"/replay", "main\n", `You said: "hello"`, `You said: "second"`} {
		if !strings.Contains(out, want) {
			t.Fatalf("output lacks %q:\n%s", want, out)
		}
	}
	// /replay on the branch shows the history it forked from plus its own turn.
	i := strings.LastIndex(out, "user: hello")
	if i < 0 || !strings.Contains(out[i:], "user: second") {
		t.Fatalf("branch replay:\n%s", out)
	}
	if strings.Contains(out, "never reached") {
		t.Fatal("/quit did not stop the shell")
	}
	for _, want := range []string{"now on branch alt", "unknown command /nope", "usage: /branch NAME"} {
		if !strings.Contains(errOut, want) {
			t.Fatalf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	id := sessionRe.FindStringSubmatch(errOut)[1]
	mainOnly, _, err := run(t, "", "replay", id, "--home", home)
	if err != nil || strings.Contains(mainOnly, "second") {
		t.Fatalf("main replay shows the branch turn: %q %v", mainOnly, err)
	}
	alt, _, err := run(t, "", "replay", id, "--home", home, "--branch", "alt")
	if err != nil || !strings.Contains(alt, "user: second") {
		t.Fatalf("alt replay %q %v", alt, err)
	}
}

func TestShellBudget(t *testing.T) {
	home, ws := t.TempDir(), workspace(t)
	// One tool call allowed per run; "list" needs one, so the run completes;
	// a zero-token budget stops the next run before the model is asked.
	out, errOut, err := run(t, "list the files\n", "shell", "--home", home, "--workspace", ws, "--max-tool-calls", "1")
	if err != nil || !strings.Contains(out, "alpha.txt") {
		t.Fatalf("%v %s %s", err, out, errOut)
	}
	_, errOut, err = run(t, "list the files\n", "shell", "--home", home, "--workspace", ws, "--max-tokens", "1")
	if err == nil || !strings.Contains(errOut, "budget exceeded") {
		t.Fatalf("token budget not enforced: %v %s", err, errOut)
	}
}

func runInteractive(t *testing.T, stdin string, args ...string) (string, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	yes := true
	cmd := New(IO{In: strings.NewReader(stdin), Out: &out, Err: &errb, Interactive: &yes})
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), errb.String(), err
}

func TestShellApprovals(t *testing.T) {
	tests := []struct {
		name, stdin, approve string
		interactive          bool
		written              bool
	}{
		{"asked and approved", "write hi to out.txt\ny\n", "ask", true, true},
		{"asked and denied", "write hi to out.txt\nn\n", "ask", true, false},
		{"no terminal to ask", "write hi to out.txt\n", "ask", false, false},
		{"auto", "write hi to out.txt\n", "auto", false, true},
		{"deny", "write hi to out.txt\n", "deny", false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			home, ws := t.TempDir(), workspace(t)
			args := []string{"shell", "--home", home, "--workspace", ws, "--approve", tc.approve}
			var out, errOut string
			var err error
			if tc.interactive {
				out, errOut, err = runInteractive(t, tc.stdin, args...)
			} else {
				out, errOut, err = run(t, tc.stdin, args...)
			}
			if err != nil {
				t.Fatalf("%v %s", err, errOut)
			}
			b, rerr := os.ReadFile(filepath.Join(ws, "out.txt"))
			if tc.written != (rerr == nil) || tc.written && string(b) != "hi\n" {
				t.Fatalf("written=%v (%q)\nout:\n%s\nerr:\n%s", rerr == nil, b, out, errOut)
			}
			if tc.interactive && !strings.Contains(out, "Allow write_file") {
				t.Fatalf("no prompt:\n%s", out)
			}
		})
	}
}

// A session left waiting for approval (the shell stopped at the question)
// is settled when the shell continues it: asked on a terminal, denied
// without one; then the new prompt runs.
func TestShellContinuesPausedSession(t *testing.T) {
	for _, interactive := range []bool{true, false} {
		t.Run(map[bool]string{true: "terminal", false: "no terminal"}[interactive], func(t *testing.T) {
			home, ws := t.TempDir(), workspace(t)
			st, err := stack.Open(stack.Options{Home: home, Workspace: ws, Provider: "mock", Gate: "off"})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			id, err := st.Runtime.CreateSession(ctx, "paused", nil)
			if err != nil {
				t.Fatal(err)
			}
			stream := aios.StreamID{Session: id, Branch: runtime.DefaultBranch}
			res, err := st.Runtime.Run(ctx, stream, runtime.RunOptions{Input: "write hi to out.txt"})
			st.Close()
			if err != nil || res.Status != runtime.StatusAwaitingApproval {
				t.Fatalf("%+v %v", res, err)
			}
			args := []string{"shell", "--home", home, "--workspace", ws, "--session", id}
			var out, errOut string
			if interactive {
				out, errOut, err = runInteractive(t, "write bye to other.txt\ny\ny\n", args...)
			} else {
				out, errOut, err = run(t, "What files are in this directory?\n", args...)
			}
			if err != nil {
				t.Fatalf("%v\nout:\n%s\nerr:\n%s", err, out, errOut)
			}
			if !strings.Contains(errOut, "earlier run of this session waits for approval") {
				t.Fatalf("not told:\n%s", errOut)
			}
			_, werr := os.Stat(filepath.Join(ws, "out.txt"))
			if interactive != (werr == nil) {
				t.Fatalf("earlier write done=%v\nout:\n%s\nerr:\n%s", werr == nil, out, errOut)
			}
			if interactive {
				if b, err := os.ReadFile(filepath.Join(ws, "other.txt")); err != nil || string(b) != "bye\n" {
					t.Fatalf("new prompt's write: %q %v\n%s", b, err, out)
				}
			} else if !strings.Contains(out, "alpha.txt") {
				t.Fatalf("new prompt not answered:\n%s", out)
			}
		})
	}
}

// The shell tells, on stderr, about an MCP server it had to leave out and
// about an autonomic gate that fails open, then answers anyway.
func TestShellWarnsAboutMissingPeers(t *testing.T) {
	home, ws := t.TempDir(), workspace(t)
	if err := os.WriteFile(filepath.Join(home, "mcp.json"), []byte(`{"servers":[{"namespace":"gone","command":"/nonexistent/mcp-server"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	// a port nothing listens on
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	out, errOut, err := run(t, "hello\n", "shell", "--home", home, "--workspace", ws, "--gate", "http://"+addr)
	if err != nil || !strings.Contains(out, `You said: "hello"`) {
		t.Fatalf("%v %q %q", err, out, errOut)
	}
	for _, want := range []string{"namespace=gone", "autonomic unavailable, failing open"} {
		if !strings.Contains(errOut, want) {
			t.Fatalf("stderr lacks %q:\n%s", want, errOut)
		}
	}
}

// With the console exporter the shell's spans go to stderr, so stdout
// still holds only the answer.
func TestShellConsoleTelemetryOnStderr(t *testing.T) {
	t.Setenv("OTEL_TRACES_EXPORTER", "console")
	t.Setenv("OTEL_METRICS_EXPORTER", "console")
	out, errOut, err := run(t, "hello\n", "shell", "--home", t.TempDir(), "--workspace", workspace(t))
	if err != nil {
		t.Fatal(err, errOut)
	}
	if want := "You said: \"hello\". I am the mock provider (no model behind me): ask me to list the files here, or to read a file by name.\n"; out != want {
		t.Fatalf("stdout %q", out)
	}
	if !strings.Contains(errOut, `"TraceID"`) || !strings.Contains(errOut, `"gen_ai.`) {
		t.Fatalf("no spans or metrics on stderr:\n%s", errOut)
	}
}
