package custody_test

import (
	"context"
	"errors"
	"testing"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/anima/custody"
	"github.com/lifeos/life/anima/custody/custodytest"
	"github.com/lifeos/life/anima/seal"
)

func TestInProcessConformance(t *testing.T) {
	custodytest.Run(t, func(t *testing.T) custody.Custody {
		c, err := custody.Generate()
		if err != nil {
			t.Fatal(err)
		}
		return c
	})
}

func TestSealRoundTrip(t *testing.T) {
	c, err := custody.Generate()
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.Seal([]byte("pw"), seal.Params{Time: 1, MemoryKiB: 64, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	seed, err := s.Open([]byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	back, err := custody.NewInProcess(seed)
	if err != nil {
		t.Fatal(err)
	}
	if back.DID() != c.DID() || back.WalletAddress() != c.WalletAddress() {
		t.Fatal("sealed seed restores another identity")
	}
}

func TestUnsupportedError(t *testing.T) {
	err := custody.ErrUnsupported("ledger", "rotate")
	if !errors.Is(err, aios.ErrUnsupported) {
		t.Fatal("does not match aios.ErrUnsupported")
	}
	var ue *custody.UnsupportedError
	if !errors.As(err, &ue) || ue.Op != "rotate" {
		t.Fatal("not an UnsupportedError")
	}
}

func TestContextCancelled(t *testing.T) {
	c, _ := custody.Generate()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.SignDigest(ctx, aios.KeyAuth, make([]byte, 32)); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v", err)
	}
}
