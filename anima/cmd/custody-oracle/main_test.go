package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/anima/eip712"
	"github.com/lifeos/life/anima/home"
	"github.com/lifeos/life/anima/internal/testexec"
	"github.com/lifeos/life/anima/oracle"
	"github.com/lifeos/life/anima/seal"
)

const (
	envChild  = "CUSTODY_ORACLE_TEST_CHILD"
	envSocket = "CUSTODY_ORACLE_TEST_SOCKET"
)

func TestMain(m *testing.M) {
	if os.Getenv(envChild) == "1" {
		os.Exit(child())
	}
	os.Exit(m.Run())
}

// child is the test binary re-executed under another uid: it asks the
// daemon to sign for agent "a" and exits 0 when allowed, 3 when denied.
func child() int {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	fmt.Printf("uid=%d\n", os.Getuid())
	c, err := oracle.Dial(ctx, os.Getenv(envSocket), "a")
	if err == nil {
		d := sha256.Sum256([]byte("x"))
		_, err = c.SignDigest(ctx, aios.KeyAuth, d[:])
		c.Close()
	}
	switch {
	case err == nil:
		fmt.Println("allowed")
		return 0
	case errors.Is(err, oracle.ErrDenied):
		fmt.Println("denied:", err)
		return 3
	}
	fmt.Println("error:", err)
	return 1
}

type daemon struct {
	sock string
	id   *home.Identity
	cmd  *exec.Cmd
	logs *syncBuffer
}

// syncBuffer is a bytes.Buffer safe to read while the daemon's stderr is
// being copied into it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// stop ends the daemon with SIGTERM and waits for it.
func (d *daemon) stop(t *testing.T) {
	t.Helper()
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := d.cmd.Wait(); err != nil {
		t.Fatalf("daemon exit: %v\n%s", err, d.logs.String())
	}
}

// startDaemon builds the real binary and starts it with one agent "a"
// owned by owner, its socket in a directory every uid can reach.
func startDaemon(t *testing.T, owner int) *daemon {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "custody-oracle")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	agentHome := filepath.Join(dir, "agent")
	_, id, err := home.Create(context.Background(), agentHome, []byte("s3cret"), home.Options{Name: "a",
		KDF: seal.Params{Time: 1, MemoryKiB: 64, Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	passFile := filepath.Join(dir, "pass")
	if err := os.WriteFile(passFile, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sockDir, err := os.MkdirTemp("", "custody-oracle-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	if err := os.Chmod(sockDir, 0o755); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(sockDir, "oracle.sock")
	cfg := fmt.Sprintf(`{"socket":%q,"agents":[{"name":"a","seed_file":%q,"passphrase_file":%q,"owner_uid":%d}]}`,
		sock, filepath.Join(agentHome, home.SeedFile), passFile, owner)
	cfgFile := filepath.Join(dir, "oracle.json")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	d := &daemon{sock: sock, id: id, cmd: exec.Command(bin, "--config", cfgFile), logs: new(syncBuffer)}
	d.cmd.Stderr = d.logs
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if d.cmd.ProcessState == nil {
			_ = d.cmd.Process.Kill()
			_ = d.cmd.Wait()
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := os.Stat(sock); err == nil {
			return d
		}
		if time.Now().After(deadline) {
			t.Fatalf("daemon did not come up:\n%s", d.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestDaemon signs through the real daemon, holding a sealed seed made by
// the home package, and stops it with SIGTERM.
func TestDaemon(t *testing.T) {
	d := startDaemon(t, os.Getuid())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := oracle.Dial(ctx, d.sock, "a")
	if err != nil {
		t.Fatalf("dial: %v\n%s", err, d.logs.String())
	}
	if c.DID() != d.id.DID || c.WalletAddress() != d.id.WalletAddress {
		t.Fatalf("daemon serves %s, home holds %s", c.DID(), d.id.DID)
	}
	h := sha256.Sum256([]byte("pay"))
	sig, err := c.SignDigest(ctx, aios.KeyWallet, h[:])
	if err != nil {
		t.Fatal(err)
	}
	if addr, err := eip712.RecoverAddress(h, sig); err != nil || addr != d.id.WalletAddress {
		t.Fatalf("recovered %s, %v", addr, err)
	}
	c.Close()
	d.stop(t)
	if _, err := os.Stat(d.sock); !os.IsNotExist(err) {
		t.Fatal("socket left behind")
	}
}

// TestDaemonPeerCred calls the real daemon from child processes running as
// other uids: the listed owner is served, anyone else is denied.
func TestDaemonPeerCred(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run clients under other uids (CI runs as root); skipping the SO_PEERCRED daemon test")
	}
	const owner, stranger = 1000, 65534
	d := startDaemon(t, owner)
	bin := testexec.WorldExecutableCopy(t, "custody-oracle")
	for _, tt := range []struct {
		name string
		uid  uint32
		want int
	}{{"owner", owner, 0}, {"stranger", stranger, 3}} {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(bin, "-test.run=^$")
			cmd.Env = []string{envChild + "=1", envSocket + "=" + d.sock}
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: tt.uid, Gid: tt.uid, Groups: []uint32{}}}
			out, err := cmd.CombinedOutput()
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tt.want || !strings.Contains(string(out), fmt.Sprintf("uid=%d", tt.uid)) {
				t.Fatalf("exit %d, want %d:\n%s\ndaemon:\n%s", code, tt.want, out, d.logs.String())
			}
		})
	}
	d.stop(t)
	if !strings.Contains(d.logs.String(), "denied") {
		t.Fatalf("the daemon did not log the denial:\n%s", d.logs.String())
	}
}

func TestBadConfig(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "custody-oracle")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	passFile := filepath.Join(dir, "pass")
	_ = os.WriteFile(passFile, []byte("x"), 0o644)
	for _, tt := range []struct {
		cfg  any
		want string
	}{
		{nil, "usage"},
		{`{"socket":""}`, "socket is empty"},
		{map[string]any{"socket": filepath.Join(dir, "s"), "agents": []any{map[string]any{"name": "a", "seed_file": filepath.Join(dir, "missing"), "passphrase_file": passFile}}}, "no such file"},
	} {
		args := []string{}
		if tt.cfg != nil {
			b, ok := tt.cfg.(string)
			if !ok {
				j, _ := json.Marshal(tt.cfg)
				b = string(j)
			}
			p := filepath.Join(dir, "cfg.json")
			_ = os.WriteFile(p, []byte(b), 0o600)
			args = []string{"--config", p}
		}
		out, err := exec.Command(bin, args...).CombinedOutput()
		if err == nil || !strings.Contains(string(out), tt.want) {
			t.Errorf("config %v: %v %s", tt.cfg, err, out)
		}
	}
}
