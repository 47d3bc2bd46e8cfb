package identity

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"testing"
)

// KAT is one known-answer vector. The HKDF outputs were cross-checked with
// an independent HMAC-SHA256 HKDF; the addresses are checked against
// go-ethereum in the ethcompat module.
type KAT struct {
	Seed            string `json:"seed"`
	P256Scalar      string `json:"p256_scalar"`
	Secp256k1Scalar string `json:"secp256k1_scalar"`
	DID             string `json:"did"`
	WalletDID       string `json:"wallet_did"`
	WalletAddress   string `json:"wallet_address"`
}

func loadKAT(t *testing.T) []KAT {
	b, err := os.ReadFile("testdata/kat.json")
	if err != nil {
		t.Fatal(err)
	}
	var v []KAT
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestKnownAnswers(t *testing.T) {
	for _, v := range loadKAT(t) {
		t.Run(v.Seed[:8], func(t *testing.T) {
			var s Seed
			b, _ := hex.DecodeString(v.Seed)
			copy(s[:], b)
			k, err := Derive(s)
			if err != nil {
				t.Fatal(err)
			}
			if got := hex.EncodeToString(k.Auth.D.FillBytes(make([]byte, 32))); got != v.P256Scalar {
				t.Errorf("p256 scalar %s, want %s", got, v.P256Scalar)
			}
			if got := hex.EncodeToString(k.Wallet.Serialize()); got != v.Secp256k1Scalar {
				t.Errorf("secp256k1 scalar %s, want %s", got, v.Secp256k1Scalar)
			}
			if k.DID() != v.DID {
				t.Errorf("DID %s, want %s", k.DID(), v.DID)
			}
			if k.WalletDID() != v.WalletDID {
				t.Errorf("wallet DID %s, want %s", k.WalletDID(), v.WalletDID)
			}
			if k.WalletAddress() != v.WalletAddress {
				t.Errorf("address %s, want %s", k.WalletAddress(), v.WalletAddress)
			}
		})
	}
}

// EIP-55's own examples.
func TestChecksum(t *testing.T) {
	for _, want := range []string{
		"0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
		"0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
		"0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
		"0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
		"0x52908400098527886E0F7030069857D2E4169EE7",
		"0x8617E340B3D01FA5F11F306F4090FD50E238070D",
		"0xde709f2102306220921060314715629080e2fb77",
		"0x27b1fdb04752bbc536007a920d24acb045561c26",
	} {
		a, err := ParseAddress(want)
		if err != nil {
			t.Fatalf("%s: %v", want, err)
		}
		if got := Checksum(a); got != want {
			t.Errorf("checksum %s, want %s", got, want)
		}
	}
}

func TestParseAddressRejects(t *testing.T) {
	for _, s := range []string{
		"", "0x", "5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
		"0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD", // checksum broken
		"0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAe",  // short
		"0xZaAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
	} {
		if _, err := ParseAddress(s); !errors.Is(err, ErrBadAddress) {
			t.Errorf("%q: %v", s, err)
		}
	}
}

func TestNewSeedIsRandomAndValid(t *testing.T) {
	a, err := NewSeed(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewSeed(rand.Reader)
	if a == b {
		t.Fatal("two seeds are equal")
	}
	if _, err := NewSeed(bytes.NewReader(make([]byte, 10))); err == nil {
		t.Fatal("short entropy accepted")
	}
}

// Out-of-range scalars (probability 2^-128 from HKDF, so not reachable by
// searching seeds) are errors, never reduced.
func TestScalarRange(t *testing.T) {
	h := func(s string) []byte { b, _ := hex.DecodeString(s); return b }
	const (
		secpN = "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141"
		p256N = "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551"
	)
	zero := make([]byte, 32)
	for _, b := range [][]byte{zero, h(secpN), h("ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff")} {
		if _, err := secp256k1Key(b); !errors.Is(err, ErrScalarOutOfRange) {
			t.Errorf("secp256k1 %x: %v", b, err)
		}
	}
	for _, b := range [][]byte{zero, h(p256N)} {
		if _, err := p256Key(b); !errors.Is(err, ErrScalarOutOfRange) {
			t.Errorf("p256 %x: %v", b, err)
		}
	}
	nMinus1 := h(secpN)
	nMinus1[31]--
	if _, err := secp256k1Key(nMinus1); err != nil {
		t.Errorf("n-1 rejected: %v", err)
	}
}
