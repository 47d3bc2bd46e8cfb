package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/anima/eip712"
	"github.com/lifeos/life/anima/home"
	"github.com/lifeos/life/anima/oracle"
	"github.com/lifeos/life/anima/seal"
)

// TestDaemon builds and starts the real daemon with a config naming a
// sealed seed made by the home package, signs through it, and stops it
// with SIGTERM.
func TestDaemon(t *testing.T) {
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
	sock := filepath.Join(dir, "oracle.sock")
	cfg := fmt.Sprintf(`{"socket":%q,"agents":[{"name":"a","seed_file":%q,"passphrase_file":%q,"owner_uid":%d}]}`,
		sock, filepath.Join(agentHome, home.SeedFile), passFile, os.Getuid())
	cfgFile := filepath.Join(dir, "oracle.json")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--config", cfgFile)
	var logs bytes.Buffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var c *oracle.Client
	for {
		c, err = oracle.Dial(ctx, sock, "a")
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("daemon did not come up: %v\n%s", err, logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if c.DID() != id.DID || c.WalletAddress() != id.WalletAddress {
		t.Fatalf("daemon serves %s, home holds %s", c.DID(), id.DID)
	}
	d := sha256.Sum256([]byte("pay"))
	sig, err := c.SignDigest(ctx, aios.KeyWallet, d[:])
	if err != nil {
		t.Fatal(err)
	}
	if addr, err := eip712.RecoverAddress(d, sig); err != nil || addr != id.WalletAddress {
		t.Fatalf("recovered %s, %v", addr, err)
	}
	c.Close()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("daemon exit: %v\n%s", err, logs.String())
	}
	stopped = true
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Fatal("socket left behind")
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
