package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
)

// The tests build the real binary and run it as a user would.
func buildAnima(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "anima")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

type result struct {
	stdout, stderr string
	code           int
}

func run(t *testing.T, bin string, env []string, stdin string, args ...string) result {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, env...)
	cmd.Stdin = strings.NewReader(stdin)
	// A new session has no controlling terminal, so a missing passphrase
	// cannot fall back to a prompt.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{o.String(), e.String(), code}
}

var kdf = []string{"--kdf-time", "1", "--kdf-memory", "64"}

func TestCLI(t *testing.T) {
	bin := buildAnima(t)
	home := filepath.Join(t.TempDir(), "agent")
	pass := []string{"ANIMA_PASSPHRASE=hunter2 is long"}

	r := run(t, bin, pass, "", append([]string{"new", "--home", home, "--name", "scout", "--capability", "chat:*"}, kdf...)...)
	if r.code != 0 {
		t.Fatalf("new: %d %s", r.code, r.stderr)
	}
	m := regexp.MustCompile(`(?m)^did: (did:key:zDn\S+)\nwallet: (0x[0-9a-fA-F]{40})$`).FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("new printed %q", r.stdout)
	}
	did, wallet := m[1], m[2]
	// No file readable by group or others, and the passphrase nowhere.
	_ = filepath.Walk(home, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s has mode %v", p, fi.Mode().Perm())
		}
		if !fi.IsDir() {
			b, _ := os.ReadFile(p)
			if bytes.Contains(b, []byte("hunter2")) {
				t.Errorf("%s contains the passphrase", p)
			}
		}
		return nil
	})

	r = run(t, bin, nil, "", "show", "--home", home)
	if r.code != 0 || !strings.Contains(r.stdout, "did: "+did) || !strings.Contains(r.stdout, "wallet: "+wallet) {
		t.Fatalf("show: %d %q %s", r.code, r.stdout, r.stderr)
	}

	r = run(t, bin, pass, "", "document", "--home", home)
	var doc struct {
		DID           string `json:"did"`
		WalletAddress string `json:"wallet_address"`
		Document      struct {
			VerificationMethod []struct {
				Type string `json:"type"`
			} `json:"verificationMethod"`
		} `json:"did_document"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil || doc.DID != did || doc.WalletAddress != wallet ||
		len(doc.Document.VerificationMethod) != 1 || doc.Document.VerificationMethod[0].Type != "JsonWebKey2020" {
		t.Fatalf("document: %q %s", r.stdout, r.stderr)
	}

	r = run(t, bin, pass, "", "issue-token", "--home", home, "--aud", "lagod", "--ttl", "10m")
	if r.code != 0 {
		t.Fatalf("issue-token: %s", r.stderr)
	}
	tok := strings.TrimSpace(r.stdout)
	r = run(t, bin, pass, "", "issue-token", "--home", home, "--aud", "lagod", "--wallet")
	if r.code != 0 {
		t.Fatalf("issue-token --wallet: %s", r.stderr)
	}
	walletTok := strings.TrimSpace(r.stdout)

	for _, tk := range []string{tok, walletTok} {
		r = run(t, bin, nil, "", "verify-token", "--aud", "lagod", "--home", home, tk)
		if r.code != 0 {
			t.Fatalf("verify-token: %s", r.stderr)
		}
		var out struct {
			Valid      bool   `json:"valid"`
			CurrentDID string `json:"current_did"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || !out.Valid {
			t.Fatalf("verify-token output %q", r.stdout)
		}
	}
	if r = run(t, bin, nil, "", "verify-token", "--aud", "arcand", tok); r.code == 0 || !strings.Contains(r.stderr, "unauthorized") {
		t.Fatalf("wrong audience: %d %s", r.code, r.stderr)
	}
	if r = run(t, bin, nil, tok, "verify-token", "-"); r.code != 0 || !strings.Contains(r.stderr, "not checked") {
		t.Fatalf("stdin token without --aud: %d %s", r.code, r.stderr)
	}
	if r = run(t, bin, nil, "", "verify-token", "--aud", "lagod", tok[:len(tok)-3]+"AAA"); r.code == 0 {
		t.Fatal("tampered token verified")
	}

	if r = run(t, bin, []string{"ANIMA_PASSPHRASE=wrong"}, "", "rotate", "--home", home); r.code == 0 || !strings.Contains(r.stderr, "wrong passphrase") {
		t.Fatalf("rotate with a wrong passphrase: %d %s", r.code, r.stderr)
	}
	if r = run(t, bin, nil, "", "rotate", "--home", home); r.code == 0 || !strings.Contains(r.stderr, "ANIMA_PASSPHRASE") {
		t.Fatalf("rotate without a passphrase: %d %s", r.code, r.stderr)
	}
	r = run(t, bin, pass, "", append([]string{"rotate", "--home", home}, kdf...)...)
	if r.code != 0 || !strings.Contains(r.stdout, "old_did: "+did) {
		t.Fatalf("rotate: %d %q %s", r.code, r.stdout, r.stderr)
	}
	r = run(t, bin, nil, "", "show", "--home", home, "--json")
	var shown struct {
		DID     string   `json:"did"`
		History []string `json:"history"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &shown); err != nil || shown.DID == did || len(shown.History) != 2 {
		t.Fatalf("show after rotate: %q", r.stdout)
	}
	// The token issued before the rotation is still good, and leads to
	// the new DID.
	r = run(t, bin, nil, "", "verify-token", "--aud", "lagod", "--home", home, tok)
	if r.code != 0 || !strings.Contains(r.stdout, shown.DID) {
		t.Fatalf("old token after rotation: %d %q %s", r.code, r.stdout, r.stderr)
	}
	r = run(t, bin, nil, "", "revoke", "--home", home, "--reason", "test")
	if r.code != 0 {
		t.Fatalf("revoke: %s", r.stderr)
	}
	if strings.Count(r.stdout, "revoked: ") != 2 {
		t.Fatalf("revoke should name the auth and wallet DIDs: %q", r.stdout)
	}
	for _, tk := range []string{tok, walletTok} {
		if r = run(t, bin, nil, "", "verify-token", "--aud", "lagod", "--home", home, tk); r.code == 0 || !strings.Contains(r.stderr, "revoked") {
			t.Fatalf("token after revocation: %d %s", r.code, r.stderr)
		}
	}
}

// Before the first rotation the journal names the wallet by address only:
// revoking the identity needs the passphrase to name the wallet DID, and
// refuses rather than leave wallet-signed tokens valid.
func TestCLIRevokeBeforeRotation(t *testing.T) {
	bin := buildAnima(t)
	home := filepath.Join(t.TempDir(), "agent")
	pass := []string{"ANIMA_PASSPHRASE=hunter2 is long"}
	if r := run(t, bin, pass, "", append([]string{"new", "--home", home}, kdf...)...); r.code != 0 {
		t.Fatalf("new: %s", r.stderr)
	}
	var toks []string
	for _, extra := range [][]string{nil, {"--wallet"}} {
		r := run(t, bin, pass, "", append([]string{"issue-token", "--home", home, "--aud", "lagod"}, extra...)...)
		if r.code != 0 {
			t.Fatalf("issue-token %v: %s", extra, r.stderr)
		}
		toks = append(toks, strings.TrimSpace(r.stdout))
	}
	if r := run(t, bin, nil, "", "revoke", "--home", home, "--reason", "lost laptop"); r.code == 0 || !strings.Contains(r.stderr, "--did") {
		t.Fatalf("revoke without a passphrase: %d %s", r.code, r.stderr)
	}
	if r := run(t, bin, nil, "", "verify-token", "--aud", "lagod", "--home", home, toks[0]); r.code != 0 {
		t.Fatalf("a refused revoke journaled something: %s", r.stderr)
	}
	if r := run(t, bin, pass, "", "revoke", "--home", home, "--reason", "lost laptop"); r.code != 0 || strings.Count(r.stdout, "revoked: ") != 2 {
		t.Fatalf("revoke: %d %q %s", r.code, r.stdout, r.stderr)
	}
	for i, tk := range toks {
		if r := run(t, bin, nil, "", "verify-token", "--aud", "lagod", "--home", home, tk); r.code == 0 || !strings.Contains(r.stderr, "revoked") {
			t.Fatalf("token %d after revocation: %d %s", i, r.code, r.stderr)
		}
	}
}

func TestCLIBadInput(t *testing.T) {
	bin := buildAnima(t)
	for _, tt := range []struct {
		args []string
		env  []string
		want string
	}{
		{[]string{"new"}, nil, "--home is required"},
		{[]string{"new", "--home", filepath.Join(t.TempDir(), "x")}, []string{"ANIMA_PASSPHRASE="}, "empty"},
		{[]string{"new", "--home", filepath.Join(t.TempDir(), "x"), "--creator-kind", "robot", "--kdf-memory", "64", "--kdf-time", "1"}, []string{"ANIMA_PASSPHRASE=p"}, "creator"},
		{[]string{"new", "--home", filepath.Join(t.TempDir(), "x"), "--kdf-time", "0"}, []string{"ANIMA_PASSPHRASE=p"}, "argon2"},
		{[]string{"show", "--home", t.TempDir()}, nil, "no identity"},
		{[]string{"verify-token"}, nil, "accepts 1 arg"},
		{[]string{"verify-token", "x.y.z", "--aud", "a"}, nil, "unauthorized"},
		{[]string{"issue-token", "--home", t.TempDir()}, nil, "--aud is required"},
		{[]string{"issue-token", "--home", t.TempDir(), "--aud", "a", "--ttl", "5h"}, nil, "--ttl"},
		{[]string{"frobnicate"}, nil, "unknown command"},
		{[]string{"verify-token", "--aud", "a", "--max-ttl", "-1h", "x.y.z"}, nil, "--max-ttl must be positive"},
		{[]string{"verify-token", "--aud", "a", "--events", filepath.Join(t.TempDir(), "none.jsonl"), "x.y.z"}, nil, "--events"},
		{[]string{"bench", "--samples", "0"}, nil, "--samples"},
	} {
		r := run(t, bin, tt.env, "", tt.args...)
		if r.code == 0 || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("%v: exit %d, stderr %q, want %q", tt.args, r.code, r.stderr, tt.want)
		}
	}
}
