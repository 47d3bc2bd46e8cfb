// Package identity derives an agent's keys from its 32-byte master seed:
// HKDF-SHA256 (no salt) with info "anima/p256/v1" gives the P-256 auth key
// behind its did:key, and info "anima/secp256k1/v1" the secp256k1 wallet key
// whose Keccak-256 address is its EIP-55 wallet address. A derived scalar
// out of range is an error, never reduced.
package identity

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/btcsuite/btcd/btcec/v2"
	"golang.org/x/crypto/sha3"

	"github.com/lifeos/life/anima/did"
)

// SeedSize is the length of a master seed.
const SeedSize = 32

// Seed is an agent's master seed; every key derives from it.
type Seed [SeedSize]byte

// HKDF info labels of the derived keys.
const (
	InfoP256      = "anima/p256/v1"
	InfoSecp256k1 = "anima/secp256k1/v1"
)

// ErrScalarOutOfRange means a seed derives a scalar that is zero or not below
// the curve order (probability about 2^-128 for P-256, 2^-128 for secp256k1).
var ErrScalarOutOfRange = errors.New("identity: derived scalar out of range")

// NewSeed reads a fresh seed from r (crypto/rand.Reader in production),
// retrying in the astronomically unlikely case it derives an invalid key.
func NewSeed(r io.Reader) (Seed, error) {
	for range 8 {
		var s Seed
		if _, err := io.ReadFull(r, s[:]); err != nil {
			return Seed{}, fmt.Errorf("identity: read seed: %w", err)
		}
		if _, err := Derive(s); err == nil {
			return s, nil
		} else if !errors.Is(err, ErrScalarOutOfRange) {
			return Seed{}, err
		}
	}
	return Seed{}, errors.New("identity: entropy source keeps yielding invalid seeds")
}

// Keys are the private keys derived from a seed.
type Keys struct {
	Auth   *ecdsa.PrivateKey // P-256, ES256, the did:key
	Wallet *btcec.PrivateKey // secp256k1, ES256K and EIP-712
}

// Derive derives the auth and wallet keys from a seed.
func Derive(seed Seed) (*Keys, error) {
	authScalar, err := hkdf.Key(sha256.New, seed[:], nil, InfoP256, 32)
	if err != nil {
		return nil, fmt.Errorf("identity: hkdf p256: %w", err)
	}
	auth, err := p256Key(authScalar)
	if err != nil {
		return nil, err
	}
	walletScalar, err := hkdf.Key(sha256.New, seed[:], nil, InfoSecp256k1, 32)
	if err != nil {
		return nil, fmt.Errorf("identity: hkdf secp256k1: %w", err)
	}
	wallet, err := secp256k1Key(walletScalar)
	if err != nil {
		return nil, err
	}
	return &Keys{Auth: auth, Wallet: wallet}, nil
}

func p256Key(scalar []byte) (*ecdsa.PrivateKey, error) {
	// ParseRawPrivateKey rejects 0 and values >= n rather than reducing them.
	k, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), scalar)
	if err != nil {
		return nil, fmt.Errorf("%w: p256: %v", ErrScalarOutOfRange, err)
	}
	return k, nil
}

func secp256k1Key(scalar []byte) (*btcec.PrivateKey, error) {
	var s btcec.ModNScalar
	// btcec.PrivKeyFromBytes would reduce mod n silently; check first.
	if len(scalar) != 32 || s.SetByteSlice(scalar) || s.IsZero() {
		return nil, fmt.Errorf("%w: secp256k1", ErrScalarOutOfRange)
	}
	return btcec.PrivKeyFromScalar(&s), nil
}

// DID is the did:key of the auth key (did:key:zDn...).
func (k *Keys) DID() string { return did.Key{Type: did.P256, P256: &k.Auth.PublicKey}.DID() }

// WalletDID is the did:key of the wallet key (did:key:zQ3s...).
func (k *Keys) WalletDID() string {
	return did.Key{Type: did.Secp256k1, Secp256k1: k.Wallet.PubKey()}.DID()
}

// WalletAddress is the EIP-55 address of the wallet key.
func (k *Keys) WalletAddress() string { return Address(k.Wallet.PubKey()) }

// Address returns the EIP-55 checksummed Ethereum address of a secp256k1 key:
// the last 20 bytes of Keccak-256 over the uncompressed point without its
// 0x04 prefix.
func Address(pub *btcec.PublicKey) string {
	h := sha3.NewLegacyKeccak256()
	h.Write(pub.SerializeUncompressed()[1:])
	var a [20]byte
	copy(a[:], h.Sum(nil)[12:])
	return Checksum(a)
}

// Checksum writes a 20-byte address in EIP-55 mixed case.
func Checksum(a [20]byte) string {
	lower := hex.EncodeToString(a[:])
	h := sha3.NewLegacyKeccak256()
	h.Write([]byte(lower))
	sum := h.Sum(nil)
	out := []byte(lower)
	for i, c := range out {
		nibble := sum[i/2] >> (4 * (1 - uint(i%2))) & 0xf
		if c >= 'a' && nibble >= 8 {
			out[i] = c - 'a' + 'A'
		}
	}
	return "0x" + string(out)
}

// ErrBadAddress is matched by errors about malformed addresses.
var ErrBadAddress = errors.New("identity: invalid address")

// ParseAddress parses a 0x-prefixed 20-byte hex address. All-lowercase and
// all-uppercase are accepted as unchecksummed; mixed case must match EIP-55.
func ParseAddress(s string) ([20]byte, error) {
	var a [20]byte
	if len(s) != 42 || (s[:2] != "0x" && s[:2] != "0X") {
		return a, fmt.Errorf("%w: %q is not 0x and 40 hex digits", ErrBadAddress, s)
	}
	if _, err := hex.Decode(a[:], []byte(s[2:])); err != nil {
		return a, fmt.Errorf("%w: %q: %v", ErrBadAddress, s, err)
	}
	body := s[2:]
	if body != strings.ToLower(body) && body != strings.ToUpper(body) && Checksum(a) != "0x"+body {
		return a, fmt.Errorf("%w: %q fails its EIP-55 checksum", ErrBadAddress, s)
	}
	return a, nil
}
