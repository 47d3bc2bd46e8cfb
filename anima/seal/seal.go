// Package seal keeps a master seed at rest: ChaCha20-Poly1305 under a key
// derived from a passphrase with Argon2id, a random nonce, and the DID as
// additional data, with the KDF parameters stored beside the ciphertext in a
// small JSON file.
package seal

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/chacha20poly1305"

	"github.com/lifeos/life/anima/identity"
)

// Format and algorithm names written in a sealed file.
const (
	Version = 1
	KDF     = "argon2id"
	AEAD    = "chacha20poly1305"
)

// Params are the Argon2id parameters.
type Params struct {
	Time      uint32 `json:"time"`
	MemoryKiB uint32 `json:"memory_kib"`
	Threads   uint8  `json:"threads"`
}

// DefaultParams follow RFC 9106's second recommendation (64 MiB, 3 passes).
// A function, not a variable, so no caller can change every other's default.
func DefaultParams() Params { return Params{Time: 3, MemoryKiB: 64 * 1024, Threads: 4} }

// Bounds on parameters read from a file, so a crafted file cannot make the
// reader allocate more than RFC 9106's largest recommendation (2 GiB) or
// spin for hours.
const (
	maxMemoryKiB = 2 * 1024 * 1024
	maxTime      = 64
	minMemoryKiB = 8 // Argon2 needs 8 KiB per lane at least
	maxFileSize  = 4096
)

func (p Params) validate() error {
	switch {
	case p.Time == 0 || p.Time > maxTime:
		return fmt.Errorf("argon2 time %d outside 1..%d", p.Time, maxTime)
	case p.Threads == 0:
		return errors.New("argon2 threads is 0")
	case p.MemoryKiB < minMemoryKiB*uint32(p.Threads) || p.MemoryKiB > maxMemoryKiB:
		return fmt.Errorf("argon2 memory %d KiB outside %d..%d", p.MemoryKiB, minMemoryKiB*uint32(p.Threads), maxMemoryKiB)
	}
	return nil
}

// Sealed is the on-disk form of a sealed seed.
type Sealed struct {
	Version    int    `json:"version"`
	DID        string `json:"did"` // additional data; readable without the passphrase
	KDF        string `json:"kdf"`
	Params     Params `json:"params"`
	Salt       []byte `json:"salt"`
	AEAD       string `json:"aead"`
	Nonce      []byte `json:"nonce"`
	Ciphertext []byte `json:"ciphertext"`
}

// Errors matched by callers.
var (
	// ErrWrongPassphrase means the passphrase (or the file) does not open
	// the seal. ChaCha20-Poly1305 cannot tell the two apart.
	ErrWrongPassphrase = errors.New("seal: wrong passphrase or tampered sealed seed")
	// ErrMalformed is matched by errors about an unreadable sealed file.
	ErrMalformed = errors.New("seal: malformed sealed seed")
	// ErrEmptyPassphrase refuses to seal under an empty passphrase.
	ErrEmptyPassphrase = errors.New("seal: empty passphrase")
)

// Seal encrypts seed under passphrase, binding it to its DID. rand supplies
// the salt and nonce (crypto/rand.Reader when nil).
func Seal(seed identity.Seed, passphrase []byte, p Params, rnd io.Reader) (*Sealed, error) {
	if len(passphrase) == 0 {
		return nil, ErrEmptyPassphrase
	}
	if err := p.validate(); err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	if rnd == nil {
		rnd = rand.Reader
	}
	keys, err := identity.Derive(seed)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	s := &Sealed{Version: Version, DID: keys.DID(), KDF: KDF, Params: p, AEAD: AEAD,
		Salt: make([]byte, 16), Nonce: make([]byte, chacha20poly1305.NonceSize)}
	if _, err := io.ReadFull(rnd, s.Salt); err != nil {
		return nil, fmt.Errorf("seal: salt: %w", err)
	}
	if _, err := io.ReadFull(rnd, s.Nonce); err != nil {
		return nil, fmt.Errorf("seal: nonce: %w", err)
	}
	aead, err := chacha20poly1305.New(s.key(passphrase))
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	s.Ciphertext = aead.Seal(nil, s.Nonce, seed[:], []byte(s.DID))
	return s, nil
}

func (s *Sealed) key(passphrase []byte) []byte {
	return argon2.IDKey(passphrase, s.Salt, s.Params.Time, s.Params.MemoryKiB, s.Params.Threads, chacha20poly1305.KeySize)
}

// Open decrypts the seed. A wrong passphrase is [ErrWrongPassphrase]; a seed
// that does not derive the recorded DID is [ErrMalformed].
func (s *Sealed) Open(passphrase []byte) (identity.Seed, error) {
	var seed identity.Seed
	if err := s.check(); err != nil {
		return seed, err
	}
	aead, err := chacha20poly1305.New(s.key(passphrase))
	if err != nil {
		return seed, fmt.Errorf("seal: %w", err)
	}
	plain, err := aead.Open(nil, s.Nonce, s.Ciphertext, []byte(s.DID))
	if err != nil {
		return seed, ErrWrongPassphrase
	}
	copy(seed[:], plain)
	clear(plain)
	keys, err := identity.Derive(seed)
	if err != nil {
		return identity.Seed{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if keys.DID() != s.DID {
		return identity.Seed{}, fmt.Errorf("%w: seed derives %s, file says %s", ErrMalformed, keys.DID(), s.DID)
	}
	return seed, nil
}

func (s *Sealed) check() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, a...)...)
	}
	switch {
	case s.Version != Version:
		return bad("version %d, want %d", s.Version, Version)
	case s.KDF != KDF:
		return bad("kdf %q, want %q", s.KDF, KDF)
	case s.AEAD != AEAD:
		return bad("aead %q, want %q", s.AEAD, AEAD)
	case len(s.Salt) < 16 || len(s.Salt) > 64:
		return bad("salt is %d bytes, want 16..64", len(s.Salt))
	case len(s.Nonce) != chacha20poly1305.NonceSize:
		return bad("nonce is %d bytes, want %d", len(s.Nonce), chacha20poly1305.NonceSize)
	case len(s.Ciphertext) != identity.SeedSize+chacha20poly1305.Overhead:
		return bad("ciphertext is %d bytes, want %d", len(s.Ciphertext), identity.SeedSize+chacha20poly1305.Overhead)
	case s.DID == "":
		return bad("no did")
	}
	if err := s.Params.validate(); err != nil {
		return bad("%v", err)
	}
	return nil
}

// Marshal encodes the sealed seed as JSON.
func (s *Sealed) Marshal() ([]byte, error) {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("seal: encode: %w", err)
	}
	return append(b, '\n'), nil
}

// Parse decodes and checks a sealed seed file. It never needs the passphrase.
func Parse(b []byte) (*Sealed, error) {
	if len(b) > maxFileSize {
		return nil, fmt.Errorf("%w: %d bytes, at most %d", ErrMalformed, len(b), maxFileSize)
	}
	s := new(Sealed)
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(s); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: trailing data", ErrMalformed)
	}
	if err := s.check(); err != nil {
		return nil, err
	}
	return s, nil
}
