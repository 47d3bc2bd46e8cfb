package oracle

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/anima/custody"
	"github.com/lifeos/life/anima/custody/custodytest"
	"github.com/lifeos/life/anima/eip712"
	"github.com/lifeos/life/anima/internal/testexec"
)

// The test binary re-executes itself as an oracle client under another
// uid/gid; these variables carry the child's orders.
const (
	envChild  = "ANIMA_ORACLE_TEST_CHILD"
	envSocket = "ANIMA_ORACLE_TEST_SOCKET"
	envAgent  = "ANIMA_ORACLE_TEST_AGENT"
)

func TestMain(m *testing.M) {
	if os.Getenv(envChild) == "1" {
		os.Exit(child())
	}
	os.Exit(m.Run())
}

// child dials the oracle, signs a digest, and reports the outcome on stdout:
// exit 0 and "allowed", exit 3 and "denied: ...", exit 1 on anything else.
func child() int {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	fmt.Printf("uid=%d gid=%d\n", os.Getuid(), os.Getgid())
	c, err := Dial(ctx, os.Getenv(envSocket), os.Getenv(envAgent))
	if err == nil {
		d := sha256.Sum256([]byte("x"))
		_, err = c.SignDigest(ctx, aios.KeyWallet, d[:])
		c.Close()
	}
	switch {
	case err == nil:
		fmt.Println("allowed")
		return 0
	case errors.Is(err, ErrDenied):
		fmt.Println("denied:", err)
		return 3
	}
	fmt.Println("error:", err)
	return 1
}

// startOracle runs a server on a socket in a world-traversable directory
// and returns the socket path and the agents' custodies.
func startOracle(t *testing.T, owners map[string]uint32, opts ...ServerOption) (string, map[string]*custody.InProcess) {
	t.Helper()
	dir, err := os.MkdirTemp("", "anima-oracle-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	custodies := map[string]*custody.InProcess{}
	var agents []Agent
	for name, uid := range owners {
		c, err := custody.Generate()
		if err != nil {
			t.Fatal(err)
		}
		custodies[name] = c
		agents = append(agents, Agent{Name: name, OwnerUID: uid, Custody: c})
	}
	opts = append([]ServerOption{WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))}, opts...)
	srv, err := NewServer(agents, opts...)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "oracle.sock")
	ln, err := Listen(path, 0o666)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return path, custodies
}

func TestClientConformance(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the oracle allows this process only as root or as the agent's owner; running as owner instead")
	}
	custodytest.Run(t, func(t *testing.T) custody.Custody {
		path, _ := startOracle(t, map[string]uint32{"a": 4321})
		c, err := Dial(context.Background(), path, "a")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	})
}

func TestClientMatchesServerKeys(t *testing.T) {
	path, custodies := startOracle(t, map[string]uint32{"a": uint32(os.Getuid())})
	c, err := Dial(context.Background(), path, "a")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.DID() != custodies["a"].DID() || c.WalletAddress() != custodies["a"].WalletAddress() || c.Backend() != BackendOracle {
		t.Fatal("client identity differs from the server's")
	}
	if _, err := c.Rotate(context.Background()); !errors.Is(err, aios.ErrUnsupported) {
		t.Fatalf("rotate: %v", err)
	}
}

// TestPeerCredDenial runs the oracle as root and calls it from child
// processes under other uids and gids: only the owner and the admin group
// get through.
func TestPeerCredDenial(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to start clients under other uids (CI runs as root); skipping the SO_PEERCRED test")
	}
	const (
		nobody   = 65534
		owner    = 1000
		adminGID = 4242
	)
	path, _ := startOracle(t, map[string]uint32{"mine": nobody, "theirs": owner}, WithAdminGroup(adminGID))
	bin := testexec.WorldExecutableCopy(t, "oracle")
	tests := []struct {
		name   string
		agent  string
		cred   syscall.Credential
		expect int // child exit code
	}{
		{"owner", "mine", syscall.Credential{Uid: nobody, Gid: nobody, Groups: []uint32{}}, 0},
		{"not the owner", "theirs", syscall.Credential{Uid: nobody, Gid: nobody, Groups: []uint32{}}, 3},
		{"unknown agent", "ghost", syscall.Credential{Uid: nobody, Gid: nobody, Groups: []uint32{}}, 3},
		{"admin primary group", "theirs", syscall.Credential{Uid: nobody, Gid: adminGID, Groups: []uint32{}}, 0},
		{"admin supplementary group", "theirs", syscall.Credential{Uid: nobody, Gid: nobody, Groups: []uint32{adminGID}}, 0},
		{"other group", "theirs", syscall.Credential{Uid: 2000, Gid: 2000, Groups: []uint32{2001}}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, "-test.run=^$")
			cmd.Env = []string{envChild + "=1", envSocket + "=" + path, envAgent + "=" + tt.agent}
			cred := tt.cred
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &cred}
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			err := cmd.Run()
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatalf("start child: %v", err)
			}
			if !strings.Contains(out.String(), "uid="+strconv.Itoa(int(tt.cred.Uid))) {
				t.Fatalf("child did not run as uid %d: %s", tt.cred.Uid, out.String())
			}
			if code != tt.expect {
				t.Fatalf("child exit %d, want %d; output:\n%s", code, tt.expect, out.String())
			}
		})
	}
}

func TestAuthorizeRules(t *testing.T) {
	srv, err := NewServer([]Agent{{Name: "a", OwnerUID: 1000, Custody: mustGen(t)}}, WithAdminGroup(50))
	if err != nil {
		t.Fatal(err)
	}
	noAdmin, _ := NewServer([]Agent{{Name: "a", OwnerUID: 1000, Custody: mustGen(t)}})
	tests := []struct {
		name  string
		srv   *Server
		pc    PeerCred
		agent string
		ok    bool
	}{
		{"root", srv, PeerCred{UID: 0, GID: 0}, "a", true},
		{"owner", srv, PeerCred{UID: 1000, GID: 1000}, "a", true},
		{"stranger", srv, PeerCred{UID: 1001, GID: 1001}, "a", false},
		{"admin primary", srv, PeerCred{UID: 1001, GID: 50}, "a", true},
		{"admin supplementary", srv, PeerCred{UID: 1001, GID: 1001, Groups: []uint32{7, 50}}, "a", true},
		{"unknown agent, owner uid", srv, PeerCred{UID: 1000, GID: 1000}, "b", false},
		{"no admin group configured, gid 0", noAdmin, PeerCred{UID: 1001, GID: 0}, "a", false},
		{"no admin group configured, group 4294967295", noAdmin, PeerCred{UID: 1001, GID: 4294967295}, "a", false},
	}
	for _, tt := range tests {
		if got := tt.srv.Allowed(tt.pc, tt.agent); got != tt.ok {
			t.Errorf("%s: allowed=%v, want %v", tt.name, got, tt.ok)
		}
	}
}

func mustGen(t *testing.T) *custody.InProcess {
	c, err := custody.Generate()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Raw protocol: malformed lines get a bad_request answer and the
// connection stays usable; an oversized line closes it.
func TestProtocolErrors(t *testing.T) {
	path, _ := startOracle(t, map[string]uint32{"a": uint32(os.Getuid())})
	conn, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rd := make([]byte, 64<<10)
	ask := func(line string) string {
		t.Helper()
		if _, err := conn.Write([]byte(line + "\n")); err != nil {
			t.Fatal(err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := conn.Read(rd)
		if err != nil {
			t.Fatal(err)
		}
		return string(rd[:n])
	}
	for _, tt := range []struct{ line, want string }{
		{`not json`, `"code":"bad_request"`},
		{`{"id":1,"op":"launch_missiles","agent":"a"}`, `unknown op`},
		{`{"id":2,"op":"describe"}`, `no agent`},
		{`{"id":3,"op":"sign_digest","agent":"a","purpose":"wallet","digest":"AAAA"}`, `want 32`},
		{`{"id":4,"op":"sign_jws","agent":"a","purpose":"root","claims":{}}`, `purpose`},
		{`{"id":5,"op":"sign_typed_data","agent":"a","typed_data":{"types":{}}}`, `"code":"bad_request"`},
		{`{"id":6,"op":"rotate","agent":"a"}`, `"code":"unsupported"`},
		{`{"id":8,"op":"describe","agent":"a","agnet":"b"}`, `unknown field`},
		{`{"id":9,"op":"describe","agent":"a","AGENT":"b"}`, `case variant`},
		{`{"id":10,"op":"describe","agent":"b","agent":"a"}`, `duplicate key`},
		{`{"id":11,"op":"describe","agent":"a"} {}`, `trailing data`},
		{`{"id":7,"op":"describe","agent":"a"}`, `"ok":true`},
	} {
		if got := ask(tt.line); !strings.Contains(got, tt.want) {
			t.Errorf("%s -> %s, want %s", tt.line, got, tt.want)
		}
	}
	big := make([]byte, MaxLine+10)
	for i := range big {
		big[i] = 'a'
	}
	_, _ = conn.Write(append(big, '\n'))
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, _ := conn.Read(rd)
	if !strings.Contains(string(rd[:n]), "bad_request") {
		t.Fatalf("oversized line: %q", rd[:n])
	}
}

func TestTypedDataOverSocket(t *testing.T) {
	path, custodies := startOracle(t, map[string]uint32{"a": uint32(os.Getuid())})
	c, err := Dial(context.Background(), path, "a")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var nonce [32]byte
	_, _ = rand.Read(nonce[:])
	td := eip712.NewTransferWithAuthorization(eip712.Domain{Name: "USDC", Version: "2", ChainID: bigInt(1), VerifyingContract: "0x0000000000000000000000000000000000000001"},
		eip712.TransferWithAuthorization{From: c.WalletAddress(), To: "0x0000000000000000000000000000000000000002", Value: bigInt(5), ValidAfter: bigInt(0), ValidBefore: bigInt(9), Nonce: nonce})
	sig, err := c.SignTypedData(context.Background(), td)
	if err != nil {
		t.Fatal(err)
	}
	h, _ := td.Hash()
	if addr, _ := eip712.RecoverAddress(h, sig); addr != custodies["a"].WalletAddress() {
		t.Fatalf("recovered %s", addr)
	}
}

func TestParseConfig(t *testing.T) {
	for _, tt := range []struct {
		doc string
		ok  bool
	}{
		{`{"socket":"/run/o.sock","agents":[{"name":"a","seed_file":"s","passphrase_file":"p","owner_uid":1}]}`, true},
		{`{"socket":"/run/o.sock","socket_mode":"0600","admin_group":"0","agents":[]}`, true},
		{`{"agents":[]}`, false},
		{`{"socket":"x","socket_mode":"999"}`, false},
		{`{"socket":"x","agents":[{"name":"a","seed_file":"s","passphrase_file":"p"},{"name":"a","seed_file":"s","passphrase_file":"p"}]}`, false},
		{`{"socket":"x","agents":[{"name":"a"}]}`, false},
		{`{"socket":"x","unknown":1}`, false},
	} {
		_, err := ParseConfig([]byte(tt.doc))
		if tt.ok != (err == nil) {
			t.Errorf("%s: %v", tt.doc, err)
		}
	}
}

func FuzzDecodeRequest(f *testing.F) {
	f.Add([]byte(`{"id":1,"op":"describe","agent":"a"}`))
	f.Add([]byte(`{"id":2,"op":"sign_digest","agent":"a","purpose":"wallet","digest":"AAAA"}`))
	f.Add([]byte(`{"op":"sign_jws","agent":"a","header":{"x":[1,2]},"claims":{"a":null}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeRequest(b)
		if err == nil && (r.Agent == "" || r.Op == "") {
			t.Fatal("accepted a request without op or agent")
		}
	})
}

func bigInt(n int64) *big.Int { return big.NewInt(n) }

// A call cancelled while it waits for the oracle fails with the context's
// error and leaves the client usable; the cancellation closes the
// connection of that call, never one the client has moved on from.
func TestClientCancelWhileWaiting(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "silent.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() { // accepts and reads, never answers
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(io.Discard, conn); conn.Close() }()
		}
	}()
	c := &Client{path: path, agent: "a"}
	defer c.Close()
	for i := range 40 {
		wait := time.Duration(i%4) * time.Millisecond
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		want := context.DeadlineExceeded
		if i%2 == 1 {
			ctx, cancel = context.WithCancel(context.Background())
			time.AfterFunc(wait, cancel)
			want = context.Canceled
		}
		_, err := c.SignDigest(ctx, aios.KeyAuth, make([]byte, 32))
		cancel()
		if !errors.Is(err, want) {
			t.Fatalf("call %d: %v, want %v", i, err, want)
		}
	}
}

// One uid cannot hold every connection slot: past its share, its further
// connections are closed at once, and a slot comes back when one closes.
func TestPerUIDConnectionLimit(t *testing.T) {
	srv, err := NewServer([]Agent{{Name: "a", OwnerUID: uint32(os.Getuid()), Custody: mustGen(t)}},
		WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		t.Fatal(err)
	}
	srv.maxPerUID = 3
	path := filepath.Join(t.TempDir(), "o.sock")
	ln, err := Listen(path, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	defer func() { cancel(); <-done }()

	describe := func(conn net.Conn) error {
		if _, err := conn.Write([]byte(`{"id":1,"op":"describe","agent":"a"}` + "\n")); err != nil {
			return err
		}
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		line, err := bufio.NewReader(conn).ReadString('\n')
		if err == nil && !strings.Contains(line, `"ok":true`) {
			return fmt.Errorf("answer %s", line)
		}
		return err
	}
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for i := range 3 {
		conn, err := net.Dial("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, conn)
		if err := describe(conn); err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
	}
	extra, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	if err := describe(extra); err == nil {
		t.Fatal("a fourth connection from the same uid was served")
	}
	held[0].Close()
	held = held[1:]
	// The server notices the close on its next read; retry briefly.
	deadline := time.Now().Add(5 * time.Second)
	for {
		conn, err := net.Dial("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		err = describe(conn)
		if err == nil {
			held = append(held, conn)
			break
		}
		conn.Close()
		if time.Now().After(deadline) {
			t.Fatalf("no slot came back: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestReadSecretRejects(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	_ = os.WriteFile(good, []byte("pass phrase\n"), 0o600)
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big")
	_ = os.WriteFile(big, bytes.Repeat([]byte("x"), maxSecret+1), 0o600)
	open := filepath.Join(dir, "open")
	_ = os.WriteFile(open, []byte("p"), 0o644)
	if b, err := readSecret(good); err != nil || string(b) != "pass phrase" {
		t.Fatalf("good: %q %v", b, err)
	}
	for _, p := range []string{fifo, big, open, dir, filepath.Join(dir, "missing")} {
		done := make(chan error, 1)
		go func() { _, err := readSecret(p); done <- err }()
		select {
		case err := <-done:
			if err == nil {
				t.Errorf("%s accepted", p)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s blocked", p)
		}
	}
}
