package backend

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/lifeos/life/anima/custody"
	"github.com/lifeos/life/anima/custody/custodytest"
	"github.com/lifeos/life/anima/home"
	"github.com/lifeos/life/anima/oracle"
	"github.com/lifeos/life/anima/seal"
)

var fast = seal.Params{Time: 1, MemoryKiB: 64, Threads: 1}

func TestOpenHome(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a")
	_, id, err := home.Create(context.Background(), dir, []byte("pw"), home.Options{Name: "a", KDF: fast})
	if err != nil {
		t.Fatal(err)
	}
	c, err := Open(context.Background(), "home://"+dir, Options{Passphrase: []byte("pw")})
	if err != nil {
		t.Fatal(err)
	}
	if c.DID() != id.DID || c.Backend() != custody.BackendInProcess {
		t.Fatal("opened another identity")
	}
	if _, err := Open(context.Background(), "home://"+dir, Options{Passphrase: []byte("no")}); !errors.Is(err, seal.ErrWrongPassphrase) {
		t.Fatalf("wrong passphrase: %v", err)
	}
}

func TestOpenOracle(t *testing.T) {
	agent, err := custody.Generate()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := oracle.NewServer([]oracle.Agent{{Name: "scout", OwnerUID: uint32(os.Getuid()), Custody: agent}},
		oracle.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "o.sock")
	ln, err := oracle.Listen(sock, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	defer func() { cancel(); <-done }()

	custodytest.Run(t, func(t *testing.T) custody.Custody {
		c, err := Open(context.Background(), "oracle://"+sock+"?agent=scout", Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.(io.Closer).Close() })
		if c.DID() != agent.DID() {
			t.Fatal("opened another identity")
		}
		return c
	})
}

func TestOpenRejects(t *testing.T) {
	for _, u := range []string{
		"", "home://", "home://host/dir", "vault:///x", "oracle:///s.sock", "oracle:///s.sock?agent=a&x=1",
		"home:///d?x=1", "%zz", "oracle:///s.sock?agent=a&agent=b", "home://user@/d", "home:///d#frag",
	} {
		if _, err := Open(context.Background(), u, Options{}); !errors.Is(err, ErrBadURL) {
			t.Errorf("%q: %v", u, err)
		}
	}
}
