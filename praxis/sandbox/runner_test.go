package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lifeos/life/aios"
)

func TestMain(m *testing.M) {
	MaybeRunHelper()
	os.Exit(m.Run())
}

func newRunner(t *testing.T, opts RunnerOptions) (*Runner, string) {
	t.Helper()
	p, root, _ := newFs(t, FsOptions{})
	r, err := NewRunner(p, opts)
	if err != nil {
		t.Fatal(err)
	}
	return r, root
}

func TestRunBasics(t *testing.T) {
	t.Setenv("PRAXIS_SECRET_TOKEN", "hunter2")
	tests := []struct {
		name    string
		opts    RunnerOptions
		req     Request
		exit    int
		stdout  string
		trunc   bool
		wantErr string
	}{
		{name: "argv", req: Request{Argv: []string{"echo", "hi"}}, stdout: "hi\n"},
		{name: "exit code", req: Request{Argv: []string{"sh", "-c", "exit 3"}}, exit: 3},
		{name: "shell", opts: RunnerOptions{AllowShell: true}, req: Request{Shell: "echo $((1+2))"}, stdout: "3\n"},
		{name: "shell denied", req: Request{Shell: "echo no"}, wantErr: RuleShellDenied},
		{name: "env scrubbed", req: Request{Argv: []string{"sh", "-c", "echo \"[$PRAXIS_SECRET_TOKEN]\""}}, stdout: "[]\n"},
		{name: "env none tier", opts: RunnerOptions{Tier: TierNone}, req: Request{Argv: []string{"sh", "-c", "echo \"[$PRAXIS_SECRET_TOKEN]\""}}, stdout: "[hunter2]\n"},
		{name: "home in workspace", req: Request{Argv: []string{"sh", "-c", `cd "$HOME" && pwd | sed "s|.*/ws/||"`}}, stdout: ".praxis/home\n"},
		{name: "workdir", req: Request{Argv: []string{"cat", "b.txt"}, Dir: "sub"}, stdout: "b\n"},
		{name: "workdir escape", req: Request{Argv: []string{"ls"}, Dir: "../outside"}, wantErr: RuleDirOutside},
		{name: "workdir symlink escape", req: Request{Argv: []string{"ls"}, Dir: "rel-escape-dir"}, wantErr: RuleDirOutside},
		{name: "allow list", opts: RunnerOptions{AllowedCommands: []string{"echo"}}, req: Request{Argv: []string{"cat", "a.txt"}}, wantErr: RuleCommandDenied},
		{name: "allow list bare name", opts: RunnerOptions{AllowedCommands: []string{"echo"}}, req: Request{Argv: []string{"echo", "ok"}}, stdout: "ok\n"},
		{name: "allow list is not a base name", opts: RunnerOptions{AllowedCommands: []string{"echo"}}, req: Request{Argv: []string{"./echo"}}, wantErr: RuleCommandDenied},
		{name: "allow list path elsewhere", opts: RunnerOptions{AllowedCommands: []string{"/bin/echo"}}, req: Request{Argv: []string{"/tmp/x/echo"}}, wantErr: RuleCommandDenied},
		{name: "output cap", opts: RunnerOptions{MaxOutputBytes: 10}, req: Request{Argv: []string{"sh", "-c", "yes | head -c 1000"}}, stdout: "y\ny\ny\ny\ny\n\n[... truncated 990 bytes ...]", trunc: true},
		{name: "stdin", req: Request{Argv: []string{"cat"}, Stdin: []byte("in")}, stdout: "in"},
		{name: "open files limit", opts: RunnerOptions{Limits: Limits{OpenFiles: 17}}, req: Request{Argv: []string{"sh", "-c", "ulimit -n"}}, stdout: "17\n"},
		{name: "cpu limit", opts: RunnerOptions{Limits: Limits{CPUSeconds: 7}}, req: Request{Argv: []string{"sh", "-c", "ulimit -t"}}, stdout: "7\n"},
		{name: "address space limit", opts: RunnerOptions{Limits: Limits{AddressSpaceBytes: 1 << 30}}, req: Request{Argv: []string{"sh", "-c", "ulimit -v"}}, stdout: "1048576\n"},
		{name: "nproc limit", opts: RunnerOptions{Limits: Limits{Processes: 99}}, req: Request{Argv: []string{"sh", "-c", "ulimit -p"}}, stdout: "99\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _ := newRunner(t, tt.opts)
			res, err := r.Run(t.Context(), tt.req)
			if tt.wantErr != "" {
				v, ok := AsViolation(err)
				if !ok || v.Rule != tt.wantErr {
					t.Fatalf("err = %v, want rule %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.ExitCode != tt.exit || res.Stdout != tt.stdout || res.StdoutTruncated != tt.trunc {
				t.Fatalf("got exit %d stdout %q trunc %v; stderr %q", res.ExitCode, res.Stdout, res.StdoutTruncated, res.Stderr)
			}
			if ev := res.Event("sb", tt.req.Command()); ev.ExitCode != int32(tt.exit) {
				t.Fatalf("event %+v", ev)
			}
		})
	}
}

func TestRunCPULimitKills(t *testing.T) {
	r, _ := newRunner(t, RunnerOptions{Limits: Limits{CPUSeconds: 1}, Timeout: 20 * time.Second})
	res, err := r.Run(t.Context(), Request{Argv: []string{"sh", "-c", "while :; do :; done"}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Signal == "" || res.TimedOut {
		t.Fatalf("want killed by SIGXCPU/SIGKILL, got %+v", res)
	}
}

func alive(pid int) bool { return syscall.Kill(pid, 0) == nil }

// TestTimeoutKillsGroup: a timeout kills the leader and its background
// children, and reports the timeout.
func TestTimeoutKillsGroup(t *testing.T) {
	r, root := newRunner(t, RunnerOptions{AllowShell: true})
	pidFile := filepath.Join(root, "child.pid")
	start := time.Now()
	res, err := r.Run(t.Context(), Request{Shell: "sleep 30 & echo $! > child.pid; sleep 30", Timeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if !res.TimedOut || time.Since(start) > 10*time.Second {
		t.Fatalf("timeout not honoured: %+v", res)
	}
	// The duration is reported, in the result and its event.
	if res.Duration < 250*time.Millisecond || res.DurationMs != res.Duration.Milliseconds() || res.Event("sb", "x").DurationMs != uint64(res.DurationMs) {
		t.Fatalf("duration %v / %d ms", res.Duration, res.DurationMs)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	deadline := time.Now().Add(5 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("background child %d survived", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestCancelKillsGroup(t *testing.T) {
	r, _ := newRunner(t, RunnerOptions{AllowShell: true})
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(200*time.Millisecond, cancel)
	_, err := r.Run(ctx, Request{Shell: "sleep 30"})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
}

func TestRunRequestErrors(t *testing.T) {
	r, _ := newRunner(t, RunnerOptions{AllowShell: true})
	for _, req := range []Request{{}, {Argv: []string{""}}, {Argv: []string{"x"}, Shell: "y"}, {Argv: []string{"no-such-binary-praxis"}}, {Argv: []string{"ls"}, Dir: "a.txt"}} {
		if _, err := r.Run(t.Context(), req); err == nil {
			t.Fatalf("Run(%+v) succeeded", req)
		}
	}
	if _, err := ParseTier("paranoid"); err == nil {
		t.Fatal("bad tier accepted")
	}
}

func helperArgv(t *testing.T) []string {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return []string{exe}
}

// TestIsolated runs the isolated tier and checks what it claims: with bwrap
// the outside of the workspace is invisible or read-only and there is no
// network; with Landlock a write outside the workspace is refused. When
// neither works here the tier must refuse (or fall back, and say so).
func TestIsolated(t *testing.T) {
	r, root := newRunner(t, RunnerOptions{Tier: TierIsolated, AllowShell: true, Helper: helperArgv(t)})
	bw, ll, why := r.Isolation(t.Context())
	t.Logf("bwrap=%v landlock=%v %v", bw, ll, why)
	outside := filepath.Join(filepath.Dir(root), "outside")
	res, err := r.Run(t.Context(), Request{Shell: "echo inside > in.txt; echo x > " + outside + "/pwned.txt; cat " + outside + "/secret.txt; echo done"})
	if !bw && !ll {
		if !errors.Is(err, ErrIsolationUnavailable) {
			t.Fatalf("isolated tier without a mechanism: err=%v res=%+v", err, res)
		}
		r2, _ := newRunner(t, RunnerOptions{Tier: TierIsolated, Fallback: true})
		res, err := r2.Run(t.Context(), Request{Argv: []string{"true"}})
		if err != nil || res.Tier != TierRestricted {
			t.Fatalf("fallback: %+v %v", res, err)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if res.Tier != TierIsolated {
		t.Fatalf("tier %s", res.Tier)
	}
	if b, err := os.ReadFile(filepath.Join(root, "in.txt")); err != nil || string(b) != "inside\n" {
		t.Fatalf("workspace write: %q %v (stderr %q)", b, err, res.Stderr)
	}
	if _, err := os.Stat(filepath.Join(outside, "pwned.txt")); err == nil {
		t.Fatalf("wrote outside the workspace; mechanisms %v", res.Mechanisms)
	}
	if strings.Contains(res.Stdout, "TOP SECRET") {
		t.Fatalf("read outside the workspace; mechanisms %v", res.Mechanisms)
	}
	if bw != slices.Contains(res.Mechanisms, "bwrap") || ll != slices.Contains(res.Mechanisms, "landlock") {
		t.Fatalf("mechanisms %v do not match probe", res.Mechanisms)
	}
	if bw {
		// No network namespace access: only loopback exists, and it is down.
		res, err := r.Run(t.Context(), Request{Shell: "cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d ' '"})
		if err != nil || strings.TrimSpace(res.Stdout) != "lo" {
			t.Fatalf("network interfaces inside bwrap: %q %v", res.Stdout, err)
		}
	}
}

// TestLandlockAlone checks Landlock without bwrap through the helper.
func TestLandlockAlone(t *testing.T) {
	p, root, outside := newFs(t, FsOptions{})
	r, _ := NewRunner(p, RunnerOptions{Tier: TierIsolated, Helper: helperArgv(t)})
	argv := append(append(slices.Clone(r.opts.Helper), r.helperArgs(root)...), "sh", "-c", "echo ok > in.txt && echo x > "+outside+"/pwned.txt")
	cmd := exec.CommandContext(t.Context(), argv[0], argv[1:]...)
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if strings.Contains(string(out), "landlock not supported") {
		t.Skipf("kernel without Landlock: %s", out)
	}
	if err == nil {
		t.Fatalf("write outside the workspace succeeded under Landlock: %s", out)
	}
	if _, err := os.Stat(filepath.Join(outside, "pwned.txt")); err == nil {
		t.Fatal("file written outside")
	}
	if b, _ := os.ReadFile(filepath.Join(root, "in.txt")); string(b) != "ok\n" {
		t.Fatalf("workspace write under Landlock failed: %s", out)
	}
}

// TestIsolatedBrokenBwrap puts a bwrap that cannot create namespaces first on
// PATH (as in a container without user namespaces): the probe must notice,
// the tier must refuse, and the fallback must report restricted.
func TestIsolatedBrokenBwrap(t *testing.T) {
	bin := t.TempDir()
	must(t, os.WriteFile(filepath.Join(bin, "bwrap"), []byte("#!/bin/sh\necho 'bwrap: No permissions to create new namespace' >&2\nexit 1\n"), 0o755))
	t.Setenv("PATH", bin+":"+os.Getenv("PATH"))
	r, _ := newRunner(t, RunnerOptions{Tier: TierIsolated})
	bw, ll, why := r.Isolation(t.Context())
	if bw || ll || len(why) != 2 || !strings.Contains(why[0], "No permissions") {
		t.Fatalf("probe: bwrap=%v landlock=%v why=%v", bw, ll, why)
	}
	if _, err := r.Run(t.Context(), Request{Argv: []string{"true"}}); !errors.Is(err, ErrIsolationUnavailable) {
		t.Fatalf("err = %v", err)
	}
	r2, _ := newRunner(t, RunnerOptions{Tier: TierIsolated, Fallback: true})
	res, err := r2.Run(t.Context(), Request{Argv: []string{"true"}})
	if err != nil || res.Tier != TierRestricted || slices.Contains(res.Mechanisms, "bwrap") {
		t.Fatalf("fallback: %+v %v", res, err)
	}
}

// TestIsolatedTimeoutKillsAll: under bwrap the command runs in its own
// session and pid namespace; a timeout must still leave nothing running.
func TestIsolatedTimeoutKillsAll(t *testing.T) {
	r, _ := newRunner(t, RunnerOptions{Tier: TierIsolated, AllowShell: true, Helper: helperArgv(t)})
	if bw, ll, why := r.Isolation(t.Context()); !bw && !ll {
		t.Skipf("no isolation mechanism works here: %v", why)
	}
	marker := fmt.Sprintf("%d.%d", 300+os.Getpid()%1000, time.Now().UnixNano()%1000)
	// setsid leaves the process group; the pid namespace still catches it.
	res, err := r.Run(t.Context(), Request{Shell: "setsid sleep " + marker + " & sleep " + marker, Timeout: 300 * time.Millisecond})
	if err != nil || !res.TimedOut {
		t.Fatalf("%+v %v", res, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		out, _ := exec.Command("pgrep", "-f", "sleep "+marker).Output()
		if len(strings.TrimSpace(string(out))) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("processes survived the timeout: %s", out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestToolchainUnderDefaultLimits: runtimes that reserve a lot of address
// space start under the default limits: node (with WebAssembly) and a Go
// binary (this test binary, running no tests). The go command itself is
// not used: its telemetry child detaches and writes after the run.
func TestToolchainUnderDefaultLimits(t *testing.T) {
	r, _ := newRunner(t, RunnerOptions{Limits: DefaultLimits()})
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	argvs := [][]string{{exe, "-test.run=^$"}}
	if _, err := exec.LookPath("node"); err == nil {
		argvs = append(argvs, []string{"node", "-e", "new WebAssembly.Memory({initial: 1}); console.log(42)"})
	} else {
		t.Log("node not on PATH: only the Go binary is checked")
	}
	for _, argv := range argvs {
		res, err := r.Run(t.Context(), Request{Argv: argv})
		if err != nil || res.ExitCode != 0 {
			t.Fatalf("%v under default limits: %v %+v", argv, err, res)
		}
	}
}

func TestCreatedEvent(t *testing.T) {
	r, _ := newRunner(t, RunnerOptions{Tier: TierIsolated, SandboxID: "sb1", Helper: helperArgv(t)})
	ev := r.CreatedEvent(t.Context())
	bw, ll, _ := r.Isolation(t.Context())
	var cfg map[string]any
	if err := json.Unmarshal(ev.Config, &cfg); err != nil || ev.SandboxID != "sb1" || cfg["bwrap"] != bw || cfg["landlock"] != ll {
		t.Fatalf("%+v %v", ev, err)
	}
	if _, err := aios.MarshalPayload(ev); err != nil {
		t.Fatal(err)
	}
	r2, _ := newRunner(t, RunnerOptions{Tier: TierRestricted})
	if ev := r2.CreatedEvent(t.Context()); ev.Tier != "restricted" {
		t.Fatalf("%+v", ev)
	}
}

// TestBackgroundChildDoesNotHang: a command that exits leaving a child
// holding stdout returns promptly, and the child is killed.
func TestBackgroundChildDoesNotHang(t *testing.T) {
	r, root := newRunner(t, RunnerOptions{AllowShell: true})
	start := time.Now()
	res, err := r.Run(t.Context(), Request{Shell: "sleep 30 & echo $! > bg.pid; echo started"})
	if err != nil || res.TimedOut || res.ExitCode != 0 || !strings.HasPrefix(res.Stdout, "started") {
		t.Fatalf("%+v %v", res, err)
	}
	if time.Since(start) > 10*time.Second {
		t.Fatal("waited for the background child")
	}
	b, err := os.ReadFile(filepath.Join(root, "bg.pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	deadline := time.Now().Add(5 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("background child %d survived", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
