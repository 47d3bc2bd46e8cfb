package custody

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"sync"

	becdsa "github.com/btcsuite/btcd/btcec/v2/ecdsa"

	"github.com/lifeos/life/aios"
	"github.com/lifeos/life/anima/chain"
	"github.com/lifeos/life/anima/eip712"
	"github.com/lifeos/life/anima/identity"
	"github.com/lifeos/life/anima/jws"
	"github.com/lifeos/life/anima/seal"
)

// BackendInProcess is the name of the in-process backend.
const BackendInProcess = "in-process"

// InProcess keeps an identity's keys in memory. It is safe for concurrent
// use; Rotate swaps the keys atomically.
type InProcess struct {
	clock aios.Clock
	rand  io.Reader

	mu   sync.RWMutex
	seed identity.Seed
	keys *identity.Keys
}

// Option configures an InProcess backend.
type Option func(*InProcess)

// WithClock sets the clock used to stamp rotations.
func WithClock(c aios.Clock) Option { return func(p *InProcess) { p.clock = c } }

// WithRand sets the entropy source for new seeds and P-256 signatures.
func WithRand(r io.Reader) Option { return func(p *InProcess) { p.rand = r } }

// NewInProcess returns a backend holding the keys derived from seed.
func NewInProcess(seed identity.Seed, opts ...Option) (*InProcess, error) {
	keys, err := identity.Derive(seed)
	if err != nil {
		return nil, fmt.Errorf("custody: %w", err)
	}
	p := &InProcess{clock: aios.SystemClock{}, rand: rand.Reader, seed: seed, keys: keys}
	for _, o := range opts {
		o(p)
	}
	return p, nil
}

// Generate returns a backend with a fresh seed.
func Generate(opts ...Option) (*InProcess, error) {
	p := &InProcess{rand: rand.Reader}
	for _, o := range opts {
		o(p)
	}
	seed, err := identity.NewSeed(p.rand)
	if err != nil {
		return nil, fmt.Errorf("custody: %w", err)
	}
	return NewInProcess(seed, opts...)
}

func (p *InProcess) current() *identity.Keys {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.keys
}

// Seal returns the seed sealed under passphrase, for writing to disk. The
// seed itself never leaves the backend unsealed.
func (p *InProcess) Seal(passphrase []byte, params seal.Params) (*seal.Sealed, error) {
	p.mu.RLock()
	seed := p.seed
	p.mu.RUnlock()
	return seal.Seal(seed, passphrase, params, p.rand)
}

// DID is the did:key of the auth key.
func (p *InProcess) DID() string { return p.current().DID() }

// WalletAddress is the EIP-55 wallet address.
func (p *InProcess) WalletAddress() string { return p.current().WalletAddress() }

// Backend returns "in-process".
func (p *InProcess) Backend() string { return BackendInProcess }

// PublicKey returns *ecdsa.PublicKey for auth, *btcec.PublicKey for wallet.
func (p *InProcess) PublicKey(_ context.Context, purpose aios.KeyPurpose) (crypto.PublicKey, error) {
	k := p.current()
	switch purpose {
	case aios.KeyAuth:
		return &k.Auth.PublicKey, nil
	case aios.KeyWallet:
		return k.Wallet.PubKey(), nil
	}
	return nil, fmt.Errorf("%w: unknown key purpose %q", ErrBadRequest, purpose)
}

// SignJWS signs claims: ES256 with the auth key, ES256K with the wallet key.
func (p *InProcess) SignJWS(ctx context.Context, purpose aios.KeyPurpose, header map[string]any, claims json.RawMessage) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if _, ok := header["alg"]; ok {
		return "", fmt.Errorf("%w: the header may not set alg; the key purpose decides it", ErrBadRequest)
	}
	if !json.Valid(claims) {
		return "", fmt.Errorf("%w: claims are not valid JSON", ErrBadRequest)
	}
	k := p.current()
	switch purpose {
	case aios.KeyAuth:
		return jws.SignES256(k.Auth, header, claims)
	case aios.KeyWallet:
		return jws.SignES256K(k.Wallet, header, claims)
	}
	return "", fmt.Errorf("%w: unknown key purpose %q", ErrBadRequest, purpose)
}

// SignDigest signs a 32-byte digest: r||s (64 bytes) with the auth key,
// r||s||v (65 bytes, v 27 or 28) with the wallet key.
func (p *InProcess) SignDigest(ctx context.Context, purpose aios.KeyPurpose, digest []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(digest) != 32 {
		return nil, fmt.Errorf("%w: digest is %d bytes, want 32", ErrBadRequest, len(digest))
	}
	k := p.current()
	switch purpose {
	case aios.KeyAuth:
		r, s, err := ecdsa.Sign(p.rand, k.Auth, digest)
		if err != nil {
			return nil, fmt.Errorf("custody: sign: %w", err)
		}
		out := make([]byte, 64)
		r.FillBytes(out[:32])
		s.FillBytes(out[32:])
		return out, nil
	case aios.KeyWallet:
		return SignRecoverable(k, digest), nil
	}
	return nil, fmt.Errorf("%w: unknown key purpose %q", ErrBadRequest, purpose)
}

// SignRecoverable signs a digest with the wallet key as Ethereum does:
// r||s||v, low S, v = 27 + recovery id.
func SignRecoverable(k *identity.Keys, digest []byte) []byte {
	compact := becdsa.SignCompact(k.Wallet, digest, false) // (27+recid) || r || s
	out := make([]byte, 65)
	copy(out, compact[1:])
	out[64] = compact[0]
	return out
}

// SignTypedData signs the EIP-712 hash of td with the wallet key.
func (p *InProcess) SignTypedData(ctx context.Context, td *eip712.TypedData) ([]byte, error) {
	h, err := td.Hash()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	return p.SignDigest(ctx, aios.KeyWallet, h[:])
}

// IdentityDocument exports the public identity.
func (p *InProcess) IdentityDocument(context.Context) (*IdentityDocument, error) {
	k := p.current()
	return BuildDocument(BackendInProcess, &k.Auth.PublicKey, k.Wallet.PubKey(), k.WalletAddress())
}

// Rotate draws a new seed, signs rotation proofs for the auth and wallet
// keys with the old keys, and switches to the new keys. The caller journals
// the events and seals the new seed (Seal).
func (p *InProcess) Rotate(ctx context.Context) (*Rotation, error) {
	seed, err := identity.NewSeed(p.rand)
	if err != nil {
		return nil, fmt.Errorf("custody: rotate: %w", err)
	}
	next, err := identity.Derive(seed)
	if err != nil {
		return nil, fmt.Errorf("custody: rotate: %w", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	old := p.keys
	now := p.clock.Now()
	oldSigner := &InProcess{clock: p.clock, rand: p.rand, seed: p.seed, keys: old}
	rot := &Rotation{OldDID: old.DID(), NewDID: next.DID(), OldWalletDID: old.WalletDID(), NewWalletDID: next.WalletDID()}
	for _, step := range []struct {
		purpose  aios.KeyPurpose
		from, to string
	}{{aios.KeyAuth, rot.OldDID, rot.NewDID}, {aios.KeyWallet, rot.OldWalletDID, rot.NewWalletDID}} {
		proof, err := chain.NewProof(ctx, oldSigner, step.purpose, step.from, step.to, now)
		if err != nil {
			return nil, fmt.Errorf("custody: rotate: %w", err)
		}
		rot.Events = append(rot.Events, &aios.IdentityRotated{
			NewDID: step.to, OldDID: step.from, RotatedAt: aios.Micros(now), RotationProofJWS: proof,
		})
	}
	p.seed, p.keys = seed, next
	return rot, nil
}
